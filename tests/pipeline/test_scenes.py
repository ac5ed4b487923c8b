"""The scene sets' generator (tools/make_scenes.py): seeded pictures, true boxes, disjoint splits.

Inks here are pen strokes and seven-segment masks (no MNIST, no fonts needed); pictures are small."""

from __future__ import annotations

import numpy as np
import pytest

from tools import make_scenes
from tools.make_scenes import SCENES, render

SIZE = (320, 240)


def _ink(scene: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    if scene == "seven_segment":
        return make_scenes.segment_ink(make_scenes.DIGIT_SEGMENTS[5], rng)
    return make_scenes.pen_ink(5, rng), None


def _draw(scene: str, seed: int, ink_seed: int = 0, lossless: bool = False):
    ink, ghost = _ink(scene, ink_seed)
    size = (120, 120) if scene == "tight_crop" else SIZE
    return render(scene, ink, np.random.default_rng(seed), size, ghost=ghost, lossless=lossless)


@pytest.mark.parametrize("scene", SCENES)
def test_render_is_deterministic_under_a_seed(scene):
    first, box = _draw(scene, 7)
    again, box_again = _draw(scene, 7)
    other, _ = _draw(scene, 8)
    assert first.tobytes() == again.tobytes() and box == box_again
    assert first.tobytes() != other.tobytes()
    if scene != "tight_crop":
        assert first.size == SIZE and first.mode == "RGB"


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_box_lies_in_the_picture_and_holds_the_ink(scene, seed):
    ink, ghost = _ink(scene, seed)
    image, mask = make_scenes._render(scene, ink, np.random.default_rng(seed), (120, 120) if scene == "tight_crop"
                                      else SIZE, ghost, seed == 3)
    _, box = _draw(scene, seed, ink_seed=seed, lossless=seed == 3)
    left, top, right, bottom = box
    w, h = image.size
    assert mask.shape == (h, w)
    assert 0 <= left < right <= w and 0 <= top < bottom <= h
    ys, xs = np.nonzero(mask > 0.5)  # every ink pixel in the box, and the box no larger than the ink
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == box
    assert (mask[:, :left] <= 0.5).all() and (mask[:, right:] <= 0.5).all()
    grey = np.asarray(image.convert("L"), np.float32)
    inked = grey[mask > 0.9].mean()
    if scene == "tight_crop":  # cropped to the ink: it touches an edge, the paper shows elsewhere
        assert min(left, top, w - right, h - bottom) <= 2
        paper = grey[mask < 0.05].mean()
    else:  # the picture shows the ink where the box is: ink and the paper around it differ
        pad = max(6, (bottom - top) // 4)
        ring = np.zeros((h, w), bool)
        ring[max(0, top - pad):bottom + pad, max(0, left - pad):right + pad] = True
        ring &= mask < 0.02
        paper = np.median(grey[ring])
        assert (right - left) * (bottom - top) < 0.5 * w * h or scene in ("whiteboard", "board_dark")
    assert abs(inked - paper) > 35, (inked, paper)


def test_small_in_frame_digits_are_small():
    ink, _ = _ink("small_in_frame")
    image, (left, top, right, bottom) = render("small_in_frame", ink, np.random.default_rng(0), (1280, 960))
    assert image.size == (1280, 960)
    assert 0.04 * 960 <= bottom - top <= 0.2 * 960


def test_the_splits_share_no_source():
    make_scenes.check_splits()
    tune, report = make_scenes.SPLITS
    assert set(make_scenes.MNIST_RANGES[tune]).isdisjoint(make_scenes.MNIST_RANGES[report])
    assert set(make_scenes.MNIST_RANGES[tune]) | set(make_scenes.MNIST_RANGES[report]) <= set(range(10_000))
    fonts_tune, fonts_report = make_scenes.split_fonts(tune), make_scenes.split_fonts(report)
    assert not set(fonts_tune) & set(fonts_report)
    assert sorted(fonts_tune + fonts_report) == make_scenes.fonts()
    assert not set(make_scenes.LETTERS[tune]) & set(make_scenes.LETTERS[report])
    assert not set(make_scenes.SYMBOLS[tune]) & set(make_scenes.SYMBOLS[report])
    assert not set(make_scenes.SEGMENT_LETTERS[tune]) & set(make_scenes.SEGMENT_LETTERS[report])
    assert make_scenes.SEEDS[tune] != make_scenes.SEEDS[report]


def test_no_twin_letter_looks_like_a_digit():
    for split in make_scenes.SPLITS:
        for letters in (make_scenes.LETTERS[split], "".join(make_scenes.SEGMENT_LETTERS[split])):
            assert letters and not set(letters) & set("olgiszbqOLGISZBQ"), letters
        digit_patterns = {frozenset(p) for p in make_scenes.DIGIT_SEGMENTS.values()}
        for pattern in make_scenes.SEGMENT_LETTERS[split].values():
            assert frozenset(pattern) not in digit_patterns


def test_labelled_files_reads_the_layout(tmp_path):
    for name in ("ruled/3/000_pen.png", "ruled/none/001_scribble.jpg", "grid/0/002_mnist0007.jpg",
                 "grid/x/003.png", "other/1/004.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "boxes.csv").write_text("file\n")
    found = [(path.relative_to(tmp_path).as_posix(), scene, label)
             for path, scene, label in make_scenes.labelled_files(tmp_path)]
    assert found == [("grid/0/002_mnist0007.jpg", "grid", 0), ("ruled/3/000_pen.png", "ruled", 3),
                     ("ruled/none/001_scribble.jpg", "ruled", None)]
