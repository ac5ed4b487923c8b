"""LiteRT (ai_edge_litert) engine for .tflite files."""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

import numpy as np

from . import Quantization, quiet_stderr
from ..errors import EngineUnavailableError, ModelLoadError


def _quantization(detail: dict) -> Quantization | None:
    dtype = np.dtype(detail["dtype"])
    if dtype.kind not in "iu":
        return None
    scale, zero_point = detail["quantization"]
    if not scale:
        raise ModelLoadError(f"{detail['name']}: integer tensor without a quantization scale")
    return Quantization(float(scale), int(zero_point), dtype)


class _Bound:
    """One LiteRT interpreter with zero-copy views of its input and output for one batch size."""

    def __init__(self, interpreter, input_index: int, output_index: int, shape: tuple[int, ...]) -> None:
        self.interpreter, self.input_index, self.output_index, self.shape = interpreter, input_index, output_index, shape
        self.batch = -1
        self.in_view = self.out_view = None

    def bind(self, batch: int) -> None:
        """(Re)size for `batch`; views pin the buffers, so they are dropped before resizing. The
        batch is recorded last: a bind cut short (an interrupt) is done again on the next call."""
        self.batch = -1
        self.in_view = self.out_view = None
        self.interpreter.resize_tensor_input(self.input_index, [batch, *self.shape[1:]])
        _allocate(self.interpreter)
        self.in_view = self.interpreter.tensor(self.input_index)
        self.out_view = self.interpreter.tensor(self.output_index)
        self.batch = batch


_announced = threading.Event()  # LiteRT's XNNPACK delegate prints an INFO line on its first allocation only


def _allocate(interpreter) -> None:
    """`allocate_tensors`, with fd 2 silenced for the process's first one only (its INFO line): fd 2
    is the whole process's, and swapping it on every resize or new thread lost other threads' output."""
    if _announced.is_set():
        interpreter.allocate_tensors()
        return
    with quiet_stderr():
        interpreter.allocate_tensors()
    _announced.set()


SMALL_BATCH = 4  # up to this many images run on one CPU thread (see LiteRtEngine)


class LiteRtEngine:
    """A .tflite model in LiteRT. Safe to share across threads.

    A LiteRT Interpreter must not be used by two threads at once, so each thread that calls
    `run` gets its own interpreter of the same model (created on its first call, kept for the
    thread's life). A single-threaded caller pays one thread-local lookup per call; threads run
    in parallel instead of queueing on a lock.

    Small batches (up to SMALL_BATCH images) run on a single-threaded interpreter: between two
    calls an app decodes and preprocesses, LiteRT's worker threads go to sleep, and waking them
    costs more than they save on one 28x28 image (0.12 vs 0.15 ms per `predict` measured here).
    Larger batches use `threads` CPU threads.
    """

    name = "litert"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise EngineUnavailableError(
                "LiteRT is not installed: pip install ai-edge-litert (or use an .onnx model)"
            ) from None
        self._model = path.read_bytes()
        # Two threads cut batch-1 latency by a quarter here (0.035 vs 0.047 ms on 2 cores).
        self._threads = threads or min(4, os.cpu_count() or 1)
        # partial, not a lambda over self: a dropped engine is freed at once, not at the next gc cycle
        self._make = functools.partial(Interpreter, model_content=self._model, num_threads=self._threads)
        self._make_single = functools.partial(Interpreter, model_content=self._model, num_threads=1)
        try:
            interpreter = self._make()
        except (ValueError, RuntimeError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ModelLoadError(f"{path}: not a valid TFLite model ({first})") from None
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(f"{path}: expected 1 input and 1 output, got {len(inputs)} and {len(outputs)}")
        self._input, self._output = inputs[0], outputs[0]
        self.input_shape = tuple(int(d) for d in self._input["shape"])
        self.input_quantization = _quantization(self._input)
        self.output_quantization = _quantization(self._output)
        self._local = threading.local()
        try:
            self._local.bound = self._new_bound(interpreter)
        except (ValueError, RuntimeError) as error:
            detail = (str(error).strip() or "error").splitlines()[0][:200]
            raise ModelLoadError(f"{path}: cannot allocate the model ({detail})") from None

    def _new_bound(self, interpreter=None) -> _Bound:
        bound = _Bound(interpreter or self._make(), self._input["index"], self._output["index"], self.input_shape)
        bound.bind(self.input_shape[0])
        return bound

    def _small(self) -> _Bound:
        bound = getattr(self._local, "small", None)
        if bound is None:
            bound = self._local.small = self._new_bound(self._make_single())
        return bound

    def run(self, x: np.ndarray) -> np.ndarray:
        """float32 (N, 28, 28, 1) -> float32 probabilities (N, 10), a new array on every call."""
        return self.run_encoded(self.encode(x))

    def encode(self, x: np.ndarray) -> np.ndarray:
        """float32 model input -> what the model takes (int8 for an int8 model), any shape."""
        quant = self.input_quantization
        return quant.quantize(x) if quant else x

    def run_encoded(self, feed: np.ndarray) -> np.ndarray:
        """`run` on input already in the model's own type (`encode`)."""
        if len(feed) <= SMALL_BATCH and self._threads > 1:
            bound = self._small()
        else:
            bound = getattr(self._local, "bound", None)
            if bound is None:
                bound = self._local.bound = self._new_bound()
        if feed.shape[0] != bound.batch:
            bound.bind(feed.shape[0])
        bound.in_view()[...] = feed
        bound.interpreter.invoke()
        out = bound.out_view()
        return self.output_quantization.dequantize(out) if self.output_quantization else out.copy()
