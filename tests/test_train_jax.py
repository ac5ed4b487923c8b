"""The GPU code path, run in CI on the CPU: the train stage on JAX with TensorFlow not importable,
the persistent compile cache, and data parallelism over 4 virtual devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURE, ROOT, write_test_params

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    __import__("importlib").util.find_spec("jax") is None, reason="jax is not installed (make venv installs it)")]


def train_without_tensorflow(tmp: Path, name: str, cache: Path, virtual_devices: int = 1, **train) -> dict:
    """Run `python -m pipeline.train` on JAX/CPU in a fresh process where TensorFlow cannot be imported."""
    params = write_test_params(tmp / f"{name}.yaml", train={
        # 674 steps: BatchNorm's moving statistics need several hundred before validation means anything
        "backend": "jax", "epochs": 2, "batch_size": 8, **{"augment_on": "device", **train}})
    metrics = tmp / f"{name}.json"
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={virtual_devices}"}
    env.pop("KERAS_BACKEND", None)
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "without_tensorflow.py"), "pipeline.train", "--data", str(FIXTURE),
         "--params", str(params), "--model", str(tmp / f"{name}.keras"), "--metrics", str(metrics),
         "--live-dir", str(tmp / f"{name}-live")],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return {**json.loads(metrics.read_text()), "stderr": result.stderr}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("jax")
    cache = tmp / "compile-cache"
    first = train_without_tensorflow(tmp, "cold", cache, devices="one")
    entries = sorted(p.name for p in cache.rglob("*") if p.is_file())
    second = train_without_tensorflow(tmp, "warm", cache, devices="one")
    # Data parallel with the host recipe: with the recipe in the step, XLA's CPU collectives over
    # 4 virtual devices on 2 cores deadlocked in 2 of 7 runs (README, Training on a GPU).
    one = train_without_tensorflow(tmp, "one-host", tmp / "cache-1", devices="one", augment_on="host")
    parallel = train_without_tensorflow(tmp, "parallel", tmp / "cache-4", virtual_devices=4, devices="all",
                                        augment_on="host")
    return {"cold": first, "warm": second, "one": one, "parallel": parallel, "entries": entries,
            "entries_after": sorted(p.name for p in cache.rglob("*") if p.is_file())}


def test_train_stage_runs_on_jax_cpu_without_tensorflow(runs):
    cold = runs["cold"]
    assert cold["backend"] == "jax" and cold["device"] == "cpu" and cold["jit_compile"] is True
    assert cold["augmentation"] == "device"  # the GPU's path: the recipe inside the compiled step
    # two epochs of 2,700 fixture images at batch 8 learn the digits (97% on this machine)
    assert cold["val_accuracy"] > 0.9, cold["val_accuracy"]


def test_second_run_compiles_nothing_new(runs):
    assert runs["entries"], "the first run wrote no compiled program to the persistent cache"
    assert runs["entries_after"] == runs["entries"]  # every program of the second run came from the cache
    assert runs["warm"]["val_accuracy"] == pytest.approx(runs["cold"]["val_accuracy"], abs=0.02)


def test_data_parallel_over_four_devices_matches_one_device(runs):
    one, four = runs["one"], runs["parallel"]
    assert one["data_parallel_devices"] == 1 and four["data_parallel_devices"] == 4
    assert "x4 data parallel" in four["stderr"]
    # the same global batch, split four ways: the same training within float-summation noise
    assert four["val_accuracy"] == pytest.approx(one["val_accuracy"], abs=0.02)
