"""The real-world evaluation set (realworld/, made by tools/make_realworld.py), read the way an
app reads pictures: every file through the runtime's own preprocessing.

Nothing trains on it. `digits/<label>/*` are pictures of digits; `nondigits/*` are pictures that
are not digits, which the runtime should answer with "no digit found" or a low probability.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.parity import expected_calibration_error
from runtime.digits import INPUT_SHAPE
from runtime.errors import InputError
from runtime.preprocess import preprocess_image


@dataclass(frozen=True)
class RealWorld:
    x: np.ndarray  # float32 (N, 28, 28, 1): the digit pictures the preprocessing accepted
    y: np.ndarray  # their labels
    refused: int  # digit pictures the preprocessing refused ("no digit found"): counted as wrong
    x_nondigits: np.ndarray
    nondigits_refused: int

    @property
    def digits(self) -> int:
        return len(self.y) + self.refused

    @property
    def nondigits(self) -> int:
        return len(self.x_nondigits) + self.nondigits_refused


def _read(paths: list[Path]) -> tuple[np.ndarray, list[int]]:
    images, kept = [], []
    for index, path in enumerate(paths):
        try:
            images.append(preprocess_image(path))
            kept.append(index)
        except InputError:
            continue
    return (np.stack(images) if images else np.zeros((0, *INPUT_SHAPE), np.float32)), kept


def load(root: Path) -> RealWorld:
    files = sorted(p for p in (root / "digits").glob("*/*") if p.is_file())
    if not files:
        raise FileNotFoundError(f"{root / 'digits'}: no pictures; run `python -m tools.make_realworld`")
    labels = np.array([int(p.parent.name) for p in files])
    x, kept = _read(files)
    others = sorted(p for p in (root / "nondigits").glob("*") if p.is_file())
    x_non, kept_non = _read(others)
    return RealWorld(x, labels[kept], len(files) - len(kept), x_non, len(others) - len(kept_non))


def scores(predict, data: RealWorld, min_confidence: float) -> dict[str, float]:
    """Accuracy and ECE on the digit pictures, and the share of non-digits rejected
    ("no digit found", or a top probability under `min_confidence`)."""
    probabilities = predict(data.x)
    correct = int((probabilities.argmax(axis=1) == data.y).sum())
    confident = int((predict(data.x_nondigits).max(axis=1) >= min_confidence).sum()) if len(data.x_nondigits) else 0
    return {
        "realworld_accuracy": correct / data.digits,
        "realworld_ece": expected_calibration_error(probabilities, data.y),
        "nondigit_rejection": 1 - confident / data.nondigits if data.nondigits else None,
    }
