"""Stroke normalisation (runtime/strokes.py): faded hair lines restored, outline glyphs filled, MNIST untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from runtime import strokes
from runtime.find import find_digits
from runtime.preprocess import center_by_mass, crop_and_scale, preprocess_image

@pytest.fixture(scope="module")
def classifier():
    from runtime import Classifier

    return Classifier.load()


ROOT = Path(__file__).resolve().parents[2]
# Outline (hollow) digits from the committed real-world set, each read wrongly before the fill.
OUTLINES = {4: "realworld/digits/4/084_font-DejaVuSansMono-Bold.png",
            7: "realworld/digits/7/086_font-DejaVuSerif-Bold.png",
            3: "realworld/digits/3/046_font-LiberationSans-BoldItalic.png"}


def box_digit(picture) -> np.ndarray:
    """The 20 px digit before stroke normalisation, from a path, a grey PIL image or a uint8 array."""
    pixels = np.asarray(Image.open(picture).convert("L") if isinstance(picture, Path) else picture, np.float32)
    return crop_and_scale(find_digits(pixels / 255).ink)


@pytest.mark.parametrize("label", sorted(OUTLINES))
def test_outline_glyphs_are_filled_and_then_read_right(label, classifier):
    digit = box_digit(ROOT / OUTLINES[label])
    filled = strokes.fill_outline(digit)
    assert filled is not digit
    assert (filled >= 0.5).sum() > 1.5 * (digit >= 0.5).sum()  # solid now
    assert strokes.stroke_width(filled) > 2 * strokes.stroke_width(digit)
    assert classifier.predict(ROOT / OUTLINES[label]).label == label


def test_mnist_digits_pass_through_unchanged(mnist_sample):
    for image in mnist_sample["x_test"]:
        digit = box_digit(image)
        assert strokes.restore_contrast(digit) is digit  # MNIST's ink peaks at full scale
        # the loops of 0, 6, 8 and 9 are round holes, not outline bands
        assert strokes.fill_outline(digit) is digit


@pytest.mark.parametrize(("label", "points"), [
    (7, [(60, 30), (140, 30), (90, 170)]),
    (4, [(120, 180), (120, 20), (50, 130), (150, 130)]),
    (2, [(60, 50), (100, 25), (140, 50), (60, 170), (150, 170)]),
])
def test_a_hair_line_faded_by_shrinking_gets_its_contrast_back(label, points, classifier):
    picture = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(picture).line(points, fill=0, width=1)  # a 1 px pen on a 200 px canvas
    faint = box_digit(picture)
    assert faint.max() < strokes.GHOST  # shrunk tenfold, the line is a ghost of itself...
    digit = strokes.restore_contrast(faint)
    assert digit.max() == 1.0  # ...until its contrast is restored
    assert np.array_equal(preprocess_image(picture), center_by_mass(digit)[..., None])
    assert classifier.predict(picture).label == label


def test_a_ring_is_not_an_outline():
    """A thin-pen 0 has one round hole: no fill, whatever its pen."""
    picture = Image.new("L", (120, 160), 0)
    ImageDraw.Draw(picture).ellipse((20, 20, 100, 140), outline=255, width=3)
    digit = box_digit(picture)
    assert strokes.fill_outline(digit) is digit
