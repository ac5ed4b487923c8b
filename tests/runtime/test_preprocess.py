"""The shared preprocessing makes users' pictures look like MNIST, and MNIST stay MNIST."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from tools.synthetic import draw_digit, png_bytes, render_digit, variants
from runtime import Classifier, InputError, NoDigitError
from runtime.normalization import to_model_input
from runtime.preprocess import LEVEL_INK, as_mnist, mnist_levels, prepare_image, preprocess_image


@pytest.fixture(scope="module")
def classifier():
    return Classifier.load()  # the bundled int8 model


def check_mnist_like(x: np.ndarray) -> None:
    assert x.shape == (28, 28, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    ink = x[..., 0]
    rows, cols = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 21
    r, c = np.indices(ink.shape)
    cy, cx = (r * ink).sum() / ink.sum(), (c * ink).sum() / ink.sum()
    assert abs(cy - 14) <= 1.5 and abs(cx - 14) <= 1.5


def test_drawn_digits_in_every_size_position_polarity_and_colour(classifier):
    pictures = variants(seed=7)
    wrong = []
    for label, description, picture in pictures:
        x = preprocess_image(picture)
        check_mnist_like(x)
        try:
            predicted = classifier.predict(picture).label
        except NoDigitError:  # answered "not a digit": wrong, as in the evaluate stage
            predicted = "none"
        if predicted != label:
            wrong.append(f"{label}->{predicted} ({description})")
    assert len(wrong) <= len(pictures) // 40, wrong  # >= 97.5% of 120 pictures


@pytest.mark.parametrize("polarity", ["dark-on-light", "light-on-dark"])
def test_polarity_is_normalised(polarity):
    ink, paper = (0, 255) if polarity == "dark-on-light" else (255, 0)
    x = preprocess_image(draw_digit(7, 100, 60, (20, 20), ink=ink, paper=paper))
    reference = preprocess_image(draw_digit(7, 100, 60, (20, 20), ink=255, paper=0))
    assert np.abs(x - reference).max() < 1e-6


def test_typeset_digits(classifier):
    labels = [d for d in range(10) if d != 1]  # the font's 1 has a flag and a foot, unlike MNIST's
    correct = sum(classifier.predict(render_digit(d, 120, 80, (30, 10))).label == d for d in labels)
    assert correct >= len(labels) - 1


def test_mnist_images_as_png_keep_their_accuracy(classifier, mnist_sample):
    x, y = mnist_sample["x_test"], mnist_sample["y_test"]
    raw = classifier.probabilities(to_model_input(x)).argmax(1)
    via_png = classifier.probabilities(np.stack([preprocess_image(png_bytes(Image.fromarray(i))) for i in x]))
    drop = (raw == y).mean() - (via_png.argmax(1) == y).mean()
    assert drop <= 0.001 + 1e-9, f"accuracy drop {drop:.2%}"


def test_an_mnist_array_is_its_own_model_input_and_is_only_recentred(mnist_sample):
    """A canvas already in MNIST's form comes back unchanged, inverted or as PNG too; moved off
    centre, it is moved back; anything else (a smaller digit, grey paper) takes the full path."""
    for image in mnist_sample["x_test"][:50]:
        expected = (image.astype(np.float32) / np.float32(255.0))[..., None]
        assert np.array_equal(preprocess_image(image), expected)
        assert np.array_equal(preprocess_image(png_bytes(Image.fromarray(image))), expected)
        assert np.abs(preprocess_image(255 - image) - expected).max() < 1e-6
        rows, cols = np.flatnonzero(image.any(1)), np.flatnonzero(image.any(0))
        room_down, room_right = 27 - rows[-1], 27 - cols[-1]
        moved = np.roll(image, (min(3, room_down), min(2, room_right)), axis=(0, 1))
        assert np.array_equal(preprocess_image(moved), expected)
    digit = mnist_sample["x_test"][0]
    assert as_mnist(np.zeros((28, 28), np.float32)) is None
    assert as_mnist(np.full((28, 28), 0.5, np.float32) + digit / np.float32(512)) is None  # grey paper
    small = np.zeros((28, 28), np.uint8)
    small[9:19, 9:19] = np.asarray(Image.fromarray(digit[4:24, 4:24]).resize((10, 10)))
    assert as_mnist(small / np.float32(255)) is None  # a 10 px digit is scaled up to 20 px by the recipe
    assert check_mnist_like(preprocess_image(small)) is None
    assert as_mnist(np.pad(digit, ((0, 0), (0, 1))) / np.float32(255)) is None  # 28x29


def test_an_mnist_arrays_levels_are_the_float_paths_input_to_the_bit(mnist_sample):
    """`mnist_levels` (uint8 arrays, which `predict` maps straight to the engine's input) gives what
    the float path gives for the same picture read as level / 255: both polarities, (28, 28, 1)
    too, moved off centre; a mask of levels 0-15 and anything not in MNIST's form give None."""
    checked = 0
    for image in mnist_sample["x_test"]:
        rows, cols = np.flatnonzero(image.any(1)), np.flatnonzero(image.any(0))
        moved = np.roll(image, (min(3, 27 - rows[-1]), -min(2, cols[0])), axis=(0, 1))
        for picture, light in ((image, 0), (255 - image, 1), (moved, 0), (255 - moved, 1)):
            as_float = np.divide(picture, np.float32(255.0), dtype=np.float32)
            expected = as_mnist(as_float)  # the float path: no levels anywhere
            found = mnist_levels(picture)
            if expected is None:
                assert found is None
                continue
            levels, polarity = found
            assert polarity == light and levels.dtype == np.uint8
            assert np.array_equal(LEVEL_INK[polarity][levels], expected)
            assert np.array_equal(mnist_levels(picture[..., None])[0], levels)
            checked += 1
    assert checked >= 4 * len(mnist_sample["x_test"]) - 8  # nearly every MNIST digit is in MNIST's form
    digit = mnist_sample["x_test"][0]
    assert mnist_levels((digit > 127).astype(np.uint8)) is None  # a 0/1 mask: read as a mask
    assert mnist_levels(digit.astype(np.uint16)) is None
    assert mnist_levels(np.pad(digit, ((0, 0), (0, 1)))) is None
    assert mnist_levels(np.stack([digit] * 3, axis=-1)) is None  # RGB: the full path


@pytest.mark.parametrize("engine", ["litert", "onnx"])
def test_predict_on_an_mnist_array_answers_as_the_full_path(mnist_sample, engine):
    """`predict` on a uint8 MNIST array skips the float canvas, and answers the same to the bit as
    the model run on `prepare_image`'s input, with `always_digit` too."""
    for always in (False, True):
        classifier = Classifier.load(engine=engine, always_digit=always)
        assert classifier._level_feeds is not None
        for image in mnist_sample["x_test"][:40]:
            for picture in (image, 255 - image):
                rows = classifier.probabilities(prepare_image(picture / np.float32(255)).tensor[None])
                try:
                    answer = classifier.predict(picture, top_k=10)
                except NoDigitError:
                    assert rows[0].argmax() == 10 and not always
                    continue
                assert np.array_equal(answer.probabilities, rows[0])


def test_mnist_digits_cropped_to_their_ink_are_classified_not_refused(classifier, mnist_sample):
    """Each fixture digit cut to its bounding box (ink on every edge, a 1 as narrow as 3 px) and
    saved as PNG: none is refused, and the answers keep the 28x28 arrays' accuracy within a point."""
    x, y = mnist_sample["x_test"], mnist_sample["y_test"]
    tight = []
    for image in x:
        rows, cols = np.flatnonzero(image.any(1)), np.flatnonzero(image.any(0))
        tight.append(png_bytes(Image.fromarray(image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])))
    assert min(Image.open(io.BytesIO(b)).size[0] for b in tight) <= 4  # narrow 1s are in the sample
    answers = classifier.probabilities(np.stack([preprocess_image(b) for b in tight])).argmax(1)  # none refused
    raw = classifier.probabilities(to_model_input(x)).argmax(1)
    assert (answers == y).mean() >= (raw == y).mean() - 0.01


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "I", "F", "CMYK", "LA", "1"])
def test_every_pillow_mode(classifier, mode):
    base = draw_digit(3, 80, 50, (15, 15))
    if mode == "I;16":
        picture = Image.fromarray(np.asarray(base, dtype=np.uint16) * 257)
        assert picture.mode == "I;16"
    elif mode == "RGBA":
        picture = base.convert("RGBA")
        picture.putalpha(Image.fromarray(255 - np.asarray(base)))
    else:
        picture = base.convert(mode)
    x = preprocess_image(picture)
    check_mnist_like(x)
    assert classifier.predict(picture).label == 3


