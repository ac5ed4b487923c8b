"""TFLite Micro engine: the microcontroller's C source (or a .tflite file) run on the host in
TFLM's reference kernels, through the `tflite-micro` package.

The model bytes are read back out of the generated `.cc` (`read_c_array`, the inverse of
`c_array` in export/tflm.py, which writes them), so what is measured is what a firmware links.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np

from . import TFLITE_MAGIC, Quantization, quiet_stderr
from ..errors import EngineUnavailableError, ModelLoadError

ARRAY_NAME = "kModelInt8"  # the array export/tflm.py writes
ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")


def read_c_array(source: str) -> bytes:
    """The model bytes back out of a generated `.cc` (the inverse of export/tflm.py's `c_array`)."""
    try:
        start = source.index("{", source.index(ARRAY_NAME)) + 1
        body = source[start : source.index("};", start)]
    except ValueError:
        raise ModelLoadError(f"no `{ARRAY_NAME}[] = {{...}};` array in the C source") from None
    return bytes(int(token, 16) for token in re.findall(r"0x[0-9a-fA-F]{2}", body))


def _quantization(detail: dict) -> Quantization | None:
    dtype = np.dtype(detail["dtype"])
    if dtype.kind not in "iu":
        return None
    params = detail["quantization_parameters"]
    return Quantization(float(params["scales"][0]), int(params["zero_points"][0]), dtype)


class TflmEngine:
    """A model in TFLite Micro's reference kernels. TFLM runs one image at a time, so a batch is a
    loop; one interpreter serves every call, so it is not for sharing across threads."""

    name = "tflm"

    def __init__(self, path: Path, threads: int | None = None) -> None:  # threads: TFLM has one
        try:
            from tflite_micro.python.tflite_micro import runtime
        except ImportError:
            raise EngineUnavailableError("TFLite Micro is not installed: pip install tflite-micro") from None
        path = Path(path)
        if path.suffix == ".cc":
            try:
                self.model_bytes = read_c_array(path.read_text(errors="replace"))
            except ModelLoadError as error:
                raise ModelLoadError(f"{path}: {error}") from None
        else:
            self.model_bytes = path.read_bytes()
        if self.model_bytes[4:8] != TFLITE_MAGIC:
            raise ModelLoadError(f"{path}: the model bytes are not a TFLite model (no TFL3 identifier)")
        with quiet_stderr([]):  # TFLM logs to fd 2 while it prepares the graph
            try:
                self._interpreter = runtime.Interpreter.from_bytes(self.model_bytes)
            except (RuntimeError, ValueError, struct.error, IndexError) as error:
                detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
                if isinstance(error, (struct.error, IndexError)):  # reads past the end of the flatbuffer
                    detail = "the model bytes are truncated or corrupt"
                raise ModelLoadError(f"{path}: TFLite Micro cannot load the model ({detail})") from None
        self._input, self._output = self._interpreter.get_input_details(0), self._interpreter.get_output_details(0)
        self.input_shape = tuple(int(d) for d in self._input["shape"])
        self.input_quantization = _quantization(self._input)
        self.output_quantization = _quantization(self._output)
        self._input_dtype = np.dtype(self._input["dtype"])

    def run(self, x: np.ndarray) -> np.ndarray:
        """float32 (N, 28, 28, 1) -> float32 probabilities (N, labels)."""
        feed = self.input_quantization.quantize(x) if self.input_quantization else x.astype(self._input_dtype)
        out = self.raw(feed)
        return self.output_quantization.dequantize(out) if self.output_quantization else out.astype(np.float32)

    def raw(self, feed: np.ndarray) -> np.ndarray:
        """The model's own input type in, its own output type out (int8 for an int8 model), per image."""
        out = np.empty((len(feed), *self._output["shape"][1:]), self._output["dtype"])
        for index, image in enumerate(feed):
            self._interpreter.set_input(image[None], 0)
            self._interpreter.invoke()
            out[index] = self._interpreter.get_output(0)[0]
        return out

    def arena_bytes(self) -> int:
        """Arena bytes TFLM allocated for the model, as its `print_allocations` reports them."""
        captured: list[str] = []
        with quiet_stderr(captured):
            self._interpreter.print_allocations()
        match = ARENA_TOTAL.search("".join(captured))
        if not match:
            raise ModelLoadError("TFLite Micro did not report an arena size (no 'Arena allocation total' line)")
        return int(match.group(1))
