"""Stage `export`: write every file in the formats table and artifacts/manifest.json.

Each format row names its exporter and its source: the float tf_keras model, the QAT model,
or another format's file (the int8 ONNX is derived from the int8 TFLite, so both carry the
same learned quantization; see export/onnx.py). TensorFlow loads only after params are valid.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from export import manifest as manifest_mod
from export.formats import FORMATS, ExportOptions, Format, Source, dependency_order
from export.onnx import OnnxExportError
from export.tflite import TfliteExportError
from export.tflm import TflmExportError
from pipeline import provenance, report
from pipeline.dataset import DataError, load_arrays
from pipeline.architecture import ModelFileError, output_size
from pipeline.params import ExportParams, export_params, for_variant, read_params
from pipeline.stage import Stage, first_paragraph, read_stage_json
from runtime.digits import OUTPUT_SIZES, labels_for
from runtime.errors import ClassifierError
from runtime.normalization import NORMALIZATION, to_model_input

CALIBRATION_SEED = 0


def calibration_images(data: Path, count: int, seed: int = CALIBRATION_SEED) -> np.ndarray:
    """One seeded sample of training images (float model input), shared by every calibrator."""
    x = load_arrays(data, ("x_train",))["x_train"]
    index = np.sort(np.random.default_rng(seed).choice(len(x), size=min(count, len(x)), replace=False))
    return to_model_input(x[index])


def export_all(models: dict[Source, object], out_dir: Path, options: ExportOptions,
               formats: tuple[Format, ...] = FORMATS) -> dict[str, Path]:
    """Export every format, each from its source; returns {format name: path}."""
    written: dict[str, Path] = {}
    for fmt in dependency_order(formats):
        source = models[fmt.source] if fmt.source else written[fmt.derived_from]
        start = time.perf_counter()
        per_format = ExportOptions(options.opset, options.calibration,
                                   {**options.metadata, "format": fmt.name, "precision": fmt.precision.value})
        path = fmt.exporter(source, out_dir / fmt.filename, per_format)
        written[fmt.name] = path
        print(f"export: {fmt.name:<13} {path}  {report.kib(path.stat().st_size)}  "
              f"({time.perf_counter() - start:.1f}s)", file=sys.stderr, flush=True)
    return written


def load_sources(args, params: ExportParams) -> dict[Source, object]:
    """The two tf_keras models, each checked to be the variant params.yaml names."""
    from pipeline.legacy_keras import load_float, load_qat, tf_keras
    from pipeline.architecture import check_architecture

    float_model, qat_model = load_float(args.float_model), load_qat(args.qat_model)
    check_architecture(float_model, tf_keras, params.model.variant, args.float_model, OUTPUT_SIZES)
    return {Source.FLOAT_MODEL: float_model, Source.QAT_MODEL: qat_model}


def provenance_of(args, raw_params: dict) -> dict:
    training = read_stage_json(args.train_metrics, remedy="run the train stage again, or pass --train-metrics") \
        if args.train_metrics.exists() else {}
    return {
        "git_commit": provenance.git_commit(),
        "data": provenance.file_sha256(args.data),
        "params": for_variant(raw_params),  # as the chosen variant trained: its variants entries applied
        "versions": provenance.library_versions(),
        "training": {k: training.get(k) for k in ("backend", "device", "device_name", "mixed_precision", "machine")},
    }


def run(args, params: ExportParams, formats: tuple[Format, ...] = FORMATS) -> str:
    from runtime.model import open_engine

    origin = provenance_of(args, read_params(args.params))  # read first: a bad file costs no export
    calibration = calibration_images(args.data, params.export.calibration_samples)
    models = load_sources(args, params)
    # Files carry what a consumer needs to run them; versions and provenance live in the manifest.
    labels = list(labels_for(output_size(models[Source.FLOAT_MODEL])))  # with "not a digit" after an open-set QAT
    common = {"variant": params.model.variant.value, "labels": labels, "normalization": NORMALIZATION}
    written = export_all(models, args.out_dir, ExportOptions(params.export.opset, calibration, common), formats)
    engines = {fmt.name: open_engine(written[fmt.name], fmt.engine) for fmt in formats}
    manifest = manifest_mod.build(args.out_dir, common, origin, engines, formats)
    manifest_mod.write(args.out_dir, manifest)
    return f"wrote {len(written)} files and {args.out_dir / manifest_mod.MANIFEST_NAME}"


def arguments(parser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/mnist.npz"))
    parser.add_argument("--float-model", type=Path, default=Path("models/float_tfkeras.h5"))
    parser.add_argument("--qat-model", type=Path, default=Path("models/qat.h5"))
    parser.add_argument("--train-metrics", type=Path, default=Path("metrics/train.json"))
    parser.add_argument("--out-dir", type=Path, default=Path("artifacts"))


STAGE = Stage("export", first_paragraph(__doc__), run, export_params, arguments,
              catches=(DataError, ModelFileError, OnnxExportError, TfliteExportError, TflmExportError, ClassifierError),
              output_folders=("out_dir",))
main = STAGE.main

if __name__ == "__main__":
    sys.exit(main())
