"""Stage `bundle`: copy the formats marked `bundled` and their manifest into the runtime package.

`python -m runtime.classify` then works right after `pip install`, with no pipeline run.
The int8 files are the defaults; the float ONNX is the fallback for hardware without int8.
The stage depends on metrics/evaluate.json in dvc.yaml, so only files that passed the
parity gates are ever bundled.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

from export.atomic import atomic_path, write_json
from export.formats import FORMATS, MANIFEST_NAME
from pipeline.stage import Stage, first_paragraph
from runtime.errors import ModelIntegrityError, ModelLoadError
from runtime.manifest import read_manifest, sha256_of, verify

BUNDLED = tuple(fmt.filename for fmt in FORMATS if fmt.bundled)


def bundle(artifacts: Path, out_dir: Path) -> dict:
    """Copy every bundled file and the manifest, all or none: each file is copied beside its target and
    the copy checked against the artifacts' manifest, and only when every copy holds are they renamed
    into place, the manifest last. A file that fails leaves the bundle as it was, still loadable."""
    manifest = read_manifest(artifacts)
    if manifest is None:
        raise ModelLoadError(f"{artifacts / MANIFEST_NAME}: missing; run the export stage first")
    bundled = {**manifest, "files": {name: manifest["files"][name] for name in BUNDLED}}
    for name in BUNDLED:  # every file checked before any is copied
        verify(artifacts / name, manifest)
    with contextlib.ExitStack() as copies:  # each copy renamed into place only when every copy is made
        for name in BUNDLED:
            tmp = copies.enter_context(atomic_path(out_dir / name))
            shutil.copyfile(artifacts / name, tmp)
            if sha256_of(tmp) != manifest["files"][name]["sha256"]:  # changed while it was copied
                raise ModelIntegrityError(f"{artifacts / name}: changed while it was copied; run the stage again")
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
