"""Make the committed test fixtures, once; the suite only reads them.

    python tests/make_fixtures.py            # the fixture model (train -> QAT -> export)
    python tests/make_fixtures.py --sample   # also redraw mnist_sample.npz (needs MNIST_PATH)
    python tests/make_fixtures.py --open-set # only the open-set model, from the committed float model

1. `tests/fixtures/mnist_sample.npz`: a small, seeded sample of the real MNIST, in the Keras
   layout (x_train, y_train, x_test, y_test; uint8), so every stage reads it like the full file.
2. `tests/fixtures/model/`: a small model trained on that sample by the real stage entry points
   (train, then QAT, then export), with the files every stage writes: the Keras 3 model, the
   tf_keras float and QAT models, their metrics and curves, and `artifacts/` (every format in
   the formats table and the manifest).
3. `tests/fixtures/model_open_set/`: the int8 TFLite and ONNX files (and their manifest) of the
   same float model after the qat stage's open-set step (`qat.open_set.route: class`, a few
   hundred non-digits): a model with an 11th output, "not a digit", for the runtime's tests.

A model trained per test run differs from machine to machine (thread count and float
rounding decide the bits), so a test asserting on it passes on one machine and fails on the
next. These files are made once and committed: the parity tests convert the committed Keras
models and compare the results with tolerances the conversion guarantees, and the runtime,
evaluate, bundle and TFLite Micro tests read the committed files. Re-run this script only when
the architecture, the stages' output layout or the pinned converters change, and commit the result.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIXTURES = ROOT / "tests" / "fixtures"
SAMPLE = FIXTURES / "mnist_sample.npz"
MODEL_DIR = FIXTURES / "model"
TRAIN, TEST, SEED = 3000, 1000, 20261122


def test_params(base: dict, **overrides: dict) -> dict:
    """params.yaml with the small settings every fixture and smoke run uses."""
    params = {section: dict(values) if isinstance(values, dict) else values for section, values in base.items()}
    # Batch 16: BatchNorm's moving statistics need several hundred steps to settle; with 42 steps
    # an epoch (batch 64) a 4-epoch model answered one class for everything at inference.
    params["train"].update(backend="tensorflow", device="cpu", devices="one", epochs=4, batch_size=16,
                           validation_size=300)
    # No augmentation: the fixture tests conversion and parity, not the real-pictures recipe.
    params["train"]["augment"] = {name: 0.0 for name in params["train"]["augment"]}
    params["qat"].update(epochs=1, batch_size=64)
    # The non-digits: a few hundred, one epoch (the qat stage's open-set step, still exercised).
    params["qat"]["open_set"] = {**params["qat"]["open_set"], "negatives": 200, "epochs": 1, "printed_digits": 100}
    params["export"].update(calibration_samples=64)
    # A 4-epoch model on 1,200 digits: the gates compare the files, the floor is for real trainings.
    params["evaluate"] = {**params["evaluate"], "gates": {**params["evaluate"]["gates"], "min_accuracy": 0.5}}
    for section, values in overrides.items():
        for key, value in values.items():  # a nested mapping (evaluate.gates) is merged, not replaced
            params[section][key] = {**params[section][key], **value} if isinstance(value, dict) else value
    return params


def write_test_params(path: Path, **overrides: dict) -> Path:
    path.write_text(yaml.safe_dump(test_params(yaml.safe_load((ROOT / "params.yaml").read_text()), **overrides)))
    return path


def make_sample() -> None:
    from pipeline.data import load_verified

    source = os.environ.get("MNIST_PATH", str(ROOT.parent / "shared" / "data" / "mnist.npz"))
    arrays = load_verified(source)
    rng = np.random.default_rng(SEED)
    train = np.sort(rng.choice(len(arrays["y_train"]), TRAIN, replace=False))
    test = np.sort(rng.choice(len(arrays["y_test"]), TEST, replace=False))
    SAMPLE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(SAMPLE, x_train=arrays["x_train"][train], y_train=arrays["y_train"][train],
                        x_test=arrays["x_test"][test], y_test=arrays["y_test"][test])
    print(f"wrote {SAMPLE} ({SAMPLE.stat().st_size / 1024:.0f} kB): {TRAIN} train, {TEST} test images")


def run_stages(steps: list, common: list[str]) -> None:
    """Run each (stage module, arguments) in turn with the `common` arguments; stop at a failure."""
    for stage, args in steps:
        if stage.main([*common, *args]) != 0:
            raise SystemExit(f"make_fixtures: the {stage.STAGE.name} stage failed; nothing was replaced")


def make_model() -> None:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # before TensorFlow loads (QAT and export need tf_keras)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from pipeline import legacy_keras  # noqa: F401
    from pipeline import export as export_stage
    from pipeline import qat as qat_stage
    from pipeline import train as train_stage

    with tempfile.TemporaryDirectory(dir=FIXTURES) as tmp:
        out = Path(tmp) / "model"
        out.mkdir()
        # The digit model of the fixture has ten outputs; model_open_set/ is its open-set sibling.
        params = write_test_params(out / "params.yaml", qat={"open_set": {"route": "off"}})
        common = ["--data", str(SAMPLE), "--params", str(params)]
        steps = [
            (train_stage, ["--model", str(out / "float.keras"), "--metrics", str(out / "train.json"),
                           "--live-dir", str(out / "live")]),
            (qat_stage, ["--model", str(out / "float.keras"), "--float-out", str(out / "float_tfkeras.h5"),
                         "--qat-out", str(out / "qat.h5"), "--metrics", str(out / "qat.json")]),
            (export_stage, ["--float-model", str(out / "float_tfkeras.h5"), "--qat-model", str(out / "qat.h5"),
                            "--train-metrics", str(out / "train.json"), "--out-dir", str(out / "artifacts")]),
        ]
        run_stages(steps, common)
        if MODEL_DIR.exists():
            shutil.rmtree(MODEL_DIR)
        out.rename(MODEL_DIR)
    size = sum(p.stat().st_size for p in MODEL_DIR.rglob("*") if p.is_file())
    print(f"wrote {MODEL_DIR} ({size / 1024:.0f} kB)")


OPEN_SET_DIR = FIXTURES / "model_open_set"
OPEN_SET_FILES = ("model_int8.tflite", "model_int8.onnx", "manifest.json")


def make_open_set_model() -> None:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from pipeline import legacy_keras  # noqa: F401
    from pipeline import export as export_stage
    from export.atomic import write_json
    from pipeline import qat as qat_stage

    with tempfile.TemporaryDirectory(dir=FIXTURES) as tmp:
        out = Path(tmp)
        params = write_test_params(out / "params.yaml", qat={"open_set": {"route": "class", "epochs": 2,
                                                                           "negatives": 600}})
        common = ["--data", str(SAMPLE), "--params", str(params)]
        steps = [
            (qat_stage, ["--model", str(MODEL_DIR / "float.keras"), "--float-out", str(out / "float_tfkeras.h5"),
                         "--qat-out", str(out / "qat.h5"), "--metrics", str(out / "qat.json")]),
            (export_stage, ["--float-model", str(out / "float_tfkeras.h5"), "--qat-model", str(out / "qat.h5"),
                            "--train-metrics", str(MODEL_DIR / "train.json"), "--out-dir", str(out / "artifacts")]),
        ]
        run_stages(steps, common)
        keep = out / "model_open_set"
        keep.mkdir()
        for name in OPEN_SET_FILES:
            (out / "artifacts" / name).rename(keep / name)
        manifest = json.loads((keep / "manifest.json").read_text())  # only the files kept
        manifest["files"] = {name: entry for name, entry in manifest["files"].items() if name in OPEN_SET_FILES}
        write_json(keep / "manifest.json", manifest)
        if OPEN_SET_DIR.exists():
            shutil.rmtree(OPEN_SET_DIR)
        keep.rename(OPEN_SET_DIR)
    print(f"wrote {OPEN_SET_DIR}")


def export_files() -> None:
    """Re-export the fixture's files from its committed Keras models, without retraining them
    (after a row is added to the formats table)."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from pipeline import legacy_keras  # noqa: F401
    from pipeline import export as export_stage

    with tempfile.TemporaryDirectory(dir=FIXTURES) as tmp:
        params = write_test_params(Path(tmp) / "params.yaml")
        out = Path(tmp) / "artifacts"
        if export_stage.main(["--data", str(SAMPLE), "--params", str(params),
                              "--float-model", str(MODEL_DIR / "float_tfkeras.h5"),
                              "--qat-model", str(MODEL_DIR / "qat.h5"),
                              "--train-metrics", str(MODEL_DIR / "train.json"), "--out-dir", str(out)]) != 0:
            raise SystemExit("make_fixtures: the export stage failed; nothing was replaced")
        shutil.rmtree(MODEL_DIR / "artifacts")
        out.rename(MODEL_DIR / "artifacts")
        params.replace(MODEL_DIR / "params.yaml")
    print(f"re-exported {MODEL_DIR / 'artifacts'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", action="store_true", help="also redraw mnist_sample.npz from MNIST_PATH")
    parser.add_argument("--open-set", action="store_true",
                        help="only make the open-set model (model_open_set/) from the committed float model")
    parser.add_argument("--export-only", action="store_true",
                        help="only re-export the files from the committed Keras models (no training)")
    args = parser.parse_args(argv)
    if args.export_only:
        export_files()
        return 0
    if args.open_set:
        make_open_set_model()
        return 0
    if args.sample:
        make_sample()
    make_model()
    make_open_set_model()
    return 0


if __name__ == "__main__":
    sys.exit(main())
