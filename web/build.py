"""Build the static site into web/dist: the page, onnxruntime-web's WebAssembly files from
node_modules (installed by `npm ci` from package-lock.json), and the package's bundled int8 ONNX
with its manifest. Nothing is fetched from a CDN; the folder works offline.

    python web/build.py            # after `npm ci --prefix web`
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parent
ROOT = WEB.parent
DIST = WEB / "dist"
ORT_DIST = WEB / "node_modules" / "onnxruntime-web" / "dist"
# The WebAssembly-only build of onnxruntime-web: its ES module and the SIMD wasm it loads.
VENDOR = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
MODELS = ("model_int8.onnx", "manifest.json")
# OpenCV.js (the digit finder, web/src/find.js): its ES module and the WebAssembly build it embeds.
OPENCV_DIST = WEB / "node_modules" / "@opencvjs" / "web" / "lib"
OPENCV = ("index.js", "opencv_js.js")


def build(dist: Path = DIST) -> Path:
    missing = [name for name in VENDOR if not (ORT_DIST / name).is_file()]
    missing += [name for name in OPENCV if not (OPENCV_DIST / name).is_file()]
    if missing:
        raise SystemExit(f"web/build.py: error: web/node_modules lacks {', '.join(missing)}; run `npm ci --prefix web` first")
    staging = dist.with_name(dist.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(WEB / "src", staging)
    (staging / "vendor").mkdir()
    for name in VENDOR:
        shutil.copyfile(ORT_DIST / name, staging / "vendor" / name)
    (staging / "vendor" / "opencv").mkdir()
    for name in OPENCV:
        shutil.copyfile(OPENCV_DIST / name, staging / "vendor" / "opencv" / name)
    (staging / "models").mkdir()
    for name in MODELS:
        shutil.copyfile(ROOT / "runtime" / "models" / name, staging / "models" / name)
    shutil.rmtree(dist, ignore_errors=True)
    staging.rename(dist)
    return dist


if __name__ == "__main__":
    print(f"web: built {build().relative_to(ROOT)}")
    sys.exit(0)
