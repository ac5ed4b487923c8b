"""The non-digits the qat stage trains on (pipeline/negatives.py) and how they join the digits
(pipeline/open_set.py): deterministic, never a held-out letter or symbol, never a digit twin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline import negatives, open_set
from pipeline.params import OpenSetRoute
from tools import make_nondigits

try:
    FONTS = negatives.train_fonts()[::6]  # a few faces of every family keep the test quick
except negatives.NegativesError:
    FONTS = []
NO_FONTS = f"training fonts not installed (apt-get install {negatives.APT_FONTS})"


def test_training_alphabets_are_disjoint_from_the_held_out_ones_and_hold_no_twin():
    assert set(negatives.TRAIN_LETTERS) == set("acdefhjkmnACDEFHJKMN")
    assert not set(negatives.TRAIN_LETTERS) & set(negatives.HELD_OUT_LETTERS)
    assert not set(negatives.TRAIN_SYMBOLS) & set(negatives.HELD_OUT_SYMBOLS)
    assert not set(negatives.TRAIN_SCRIPTS) & set(negatives.HELD_OUT_LETTERS)
    for alphabet in (negatives.TRAIN_LETTERS, negatives.TRAIN_SCRIPTS, negatives.TRAIN_SYMBOLS):
        assert not set(alphabet) & set(negatives.TWINS + "0123456789"), alphabet
    # the evaluation set draws exactly the letters and symbols held out here
    assert set(make_nondigits.LETTERS) == set(negatives.HELD_OUT_LETTERS)
    assert set(make_nondigits.SYMBOLS) == set(negatives.HELD_OUT_SYMBOLS)


def test_training_fonts_are_not_the_evaluation_fonts():
    evaluation = {p.name for d in make_nondigits.FONT_DIRS if d.is_dir() for p in d.iterdir()}
    assert not {p.name for p in FONTS} & evaluation
    assert not any(d.startswith(str(e)) for d in negatives.TRAIN_FONT_DIRS + negatives.TRAIN_FONT_FILES
                   for e in make_nondigits.FONT_DIRS)


@pytest.mark.skipif(not FONTS, reason=NO_FONTS)
def test_the_generator_is_deterministic_under_a_seed_and_gives_model_inputs():
    first, kinds = negatives.make(40, seed=7, fonts=FONTS)
    again, kinds_again = negatives.make(40, seed=7, fonts=FONTS)
    other, _ = negatives.make(40, seed=8, fonts=FONTS)
    assert first.shape == (40, 28, 28) and first.dtype == np.uint8
    assert np.array_equal(first, again) and kinds == kinds_again
    assert not np.array_equal(first, other)
    assert set(kinds) <= set(negatives.KINDS) and len(set(kinds)) >= 3
    assert all(image.max() > 100 for image in first)  # ink, light on dark, as the model sees digits


@pytest.mark.skipif(not FONTS, reason=NO_FONTS)
def test_the_described_stream_is_the_same_stream_with_each_glyph_named():
    plain, kinds = negatives.make(30, seed=7, fonts=FONTS)
    described = [item for _, item in zip(range(30), negatives.generate(7, FONTS, described=True))]
    assert np.array_equal(plain, np.stack([image for image, _, _ in described]))
    assert kinds == [kind for _, kind, _ in described]
    glyphs = negatives.TRAIN_LETTERS + negatives.TRAIN_SCRIPTS + negatives.TRAIN_SYMBOLS
    for _, kind, text in described:
        assert (len(text) == 1 and text in glyphs) if kind in ("letter", "symbol") else text == ""


@pytest.mark.skipif(not FONTS, reason=NO_FONTS)
def test_printed_digits_are_labelled_model_inputs_and_deterministic():
    images, labels = negatives.printed_digits(30, seed=5, fonts=FONTS)
    again, labels_again = negatives.printed_digits(30, seed=5, fonts=FONTS)
    assert images.shape == (30, 28, 28) and images.dtype == np.uint8 and labels.shape == (30,)
    assert np.array_equal(images, again) and np.array_equal(labels, labels_again)
    assert set(labels) <= set(range(10)) and len(set(labels)) >= 5


@pytest.mark.skipif(not FONTS, reason=NO_FONTS)
def test_no_rendered_letter_is_a_held_out_one(monkeypatch):
    drawn = []
    real = negatives._glyph
    monkeypatch.setattr(negatives, "_glyph", lambda text, font: drawn.append(text) or real(text, font))
    negatives.make(60, seed=3, fonts=FONTS)
    assert drawn and set(drawn) <= set(negatives.TRAIN_LETTERS + negatives.TRAIN_SCRIPTS + negatives.TRAIN_SYMBOLS)
    assert not set(drawn) & set(negatives.HELD_OUT_LETTERS + negatives.HELD_OUT_SYMBOLS)


def test_hollow_glyph_is_the_outline_of_the_glyph():
    square = np.zeros((40, 40), np.uint8)
    square[5:35, 5:35] = 255
    outline = negatives._hollow(square, np.random.default_rng(0))
    assert outline[20, 20] == 0 and outline[5, 20] == 255 and outline[20, 34] == 255  # inside gone, edges kept
    assert not (outline > square).any() and 0 < np.count_nonzero(outline) < np.count_nonzero(square)


@pytest.mark.skipif(not FONTS, reason=NO_FONTS)
def test_letters_and_printed_digits_alike_are_sometimes_hollow(monkeypatch):
    """Outlines on both sides of the line: hollow only for non-digits taught that outlines are not digits."""
    hollowed = []
    real = negatives._hollow
    monkeypatch.setattr(negatives, "_hollow", lambda mask, rng: hollowed.append(1) or real(mask, rng))
    negatives.make(80, seed=3, fonts=FONTS)
    letters = len(hollowed)
    negatives.printed_digits(40, seed=3, fonts=FONTS)
    assert letters > 0 and len(hollowed) > letters


def test_missing_fonts_say_what_to_install(monkeypatch):
    monkeypatch.setattr(negatives, "TRAIN_FONT_DIRS", ("/nonexistent",))
    monkeypatch.setattr(negatives, "TRAIN_FONT_FILES", ("/nonexistent/face.ttf",))
    with pytest.raises(negatives.NegativesError, match="apt-get install fonts-urw-base35"):
        negatives.train_fonts()


@pytest.mark.parametrize("route, width, negative_target", [
    (OpenSetRoute.CLASS, 11, [0] * 10 + [1]),
    (OpenSetRoute.ENTROPIC, 10, [0.1] * 10),
])
def test_targets_per_route(route, width, negative_target):
    digits = open_set.targets(np.array([3, 0]), route, negative=False)
    assert digits.shape == (2, width) and digits[0, 3] == 1 and digits.sum() == 2
    assert np.allclose(open_set.targets(np.zeros(1, np.int64), route, negative=True)[0], negative_target)


def test_mixed_batches_keep_every_digit_once_an_epoch_and_add_the_share_of_non_digits():
    x = np.arange(40, dtype=np.uint8).repeat(784).reshape(40, 28, 28)
    y = np.arange(40) % 10
    pool = np.full((7, 28, 28), 255, np.uint8)
    stream = open_set.mixed_batches(x, y, pool, OpenSetRoute.CLASS, 8, 0.25, seed=1, max_shift=0, recipe=None)
    seen = []
    for _ in range(5):  # one epoch: 40 digits in batches of 8
        images, soft = next(stream)
        assert images.shape == (10, 28, 28, 1) and soft.shape == (10, 11)
        assert (soft[8:, 10] == 1).all() and (soft[:8, :10].sum(1) == 1).all()
        seen += list(images[:8, 0, 0, 0])
    assert sorted(np.rint(np.array(seen) * 255).astype(int)) == list(range(40))


def test_the_grown_head_keeps_the_digit_answers():
    from pipeline.architecture import build_model
    from pipeline.legacy_keras import tf_keras

    model = build_model(tf_keras, "tiny")
    images = np.random.default_rng(0).random((8, 28, 28, 1)).astype(np.float32)
    grown = open_set.grow_head(tf_keras, model, "tiny", OpenSetRoute.CLASS)
    before, after = model.predict(images, verbose=0), grown.predict(images, verbose=0)
    assert after.shape == (8, 11) and np.array_equal(before.argmax(1), after[:, :10].argmax(1))
    assert open_set.grow_head(tf_keras, model, "tiny", OpenSetRoute.ENTROPIC) is model


def test_no_outlined_box_stands_upright_like_a_display_s_0():
    """An outlined rectangle standing upright, taller than wide, is a seven-segment 0: `_shape` lays
    such a box on its side, and a box laid so never stands upright and tall."""
    from pipeline.negatives import _upright_tall

    assert _upright_tall(20, 40, 0) and _upright_tall(20, 40, 185) and _upright_tall(40, 20, 80)
    assert not _upright_tall(40, 20, 0) and not _upright_tall(20, 40, 45) and not _upright_tall(30, 32, 0)
    for half_width in (10, 20, 30, 40):
        for half_height in (10, 20, 30, 40):
            for angle in range(0, 360, 5):
                if _upright_tall(half_width, half_height, angle):
                    assert not _upright_tall(half_width, half_height, angle + 90)


def test_no_box_open_at_the_bottom_is_a_non_digit_and_displays_print_digits(monkeypatch):
    """A seven-segment 0 with its bottom segment dim is a box open at the bottom: pi and pe are never
    drawn, nor an m in a seven-segment face (which draws it so); and a SEVEN_SEGMENT_DIGITS share of
    the printed digits is typeset in the seven-segment faces."""
    assert not set("πΠпП∏") & set(negatives.TRAIN_SCRIPTS + negatives.TRAIN_LETTERS + negatives.TRAIN_SYMBOLS)
    drawn = []

    class Enough(Exception):
        pass

    def glyph(text, font, rng):  # records what would be drawn, draws nothing
        drawn.append((text, font))
        if len(drawn) >= 4000:
            raise Enough
        return None

    monkeypatch.setattr(negatives, "_styled_glyph", glyph)
    fonts = [Path("/fonts/Plain.ttf"), Path("/fonts/DSEG7Classic-Regular.ttf")]
    rng = np.random.default_rng(3)
    for _ in range(3000):
        negatives._ink("letter", rng, fonts)
    assert {text for text, font in drawn if font.name.startswith("DSEG7")}.isdisjoint(negatives.SEGMENT_TWINS)
    assert {text for text, font in drawn if not font.name.startswith("DSEG7")} >= set(negatives.SEGMENT_TWINS)
    drawn.clear()
    fonts = [Path(f"/fonts/Plain{i}.ttf") for i in range(9)] + [Path("/fonts/DSEG7Modern-Bold.ttf")]
    with pytest.raises(Enough):
        negatives.printed_digits(1, seed=4, fonts=fonts)
    share = sum(font.name.startswith("DSEG7") for _, font in drawn) / len(drawn)
    assert abs(share - negatives.SEVEN_SEGMENT_DIGITS) < 0.03, share
