"""Stage `bundle`: copy the formats marked `bundled` and their manifest into the runtime package.

`python -m runtime.classify` then works right after `pip install`, with no pipeline run.
The int8 files are the defaults; the float ONNX is the fallback for hardware without int8.
The stage depends on metrics/evaluate.json in dvc.yaml, so only files that passed the
parity gates are ever bundled.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from export.atomic import atomic_path, write_json
from export.formats import FORMATS, MANIFEST_NAME
from pipeline.stage import Stage, first_paragraph
from runtime.errors import ModelIntegrityError, ModelLoadError
from runtime.manifest import read_manifest, verify

BUNDLED = tuple(fmt.filename for fmt in FORMATS if fmt.bundled)


def bundle(artifacts: Path, out_dir: Path) -> dict:
    """Copy every bundled file (each checked against the artifacts' manifest), then the manifest."""
    manifest = read_manifest(artifacts)
    if manifest is None:
        raise ModelLoadError(f"{artifacts / MANIFEST_NAME}: missing; run the export stage first")
    for name in BUNDLED:
        verify(artifacts / name, manifest)
        with atomic_path(out_dir / name) as tmp:
            shutil.copyfile(artifacts / name, tmp)
    bundled = {**manifest, "files": {name: manifest["files"][name] for name in BUNDLED}}
    write_json(out_dir / MANIFEST_NAME, bundled)
    return bundled


def run(args, _params) -> str:
    bundle(args.artifacts, args.out_dir)
    return f"{', '.join(BUNDLED)} and {MANIFEST_NAME} -> {args.out_dir}"


def arguments(parser) -> None:
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--out-dir", type=Path, default=Path("runtime/models"))


STAGE = Stage("bundle", first_paragraph(__doc__), run, None, arguments,
              catches=(ModelLoadError, ModelIntegrityError), output_folders=("out_dir",))
main = STAGE.main

if __name__ == "__main__":
    sys.exit(main())
