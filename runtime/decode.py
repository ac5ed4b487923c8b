"""Decode a picture safely: any file, bytes, PIL image or numpy array -> float32 luminance in [0, 1].

Files are opened with one-line errors for whatever is wrong with them (missing, a folder, a
FIFO, not an image, truncated, a decompression bomb); an iPhone's HEIC through pillow-heif, where
it is installed. JPEGs are decoded at reduced scale (draft)
and other formats box-reduced, so that memory and time stay bounded for camera frames; EXIF
orientation is applied; transparency is composited onto the paper. An animated file's frame count,
and an EXIF block too broken to read, come back with the image as a note, so that the caller can
say the first frame was used, or that the picture was read as stored.

web/src/decode.js is the browser's twin: the browser decodes the file itself (web/src/app.js
`decode`), then decode.js reduces and converts the pixels as below.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import stat
import struct
import threading
import warnings
from typing import Any, NamedTuple

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError, features

from .errors import InputError

__all__ = ["Opened", "open_image", "upright", "image_to_gray", "array_to_gray"]
MAX_PIXELS = 64_000_000  # formats decoded at full size (PNG, TIFF...): beyond this, a possible bomb
# JPEGs decode at 1/2, 1/4 or 1/8 scale (draft), so phone photos of 50 MP and more are fine, beyond
# Pillow's own limit too (a 200 MP photo), as long as an eighth of each side stays within MAX_PIXELS.
WORK_SIDE = 640  # work at no less than this on the longer side: thin strokes survive the 20 px box
_FLOAT32_HALF_MAX = float(np.finfo(np.float32).max) / 2
SMALL_INTEGER_RANGE = 15  # integer arrays whose values stay within 0-15 are masks or 4-bit images


class Opened(NamedTuple):
    """A decoded picture (its first frame, upright), how many frames the file holds, and what was
    wrong with its EXIF block, if anything (`upright`)."""

    image: Image.Image
    frames: int
    exif: str | None = None
    size: tuple[int, int] | None = None  # the picture's own (width, height), upright, before any reduction
    pages: bool = False  # the frames are a document's pages (a multi-page TIFF), not an animation
    cut: bool = False  # the file breaks off after its first frame (or page), which was read

    @property
    def note(self) -> str | None:
        """Where it matters, how the file was read: an animated image uses its first frame, a
        multi-page one its first page; a picture whose EXIF block is broken is read as stored."""
        notes = []
        if self.cut:
            notes.append(f"the file breaks off after its first {'page' if self.pages else 'frame'}, "
                         "which was classified")
        elif self.frames > 1:
            notes.append(f"image with {self.frames} pages: the first page was classified" if self.pages
                         else f"animated image with {self.frames} frames: the first frame was classified")
        return "; ".join(notes + ([self.exif] if self.exif else [])) or None


MAX_NAME = 200  # characters of a file's name in a message; a longer one is cut in the middle
PAGED_FORMATS = ("TIFF",)  # formats whose frames are pages; Pillow reads both as frames
# A multi-picture JPEG (many phones and cameras write one), a HEIF collection: the photo comes first.
PRIMARY_FORMATS = ("MPO", "HEIF")
# The ISO base media brands (bytes 8-12 of the file) of an AVIF, and of a HEIC or HEIF still image or sequence.
AVIF_BRANDS = {b"avif", b"avis"}
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
DRAFT_FORMATS = ("JPEG", *PRIMARY_FORMATS)  # decoded at reduced scale (Pillow's JPEG decoder)
BROKEN = (OSError, ValueError, SyntaxError, EOFError, struct.error)  # what Pillow raises for a broken picture
# ...and what it, or a plugin (AVIF, pillow-heif), raises for some broken files too (a GIF or TIFF cut
# short while its frames are counted, a colour plane that does not decode).
DECODE_ERRORS = (*BROKEN, MemoryError, TypeError, IndexError, KeyError, RuntimeError)
# Pillow's own mapping of the EXIF orientations 2-8 to the turn that makes the picture upright
# (ImageOps.exif_transpose, which would read the EXIF block once more, outside `_recorded`).
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}
_PILLOW = os.path.dirname(Image.__file__)
# Pillow reports a broken EXIF block or tag as a warning that names no file. Recording warnings swaps
# process-wide state (warnings.catch_warnings), so two threads recording at once lose or swap each
# other's: a note on the wrong file, a photo left on its side. One thread records at a time, around
# the short steps that read a file's header and its EXIF block, never around the decoding itself.
_RECORDING = threading.Lock()


def _after_fork_in_child() -> None:
    """A child forked while another thread of its parent was recording starts with the lock free."""
    global _RECORDING
    _RECORDING = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def _recorded():
    """Pillow's warnings in the block, recorded (as a list) rather than shown, one thread at a time."""
    with _RECORDING, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit, per file
        yield caught


