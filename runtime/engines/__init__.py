"""Thin wrappers over the inference engines, one module each, all behind one interface (`Engine`).

Each takes float32 input normalized as in runtime.normalization and returns float32
probabilities; int8 models are quantized and dequantized with the scale and zero point read
from the model itself. The pipeline's Keras references (pipeline/keras_engine.py) implement the
same interface, so evaluation, parity and benchmarks are one loop over the formats table.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import ModelLoadError

TFLITE_MAGIC = b"TFL3"  # a TFLite flatbuffer's file identifier, at bytes 4-8


_STDERR_LOCK = threading.RLock()  # fd 2 is process-wide: one swap at a time (re-entrant: the pool nests it)


def _after_fork_in_child() -> None:
    """A child forked while another thread of its parent held fd 2 starts with the lock free."""
    global _STDERR_LOCK
    _STDERR_LOCK = threading.RLock()


os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def quiet_stderr(captured: list[str] | None = None):
    """Silence the C-level stderr while an engine loads, and only then: LiteRT prints an INFO line
    on its first load in a process, and importing onnxruntime prints a coloured warning when it
    cannot persist its telemetry ID (an unprivileged user). The host's own logging settings are
    never changed. fd 2 is the whole process's, so other threads' output is lost meanwhile: the
    engines silence it as rarely as they can (LiteRtEngine: its first allocation in the process).

    With a `captured` list, what C code wrote is appended to it as one string on exit (TFLite
    Micro reports its arena there). Failures still surface as Python exceptions. An interrupt
    (KeyboardInterrupt) anywhere inside still gives fd 2 back.
    """
    with _STDERR_LOCK:
        try:
            saved = os.dup(2)
        except OSError:  # no usable fd 2 (embedded interpreters): nothing to silence
            yield
            return
        try:
            with tempfile.TemporaryFile() if captured is not None else open(os.devnull, "wb") as sink:
                try:
                    os.dup2(sink.fileno(), 2)
                    yield
                finally:
                    os.dup2(saved, 2)
                if captured is not None:
                    sink.seek(0)
                    captured.append(sink.read().decode(errors="replace"))
        finally:
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
        np.maximum(q, self._low, out=q)  # np.clip's Python wrapper costs more than both calls
        np.minimum(q, self._high, out=q)
        return q.astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return (q.astype(np.float32) - np.float32(self.zero_point)) * np.float32(self.scale)


class Engine(Protocol):
    """What every format opens into: the runtime's engines, TFLite Micro, and the Keras references.

    `run` takes a float32 (N, 28, 28, 1) batch of model input and returns float32 (N, labels)
    probabilities, a new array each call. `input_shape` is the model's declared NHWC shape (-1
    for a symbolic batch); the quantizations are None for float tensors.
    """

    name: str
    input_shape: tuple[int, ...]
    input_quantization: Quantization | None
    output_quantization: Quantization | None

    def run(self, x: np.ndarray) -> np.ndarray: ...


class EncodingEngine(Engine, Protocol):
    """An engine that also takes input already in the model's own type: `encode` maps float32 model
    input (any shape) to it, and `run_encoded(encode(x))` is `run(x)`. The runtime's LiteRT and
    onnxruntime engines are; `Classifier.predict` then maps an MNIST array's levels straight to the
    model's input through a table of 256 values (`runtime.preprocess.mnist_levels`)."""

    def encode(self, x: np.ndarray) -> np.ndarray: ...

    def run_encoded(self, feed: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class EngineSpec:
    """One inference engine: the files it opens, where its wrapper lives, what to install."""

    name: str
    suffix: str
    wrapper: str  # ".module:Class", relative to this package (it installs as `edge_digits.engines`)
    requires: str  # what proves it is installed: an importable package, or "command:NAME" on PATH
    install: str  # how to install it, as a person would type it

    def load_class(self):
        module, name = self.wrapper.split(":")
        return getattr(importlib.import_module(module, __package__), name)

    def installed(self) -> bool:
        kind, _, name = self.requires.rpartition(":")
        return shutil.which(name) is not None if kind == "command" else importlib.util.find_spec(name) is not None


# The one registry of engines, in order of preference for the bundled default.
ENGINES: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        EngineSpec("litert", ".tflite", ".litert:LiteRtEngine", "ai_edge_litert", "pip install ai-edge-litert"),
        EngineSpec("onnx", ".onnx", ".onnx:OnnxEngine", "onnxruntime", "pip install onnxruntime"),
        # The microcontroller's C++ source, run on the host in TFLite Micro's reference kernels.
        EngineSpec("tflm", ".cc", ".tflm:TflmEngine", "tflite_micro", "pip install tflite-micro"),
        # The model as plain C (export/c_int8.py), compiled on the host with the system compiler.
        EngineSpec("c", ".c", ".c:CEngine", "command:cc", "apt install gcc"),
    )
}
ENGINE_BY_SUFFIX = {spec.suffix: name for name, spec in ENGINES.items()}


def engine_spec(name: str) -> EngineSpec:
    try:
        return ENGINES[name]
    except KeyError:
        raise ModelLoadError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}") from None
