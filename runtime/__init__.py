"""Embeddable digit-classifier runtime: onnxruntime or LiteRT, numpy, Pillow and OpenCV only.

Installed (pip install ".[onnx]" or ".[litert]"), it is the package `edge_digits`, a name
that cannot clash with an app's own `runtime` package:

    from edge_digits import Classifier
    clf = Classifier.load()                 # bundled int8 model, sha256-verified
    clf.predict("digit.png").label          # -> 7
    clf.read("year.png").text               # every digit, left to right -> "2026"

In this repository the same files are also importable as `runtime` (`python -m runtime.classify`);
every import inside the package is relative, so both names run the same code.
Never imports TensorFlow or Keras. Names load lazily, so importing the package is cheap.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Classifier": ".model",
    "Prediction": ".model",
    "Result": ".model",
    "Reading": ".model",
    "default_model": ".model",
    "open_engine": ".model",
    "preprocess_image": ".preprocess",
    "prepare_image": ".preprocess",
    "prepare_digits": ".preprocess",
    "ClassifierError": ".errors",
    "ModelLoadError": ".errors",
    "ModelIntegrityError": ".errors",
    "EngineUnavailableError": ".errors",
    "InputError": ".errors",
    "NoDigitError": ".errors",
    "WorkerStartError": ".errors",
    "UnverifiedModelWarning": ".errors",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