def _pillows(caught) -> list[warnings.WarningMessage]:
    """The recorded warnings that Pillow (or pillow-heif) gave: another thread's own, from elsewhere,
    are not the file's."""
    where = [(w, os.path.abspath(w.filename)) for w in caught]
    return [w for w, path in where if path.startswith(_PILLOW) or f"{os.sep}pillow_heif{os.sep}" in path]


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def load_image(image: Image.Image) -> Image.Image:
    """A PIL image the caller opened (lazily, as Pillow does) read now; a broken or closed one is a
    one-line InputError."""
    try:
        image.load()
    except BROKEN as error:
        raise InputError(f"cannot read this PIL image ({_first_line(error)}); is the file whole, and the image "
                         "not closed?") from None
    return image


def upright(image: Image.Image, warned: tuple[str, ...] = ()) -> tuple[Image.Image, str | None]:
    """The picture turned as its EXIF orientation says, and None; or, where the orientation cannot be
    read because the EXIF block is broken (Pillow warned, while opening the file: `warned`, or here),
    the picture as stored and a note saying so. An orientation that reads well is used even where
    another tag of the block is broken. Pillow's own warning names no file, so it comes back to the
    caller, which knows it."""
    broken = None
    with _recorded() as caught:
        try:
            exif = image.getexif()
            orientation = exif.get(ExifTags.Base.Orientation)
        except Exception as error:  # a malformed EXIF block must not stop classification
            orientation, broken = None, _first_line(error)
        heard = [str(w.message) for w in _pillows(caught)]
    if isinstance(orientation, int) and 1 <= orientation <= 8:
        return (image.transpose(_UPRIGHT[orientation]) if orientation in _UPRIGHT else image), None
    broken = broken or next(iter([*warned, *heard]), None)
    if broken is None:
        return image, None
    detail = " ".join(broken.split())[:MAX_NAME].rstrip(". ")
    return image, f"EXIF data unreadable (Pillow: {detail}): the picture was read as stored, not turned"


def _source_name(source: Any) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    if hasattr(source, "read"):  # a temporary file's name may be None, or its descriptor (an int)
        name = getattr(source, "name", None)
        name = os.fsdecode(name) if isinstance(name, (str, bytes, os.PathLike)) else "<file object>"
    else:
        name = os.fsdecode(source)
    return name if len(name) <= MAX_NAME else f"{name[:MAX_NAME // 2]}...{name[-MAX_NAME // 2:]}"


def _open_handle(source: Any, name: str):
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise InputError(f"{name}: empty (0 bytes); pass the image file's contents")
        return io.BytesIO(bytes(source))
    if isinstance(source, io.TextIOBase):  # (a binary stream's `mode` may be "r", or an int: its reads tell)
        raise InputError(f"{name}: file object is open in text mode; open it in binary mode ('rb')")
    if hasattr(source, "read"):
        if getattr(source, "closed", False):
            raise InputError(f"{name}: file object is closed; pass an open one, or the path")
        try:
            start = source.tell() if source.seekable() else 0
        except (AttributeError, OSError, ValueError):
            start = 0
        try:
            data = source.read()
        except OSError as error:  # a network stream that broke off, a disk error: not the picture's fault
            raise InputError(f"{name}: cannot read the file object ({type(error).__name__}: "
                             f"{_first_line(error)})") from None
        if inspect.isawaitable(data):
            getattr(data, "close", lambda: None)()  # never awaited, and never warned about
            raise InputError(f"{name}: the file object's read() is asynchronous; await it, and pass the bytes")
        if not isinstance(data, (bytes, bytearray)):
            raise InputError(f"{name}: file object gave {type(data).__name__}, not bytes; open it in binary mode")
        if not data:
            raise InputError(f"{name}: file object gave no bytes (an empty file, or one already read to its end: "
                             "seek(0) first)")
        handle = io.BytesIO(data)
        handle.start = start  # where its reading began: a picture read from its middle is not one
        return handle
    if os.fsdecode(source) == "":
        raise InputError("empty path; pass an image file")
    try:
        info = os.stat(source)  # a FIFO or device would block or never end: regular files only
    except (FileNotFoundError, PermissionError):
        raise
    except OSError as error:  # a name too long, a loop of links...: the path, not the picture
        raise InputError(f"{name}: cannot open ({error.strerror})") from None
    except ValueError:
        printable = name.replace("\0", "\\0")  # a NUL in a message cuts it short in C and in terminals
        raise InputError(f"{printable}: not a valid path (it holds a NUL byte)") from None
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(source)
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{name}: not a regular file")
    if info.st_size == 0:  # Pillow would say only that it is no image
        raise InputError(f"{name}: empty file (0 bytes)")
    return open(source, "rb")