def test_exif_orientation_is_applied(classifier):
    upright = draw_digit(7, 90, 60, (20, 15))
    stored = upright.rotate(90, expand=True)  # camera stored it sideways...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...and says "rotate 90 CW to display"
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    assert classifier.predict(buffer.getvalue()).label == 7


# An EXIF block that says it holds an orientation tag and ends before the tag's value.
BROKEN_EXIF = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x05\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06"


def test_a_broken_exif_block_becomes_a_note_and_the_digit_is_still_read(classifier, recwarn):
    buffer = io.BytesIO()
    draw_digit(7, 90, 60, (20, 15)).save(buffer, format="JPEG", exif=BROKEN_EXIF, quality=95)
    prepared = prepare_image(buffer.getvalue())
    assert "EXIF data unreadable" in prepared.note and "read as stored" in prepared.note
    assert not [w for w in recwarn if "EXIF" in str(w.message)]  # Pillow's nameless warning is not passed on
    assert classifier.predict(buffer.getvalue()).label == 7


def test_pillows_other_warnings_name_the_file(tmp_path, monkeypatch):
    from runtime import decode

    path = tmp_path / "seven.png"
    draw_digit(7, 90, 60, (20, 15)).save(path)
    real_open = Image.open

    def warning_open(*args, **kwargs):
        import warnings

        # as Pillow's own code gives it (a warning from anywhere else is not the file's)
        warnings.warn_explicit("a Pillow warning without a file name", UserWarning, Image.__file__, 1)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(decode.Image, "open", warning_open)
    with pytest.warns(UserWarning, match=f"^{re.escape(str(path))}: a Pillow warning without a file name$"):
        decode.open_image(path)


