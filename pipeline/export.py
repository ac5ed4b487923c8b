"""Stage `export`: write the four deployable files and artifacts/manifest.json.

Every conversion starts from a tf_keras model: the float model for the float files, the
QAT model for the int8 ones. The int8 ONNX is derived from the int8 TFLite so that both
carry the same learned quantization (see export/onnx.py).
"""

from __future__ import annotations

from pipeline import legacy_keras  # noqa: F401  (must precede every TensorFlow import)

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from export import manifest as manifest_mod  # noqa: E402
from export import onnx as onnx_export  # noqa: E402
from export import tflite as tflite_export  # noqa: E402
from export.formats import FORMATS, Format  # noqa: E402
from pipeline.atomic import install_signal_handlers  # noqa: E402
from pipeline.legacy_keras import load_float, load_qat  # noqa: E402
from pipeline.params import ExportParams, ParamsError, export_params, read_params  # noqa: E402
from runtime.model import open_engine  # noqa: E402
from runtime.normalization import NORMALIZATION, to_model_input  # noqa: E402


def calibration_images(data: Path, count: int, seed: int = 0) -> np.ndarray:
    """One seeded sample of training images (float model input), shared by every calibrator."""
    with np.load(data, allow_pickle=False) as npz:
        x = npz["x_train"]
    index = np.sort(np.random.default_rng(seed).choice(len(x), size=min(count, len(x)), replace=False))
    return to_model_input(x[index])


def as_representative_dataset(images: np.ndarray):
    """TFLite's form: a callable yielding [one-image batch] lists."""

    def generate() -> Iterator[list[np.ndarray]]:
        for image in images:
            yield [image[None]]

    return generate


def as_batches(images: np.ndarray, batch: int = 64) -> list[np.ndarray]:
    """onnxruntime's CalibrationDataReader form: a list of input batches."""
    return [images[i : i + batch] for i in range(0, len(images), batch)]


def export_all(float_model, qat_model, out_dir: Path, params: ExportParams, calibration: np.ndarray,
               metadata: dict) -> dict[str, Path]:
    """Export every format in FORMATS; returns {format name: path}."""
    written: dict[str, Path] = {}

    def meta(fmt: Format) -> dict:
        return {**metadata, "format": fmt.name, "precision": fmt.precision.value}

    exporters = {
        "tflite_float": lambda fmt, path: tflite_export.export_float(float_model, path, meta(fmt)),
        "tflite_int8": lambda fmt, path: tflite_export.export_int8(
            qat_model, path, as_representative_dataset(calibration), meta(fmt)
        ),
        "onnx_float": lambda fmt, path: onnx_export.export_float(float_model, path, params.opset, meta(fmt)),
        "onnx_int8": lambda fmt, path: onnx_export.export_int8(
            written["tflite_int8"], path, params.opset, as_batches(calibration), meta(fmt)
        ),
    }
    for fmt in FORMATS:
        start = time.perf_counter()
        path = exporters[fmt.name](fmt, out_dir / fmt.filename)
        written[fmt.name] = path
        print(f"export: {fmt.name:<13} {path}  {path.stat().st_size / 1024:.1f} kB  "
              f"({time.perf_counter() - start:.1f}s)", file=sys.stderr, flush=True)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/mnist.npz"))
    parser.add_argument("--float-model", type=Path, default=Path("models/float_tfkeras.h5"))
    parser.add_argument("--qat-model", type=Path, default=Path("models/qat.h5"))
    parser.add_argument("--train-metrics", type=Path, default=Path("metrics/train.json"))
    parser.add_argument("--out-dir", type=Path, default=Path("artifacts"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    install_signal_handlers()
    try:
        raw = read_params(args.params)
        params = export_params(raw)
    except ParamsError as error:
        print(f"export: error: {error}", file=sys.stderr)
        return 1
    float_model, qat_model = load_float(args.float_model), load_qat(args.qat_model)
    versions = manifest_mod.library_versions()
    common = {
        "variant": raw["model"]["variant"],
        "labels": manifest_mod.LABELS,
        "normalization": NORMALIZATION,
    }
    calibration = calibration_images(args.data, params.calibration_samples)
    # Files carry what a consumer needs to run them; versions and provenance live in the manifest.
    written = export_all(float_model, qat_model, args.out_dir, params, calibration, common)
    training = json.loads(args.train_metrics.read_text()) if args.train_metrics.exists() else {}
    provenance = {
        "git_commit": manifest_mod.git_commit(),
        "data": manifest_mod.data_hash(),
        "params": raw,
        "versions": versions,
        "training": {k: training.get(k) for k in ("backend", "device", "device_name", "mixed_precision")},
    }
    engines = {name: open_engine(path) for name, path in written.items()}
    manifest = manifest_mod.build(args.out_dir, common, provenance, engines)
    manifest_mod.write(args.out_dir, manifest)
    print(f"export: wrote {args.out_dir / 'manifest.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