def _open(handle, name: str) -> Image.Image:
    """`Image.open`, and for a HEIC or HEIF photo (an iPhone's own format, which Pillow does not read)
    pillow-heif's reader, where it is installed (`pip install pillow-heif`; the `heic` extra). It is
    used without registering it in Pillow, whose formats stay as the host app set them."""
    try:
        return Image.open(handle)
    except Image.DecompressionBombError:
        # Past Pillow's limit (a 200 MP phone photo is), a JPEG still decodes at an eighth of each side
        # (draft, at most MAX_PIXELS: see open_image): Pillow's own reader, without the check at open.
        handle.seek(0)
        if handle.read(3) != b"\xff\xd8\xff":
            raise
        from PIL.JpegImagePlugin import JpegImageFile

        handle.seek(0)
        return JpegImageFile(handle)
    except UnidentifiedImageError:
        handle.seek(0)
        head = handle.read(12)
        if head[4:8] == b"ftyp" and head[8:12] in AVIF_BRANDS and features.check("avif"):
            raise InputError(f"{name}: corrupt or truncated image (an AVIF file that does not decode)") from None
        if head[4:8] != b"ftyp" or head[8:12] not in HEIF_BRANDS:
            raise
    try:
        from pillow_heif.as_plugin import HeifImageFile
    except ImportError:
        raise InputError(f"{name}: a HEIC/HEIF photo, which needs pillow-heif: pip install pillow-heif "
                         "(or save the photo as JPEG)") from None
    handle.seek(0)
    try:
        return HeifImageFile(handle)
    except (ValueError, RuntimeError, SyntaxError) as error:  # libheif's own errors for a broken file
        raise InputError(f"{name}: corrupt or truncated image ({_first_line(error)})") from None


def _decode_size(width: int, height: int) -> tuple[int, int]:
    """The smallest size that keeps WORK_SIDE on the longer side (the full size if already small)."""
    scale = min(1.0, WORK_SIDE / max(width, height))
    return max(1, int(np.ceil(width * scale))), max(1, int(np.ceil(height * scale)))


def open_image(source: Any) -> Opened:
    """Open and decode an image file at the resolution the answer needs, with one-line errors.

    `source` is a path, bytes (or bytearray, memoryview) or a binary file object. JPEGs are
    decoded at reduced scale, other formats are box-reduced after decoding, so memory and time
    stay bounded for camera frames. Pillow's global limits are left as the host app set them.
    """
    name = _source_name(source)
    cut = False
    try:
        with _open_handle(source, name) as handle:
            with _recorded() as caught:  # the header, where Pillow reads a TIFF's tags and an MPO's index
                image = _open(handle, name)
                width, height = image.size
                if image.format in DRAFT_FORMATS:
                    image.draft(image.mode, _decode_size(width, height))
                if image.size[0] * image.size[1] > MAX_PIXELS:
                    scaled = " even at an eighth of each side" if image.format in DRAFT_FORMATS else ""
                    raise InputError(f"{name}: image too large to decode safely ({width}x{height}, over "
                                     f"{MAX_PIXELS:,} pixels{scaled})")
                pages = image.format in PAGED_FORMATS
                # Before load: counting frames seeks the file. A multi-picture JPEG's (or a HEIF
                # collection's) other pictures are the photo's own preview, depth map or companions,
                # not frames of it: the first is the photo.
                try:
                    frames = 1 if image.format in PRIMARY_FORMATS else getattr(image, "n_frames", 1)
                except DECODE_ERRORS:  # a GIF or TIFF cut short after its first frame: that one is read
                    frames, cut = 1, True
                    handle.seek(0)
                    image = _open(handle, name)
                    image.load()  # here, where the broken rest's warnings are recorded (a rare file)
                heard = _pillows(caught)
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
        start = getattr(handle, "start", 0)
        where = f"; it was read from position {start}: seek(0) first?" if start else ""
        raise InputError(f"{name}: not an image (or an unsupported format){where}") from None
    except InputError:
        raise
    except DECODE_ERRORS as error:
        raise InputError(f"{name}: corrupt or truncated image ({_first_line(error)})") from None
    factor = max(image.size) // WORK_SIDE
    if factor >= 2 and image.mode in ("L", "RGB", "RGBA", "LA", "I", "F"):  # others (P, 1, CMYK): grey at full size
        image = image.reduce(factor)  # box average: a thin stroke fades but is not lost
    exif = tuple(str(w.message) for w in heard if "exif" in str(w.message).lower())
    others = [w for w in heard if str(w.message) not in exif]
    if others:
        with _RECORDING:  # shown, not recorded by another thread's `_recorded` (nor shown in its place)
            for warning in others:  # as Pillow gave it, with the file's name
                warnings.warn(f"{name}: {warning.message}", warning.category, stacklevel=2)
    stored = image.size
    image, problem = upright(image, exif)
    turned = image.size != stored  # a quarter turn swaps the sides
    return Opened(image, frames, problem, (height, width) if turned else (width, height), pages, cut)


