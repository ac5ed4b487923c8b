"""The sidecar manifest.json, defined once: its name and layout, how one file's entry is built,
and the checks that vouch for a model file against it.

The export stage builds and writes it through export/manifest.py (which adds the formats table
and atomic writes); the runtime reads it here before it loads a model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .digits import INPUT_SHAPE
from .errors import ModelIntegrityError, ModelLoadError

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1
_REMEDY = "re-export it (dvc repro) or reinstall"


def sha256_of(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _checksum(path: Path) -> dict:
    return {"sha256": sha256_of(path), "size_bytes": path.stat().st_size}


def _tensor_type(quantization) -> dict:
    """dtype, scale and zero point of a tensor; a float tensor has no scale or zero point."""
    return {
        "dtype": str(np.dtype(quantization.dtype)) if quantization else "float32",
        "scale": quantization.scale if quantization else None,
        "zero_point": quantization.zero_point if quantization else None,
    }


def input_spec(engine) -> dict:
    """How to feed one image, read back from the file by the runtime engine that opened it."""
    return {"shape": [1, *engine.input_shape[1:]], "layout": "NHWC", **_tensor_type(engine.input_quantization)}


def output_spec(engine) -> dict:
    """What one image's answer is (its width read by running the opened file on a blank image),
    with the output quantization read back from the file."""
    width = int(np.asarray(engine.run(np.zeros((1, *INPUT_SHAPE), np.float32))).shape[-1])
    return {"shape": [1, width], "meaning": "softmax probabilities over labels",
            **_tensor_type(engine.output_quantization)}


def file_entry(path: Path | str, engine, *, format_name: str, engine_name: str, precision: str, reference: str,
               companions: Iterable[str] = ()) -> dict:
    """One model file's entry: what it is, its sha256 and size, and its input and output specs.

    `engine` is the opened file (anything with `input_shape`, `input_quantization` and
    `output_quantization`); `companions` name files written beside it, checksummed the same way.
    """
    path = Path(path)
    entry = {"format": format_name, "engine": engine_name, "precision": precision, "reference": reference,
             **_checksum(path), "input": input_spec(engine), "output": output_spec(engine)}
    companions = tuple(companions)
    if companions:
        entry["companions"] = {name: _checksum(path.parent / name) for name in companions}
    return entry


def compose(common: dict, files: dict[str, dict], provenance: dict) -> dict:
    """A whole manifest: the schema version, the fields every file shares (variant, labels,
    normalization), one entry per file name, then where the files came from."""
    return {"schema_version": SCHEMA_VERSION, **common, "files": files, "provenance": provenance}


def read_manifest(directory: Path) -> dict | None:
    """The manifest in `directory`, or None when there is none; ModelLoadError if it is malformed."""
    path = Path(directory) / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{path}: unreadable manifest ({str(error).splitlines()[0]})") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(isinstance(entry, dict) for entry in files.values()):
        raise ModelLoadError(f"{path}: unreadable manifest (no 'files' mapping of file name to entry); {_REMEDY}")
    return manifest


def verify(path: Path, manifest: dict) -> dict:
    """`path`'s entry; ModelIntegrityError unless its sha256 and size match the manifest's."""
    entry = manifest["files"].get(path.name)
    if entry is None:
        raise ModelIntegrityError(f"{path}: not listed in {path.parent / MANIFEST_NAME}")
    size = path.stat().st_size
    if size != entry.get("size_bytes"):
        raise ModelIntegrityError(
            f"{path}: {size:,} bytes, but the manifest says {entry.get('size_bytes')}; "
            f"the file was modified or truncated: {_REMEDY}"
        )
    digest = sha256_of(path)
    if digest != entry.get("sha256"):
        raise ModelIntegrityError(
            f"{path}: sha256 {digest[:12]}... does not match the manifest's {str(entry.get('sha256'))[:12]}...; "
            f"the file was modified or truncated: {_REMEDY}"
        )
    return entry
