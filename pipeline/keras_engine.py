"""The two Keras references (the float model and the QAT model) behind the runtime's `Engine`
interface (runtime/engines/__init__.py), so that the evaluate stage measures them in the same
loop as every exported file. It lives in pipeline/ because the runtime never imports Keras."""

from __future__ import annotations

import numpy as np

from runtime.digits import INPUT_SHAPE
from runtime.timing import latencies_ms

PREDICT_RUNS, PREDICT_WARMUP = 30, 5  # `model.predict` costs ~50 ms a call


class KerasEngine:
    """A tf_keras model, called directly (`model(x, training=False)`): the fastest way Keras runs
    a small batch, and the call the exported files' latency is compared with."""

    name = "keras"
    input_quantization = output_quantization = None

    def __init__(self, model) -> None:
        from pipeline.legacy_keras import tf

        self._model, self._tf = model, tf
        self.input_shape = (-1, *INPUT_SHAPE)

    def run(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._model(self._tf.constant(x, self._tf.float32), training=False), np.float32)

    def predict_latency(self, x: np.ndarray) -> dict[str, float]:
        """Batch-1 latency through `model.predict`, the call most Keras users reach for first."""
        one = x[:1]
        times = latencies_ms(lambda: self._model.predict(one, verbose=0), PREDICT_RUNS, PREDICT_WARMUP)
        return {"predict_latency_p50_ms": round(float(np.percentile(times, 50)), 4),
                "predict_latency_p99_ms": round(float(np.percentile(times, 99)), 4)}
