"""Thin wrappers over the inference engines. Each takes float32 input normalized as in
runtime.preprocess and returns float32 probabilities; int8 models are quantized and
dequantized with the scale and zero point read from the model itself."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Quantization:
    scale: float
    zero_point: int
    dtype: np.dtype

    def quantize(self, x: np.ndarray) -> np.ndarray:
        info = np.iinfo(self.dtype)
        q = np.round(x / np.float32(self.scale)) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return (q.astype(np.float32) - np.float32(self.zero_point)) * np.float32(self.scale)


ENGINE_BY_SUFFIX = {".tflite": "litert", ".onnx": "onnx"}
