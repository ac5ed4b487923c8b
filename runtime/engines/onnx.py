"""onnxruntime engine for .onnx files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.engines import Quantization
from runtime.errors import EngineUnavailableError, ModelLoadError

_ONNX_TYPES = {"tensor(float)": np.float32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8}


def _quantization(meta: dict[str, str], prefix: str, dtype: np.dtype, path: Path) -> Quantization | None:
    """Integer I/O carries its scale and zero point in the model's metadata_props."""
    if dtype.kind not in "iu":
        return None
    try:
        return Quantization(float(meta[f"{prefix}_scale"]), int(meta[f"{prefix}_zero_point"]), dtype)
    except (KeyError, ValueError):
        raise ModelLoadError(f"{path}: integer {prefix} without {prefix}_scale/{prefix}_zero_point metadata") from None


class OnnxEngine:
    name = "onnx"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise EngineUnavailableError(
                "onnxruntime is not installed: pip install onnxruntime (or use a .tflite model)"
            ) from None
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own untyped errors for bad files
            first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise ModelLoadError(f"{path}: not a valid ONNX model ({first})") from None
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(f"{path}: expected 1 input and 1 output, got {len(inputs)} and {len(outputs)}")
        self._input_name, self._output_name = inputs[0].name, outputs[0].name
        self.input_shape = tuple(d if isinstance(d, int) else -1 for d in inputs[0].shape)
        meta = self._session.get_modelmeta().custom_metadata_map
        in_type = np.dtype(_ONNX_TYPES.get(inputs[0].type, np.float32))
        out_type = np.dtype(_ONNX_TYPES.get(outputs[0].type, np.float32))
        self.input_quantization = _quantization(meta, "input", in_type, path)
        self.output_quantization = _quantization(meta, "output", out_type, path)

    def run(self, x: np.ndarray) -> np.ndarray:
        feed = self.input_quantization.quantize(x) if self.input_quantization else x.astype(np.float32, copy=False)
        (out,) = self._session.run([self._output_name], {self._input_name: feed})
        return self.output_quantization.dequantize(out) if self.output_quantization else out
