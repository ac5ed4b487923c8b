"""Thin wrappers over the inference engines. Each takes float32 input normalized as in
runtime.preprocess and returns float32 probabilities; int8 models are quantized and
dequantized with the scale and zero point read from the model itself."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import threading
from dataclasses import dataclass

import numpy as np

from ..errors import ModelLoadError


_STDERR_LOCK = threading.RLock()  # fd 2 is process-wide: one swap at a time (re-entrant: the pool nests it)


@contextlib.contextmanager
def quiet_stderr():
    """Silence the C-level stderr while an engine loads, and only then: LiteRT prints an INFO line
    on every load, and importing onnxruntime prints a coloured warning when it cannot persist its
    telemetry ID (an unprivileged user). The host's own logging settings are never changed.

    Failures still surface as Python exceptions with their own messages.
    """
    with _STDERR_LOCK:
        try:
            saved = os.dup(2)
        except OSError:  # no usable fd 2 (embedded interpreters): nothing to silence
            yield
            return
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 2)
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@dataclass(frozen=True)
class Quantization:
    scale: float
    zero_point: int
    dtype: np.dtype

    def __post_init__(self) -> None:
        info = np.iinfo(self.dtype)  # looked up once: this runs on every inference call
        object.__setattr__(self, "_low", float(info.min))
        object.__setattr__(self, "_high", float(info.max))

    def quantize(self, x: np.ndarray) -> np.ndarray:
        q = np.divide(x, np.float32(self.scale), dtype=np.float32)
        np.rint(q, out=q)
        q += np.float32(self.zero_point)
        np.clip(q, self._low, self._high, out=q)
        return q.astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return (q.astype(np.float32) - np.float32(self.zero_point)) * np.float32(self.scale)


@dataclass(frozen=True)
class EngineSpec:
    """One inference engine: the files it opens, where its wrapper lives, what to install."""

    name: str
    suffix: str
    wrapper: str  # ".module:Class", relative to this package (it installs as `edge_digits.engines`)
    package: str  # the import that proves the engine is installed
    pip: str

    def load_class(self):
        module, name = self.wrapper.split(":")
        return getattr(importlib.import_module(module, __package__), name)

    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None


# The one registry of engines, in order of preference for the bundled default.
ENGINES: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        EngineSpec("litert", ".tflite", ".litert:LiteRtEngine", "ai_edge_litert", "ai-edge-litert"),
        EngineSpec("onnx", ".onnx", ".onnx:OnnxEngine", "onnxruntime", "onnxruntime"),
    )
}
ENGINE_BY_SUFFIX = {spec.suffix: name for name, spec in ENGINES.items()}


def engine_spec(name: str) -> EngineSpec:
    try:
        return ENGINES[name]
    except KeyError:
        raise ModelLoadError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}") from None
