"""Import tf_keras (Keras 2) the only way tfmot accepts: TF_USE_LEGACY_KERAS set before TensorFlow loads."""

from __future__ import annotations

import os
import sys

if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
    raise ImportError("pipeline.legacy_keras must be imported before tensorflow (tfmot needs TF_USE_LEGACY_KERAS=1)")
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402
import tf_keras  # noqa: E402

__all__ = ["tf", "tf_keras", "tfmot", "load_float", "load_qat"]


def load_float(path):
    return tf_keras.models.load_model(path, compile=False)


def load_qat(path):
    with tfmot.quantization.keras.quantize_scope():
        return tf_keras.models.load_model(path, compile=False)
