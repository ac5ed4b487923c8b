"""Where a result came from: code, data, libraries and the machine that decides the bits.

Imports nothing heavy, so the train stage can call it on a JAX-only GPU machine.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

VERSIONED = (
    "tensorflow", "tf-keras", "keras", "tensorflow-model-optimization", "tf2onnx",
    "onnx", "onnxruntime", "ai-edge-litert", "numpy", "jax", "jaxlib", "torch",
)
# What the stages' results depend on. Outputs the pipeline itself rewrites (dvc.lock, metrics/,
# plots/, runtime/models/) are left out, so a fresh `make pipeline` still names a clean commit.
CODE_PATHS = ("pipeline", "export", "runtime", ":(exclude)runtime/models", "dvc.yaml", "params.yaml",
              "requirements.lock", "pyproject.toml")
# CPU features that change which kernels TensorFlow, XLA and oneDNN pick, hence float rounding.
CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def machine() -> dict:
    """The CPU model and instruction-set extensions, core count, OS and Python."""
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {
        "cpu": model,
        "cpu_flags": [flag for flag in CPU_FLAGS if flag in flags],
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def git_commit(repo: Path = Path(".")) -> str:
    """HEAD, with `-dirty` only when the code (CODE_PATHS) differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
                               cwd=repo, capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"
