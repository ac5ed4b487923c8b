"""Device selection for training, with the backend lookups mocked (CI has no GPU)."""

from __future__ import annotations

import pytest

from pipeline.backend import BackendError, Selection, choose
from pipeline.params import Backend, DeviceKind


def lookup(installed: set[str], gpus: dict[str, list[str]]):
    probes = {b: (lambda b=b: gpus.get(b.value, [])) for b in Backend if b is not Backend.AUTO}
    return (lambda b: b.value in installed), probes


@pytest.mark.parametrize("installed, gpus, expected", [
    ({"jax", "tensorflow"}, {"jax": ["NVIDIA H100 80GB HBM3"]}, (Backend.JAX, DeviceKind.GPU, "NVIDIA H100 80GB HBM3")),
    ({"tensorflow", "torch"}, {"tensorflow": ["NVIDIA A100"]}, (Backend.TENSORFLOW, DeviceKind.GPU, "NVIDIA A100")),
    ({"tensorflow", "torch"}, {"torch": ["NVIDIA L4"]}, (Backend.TORCH, DeviceKind.GPU, "NVIDIA L4")),
    ({"jax", "torch"}, {"torch": ["NVIDIA L4"], "jax": ["H100"]}, (Backend.JAX, DeviceKind.GPU, "H100")),
    ({"tensorflow"}, {}, (Backend.TENSORFLOW, DeviceKind.CPU, "cpu")),
    ({"jax"}, {}, (Backend.JAX, DeviceKind.CPU, "cpu")),
])
def test_auto_prefers_a_visible_gpu(installed, gpus, expected, capsys):
    is_installed, probes = lookup(installed, gpus)
    assert choose(Backend.AUTO, DeviceKind.AUTO, is_installed, probes) == Selection(*expected)
    if expected[1] is DeviceKind.CPU:
        assert "no GPU found" in capsys.readouterr().err


def test_forced_backend_is_respected():
    is_installed, probes = lookup({"jax", "tensorflow"}, {"jax": ["H100"]})
    assert choose(Backend.TENSORFLOW, DeviceKind.AUTO, is_installed, probes).backend is Backend.TENSORFLOW
    assert choose(Backend.JAX, DeviceKind.CPU, is_installed, probes) == Selection(Backend.JAX, DeviceKind.CPU, "cpu")


def test_gpu_requested_but_missing_is_an_error_not_a_silent_cpu_run():
    is_installed, probes = lookup({"tensorflow"}, {})
    with pytest.raises(BackendError, match="train.device is 'gpu' but no GPU is usable"):
        choose(Backend.AUTO, DeviceKind.GPU, is_installed, probes)


def test_forced_backend_not_installed():
    is_installed, probes = lookup({"tensorflow"}, {})
    with pytest.raises(BackendError, match="'torch' but torch is not installed"):
        choose(Backend.TORCH, DeviceKind.AUTO, is_installed, probes)


def test_a_crashing_probe_is_reported_and_skipped(capsys):
    def broken():
        raise RuntimeError("CUDA driver version is insufficient")

    is_installed, probes = lookup({"jax", "tensorflow"}, {"tensorflow": ["A100"]})
    probes[Backend.JAX] = broken
    assert choose(Backend.AUTO, DeviceKind.AUTO, is_installed, probes).backend is Backend.TENSORFLOW
    assert "jax GPU probe failed: CUDA driver" in capsys.readouterr().err


def test_train_stage_imports_no_tensorflow_when_backend_is_jax(tmp_path):
    """The GPU box has JAX but no TensorFlow: the train module must import without it."""
    import subprocess
    import sys

    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('tensorflow', 'tf_keras', 'tensorflow_model_optimization'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import pipeline.train, pipeline.dataset, pipeline.architecture, pipeline.backend\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-500:]
