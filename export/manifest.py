"""artifacts/manifest.json: what each exported file is, how to feed it, and where it came from."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from export.atomic import write_json
from export.formats import FORMATS, MANIFEST_NAME, Format

LABELS = [str(digit) for digit in range(10)]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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
        "reference": fmt.reference,
        "sha256": sha256_of(path),
        "size_bytes": path.stat().st_size,
        "input": tensor_spec(engine),
        "output": output_spec(engine),
        **({"companions": {name: {"sha256": sha256_of(path.parent / name), "size_bytes": (path.parent / name).stat().st_size}
                           for name in fmt.companions}} if fmt.companions else {}),
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
