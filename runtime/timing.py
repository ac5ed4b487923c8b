"""Latency and throughput measurement shared by the evaluate stage, the tests and the benchmark."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def latencies_ms(run: Callable[[], object], runs: int, warmup: int) -> np.ndarray:
    """Per-call wall times in milliseconds after `warmup` untimed calls."""
    for _ in range(warmup):
        run()
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        run()
        times[i] = time.perf_counter() - start
    return times * 1e3


def summary(times_ms: np.ndarray) -> dict[str, float]:
    return {
        "latency_p50_ms": round(float(np.percentile(times_ms, 50)), 5),
        "latency_p99_ms": round(float(np.percentile(times_ms, 99)), 5),
    }


def throughput(run_batch: Callable[[], object], batch: int, repeats: int = 5) -> float:
    """Images per second on batch-`batch` calls (best of `repeats` after one warm-up)."""
    run_batch()
    best = min(latencies_ms(run_batch, repeats, 0)) / 1e3
    return round(batch / best, 1)
