"""Embeddable digit-classifier runtime: onnxruntime or LiteRT, numpy and Pillow only.

    from runtime import Classifier
    clf = Classifier.load()                 # bundled int8 model, sha256-verified
    clf.predict("digit.png").label          # -> 7

Never imports TensorFlow or Keras. Names load lazily, so `import runtime` is cheap.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Classifier": "runtime.model",
    "Prediction": "runtime.model",
    "default_model": "runtime.model",
    "open_engine": "runtime.model",
    "preprocess_image": "runtime.preprocess",
    "ClassifierError": "runtime.errors",
    "ModelLoadError": "runtime.errors",
    "ModelIntegrityError": "runtime.errors",
    "EngineUnavailableError": "runtime.errors",
    "InputError": "runtime.errors",
    "NoDigitError": "runtime.errors",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'runtime' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
