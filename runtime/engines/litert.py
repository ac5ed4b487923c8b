"""LiteRT (ai_edge_litert) engine for .tflite files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.engines import Quantization
from runtime.errors import EngineUnavailableError, ModelLoadError


def _quantization(detail: dict) -> Quantization | None:
    dtype = np.dtype(detail["dtype"])
    if dtype.kind not in "iu":
        return None
    scale, zero_point = detail["quantization"]
    if not scale:
        raise ModelLoadError(f"{detail['name']}: integer tensor without a quantization scale")
    return Quantization(float(scale), int(zero_point), dtype)


class LiteRtEngine:
    name = "litert"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise EngineUnavailableError(
                "LiteRT is not installed: pip install ai-edge-litert (or use an .onnx model)"
            ) from None
        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=threads or 1)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ModelLoadError(f"{path}: not a valid TFLite model ({first})") from None
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(f"{path}: expected 1 input and 1 output, got {len(inputs)} and {len(outputs)}")
        self._input, self._output = inputs[0], outputs[0]
        self.input_shape = tuple(int(d) for d in self._input["shape"])
        self.input_quantization = _quantization(self._input)
        self.output_quantization = _quantization(self._output)
        self._batch = self.input_shape[0]

    def run(self, x: np.ndarray) -> np.ndarray:
        """float32 (N, 28, 28, 1) -> float32 probabilities (N, 10)."""
        if x.shape[0] != self._batch:
            self._interpreter.resize_tensor_input(self._input["index"], [x.shape[0], *self.input_shape[1:]])
            self._interpreter.allocate_tensors()
            self._batch = x.shape[0]
        feed = self.input_quantization.quantize(x) if self.input_quantization else x.astype(np.float32, copy=False)
        self._interpreter.set_tensor(self._input["index"], feed)
        self._interpreter.invoke()
        out = self._interpreter.get_tensor(self._output["index"])
        return self.output_quantization.dequantize(out) if self.output_quantization else out
