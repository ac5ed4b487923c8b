"""The MNIST recipe: the found digit's ink -> the 28x28 input the model was trained on.

This is how MNIST itself was made: scale the digit so its longer side is 20 px (aspect ratio
kept), and centre it by centre of mass in a 28x28 field, light ink on dark. Faded hair lines get
their contrast back and outline glyphs are filled on the way (runtime/strokes.py).

A picture goes through three steps, one module each, each with its JavaScript twin in web/src/:
decoding (runtime/decode.py; the browser decodes itself), finding the digit (runtime/find.py,
web/src/find.js), and this recipe (web/src/preprocess.js). A 28x28 canvas already in MNIST's form
skips the finding and the scaling and is only centred (`as_mnist`), so an MNIST array, or one
saved as PNG, is its own model input. The CLI, the library, the evaluate stage and the benchmark
all go through `prepare_image`; the MNIST-as-PNG test (tests/runtime/test_preprocess.py) checks
that this path keeps MNIST's accuracy.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, NamedTuple

import cv2
import numpy as np
from PIL import Image

from .decode import array_to_gray, image_to_gray, load_image, open_image, upright
from .digits import SIZE
from .errors import InputError, NoDigitError
from .find import MIN_CONTRAST, find_all_digits, find_digits, scale_box
from .strokes import fill_outline, restore_contrast

__all__ = ["Prepared", "PreparedDigits", "digits_note", "prepare_image", "prepare_digits", "preprocess_image"]
DIGIT_BOX = 20
# The longer side of the ink's box in an MNIST array: 20 px (19 in 3 of MNIST's 10,000 test digits,
# where the anti-aliased edge is blank).
MNIST_BOX = (DIGIT_BOX - 1, DIGIT_BOX)
# The ink of each level 0-255, as a float32 model input: on a black field (the level / 255, as
# `np.divide` gives it for a uint8 picture), and on a white one (1 minus that).
_LEVELS = np.divide(np.arange(256, dtype=np.uint8), np.float32(255.0), dtype=np.float32)
LEVEL_INK = (_LEVELS, np.float32(1.0) - _LEVELS)
LEVEL_INK[0].setflags(write=False)
LEVEL_INK[1].setflags(write=False)
MIN_SIDE = 8  # the longer side; a tight crop of a 1 may be 3 px wide
INK_THRESHOLD = 0.2  # fraction of peak ink that counts for the bounding box


class PreparedDigits(NamedTuple):
    """Every digit in one picture, left to right: their model inputs, their boxes (left, top, right,
    bottom) in the picture's pixels, and the note on how the file was read, if any. The first
    `len(parts)` inputs are the digits found; where one of them may instead be several digits
    written close together (`Found.parts`), `parts[i]` indexes their inputs, after those."""

    tensors: np.ndarray  # float32 (n, 28, 28, 1) in [0, 1]
    boxes: tuple[tuple[int, int, int, int], ...]
    note: str | None
    parts: tuple[tuple[int, ...], ...] = ()
    marks: int = 0  # marks beside the digits too short to be one, left out (`Found.beside`)
    part_marks: tuple[int, ...] = ()  # per digit found, the marks among its parts (`Found.marks`)


class Prepared(NamedTuple):
    """The model input for one picture, how many digits the picture shows, and a note on how
    the file was read (an animated image's first frame) and on the digits seen, if any.

    Where the digit found may instead be several digits written close together (a number typed
    on one line: `Found.parts`), `parts` holds their model inputs, the one with the most ink
    first, and `read_note` the note on how the file was read alone: the model's answers decide
    which it is (`Classifier.predict`)."""

    tensor: np.ndarray  # float32 (28, 28, 1) in [0, 1]
    digits: int
    note: str | None
    parts: np.ndarray | None = None  # float32 (n, 28, 28, 1), n >= 2
    read_note: str | None = None


def digits_note(note: str | None, count: int) -> str | None:
    """`note` (how the file was read), with what a picture of `count` digits gets said about them."""
    if count <= 1:
        return note
    seen = f"found {count} digits: the one with the most ink was classified (--all, or Classifier.read, reads every one)"
    return f"{note}; {seen}" if note else seen


def center_by_mass(digit: np.ndarray) -> np.ndarray:
    """Paste a digit (at most 20x20) into 28x28 so that its centre of mass is at the centre."""
    canvas = np.zeros((SIZE, SIZE), dtype=np.float32)
    top, left = _mass_place(digit)
    canvas[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return canvas


def _mass_place(digit: np.ndarray) -> tuple[int, int]:
    """Where `center_by_mass` pastes a float32 digit (at most 20x20): (top, left) in the 28x28 field."""
    h, w = digit.shape
    # OpenCV's moments sum in float64, so that a symmetric digit's centre is exactly .5, as in
    # web/src/preprocess.js: both then round the half to even. (It reads an array of two columns as
    # two-dimensional points; a column of zeros more leaves the sums as they are.)
    moments = cv2.moments(digit if w != 2 else np.pad(digit, ((0, 0), (0, 1))))
    total = moments["m00"]
    if total > 0:
        cy, cx = moments["m01"] / total, moments["m10"] / total
    else:
        cy, cx = (h - 1) / 2, (w - 1) / 2
    top = min(max(round(SIZE / 2 - cy), 0), SIZE - h)  # MNIST puts the mass at (14, 14)
    left = min(max(round(SIZE / 2 - cx), 0), SIZE - w)
    return top, left


def crop_and_scale(ink: np.ndarray) -> np.ndarray:
    """Crop to the digit's bounding box and scale so the longer side is 20 px."""
    mask = ink >= INK_THRESHOLD
    if mask.sum() < 2:
        raise NoDigitError("no digit found (too little ink)")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = DIGIT_BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    out = resize_float(crop.astype(np.float32), new_h, new_w, "lanczos" if scale < 1 else "bilinear")
    return np.clip(out, 0.0, 1.0, out=out)


def resize_float(image: np.ndarray, out_h: int, out_w: int, name: str) -> np.ndarray:
    """float32 (H, W) -> float32 (out_h, out_w), by Pillow's "lanczos" or "bilinear" resampling of a
    float image (web/src/preprocess.js computes the same coefficients and sums).

    Pillow's, rather than a matrix product: it releases the GIL, and a product would go to OpenBLAS
    (numpy's, or the copy inside OpenCV), whose threads from two callers at once wait on each
    other and spin: two threads sharing a Classifier classified no faster than one.
    """
    resample = Image.Resampling.LANCZOS if name == "lanczos" else Image.Resampling.BILINEAR
    return np.array(Image.fromarray(image, "F").resize((out_w, out_h), resample), dtype=np.float32)


def _gray(image: Any) -> tuple[np.ndarray, str | None, tuple[int, int]]:
    """(luminance at the working size, the note on how the file was read, the picture's own
    (width, height), upright: the size its boxes are given in)."""
    note = None
    size = None
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(image, "read"):
        opened = open_image(image)  # decoded and turned upright
        image, note, size = opened.image, opened.note, opened.size
    elif isinstance(image, Image.Image):  # a caller's own PIL image: turned here
        image, note = upright(load_image(image))
    if isinstance(image, Image.Image):
        if max(image.size) < MIN_SIDE:
            raise InputError(f"image is {image.size[0]}x{image.size[1]} pixels; too small to hold a digit")
        return image_to_gray(image, levels=True), note, size or image.size
    if isinstance(image, np.ndarray):
        gray = array_to_gray(image, levels=True)
        if max(gray.shape) < MIN_SIDE:
            raise InputError(f"image is {gray.shape[1]}x{gray.shape[0]} pixels; too small to hold a digit")
        return gray, note, (image.shape[1], image.shape[0])
    raise InputError(f"cannot classify an object of type {type(image).__name__}; pass a path, PIL image or numpy array")


def as_mnist(gray: np.ndarray) -> np.ndarray | None:
    """A 28x28 picture already in MNIST's form -> its model input (28, 28); otherwise None.

    MNIST's form is what the recipe makes: a digit whose ink box is 20 px on its longer side, on a
    field of exactly 0 (or, inverted, of exactly 1: a clean dark-on-white canvas). Scaling that box
    to 20 px would change nothing but rounding, and nothing in it needs finding, so the digit is
    only centred by mass; an MNIST array comes back unchanged. Anything else takes the full path.
    uint8 levels (what `_gray` gives for an 8-bit picture) go through `mnist_levels`.
    """
    if gray.shape != (SIZE, SIZE):
        return None
    if gray.dtype == np.uint8:
        found = mnist_levels(gray)
        return None if found is None else LEVEL_INK[found[1]][found[0]]
    if (gray.size - cv2.countNonZero(gray)) * 2 >= gray.size:
        ink = gray
    elif np.count_nonzero(gray == 1) * 2 >= gray.size:
        ink = np.float32(1.0) - gray
    else:
        return None
    left, top, width, height = cv2.boundingRect(cv2.compare(ink, 0, cv2.CMP_GT))  # the box of ink > 0
    if max(width, height) not in MNIST_BOX:
        return None
    digit = ink[top : top + height, left : left + width]
    if float(digit.max()) < MIN_CONTRAST:  # near blank (an array divided by 255 twice): the finder says so
        return None
    return center_by_mass(digit)


def mnist_levels(array: np.ndarray) -> tuple[np.ndarray, int] | None:
    """A uint8 array (28, 28) or (28, 28, 1) in MNIST's form (`as_mnist`) -> (its levels centred by
    mass on its own field, uint8 (28, 28); its polarity: 0 for light ink on a black field, 1 for
    dark ink on a white one), else None. `LEVEL_INK[polarity][levels]` is its model input, the
    values that `prepare_image` gives to the bit, made without a float copy of the picture: the
    engines map the levels straight to their own input type (`Classifier.predict`). An array that
    `array_to_gray` reads otherwise (a mask of levels 0-15) is None too, as is a near-blank one.
    """
    if array.dtype != np.uint8 or array.shape[:2] != (SIZE, SIZE) or array.shape[2:] not in ((), (1,)):
        return None
    levels = np.ascontiguousarray(array.reshape(SIZE, SIZE))
    zeros = levels.size - cv2.countNonZero(levels)
    if zeros * 2 >= levels.size:
        light, mask = 0, levels  # ink > 0 where the level is above 0...
    elif np.count_nonzero(levels == 255) * 2 >= levels.size:
        light, mask = 1, cv2.bitwise_not(levels)  # ...or, on white, below 255
    else:
        return None
    left, top, width, height = cv2.boundingRect(mask)  # the box of the non-zero pixels
    if max(width, height) not in MNIST_BOX:
        return None
    crop = levels[top : top + height, left : left + width]
    ink = LEVEL_INK[light][crop]  # the same float ink as the float path's
    if float(ink.max()) < MIN_CONTRAST:  # near blank, or a mask of levels 0-15 (`array_to_gray` scales those)
        return None
    place_top, place_left = _mass_place(ink)
    canvas = np.full((SIZE, SIZE), 255 * light, np.uint8)  # the field, whose ink is 0 either way
    canvas[place_top : place_top + height, place_left : place_left + width] = crop
    return canvas, light


def prepare_image(image: Any) -> Prepared:
    """Path, bytes, binary file, PIL image or numpy array -> Prepared (the model input and what
    was seen on the way). Raises InputError (NoDigitError where no digit is found), one line."""
    gray, note, _size = _gray(image)
    canvas = as_mnist(gray)
    if canvas is not None:
        return Prepared(canvas[..., None], 1, note, None, note)
    with _noted(note):
        found = find_digits(gray)
    tensor = _recipe(found.ink)[..., None]
    parts = []
    for part in sorted(found.parts if _apart(found.parts) else (), key=lambda part: -float(part.ink.sum())):
        try:  # the one with the most ink first
            parts.append(_recipe(part.ink))
        except NoDigitError:  # too little ink to scale: not one of the digits
            continue
    return Prepared(tensor, found.count, digits_note(note, found.count),
                    np.stack(parts)[..., None] if len(parts) > 1 else None, note)


@contextlib.contextmanager
def _noted(note: str | None):
    """An InputError raised in the block carries `note` (how the file was read), unless it has one."""
    try:
        yield
    except InputError as error:
        error.note = error.note or note
        raise


def _apart(parts) -> bool:
    """Digits that stand apart, each with a gap before the next: typed or written on one line. A
    letter's strokes in columns (an H in chalk, a U of segments) touch or overlap, and are not
    taken for digits by `predict` (`Classifier.read`, which every digit is asked of, still may)."""
    boxes = sorted(part.box for part in parts)
    return all(left[2] < right[0] for left, right in zip(boxes, boxes[1:]))


def _recipe(ink: np.ndarray) -> np.ndarray:
    """A found digit's ink -> its 28x28 model input."""
    return center_by_mass(fill_outline(restore_contrast(crop_and_scale(ink))))


def prepare_digits(image: Any) -> PreparedDigits:
    """As `prepare_image`, every digit the picture shows, left to right (a number, a code).
    Raises InputError (NoDigitError where no digit is found), one line."""
    gray, note, (width, height) = _gray(image)
    canvas = as_mnist(gray)
    if canvas is not None:
        return PreparedDigits(canvas[None, ..., None], ((0, 0, width, height),), note, ((),))
    seen = (gray.shape[1], gray.shape[0])  # a large picture was decoded reduced: boxes in its own pixels

    def recipe(item) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        return _recipe(item.ink), scale_box(item.box, seen, (width, height))

    found, refused = [], None
    with _noted(note):
        every = find_all_digits(gray)
        for item in every:
            try:
                found.append((item, *recipe(item)))
            except NoDigitError as error:  # too little ink to scale: not a digit, the others still are
                refused = refused or error
        if not found:
            raise refused
    tensors, boxes, parts = [tensor for _, tensor, _ in found], [box for _, _, box in found], []
    for item, _, _ in found:
        indices = []
        for part in item.parts:
            try:
                tensor, box = recipe(part)
            except NoDigitError:
                continue
            indices.append(len(tensors))
            tensors.append(tensor)
            boxes.append(box)
        parts.append(tuple(indices) if len(indices) > 1 else ())
    return PreparedDigits(np.stack(tensors)[..., None], tuple(boxes), note, tuple(parts), every[0].beside,
                          tuple(item.marks for item, _, _ in found))


def preprocess_image(image: Any) -> np.ndarray:
    """Path, bytes, PIL image or numpy array -> float32 (28, 28, 1) model input in [0, 1].

    Raises InputError (NoDigitError for a picture without a digit) with a one-line message.
    """
    return prepare_image(image).tensor