def test_numpy_arrays_of_any_size_and_dtype(classifier):
    big = np.asarray(draw_digit(4, 300, 200, (50, 40)))
    assert classifier.predict(big).label == 4
    assert classifier.predict(big.astype(np.float64) / 255).label == 4
    assert classifier.predict(np.stack([big] * 3, axis=-1)).label == 4
    assert classifier.predict(big.astype(np.int32) * 1000).label == 4
    assert classifier.predict(big < 128).label == 4  # a boolean mask: True is ink


@pytest.mark.parametrize("picture, message", [
    (Image.new("L", (200, 200), 255), "no digit found"),
    (Image.new("RGB", (64, 64), (30, 60, 90)), "no digit found"),
    (Image.new("L", (1, 1), 0), "1x1 pixels; too small"),
    (np.zeros((50, 50)), "no digit found"),
    (np.full((40, 40), np.nan), "NaN or infinite"),
    (np.ones((2, 3, 4, 5)), "is not a single image"),
    (np.zeros((0, 40)), "is empty"),
    (np.array([["a", "b"]]), "is not an image"),
    ("no/such/file.png", "no such file"),
    (b"definitely not an image", "not an image"),
    (b"", "<bytes>: empty (0 bytes)"),
    (object(), "cannot classify an object of type object"),
])
def test_bad_inputs_raise_one_line_input_errors(picture, message):
    with pytest.raises(InputError) as error:
        preprocess_image(picture)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_blank_page_is_a_no_digit_error():
    with pytest.raises(NoDigitError):
        preprocess_image(Image.new("L", (300, 400), 250))


@pytest.mark.parametrize("picture", ["noise", "wall"])
def test_noise_and_a_wall_are_no_digit(picture):
    rng = np.random.default_rng(0)
    if picture == "noise":
        pixels = rng.integers(0, 256, size=(64, 64), dtype=np.uint8)
    else:  # a smooth gradient, like a photo of a wall
        pixels = np.broadcast_to(np.linspace(40, 220, 200), (200, 200)).astype(np.uint8)
    with pytest.raises(NoDigitError, match="no digit found"):
        preprocess_image(Image.fromarray(pixels))


def test_grainy_unevenly_lit_paper_still_holds_a_digit(classifier):
    digit = np.asarray(draw_digit(4, 120, 80, (20, 20)), np.float32)  # dark ink on white
    light = np.linspace(0.8, 1.0, 120)[None, :]  # a soft shadow across the page
    grain = np.random.default_rng(0).normal(0, 6, digit.shape)
    picture = Image.fromarray(np.clip(digit * light + grain, 0, 255).astype(np.uint8))
    assert classifier.predict(picture).label == 4


def test_a_near_blank_array_in_mnists_form_is_no_digit(classifier, mnist_sample):
    """An array divided by 255 twice, or levels up to 20 of 255, is in MNIST's form but holds no ink the
    finder would call a digit (its MIN_CONTRAST): no digit found, as the same picture larger gets."""
    digit = mnist_sample["x_test"][0]
    for faint in (digit / np.float32(255) / np.float32(255), np.round(digit * (20 / 255)).astype(np.uint8),
                  (digit > 0) * np.float32(1e-45)):
        assert as_mnist(faint) is None and mnist_levels(faint) is None
        with pytest.raises(NoDigitError, match=r"^no digit found \(blank or ink-less image\)$"):
            classifier.predict(faint)
        with pytest.raises(NoDigitError, match=r"^no digit found \(blank or ink-less image\)$"):
            classifier.predict(np.kron(faint, np.ones((2, 2), faint.dtype)))  # 56x56: the finder's own answer
    just = np.round(digit * (21 / 255)).astype(np.uint8)  # its peak at MIN_CONTRAST: a faint digit, read
    assert mnist_levels(just) is not None and classifier.predict(just).label == classifier.predict(digit).label
