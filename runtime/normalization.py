"""The float model's input convention, in one place (no Pillow, so training imports stay light)."""

from __future__ import annotations

import numpy as np

# Float models take ink intensity in [0, 1]: pixel / 255, light ink on dark, as MNIST.
NORMALIZATION = {"scale": 1.0 / 255.0, "offset": 0.0, "ink": "light-on-dark"}


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 MNIST-layout images (N, 28, 28) -> float32 model input (N, 28, 28, 1) in [0, 1]."""
    scaled = images.astype(np.float32) * np.float32(NORMALIZATION["scale"]) + np.float32(NORMALIZATION["offset"])
    return scaled[..., None]
