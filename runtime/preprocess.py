"""Turn a real picture of a digit into the 28x28 input the model was trained on.

This is how MNIST itself was made: find the digit, scale it so its longer side is 20 px
(aspect ratio kept), and centre it by centre of mass in a 28x28 field, light ink on dark.
Faded hair lines get their contrast back and outline glyphs are filled on the way
(runtime/strokes.py).
The CLI, the library and the benchmark all go through this one function. The pipeline
evaluates on MNIST's own arrays, which are already in this form; the MNIST-as-PNG test
(tests/runtime/test_preprocess.py) checks that this path keeps their accuracy.
"""

from __future__ import annotations

import functools
import io
import os
import stat
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .digits import SIZE
from .errors import InputError, NoDigitError
from .strokes import fill_outline, restore_contrast

__all__ = ["preprocess_image", "open_image"]
DIGIT_BOX = 20
MIN_SIDE = 8
MAX_PIXELS = 64_000_000  # formats decoded at full size (PNG, TIFF...): beyond this, a possible bomb
# JPEGs decode at 1/2, 1/4 or 1/8 scale (draft), so phone photos of 50 MP and more are fine up to
# Pillow's own hard limit, above which it refuses the file as a decompression bomb.
WORK_SIDE = 640  # work at no less than this on the longer side: thin strokes survive the 20 px box
MIN_CONTRAST = 0.08  # ink must differ from the paper by this fraction of full scale
MAX_BORDER_SPREAD = 0.2  # interquartile range of the border; digits on paper measured <= 0.016
INK_THRESHOLD = 0.2  # fraction of peak ink that counts for the bounding box
PEAK_PERCENTILE = 99.9  # the ink's robust peak, read from a histogram on large images
HISTOGRAM_BINS = 4096
SMALL_INTEGER_RANGE = 15  # integer arrays whose values stay within 0-15 are masks or 4-bit images
FRAMES_KEY = "edge_digits.frames"  # set in Image.info by open_image for animated files


def _source_name(source: Any) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    if hasattr(source, "read"):
        return str(getattr(source, "name", "<file object>"))
    return str(source)


def _open_handle(source: Any, name: str):
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    if isinstance(source, io.TextIOBase) or "b" not in getattr(source, "mode", "b"):
        raise InputError(f"{name}: file object is open in text mode; open it in binary mode ('rb')")
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise InputError(f"{name}: file object gave {type(data).__name__}, not bytes; open it in binary mode")
        return io.BytesIO(data)
    mode = os.stat(source).st_mode  # a FIFO or device would block or never end: regular files only
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(source)
    if not stat.S_ISREG(mode):
        raise InputError(f"{name}: not a regular file")
    return open(source, "rb")


def _decode_size(width: int, height: int) -> tuple[int, int]:
    """The smallest size that keeps WORK_SIDE on the longer side (the full size if already small)."""
    scale = min(1.0, WORK_SIDE / max(width, height))
    return max(1, int(np.ceil(width * scale))), max(1, int(np.ceil(height * scale)))


