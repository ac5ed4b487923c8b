"""onnxruntime engine for .onnx files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import Quantization, quiet_stderr
from ..errors import EngineUnavailableError, ModelLoadError

SMALL_BATCH = 4  # up to this many images run on a single-threaded session

# On x86-64 CPUs without VNNI (AVX2, and AVX-512 without VNNI), onnxruntime's fused uint8 x int8
# kernels add products in pairs into int16, which saturates; the int8 model then gave a different
# digit from LiteRT on 0.2-1.6% of MNIST test in our runs (the evaluate stage's cross-agreement gate
# failed). This session option makes those CPUs use exact uint8 x uint8 kernels instead: the same
# answers as LiteRT on all 10,000, at about the same speed. CPUs with VNNI, and ARM, are exact anyway.
X64_QUANT_PRECISION = "session.x64quantprecision"

_ONNX_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
               "tensor(int8)": np.int8, "tensor(uint8)": np.uint8}


def _quantization(meta: dict[str, str], prefix: str, dtype: np.dtype, path: Path) -> Quantization | None:
    """Integer I/O carries its scale and zero point in the model's metadata_props."""
    if dtype.kind not in "iu":
        return None
    try:
        return Quantization(float(meta[f"{prefix}_scale"]), int(meta[f"{prefix}_zero_point"]), dtype)
    except (KeyError, ValueError):
        raise ModelLoadError(f"{path}: integer {prefix} without {prefix}_scale/{prefix}_zero_point metadata") from None


class OnnxEngine:
    """An .onnx model in onnxruntime. Safe to share across threads: onnxruntime allows
    concurrent `InferenceSession.run` calls on one session."""

    name = "onnx"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        try:
            with quiet_stderr():  # the first import may print onnxruntime's telemetry warning
                import onnxruntime as ort
        except ImportError:
            raise EngineUnavailableError(
                "onnxruntime is not installed: pip install onnxruntime (or use a .tflite model)"
            ) from None
        def options(intra_threads: int | None):
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            if intra_threads:
                opts.intra_op_num_threads = intra_threads
            opts.inter_op_num_threads = 1
            # Spinning worker threads wait for the next run by burning a core; in an app the next
            # run comes after decoding a picture, which they would slow down (1.9x here on 2 cores).
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.add_session_config_entry(X64_QUANT_PRECISION, "1")
            return opts

        try:
            self._session = ort.InferenceSession(str(path), options(threads), providers=["CPUExecutionProvider"])
            # Small batches run on one thread: no pool to wake (as in the LiteRT engine).
            self._small = (self._session if threads == 1 else
                           ort.InferenceSession(str(path), options(1), providers=["CPUExecutionProvider"]))
        except Exception as error:  # onnxruntime raises its own untyped errors for bad files
            first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise ModelLoadError(f"{path}: not a valid ONNX model ({first})") from None
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(f"{path}: expected 1 input and 1 output, got {len(inputs)} and {len(outputs)}")
        self._input_name, self._output_name = inputs[0].name, outputs[0].name
        self.input_shape = tuple(d if isinstance(d, int) else -1 for d in inputs[0].shape)
        # A model exported with a fixed batch (often [1, 28, 28, 1]) runs larger batches in chunks.
        self._fixed_batch = self.input_shape[0] if self.input_shape and self.input_shape[0] > 0 else None
        meta = self._session.get_modelmeta().custom_metadata_map
        for tensor, role in ((inputs[0], "input"), (outputs[0], "output")):
            if tensor.type not in _ONNX_TYPES:
                raise ModelLoadError(f"{path}: {role} of type {tensor.type} is not an image model's; "
                                     f"expected one of {', '.join(_ONNX_TYPES)}")
        in_type, out_type = np.dtype(_ONNX_TYPES[inputs[0].type]), np.dtype(_ONNX_TYPES[outputs[0].type])
        self._input_type = in_type
        self.input_quantization = _quantization(meta, "input", in_type, path)
        self.output_quantization = _quantization(meta, "output", out_type, path)

    def run(self, x: np.ndarray) -> np.ndarray:
        """float32 (N, 28, 28, 1) -> float32 probabilities (N, 10)."""
        return self.run_encoded(self.encode(x))

    def encode(self, x: np.ndarray) -> np.ndarray:
        """float32 model input -> what the model takes (its integer or float type), any shape."""
        return self.input_quantization.quantize(x) if self.input_quantization else x.astype(self._input_type, copy=False)

    def run_encoded(self, feed: np.ndarray) -> np.ndarray:
        """`run` on input already in the model's own type (`encode`)."""
        if self._fixed_batch and len(feed) != self._fixed_batch:
            out = self._run_in_chunks(feed, self._fixed_batch)
        else:
            session = self._small if len(feed) <= SMALL_BATCH else self._session
            (out,) = session.run([self._output_name], {self._input_name: feed})
        if self.output_quantization:
            return self.output_quantization.dequantize(out)
        return out.astype(np.float32, copy=False)

    def _run_in_chunks(self, feed: np.ndarray, size: int) -> np.ndarray:
        outputs = []
        for start in range(0, len(feed), size):
            chunk = feed[start : start + size]
            short = size - len(chunk)
            if short:  # pad the last chunk to the model's batch, then drop the padding's answers
                chunk = np.concatenate([chunk, np.zeros((short, *chunk.shape[1:]), chunk.dtype)])
            (out,) = self._session.run([self._output_name], {self._input_name: chunk})
            outputs.append(out[: size - short])
        return np.concatenate(outputs)
