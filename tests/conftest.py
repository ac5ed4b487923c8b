"""Shared fixtures: a committed sample of real MNIST, and a small model trained once per run.

`tiny_pipeline` runs the real stage entry points (train -> qat -> export) on the sample,
in a temporary directory, so every test sees real exported files.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Before anything loads TensorFlow: tfmot (the QAT and export stages, run in-process here) needs
# tf_keras, and the Keras 3 tests (tests/test_augment.py) load TensorFlow as their backend.
os.environ["TF_USE_LEGACY_KERAS"] = "1"

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "mnist_sample.npz"


@dataclass(frozen=True)
class TinyPipeline:
    root: Path
    data: Path
    params: Path
    float_keras3: Path
    float_model: Path
    qat_model: Path
    artifacts: Path


@pytest.fixture(scope="session")
def mnist_sample() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as npz:
        return {key: npz[key] for key in npz.files}


def write_test_params(path: Path, **overrides: dict) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    # Batch 16: BatchNorm's moving statistics need several hundred steps to settle; with 42 steps
    # an epoch (batch 64) the fixture model answered one class for everything at inference.
    params["train"].update(backend="tensorflow", device="cpu", epochs=4, batch_size=16, validation_size=300)
    # The fixture tests conversion and parity on a real (small) model: 4 epochs on 2,700 images,
    # no augmentation, about 98% validation accuracy.
    params["train"]["augment"] = {name: 0.0 for name in params["train"]["augment"]}
    params["qat"].update(epochs=1, batch_size=64)
    params["export"].update(calibration_samples=64)
    for section, values in overrides.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> TinyPipeline:
    from pipeline import legacy_keras  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)
    from pipeline import export as export_stage
    from pipeline import qat as qat_stage
    from pipeline import train as train_stage

    root = tmp_path_factory.mktemp("pipeline")
    data = root / "data" / "mnist.npz"
    data.parent.mkdir()
    shutil.copyfile(FIXTURE, data)
    params = write_test_params(root / "params.yaml")
    run = TinyPipeline(root, data, params, root / "models" / "float.keras", root / "models" / "float_tfkeras.h5",
                       root / "models" / "qat.h5", root / "artifacts")
    common = ["--data", str(data), "--params", str(params)]
    assert train_stage.main([*common, "--model", str(run.float_keras3), "--metrics", str(root / "train.json"),
                             "--live-dir", str(root / "live")]) == 0
    assert qat_stage.main([*common, "--model", str(run.float_keras3), "--float-out", str(run.float_model),
                           "--qat-out", str(run.qat_model), "--metrics", str(root / "qat.json")]) == 0
    assert export_stage.main([*common, "--float-model", str(run.float_model), "--qat-model", str(run.qat_model),
                              "--train-metrics", str(root / "train.json"), "--out-dir", str(run.artifacts)]) == 0
    return run


@pytest.fixture(scope="session")
def keras_references(tiny_pipeline, mnist_sample):
    """Probabilities of the float and QAT Keras models on the sample's test images."""
    from pipeline.legacy_keras import load_float, load_qat
    from runtime.normalization import to_model_input

    x = to_model_input(mnist_sample["x_test"])
    float_model, qat_model = load_float(tiny_pipeline.float_model), load_qat(tiny_pipeline.qat_model)
    return {
        "keras_float": float_model.predict(x, batch_size=500, verbose=0),
        "keras_qat": qat_model.predict(x, batch_size=500, verbose=0),
        "models": {"keras_float": float_model, "keras_qat": qat_model},
        "x": x,
        "y": mnist_sample["y_test"].astype(np.int64),
    }