def open_image(source: Any) -> Image.Image:
    """Open and decode an image file at the resolution the answer needs, with one-line errors.

    `source` is a path, bytes (or bytearray, memoryview) or a binary file object. JPEGs are
    decoded at reduced scale, other formats are box-reduced after decoding, so memory and time
    stay bounded for camera frames. Pillow's global limits are left as the host app set them.
    """
    name = _source_name(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit, per file
            with _open_handle(source, name) as handle:
                image = Image.open(handle)
                width, height = image.size
                if image.format == "JPEG":
                    image.draft(image.mode, _decode_size(width, height))
                elif width * height > MAX_PIXELS:
                    raise InputError(f"{name}: image too large to decode safely ({width}x{height}, over "
                                     f"{MAX_PIXELS:,} pixels)")
                frames = getattr(image, "n_frames", 1)  # before load: counting frames seeks the file
                image.load()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except Image.DecompressionBombError:
        raise InputError(f"{name}: image too large to decode safely (a possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise InputError(f"{name}: not an image (or an unsupported format)") from None
    except InputError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, MemoryError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{name}: corrupt or truncated image ({detail})") from None
    factor = max(image.size) // WORK_SIDE
    if factor >= 2 and image.mode in ("L", "RGB", "RGBA", "LA", "I", "F"):  # others: box-reduced as arrays
        image = image.reduce(factor)  # box average: a thin stroke fades but is not lost
    if frames > 1:
        image.info[FRAMES_KEY] = frames  # for `animation_note`; only the first frame is decoded
    return image


def image_to_gray(image: Image.Image) -> np.ndarray:
    """Any Pillow mode -> float32 luminance in [0, 1]; transparency composited onto the paper.

    High-bit-depth modes (I;16, I, F) go through `array_to_gray`, so a file and the same pixels
    as an array give the same answer (a 12-bit camera frame in a 16-bit PNG included).
    """
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a malformed EXIF block must not stop classification
        pass
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return array_to_gray(np.asarray(image))
    if image.mode == "La":  # luminance premultiplied by alpha; Pillow converts it to nothing else
        la = np.asarray(image, dtype=np.float32)
        alpha = la[..., 1]
        luminance = np.divide(la[..., 0] * 255, alpha, out=np.zeros_like(alpha), where=alpha > 0)
        image = Image.fromarray(np.dstack([luminance.clip(0, 255), alpha]).round().astype(np.uint8), "LA")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / np.float32(255.0)
        luminance = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        alpha = rgba[..., 3]
        if alpha.min() < 1.0:
            ink = luminance[alpha > 0.5]
            # The paper is whatever contrasts with the opaque strokes.
            paper = 1.0 if ink.size and np.median(ink) < 0.5 else 0.0
            return luminance * alpha + np.float32(paper) * (1.0 - alpha)
        return luminance
    if image.mode == "LAB":  # Pillow cannot convert LAB to L; its L channel is the lightness
        return np.asarray(image.getchannel("L"), dtype=np.float32) / np.float32(255.0)
    try:
        gray = image.convert("L")
    except ValueError:
        raise InputError(f"cannot read {image.mode} images; convert the picture to RGB or grayscale") from None
    return np.asarray(gray, dtype=np.float32) / np.float32(255.0)


def array_to_gray(array: np.ndarray) -> np.ndarray:
    """A numpy image (H, W) or (H, W, 1|3|4) of any numeric dtype -> float32 luminance in [0, 1].

    uint8 RGBA goes through the same alpha compositing as a PIL image. Values are read as
    0-1 for booleans and for floats in that range; integers are read as 0-255 when they span
    more than 0-15 within it. Integers that use only 0-15 (a 0/1 mask, a 4-bit image), and
    anything else, are min-max scaled, so a mask of any integer type reads like the same bool
    mask. Arrays larger than the working resolution are box-reduced first.
    """
    array = np.asarray(array)
    kind = array.dtype.kind  # before channels are averaged into float
    if kind not in "buif":
        raise InputError(f"array of dtype {array.dtype} is not an image")
    if array.ndim == 3 and array.shape[-1] == 4 and array.dtype == np.uint8:
        image = Image.fromarray(array, "RGBA")
        factor = max(image.size) // WORK_SIDE
        return image_to_gray(image.reduce(factor) if factor >= 2 else image)
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (1, 3, 4))):
        raise InputError(f"array of shape {array.shape} is not a single image (H, W) or (H, W, C)")
    if array.size == 0:
        raise InputError(f"array of shape {array.shape} is empty")
    low, high = float(np.min(array)), float(np.max(array))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InputError("image contains NaN or infinite values")
    values = _box_reduce(array)  # float32, at most about WORK_SIDE on the longer side
    if values.ndim == 3:
        values = values[..., :3].mean(axis=-1, dtype=np.float32) if values.shape[-1] > 1 else values[..., 0]
    if kind in "ui" and low >= 0 and SMALL_INTEGER_RANGE < high <= 255:
        return values / np.float32(255.0)
    if kind in "bf" and low >= 0.0 and high <= 1.0:
        return values
    if high - low <= 0:
        return np.zeros_like(values)
    return (values - np.float32(low)) / np.float32(high - low)


