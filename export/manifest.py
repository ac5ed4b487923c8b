"""artifacts/manifest.json: what each exported file is, how to feed it, and where it came from."""

from __future__ import annotations

import hashlib
import importlib.metadata
import subprocess
from pathlib import Path

import numpy as np
import yaml

from export.formats import FORMATS, MANIFEST_NAME, Format
from pipeline.atomic import write_json

LABELS = [str(digit) for digit in range(10)]
VERSIONED = (
    "tensorflow", "tf-keras", "keras", "tensorflow-model-optimization", "tf2onnx",
    "onnx", "onnxruntime", "ai-edge-litert", "numpy",
)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def library_versions() -> dict[str, str]:
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(repo: Path = Path(".")) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def data_hash(lock: Path = Path("dvc.lock"), out: str = "data/mnist.npz") -> str:
    """md5 of the data stage's output as recorded in dvc.lock ('unknown' before the first lock)."""
    try:
        stages = yaml.safe_load(lock.read_text()).get("stages", {})
        for entry in stages.get("data", {}).get("outs", []):
            if entry.get("path") == out:
                return f"md5:{entry['md5']}"
    except (OSError, AttributeError, yaml.YAMLError):
        pass
    return "unknown"


def tensor_spec(engine) -> dict:
    """Input spec read back from the exported file by the runtime engine that will run it."""
    quant = engine.input_quantization
    return {
        "shape": [1, *engine.input_shape[1:]],
        "layout": "NHWC",
        "dtype": str(np.dtype(quant.dtype)) if quant else "float32",
        "scale": quant.scale if quant else None,
        "zero_point": quant.zero_point if quant else None,
    }


def output_spec(engine) -> dict:
    quant = engine.output_quantization
    return {
        "shape": [1, len(LABELS)],
        "meaning": "softmax probabilities over labels",
        "dtype": str(np.dtype(quant.dtype)) if quant else "float32",
        "scale": quant.scale if quant else None,
        "zero_point": quant.zero_point if quant else None,
    }


def file_entry(fmt: Format, path: Path, engine) -> dict:
    return {
        "format": fmt.name,
        "engine": fmt.engine,
        "precision": fmt.precision.value,
        "reference": fmt.reference.value,
        "sha256": sha256_of(path),
        "size_bytes": path.stat().st_size,
        "input": tensor_spec(engine),
        "output": output_spec(engine),
    }


def build(out_dir: Path, common: dict, provenance: dict, engines: dict[str, object]) -> dict:
    return {
        "schema_version": 1,
        **common,
        "files": {
            fmt.filename: file_entry(fmt, out_dir / fmt.filename, engines[fmt.name]) for fmt in FORMATS
        },
        "provenance": provenance,
    }


def write(out_dir: Path, manifest: dict) -> Path:
    return write_json(out_dir / MANIFEST_NAME, manifest)
