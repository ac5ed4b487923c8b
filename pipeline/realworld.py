"""The real-world evaluation set (realworld/, made by tools/make_realworld.py), read the way an
app reads pictures: every file through the runtime's own preprocessing.

Nothing trains on it. `digits/<label>/*` are pictures of digits; `nondigits/*` are pictures that
are not digits, which the runtime should answer with "no digit found" or a low probability;
`heldout_nondigits/<kind>/*` (tools/make_nondigits.py) are letters, symbols, shapes and scribbles
that the non-digit training (pipeline/negatives.py) never draws, in fonts it never uses: the
open-set figures (`open_set_scores`) are measured on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.parity import expected_calibration_error
from runtime.digits import INPUT_SHAPE, NUM_LABELS
from runtime.errors import InputError
from runtime.model import digits_only
from runtime.preprocess import preprocess_image


@dataclass(frozen=True)
class RealWorld:
    x: np.ndarray  # float32 (N, 28, 28, 1): the digit pictures the preprocessing accepted
    y: np.ndarray  # their labels
    refused: int  # digit pictures the preprocessing refused ("no digit found"): counted as wrong
    x_nondigits: np.ndarray
    nondigits_refused: int
    x_heldout: np.ndarray  # held-out non-digits the preprocessing accepted
    heldout_refused: int

    @property
    def digits(self) -> int:
        return len(self.y) + self.refused

    @property
    def nondigits(self) -> int:
        return len(self.x_nondigits) + self.nondigits_refused

    @property
    def heldout(self) -> int:
        return len(self.x_heldout) + self.heldout_refused


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
    heldout = sorted(p for p in (root / "heldout_nondigits").glob("*/*") if p.is_file())
    if not heldout:
        raise FileNotFoundError(f"{root / 'heldout_nondigits'}: no pictures; run `python -m tools.make_nondigits`")
    x_held, kept_held = _read(heldout)
    return RealWorld(x, labels[kept], len(files) - len(kept), x_non, len(others) - len(kept_non),
                     x_held, len(heldout) - len(kept_held))


def digit_score(probabilities: np.ndarray) -> np.ndarray:
    """How much each answer is a digit: its top digit probability (0 where "not a digit" is on top)."""
    score = probabilities[:, :NUM_LABELS].max(axis=1)
    return np.where(probabilities.argmax(axis=1) >= NUM_LABELS, 0.0, score)


def open_set_scores(predict, data: RealWorld, mnist_probabilities: np.ndarray, mnist_labels: np.ndarray) -> dict:
    """The open-set figures on the held-out non-digits, as the field reports them:

    - at the runtime's defaults (no threshold: "no digit found" from the finder, or "not a digit"
      as the model's answer): the share of held-out non-digits rejected, and the digit recall
      (share of digits accepted) on MNIST's test set and on the real-world set, whose refused
      pictures count as rejected;
    - with a threshold on the top digit probability set where 99% of MNIST's test digits are still
      accepted: the share of held-out non-digits rejected;
    - the curve of that rejection against MNIST digit recall, over thresholds that keep 90% of the
      digits or more (the first point is the defaults)."""
    held = digit_score(predict(data.x_heldout)) if len(data.x_heldout) else np.zeros(0)
    mnist = digit_score(mnist_probabilities)
    real_probabilities = predict(data.x) if len(data.x) else np.zeros((0, NUM_LABELS), np.float32)
    real = digit_score(real_probabilities)
    total = data.heldout

    # A picture is accepted when its score is at least the threshold (and it is not "not a digit":
    # score 0). int8 scores sit on a grid, so thresholds are taken from the digits' own scores.
    def kept(threshold: float) -> float:
        return float(((mnist >= threshold) & (mnist > 0)).mean())

    def rejected(threshold: float) -> float:
        return (data.heldout_refused + int(((held < threshold) | (held <= 0)).sum())) / total

    threshold99 = float(np.quantile(mnist, 0.01, method="lower"))  # 99% of test digits score at least this
    thresholds = np.unique([0.0, *np.quantile(mnist, np.linspace(0, 0.1, 81), method="lower")])
    return {
        "heldout_nondigit_rejection": rejected(0.0),
        "mnist_digit_recall": kept(0.0),
        "realworld_digit_recall": int((real > 0).sum()) / data.digits,
        # `--always-digit` (Classifier.load(always_digit=True)): the likeliest digit where the model
        # answers "not a digit"; the pictures the finder refuses still count as wrong
        "realworld_accuracy_always_digit": int((digits_only(real_probabilities).argmax(axis=1) == data.y).sum()) / data.digits,
        # the same for MNIST's test digits: what the digits alone are worth, none refused
        "mnist_accuracy_always_digit": float((digits_only(mnist_probabilities).argmax(axis=1) == mnist_labels).mean()),
        "heldout_rejection_at_99_recall": rejected(threshold99),
        "threshold_at_99_recall": threshold99,
        "rejection_curve": [[round(kept(t), 5), round(rejected(t), 5)] for t in thresholds],
    }


def scores(predict, data: RealWorld, min_confidence: float) -> dict[str, float]:
    """Accuracy, ECE and the share answered wrong with confidence (a top probability of
    `min_confidence` or more) on the digit pictures, and the share of non-digits rejected
    ("no digit found", or a top probability under `min_confidence`)."""
    probabilities = predict(data.x)
    correct = int((probabilities.argmax(axis=1) == data.y).sum())
    wrong_sure = int(((probabilities.argmax(axis=1) != data.y) & (digit_score(probabilities) >= min_confidence)).sum())
    confident = (int((digit_score(predict(data.x_nondigits)) >= min_confidence).sum())
                 if len(data.x_nondigits) else 0)
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
    probabilities = predict(data.x) if len(data.x) else np.zeros((0, NUM_LABELS), np.float32)
    right = probabilities.argmax(axis=1) == data.y
    sure = digit_score(probabilities) >= min_confidence  # "not a digit" is no answer, so never wrong and sure
    none_sure = (digit_score(predict(data.x_none)) >= min_confidence) if len(data.x_none) else np.zeros(0, bool)
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