def _box_reduce(array: np.ndarray) -> np.ndarray:
    """float32 copy of an (H, W) or (H, W, C) array, averaged over k x k blocks when it is k >= 2
    times WORK_SIDE (the mean is accumulated in float32, without a full-size float copy)."""
    factor = max(array.shape[:2]) // WORK_SIDE
    if factor < 2:
        return array.astype(np.float32)
    h, w = (array.shape[0] // factor) * factor, (array.shape[1] // factor) * factor
    blocks = array[:h, :w].reshape(h // factor, factor, w // factor, factor, *array.shape[2:])
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def _robust_peak(ink: np.ndarray) -> float:
    """The PEAK_PERCENTILE of `ink` (values in [0, 1]): exact for small images; for large ones,
    from a histogram (1/4096 resolution) of every second pixel in each direction."""
    if ink.size <= 1000:
        return float(ink.max())
    sample = ink[::2, ::2] if ink.size > 250_000 else ink
    bins = np.multiply(sample, HISTOGRAM_BINS - 1, dtype=np.float32).astype(np.int32).ravel()
    counts = np.bincount(bins, minlength=HISTOGRAM_BINS)
    rank = int(np.searchsorted(np.cumsum(counts), PEAK_PERCENTILE / 100 * bins.size))
    return min(rank + 1, HISTOGRAM_BINS - 1) / (HISTOGRAM_BINS - 1)


def normalize_polarity(gray: np.ndarray) -> np.ndarray:
    """Return ink intensity in [0, 1] (light on dark), whatever the picture's polarity.

    The paper colour is the median of the border pixels; ink is the distance from it,
    scaled by its robust peak. A border that is not plain paper means no digit was framed.
    """
    border = np.sort(np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]]))
    paper = float(border[len(border) // 2])  # median, upper for even counts
    # The middle half of the border spans this much of full scale: paper, even grainy, JPEG'd or
    # unevenly lit, spans little; random noise and a photo of a wall or a scene span a lot.
    spread = float(border[(3 * (len(border) - 1)) // 4] - border[(len(border) - 1) // 4])
    if spread > MAX_BORDER_SPREAD:
        raise NoDigitError("no digit found (the picture's edges are not plain paper; crop it closer to the digit)")
    dark_on_light = paper > 0.5 * (float(gray.min()) + float(gray.max()))
    ink = (np.float32(paper) - gray) if dark_on_light else (gray - np.float32(paper))
    np.maximum(ink, 0.0, out=ink)
    peak = _robust_peak(ink)
    if peak < MIN_CONTRAST:
        raise NoDigitError("no digit found (blank or ink-less image)")
    ink /= np.float32(peak)
    return np.minimum(ink, 1.0, out=ink)


def center_by_mass(digit: np.ndarray) -> np.ndarray:
    """Paste a digit (at most 20x20) into 28x28 so that its centre of mass is at the centre."""
    canvas = np.zeros((SIZE, SIZE), dtype=np.float32)
    mass = digit.astype(np.float64)  # float64 so that a symmetric digit's centre is exactly .5, as in
    total = float(mass.sum())        # web/src/preprocess.js: both then round the half to even
    h, w = digit.shape
    if total > 0:
        cy = float(mass.sum(axis=1) @ np.arange(h)) / total
        cx = float(mass.sum(axis=0) @ np.arange(w)) / total
    else:
        cy, cx = (h - 1) / 2, (w - 1) / 2
    top = min(max(round(SIZE / 2 - cy), 0), SIZE - h)  # MNIST puts the mass at (14, 14)
    left = min(max(round(SIZE / 2 - cx), 0), SIZE - w)
    canvas[top : top + h, left : left + w] = digit
    return canvas


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


def _lanczos(x: np.ndarray) -> np.ndarray:
    return np.where((x > -3.0) & (x < 3.0), np.sinc(x) * np.sinc(x / 3.0), 0.0)


def _bilinear(x: np.ndarray) -> np.ndarray:
    return np.maximum(1.0 - np.abs(x), 0.0)


FILTERS = {"lanczos": (_lanczos, 3.0), "bilinear": (_bilinear, 1.0)}


@functools.lru_cache(maxsize=4096)
def resample_matrix(in_size: int, out_size: int, name: str) -> np.ndarray:
    """(out_size, in_size) float64 weights of Pillow's resampling along one axis.

    The same coefficients as Pillow's `precompute_coeffs` (libImaging/Resample.c) and as
    web/src/preprocess.js: a filter of support `support * max(scale, 1)` centred on each output
    pixel, truncated to the image and normalised to sum to 1.
    """
    function, support = FILTERS[name]
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support *= filter_scale
    matrix = np.zeros((out_size, in_size))
    for out in range(out_size):
        center = (out + 0.5) * scale
        low = max(int(center - support + 0.5), 0)
        high = min(int(center + support + 0.5), in_size)
        weights = function((np.arange(low, high) - center + 0.5) / filter_scale)
        total = weights.sum()
        matrix[out, low:high] = weights / total if total != 0 else weights
    return matrix


def resize_float(image: np.ndarray, out_h: int, out_w: int, name: str) -> np.ndarray:
    """Image.fromarray(image, "F").resize((out_w, out_h), filter), as matrix products.

    Pillow resamples horizontally, stores a float32 image, then resamples vertically; the
    float32 rounding between the passes is kept so that the result matches Pillow's.
    """
    h, w = image.shape
    out = image
    if out_w != w:
        out = (out.astype(np.float64) @ resample_matrix(w, out_w, name).T).astype(np.float32)
    if out_h != h:
        out = (resample_matrix(h, out_h, name) @ out.astype(np.float64)).astype(np.float32)
    return out if out is not image else image.copy()


def preprocess_image(image: Any) -> np.ndarray:
    """Path, bytes, PIL image or numpy array -> float32 (28, 28, 1) model input in [0, 1].

    Raises InputError (NoDigitError for a blank picture) with a one-line message.
    """
    if isinstance(image, (str, Path, bytes, bytearray, memoryview)) or hasattr(image, "read"):
        image = open_image(image)
    if isinstance(image, Image.Image):
        if min(image.size) < MIN_SIDE:
            raise InputError(f"image is {image.size[0]}x{image.size[1]} pixels; too small to hold a digit")
        gray = image_to_gray(image)
    elif isinstance(image, np.ndarray):
        gray = array_to_gray(image)
        if min(gray.shape) < MIN_SIDE:
            raise InputError(f"image is {gray.shape[1]}x{gray.shape[0]} pixels; too small to hold a digit")
    else:
        raise InputError(f"cannot classify a {type(image).__name__}; pass a path, PIL image or numpy array")
    ink = normalize_polarity(gray)
    return center_by_mass(fill_outline(restore_contrast(crop_and_scale(ink))))[..., None]


def animation_note(image: Image.Image) -> str | None:
    """A note on how an opened file was read, where it matters: an animated image uses its first frame."""
    frames = image.info.get(FRAMES_KEY, 1)
    return f"animated image with {frames} frames: the first frame was classified" if frames > 1 else None
