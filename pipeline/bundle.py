"""Stage `bundle`: copy the deployable models and their manifest into the runtime package.

`python -m runtime.classify` then works right after `pip install`, with no pipeline run.
The int8 files are the defaults; the float ONNX is the fallback for hardware without int8.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from export.formats import MANIFEST_NAME
from pipeline.atomic import atomic_path, install_signal_handlers, write_json

BUNDLED = ("model_int8.tflite", "model_int8.onnx", "model_float.onnx")


def bundle(artifacts: Path, out_dir: Path) -> dict:
    manifest = json.loads((artifacts / MANIFEST_NAME).read_text())
    for name in BUNDLED:
        with atomic_path(out_dir / name) as tmp:
            shutil.copyfile(artifacts / name, tmp)
    bundled = {**manifest, "files": {name: manifest["files"][name] for name in BUNDLED}}
    write_json(out_dir / MANIFEST_NAME, bundled)
    return bundled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/evaluate.json"))
    parser.add_argument("--out-dir", type=Path, default=Path("runtime/models"))
    args = parser.parse_args(argv)
    install_signal_handlers()
    bundle(args.artifacts, args.out_dir)
    print(f"bundle: {', '.join(BUNDLED)} and {MANIFEST_NAME} -> {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
