"""Import tf_keras (Keras 2) the only way tfmot accepts: TF_USE_LEGACY_KERAS set before TensorFlow loads."""

from __future__ import annotations

import os
import sys
from pathlib import Path

if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
    raise ImportError("pipeline.legacy_keras must be imported before tensorflow (tfmot needs TF_USE_LEGACY_KERAS=1)")
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402
import tf_keras  # noqa: E402

__all__ = ["tf", "tf_keras", "tfmot", "load_float", "load_qat"]


def load_float(path):
    """The float tf_keras model at `path`, or ModelFileError naming the file."""
    return _load(path, lambda: tf_keras.models.load_model(path, compile=False))


def load_qat(path):
    """The QAT tf_keras model (tfmot wrappers) at `path`, or ModelFileError naming the file."""

    def load():
        with tfmot.quantization.keras.quantize_scope():
            return tf_keras.models.load_model(path, compile=False)

    return _load(path, load)


def _load(path, load):
    from pipeline.architecture import ModelFileError

    if not Path(path).is_file():
        raise ModelFileError(f"{path}: no such model file; run `dvc repro` to create it")
    try:
        return load()
    except Exception as error:  # h5py and Keras raise OSError, ValueError, KeyError... for a bad file
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise ModelFileError(f"{path}: not a readable Keras model ({detail}); re-create it with `dvc repro`") from None
