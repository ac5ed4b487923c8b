"""artifacts/manifest.json for the formats table, written atomically.

The format itself (name, layout, entries, verification) is runtime/manifest.py's; this module
adds what only the export side knows: which files there are and what each one is.
"""

from __future__ import annotations

from pathlib import Path

from export.atomic import write_json
from export.formats import FORMATS, Format
from runtime import digits
from runtime.manifest import MANIFEST_NAME, compose, file_entry, sha256_of  # noqa: F401  (sha256_of: re-exported)

LABELS = list(digits.LABELS)  # a list, as the manifest and the files' metadata store it


def format_entry(fmt: Format, path: Path, engine) -> dict:
    """The manifest entry of `fmt`'s file at `path`, opened as `engine`."""
    return file_entry(path, engine, format_name=fmt.name, engine_name=fmt.engine, precision=fmt.precision.value,
                      reference=fmt.reference, companions=fmt.companions)


def build(out_dir: Path, common: dict, provenance: dict, engines: dict[str, object],
          formats: tuple[Format, ...] = FORMATS) -> dict:
    """The manifest of each format's file in `out_dir`; `engines` maps a format's name to its opened file."""
    files = {fmt.filename: format_entry(fmt, Path(out_dir) / fmt.filename, engines[fmt.name]) for fmt in formats}
    return compose(common, files, provenance)


def write(out_dir: Path, manifest: dict) -> Path:
    return write_json(Path(out_dir) / MANIFEST_NAME, manifest)