def image_to_gray(image: Image.Image, levels: bool = False) -> np.ndarray:
    """Any Pillow mode -> float32 luminance in [0, 1]; transparency composited onto the paper.
    (The picture as it stands: `upright` turns it by its EXIF orientation first.)
    With `levels`, an 8-bit picture without transparency comes back as its uint8 levels instead
    (the float is level / 255): the digit finder works on those, and skips a full-size pass.

    High-bit-depth modes (I;16, I, F) go through `array_to_gray`, so a file and the same pixels
    as an array give the same answer (a 12-bit camera frame in a 16-bit PNG included).
    """
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
        gray = np.asarray(image.convert("L"))
    except ValueError:
        raise InputError(f"cannot read {image.mode} images; convert the picture to RGB or grayscale") from None
    return gray if levels else np.divide(gray, np.float32(255.0), dtype=np.float32)


def array_to_gray(array: np.ndarray, levels: bool = False) -> np.ndarray:
    """A numpy image (H, W) or (H, W, 1|3|4) of any numeric dtype -> float32 luminance in [0, 1].

    uint8 RGBA goes through the same alpha compositing as a PIL image. Values are read as
    0-1 for booleans and for floats in that range; integers are read as 0-255 when they span
    more than 0-15 within it. Integers that use only 0-15 (a 0/1 mask, a 4-bit image), and
    anything else, are min-max scaled, so a mask of any integer type reads like the same bool
    mask. Arrays larger than the working resolution are box-reduced first. With `levels`, a grey
    uint8 array read as 0-255 comes back as it is (see `image_to_gray`).
    """
    array = np.asarray(array)
    if array.dtype == np.uint8 and array.ndim == 2 and array.size and max(array.shape) < 2 * WORK_SIDE:
        high = int(array.max())  # the common case (a grey 8-bit picture) in one pass; same result as below
        if high > SMALL_INTEGER_RANGE:
            return np.ascontiguousarray(array) if levels else np.divide(array, np.float32(255.0), dtype=np.float32)
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
    if max(abs(low), abs(high)) > _FLOAT32_HALF_MAX:  # beyond float32's range: scaled in the array's own precision
        wide = np.result_type(array.dtype, np.float64)
        half = np.asarray(array, wide) * wide.type(0.5)
        array = (half - wide.type(low / 2)) / wide.type(high / 2 - low / 2) if high > low else np.zeros_like(half)
        kind, low, high = "f", 0.0, 1.0
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
    factor = min(max(array.shape[:2]) // WORK_SIDE, min(array.shape[:2]))  # never a side of 0 px
    if factor < 2:
        return array.astype(np.float32)
    h, w = (array.shape[0] // factor) * factor, (array.shape[1] // factor) * factor
    blocks = array[:h, :w].reshape(h // factor, factor, w // factor, factor, *array.shape[2:])
    return blocks.mean(axis=(1, 3), dtype=np.float32)
