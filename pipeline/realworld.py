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
    """Accuracy, ECE and the share answered wrong with confidence (a top probability of
    `min_confidence` or more) on the digit pictures, and the share of non-digits rejected
    ("no digit found", or a top probability under `min_confidence`)."""
    probabilities = predict(data.x)
    correct = int((probabilities.argmax(axis=1) == data.y).sum())
    wrong_sure = int(((probabilities.argmax(axis=1) != data.y) & (probabilities.max(axis=1) >= min_confidence)).sum())
    confident = int((predict(data.x_nondigits).max(axis=1) >= min_confidence).sum()) if len(data.x_nondigits) else 0
    return {
        "realworld_accuracy": correct / data.digits,
        "realworld_ece": expected_calibration_error(probabilities, data.y),
        "realworld_confident_wrong": wrong_sure / data.digits,
        "nondigit_rejection": 1 - confident / data.nondigits if data.nondigits else None,
    }


@dataclass(frozen=True)
class Scenes:
    """Camera-like pictures by scene (scenes/<split>/<scene>/<label or none>/*, made by
    tools/make_scenes.py), read through the runtime's preprocessing like `load`."""

    names: tuple[str, ...]
    x: np.ndarray  # the digit pictures the preprocessing accepted
    y: np.ndarray
    scene: np.ndarray  # index into `names`, per accepted digit picture
    digits: np.ndarray  # digit pictures per scene, refused ones included
    x_none: np.ndarray  # the non-digit twins the preprocessing accepted
    none_scene: np.ndarray
    nondigits: np.ndarray  # non-digit twins per scene, refused ones included


def load_scenes(root: Path) -> Scenes:
    names = tuple(sorted(p.name for p in root.iterdir() if p.is_dir())) if root.is_dir() else ()
    if not names:
        raise FileNotFoundError(f"{root}: no scenes; run `python -m tools.make_scenes --split report --out {root}`")
    digit_files, labels, digit_scene, none_files, none_scene = [], [], [], [], []
    for index, name in enumerate(names):
        for path in sorted(p for p in (root / name).glob("*/*") if p.is_file()):
            if path.parent.name == "none":
                none_files.append(path)
                none_scene.append(index)
            else:
                digit_files.append(path)
                labels.append(int(path.parent.name))
                digit_scene.append(index)
    x, kept = _read(digit_files)
    x_none, kept_none = _read(none_files)
    count = len(names)
    return Scenes(names, x, np.array(labels, np.int64)[kept], np.array(digit_scene, np.int64)[kept],
                  np.bincount(np.array(digit_scene, np.int64), minlength=count), x_none,
                  np.array(none_scene, np.int64)[kept_none], np.bincount(np.array(none_scene, np.int64), minlength=count))


def scene_scores(predict, data: Scenes, min_confidence: float) -> dict:
    """Per scene: accuracy (a refused digit counts as wrong), the share answered wrong with
    confidence (wrong, with a probability of `min_confidence` or more, so not marked uncertain),
    and the share of non-digit twins rejected; and the same over all scenes."""
    probabilities = predict(data.x) if len(data.x) else np.zeros((0, 10), np.float32)
    right = probabilities.argmax(axis=1) == data.y
    sure = probabilities.max(axis=1) >= min_confidence
    none_sure = (predict(data.x_none).max(axis=1) >= min_confidence) if len(data.x_none) else np.zeros(0, bool)
    count = len(data.names)

    def per_scene(mask: np.ndarray, scene: np.ndarray) -> np.ndarray:
        return np.bincount(scene[mask], minlength=count)

    right_n, wrong_sure = per_scene(right, data.scene), per_scene(~right & sure, data.scene)
    accepted_none = per_scene(none_sure, data.none_scene)
    scenes = {name: {"accuracy": int(right_n[i]) / int(data.digits[i]),
                     "confident_wrong": int(wrong_sure[i]) / int(data.digits[i]),
                     "nondigit_rejection": (1 - int(accepted_none[i]) / int(data.nondigits[i])
                                            if data.nondigits[i] else None)}
              for i, name in enumerate(data.names)}
    digits, nondigits = int(data.digits.sum()), int(data.nondigits.sum())
    return {"scenes": scenes, "scenes_accuracy": int(right_n.sum()) / digits,
            "scenes_confident_wrong": int(wrong_sure.sum()) / digits,
            "scenes_nondigit_rejection": 1 - int(accepted_none.sum()) / nondigits if nondigits else None}
