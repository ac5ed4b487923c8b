"""Embeddable digit-classifier runtime: onnxruntime or LiteRT, numpy and Pillow only.

    from runtime import Classifier
    clf = Classifier.load()                 # bundled int8 model, sha256-verified
    clf.predict("digit.png").label          # -> 7

Never imports TensorFlow or Keras.
"""

from runtime.errors import (
    EngineUnavailableError,
    InputError,
    ModelIntegrityError,
    ModelLoadError,
    NoDigitError,
    RuntimeErrorBase,
)
from runtime.model import Classifier, Prediction, default_model, open_engine
from runtime.preprocess import preprocess

__all__ = [
    "Classifier",
    "Prediction",
    "preprocess",
    "default_model",
    "open_engine",
    "RuntimeErrorBase",
    "ModelLoadError",
    "ModelIntegrityError",
    "EngineUnavailableError",
    "InputError",
    "NoDigitError",
]
