"""Regenerate tests/fixtures/mnist_sample.npz: a small, seeded sample of the real MNIST.

    MNIST_PATH=../shared/data/mnist.npz python tests/make_fixtures.py

The sample keeps the Keras layout (x_train, y_train, x_test, y_test; uint8) so every stage
reads it like the full file. Class balance follows the seeded draw.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.data import load_verified  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "mnist_sample.npz"
TRAIN, TEST, SEED = 3000, 1000, 20261122


def main() -> int:
    source = os.environ.get("MNIST_PATH", str(ROOT.parent / "shared" / "data" / "mnist.npz"))
    arrays = load_verified(source)
    rng = np.random.default_rng(SEED)
    train = np.sort(rng.choice(len(arrays["y_train"]), TRAIN, replace=False))
    test = np.sort(rng.choice(len(arrays["y_test"]), TEST, replace=False))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        OUT,
        x_train=arrays["x_train"][train], y_train=arrays["y_train"][train],
        x_test=arrays["x_test"][test], y_test=arrays["y_test"][test],
    )
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} kB): {TRAIN} train, {TEST} test images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
