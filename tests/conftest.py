"""Shared fixtures: a committed sample of real MNIST, and a committed small model made from it.

The model files in tests/fixtures/model/ were made once by tests/make_fixtures.py (the real
train -> QAT -> export stages on the sample) and are read, never retrained, so no assertion
depends on the machine that runs the suite. `tiny_pipeline` is a private copy of them per
session; `converted` runs the export stage on the committed Keras models, so the parity tests
check this machine's conversion against the committed references.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Before anything loads TensorFlow: tfmot (the QAT and export stages, run in-process here) needs
# tf_keras, and the Keras 3 tests (tests/pipeline/test_augment.py) load TensorFlow as their backend.
os.environ["TF_USE_LEGACY_KERAS"] = "1"

from tests.make_fixtures import MODEL_DIR, ROOT, SAMPLE, write_test_params  # noqa: E402

FIXTURE = SAMPLE
__all__ = ["FIXTURE", "MODEL_DIR", "ROOT", "write_test_params"]


@dataclass(frozen=True)
class TinyPipeline:
    root: Path
    data: Path
    params: Path
    float_keras3: Path
    float_model: Path
    qat_model: Path
    artifacts: Path
    live: Path
    train_metrics: Path


def pipeline_files(root: Path) -> TinyPipeline:
    return TinyPipeline(root, root / "data" / "mnist.npz", root / "params.yaml", root / "float.keras",
                        root / "float_tfkeras.h5", root / "qat.h5", root / "artifacts", root / "live",
                        root / "train.json")


@pytest.fixture(scope="session")
def mnist_sample() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> TinyPipeline:
    """A private copy of the committed fixture model and every file the stages made from it."""
    root = tmp_path_factory.mktemp("pipeline") / "model"
    shutil.copytree(MODEL_DIR, root)
    run = pipeline_files(root)
    run.data.parent.mkdir()
    shutil.copyfile(FIXTURE, run.data)
    return run


@pytest.fixture
def small_realworld(tmp_path) -> Path:
    """One real-world picture of each digit and two non-digits: every real-world column, quickly."""
    small = tmp_path / "realworld"
    for label in range(10):
        first = sorted((ROOT / "realworld" / "digits" / str(label)).iterdir())[0]
        (small / "digits" / str(label)).mkdir(parents=True)
        shutil.copyfile(first, small / "digits" / str(label) / first.name)
    (small / "nondigits").mkdir()
    for other in sorted((ROOT / "realworld" / "nondigits").iterdir())[:2]:
        shutil.copyfile(other, small / "nondigits" / other.name)
    copy_heldout(small, every=100)
    return small


def copy_heldout(root: Path, every: int) -> None:
    """Every `every`-th held-out non-digit (realworld/heldout_nondigits), kinds kept, into `root`."""
    for picture in sorted((ROOT / "realworld" / "heldout_nondigits").glob("*/*"))[::every]:
        (root / "heldout_nondigits" / picture.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(picture, root / "heldout_nondigits" / picture.parent.name / picture.name)


@pytest.fixture(scope="session")
def converted(tiny_pipeline, tmp_path_factory) -> Path:
    """Every format exported on this machine from the committed tf_keras models (the export stage)."""
    from pipeline import legacy_keras  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)
    from pipeline import export as export_stage

    out = tmp_path_factory.mktemp("converted")
    params = write_test_params(out / "params.yaml")
    assert export_stage.main(["--data", str(tiny_pipeline.data), "--params", str(params),
                              "--float-model", str(tiny_pipeline.float_model),
                              "--qat-model", str(tiny_pipeline.qat_model),
                              "--train-metrics", str(tiny_pipeline.train_metrics),
                              "--out-dir", str(out / "artifacts")]) == 0
    return out / "artifacts"


@pytest.fixture(scope="session")
def keras_references(tiny_pipeline, mnist_sample):
    """Probabilities of the committed float and QAT Keras models on the sample's test images."""
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


@pytest.fixture
def fork_while_held():
    """`run(hold, child) -> exit code`: fork while another thread is inside the context manager
    `hold`, and run `child()` (True for success) in the forked child; a child that hangs (a lock
    held at the fork) fails the test after 20 s."""
    import threading
    import time

    def run(hold, child) -> int:
        holding, release = threading.Event(), threading.Event()

        def holder() -> None:
            with hold():
                holding.set()
                release.wait(10)

        thread = threading.Thread(target=holder)
        thread.start()
        assert holding.wait(5)
        pid = os.fork()
        if pid == 0:  # the child says how it went by its exit status, and nothing else
            try:
                os._exit(0 if child() else 1)
            except BaseException:
                os._exit(2)
        release.set()
        thread.join(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung (a lock held at the fork)")

    return run
