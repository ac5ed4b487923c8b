"""Pick the Keras 3 backend and device for training, before `keras` is imported.

Auto mode prefers a visible GPU (JAX, then TensorFlow, then PyTorch) and otherwise trains
on the CPU with TensorFlow. Probes import only what is installed, so this module works on
a machine without TensorFlow (the JAX GPU box).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.params import Backend, DeviceKind

GPU_ORDER = (Backend.JAX, Backend.TENSORFLOW, Backend.TORCH)
CPU_ORDER = (Backend.TENSORFLOW, Backend.JAX, Backend.TORCH)


# XLA's CPU client runs every virtual CPU device's program on one shared intra-op thread pool,
# sized to the core count unless PJRT_NPROC says otherwise. An all-reduce runs as a continuation
# on a pool thread and blocks it until every device has arrived; once the waiting participants
# hold the pool's threads, the others' convolutions never run and the rendezvous aborts after
# 40 s ("Expected 4 threads to join the rendezvous, but only 2 of them arrived"). Measured on
# 2 cores, with a psum step: N devices hang with a pool of N + 1 threads and run with 2 N, idle
# or pinned to one busy core (the pool's size, not the load, decides).
POOL_THREADS_PER_VIRTUAL_DEVICE = 2


def size_cpu_thread_pool(environ=os.environ) -> int | None:
    """Give XLA's CPU pool two threads per virtual device (see above), before JAX starts.

    Returns the pool size set, or None when no virtual devices are forced or PJRT_NPROC is set.
    """
    forced = re.search(r"--xla_force_host_platform_device_count=(\d+)", environ.get("XLA_FLAGS", ""))
    if not forced or int(forced.group(1)) < 2 or "PJRT_NPROC" in environ:
        return None
    threads = max(os.cpu_count() or 1, POOL_THREADS_PER_VIRTUAL_DEVICE * int(forced.group(1)))
    environ["PJRT_NPROC"] = str(threads)
    return threads


class BackendError(RuntimeError):
    """No usable backend / device for what params.yaml asks for."""


@dataclass(frozen=True)
class Selection:
    backend: Backend
    device: DeviceKind
    device_name: str


def _installed(backend: Backend) -> bool:
    return importlib.util.find_spec(backend.value) is not None


def _jax_gpus() -> list[str]:
    import jax

    try:
        return [str(getattr(d, "device_kind", d)) for d in jax.devices("gpu")]
    except RuntimeError:
        return []


def _tensorflow_gpus() -> list[str]:
    import tensorflow as tf

    names = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        names.append(details.get("device_name", device.name))
    return names


def _torch_gpus() -> list[str]:
    import torch

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


PROBES: dict[Backend, Callable[[], list[str]]] = {
    Backend.JAX: _jax_gpus,
    Backend.TENSORFLOW: _tensorflow_gpus,
    Backend.TORCH: _torch_gpus,
}


def gpus_for(backend: Backend, installed: Callable[[Backend], bool], probes: dict) -> list[str]:
    if not installed(backend):
        return []
    try:
        return probes[backend]()
    except Exception as error:  # a broken CUDA install must not hide behind a crash here
        print(f"train: warning: {backend.value} GPU probe failed: {error}", file=sys.stderr)
        return []


def choose(
    backend: Backend,
    device: DeviceKind,
    installed: Callable[[Backend], bool] = _installed,
    probes: dict[Backend, Callable[[], list[str]]] = PROBES,
) -> Selection:
    """Resolve `auto` choices; raise BackendError rather than silently train on the wrong device."""
    candidates = GPU_ORDER if backend is Backend.AUTO else (backend,)
    if backend is not Backend.AUTO and not installed(backend):
        raise BackendError(f"train.backend is {backend.value!r} but {backend.value} is not installed")
    if device is not DeviceKind.CPU:
        for candidate in candidates:
            names = gpus_for(candidate, installed, probes)
            if names:
                return Selection(candidate, DeviceKind.GPU, names[0])
        if device is DeviceKind.GPU:
            wanted = backend.value if backend is not Backend.AUTO else "jax, tensorflow or torch"
            raise BackendError(
                f"train.device is 'gpu' but no GPU is usable with {wanted}; "
                "install JAX for CUDA (pip install 'jax[cuda13]') or set train.device: cpu"
            )
        print("train: warning: no GPU found; training on the CPU", file=sys.stderr)
    cpu_candidates = CPU_ORDER if backend is Backend.AUTO else (backend,)
    for candidate in cpu_candidates:
        if installed(candidate):
            return Selection(candidate, DeviceKind.CPU, "cpu")
    raise BackendError("no Keras backend installed: install tensorflow, jax or torch")


def activate(selection: Selection) -> None:
    """Point Keras at the chosen backend (must run before the first `import keras`)."""
    keras = sys.modules.get("keras")
    backend_of = getattr(getattr(keras, "backend", None), "backend", None)
    if backend_of is not None and backend_of() != selection.backend.value:
        raise BackendError(f"keras was imported with the {backend_of()} backend before the backend was chosen")
    os.environ["KERAS_BACKEND"] = selection.backend.value
    if selection.device is DeviceKind.CPU:
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
