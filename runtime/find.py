"""Find the digit in a picture: paper, light, lines and desk are set aside, the strokes kept.

A phone photo is not an MNIST array. Its light falls off across the page, a hand casts a soft
shadow, the paper is ruled or squared, a whiteboard has glare, the page lies on a desk, and the
digit may fill a tenth of the frame, or touch every edge of a tight crop. The MNIST recipe
(runtime/preprocess.py) needs the digit's ink alone, light on dark. This module gives it that,
with OpenCV. A clean canvas (exact 0 or 255 paper all round the frame, one stroke: a drawing pad's,
MNIST's) is all its ink, read without the search (`_clean`); any other picture is searched:

1. polarity: dark-on-light or light-on-dark, from the border, the tones' shares, or which way
   the ink stands out more;
2. paper: a morphological opening of the ink-up picture at low resolution, with a window wider
   than any stroke, follows the light across the page; ink is measured against that local paper,
   as a fraction of the headroom above it;
3. strokes: ink above Otsu's level over the ink that stands out at all (a soft shadow stays
   below it), grown into the fainter ink that touches them, close by (a stroke's soft edges, the
   dust between chalk grains); ruled and squared lines (families of parallel Hough lines)
   removed; the grains of a chalk stroke joined; a soft shadow that the strokes run into set
   aside (the mask's pixels nearest its soft outline, but for strokes drawn across it);
4. digits: connected components grouped by proximity, leaving aside lines across the picture and
   what lies along the frame (a desk, the page's edge, a band beyond a display's panel); the group
   with the most ink is the digit, and a picture with several groups of the same size holds
   several digits.

Nothing here refuses a digit because its ink touches the frame: the paper's window stops at the
frame, and a tight crop fills the picture, which no desk does. Noise and textures come back
"no digit found" because their ink falls into many grains or pieces, which a digit's never does,
and a wall because it has no edges.

web/src/find.js is the same code for the browser, on OpenCV.js (all but `find_all_digits`, every
digit left to right, which the page does not offer).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from .decode import WORK_SIDE
from .errors import NoDigitError

__all__ = ["Found", "find_digits", "find_all_digits", "ink_image"]

# One OpenCV thread per caller. The pictures here are at most 640 px, where OpenCV's own worker
# threads win nothing for one caller and, with two callers at once, compete with each other for
# the same cores (the thread rows of tools/bench_app.py). An app that wants OpenCV's threads for
# its own work calls cv2.setNumThreads(-1) after importing the runtime (docs/runtime.md).
cv2.setNumThreads(1)

MIN_CONTRAST = 0.08  # ink must differ from the paper by this fraction of the headroom
PEAK_PERCENTILE = 99.9  # the ink's robust peak...
SMALL_INK = 0.0002  # ...or, where that is the paper's, the level this share of the picture reaches
SMALL_INK_PX = 16  # (at least this many pixels: a speck of dust is not a digit)
HISTOGRAM_BINS = 4096
MIN_HEADROOM = 0.25  # the headroom above the paper is at least this fraction of full scale
MAX_BORDER_SPREAD = 0.2  # a border this plain decides the polarity by its median (paper)
PAPER_SHARE = 0.7  # the tone of this share of the picture is its paper (MNIST crops: ink <= 0.76)
SPARSER = 0.5  # ink covering less than this share of the other way's area is the ink
POLARITY_MARGIN = 0.15  # ink peaks this far apart decide the polarity
MAX_ASPECT = 2.5  # ...unless the picture is narrower than this (a tight crop of a 1)
BACKGROUND_SIDE = 160  # the paper is estimated at this resolution (longer side, px)
BACKGROUND_WINDOW = 0.3  # opening window, as a fraction of the picture's longer side
MIN_EDGE = 0.03  # strokes' edges stand out by this fraction of full scale (smooth walls and vignettes: < 0.028)
EDGE_WINDOW = 0.1  # a blur this wide (fraction of the longer side) leaves strokes' edges standing out, blurred ones too
STRONG_INK = 0.4  # fraction of the ink's peak that counts as stroke for components
LINE_LENGTH = 0.5  # a line of ruled or squared paper spans at least this fraction of the picture
MIN_PHOTO_SIDE = 64  # px: smaller pictures are not searched for ruled lines or a desk
LINE_FAMILY = 3  # and comes with at least two more parallel lines
FRAME_CONTACT = 0.3  # a group along this much of a side of the frame is not the digit...
RING = 0.5  # a component touching this share of the picture's perimeter is a desk around the page
SLIVER = 0.06  # ...and is a sliver when its mean thickness is under this share of the longer side
HUG = 0.5  # a component touching the frame along this share of its length lies along it
MARGIN = 0.1  # the band along the frame, as a share of the shorter side...
HUGS = 0.7  # ...where a desk has this share of its ink (a digit's strokes cross the middle)
INSIDE_SHARE = 0.03  # a group inside the picture with this share of the ink along the frame wins
FILLS = 0.6  # ...unless it fills this much of the picture both ways (a tight crop)
ACROSS = 0.9  # a stroke this long across the picture, and this narrow (1 - ACROSS) the other way, is a line
LINE_ANGLE = 20.0  # degrees from horizontal or vertical
THIN = 0.012  # a line is thinner than this fraction of the picture's longer side (at least 2 px)
SPECK = 0.02  # a component with less than this share of the largest one's ink is a speck
GROUP_GAP = 0.35  # components closer than this fraction of the largest one's size belong together
REACH = 3  # px of soft ink kept around the strokes
CORE = 0.9  # a clean canvas's ink lies within REACH of ink at this share of its peak (one tone, soft edges)
SPARSE = 2 * (1 - PEAK_PERCENTILE / 100)  # ...and covers this share of it (less: the search's peak may be paper)
PIECE = 0.002  # a piece or hole smaller than this share of the group's box is a pinhole
MIN_PIECE_PX = 4
GRAIN_GAP = 0.006  # gaps this narrow (share of the longer side) between grains of a stroke are closed
GRAINY = 8  # a digit whose strokes the closing joined from this many grains is drawn in chalk
GRAINS = 20  # this many pieces of ink, at GRAIN_DENSITY per px of the picture, is noise or a texture
GRAIN_DENSITY = 0.005
MAX_PIECES = 12  # components plus holes of a digit (an 8 with a broken stroke has about 5)
PANEL = 0.85  # ink filling this share of its box is a panel or a label: the digit is inside (MNIST <= 0.76)
PANEL_TURNED = 0.9  # ...or this share of its smallest turned rectangle (a card lying askew on a desk)
MIN_PANEL_PX = 16
NEAR_PANEL = 0.8  # ...and a group that covers less than this of it in its own box, or that fills less than
HALF = 0.5  # this share of its box, holes filled, is a digit: it is looked at no further
PANEL_GROWTH = 0.25  # a solid group that the panel around it outgrows by this share of its size is part of it
NESTING = 2  # a panel within a panel (a display's glass in its bezel) is searched too, no deeper
SHARP_EDGES = 10  # the sharp outlines' rise: this percentile of the outline pixels' rise (the lower value)
SHADOW_EDGE = 0.1  # a shadow run into is this share of the outline, or more...
MIN_SHADOW_EDGE = 16  # ...of at least this many pixels
SHADOW_WINDOW = 9  # px: the outline's soft share is taken over this window
STROKES_WIDE = 2.5  # a stroke across a shadow stands out in a top-hat this many strokes wide...
ACROSS_SHADOW = 0.4  # ...by this share of the strokes' own
SHADOW_AREA = 0.1  # a shadow covers this share of the stroke mask's pixels, or more
SOFT = 5.0  # a component whose edges take this many times as long to rise as the sharpest one's is a shadow
OTHER_DIGIT = 0.35  # a second group with this share of the first one's ink is another digit
# Every digit (find_all_digits): strokes that overlap side by side by COLUMN_OVERLAP of the narrower,
# and are not a line apart (LINE_GAP of the tallest stroke), stand in one column; a group splits into
# its columns DIGIT_HEIGHT of its height or taller when they hold NUMBER_INK of its ink, and a group
# under DIGIT_HEIGHT of the height of the one with the most ink is a sign or a point, not a digit.
COLUMN_OVERLAP = 0.5
LINE_GAP = 0.2
DIGIT_HEIGHT = 0.7
NUMBER_INK = 0.85
LINE_COVERAGE = 0.6
THIN_DIGIT = 0.1  # ...and a group as tall as the digit with the most ink, with this share of its ink, is a digit too (a 1)
WEAK = 0.7  # ink at this share of the stroke level, touching a stroke, is stroke too...
WEAK_REACH = 0.01  # ...within this share of the picture's longer side of it


NOISE = "no digit found (the picture looks like noise or a texture, not a written digit)"


@dataclass(frozen=True)
class Found:
    """The digit's ink (float32, light on dark, in [0, 1], other strokes cleared) in its box,
    the box (left, top, right, bottom) in the picture's pixels, and how many digits were seen."""

    ink: np.ndarray
    box: tuple[int, int, int, int]
    count: int
    # find_all_digits: where this might be several digits written close together, those digits
    # (the caller's model decides which reading it is: `Classifier.read`)
    parts: tuple[Found, ...] = ()
    # find_all_digits: marks too short to be a digit, left out: among this one's `parts`, where it
    # is read as those (`marks`), and beside the digits in the whole picture (`beside`, the same on
    # every digit, like `count`): a decimal point, a minus, a colon. "12.5" read "125" says so.
    marks: int = 0
    beside: int = 0


def _percentile(hist: np.ndarray, q: float) -> int:
    """The q-th percentile (0-100) of uint8 pixels from their 256-bin histogram (lower value)."""
    cumulative = np.cumsum(hist)
    return int(np.searchsorted(cumulative, q / 100 * (cumulative[-1] - 1), side="right"))


def _polarity(gray8: np.ndarray) -> tuple[bool | None, bool | None, bool]:
    """Dark ink on light paper? (A plain border's answer, or None; the tones' answer, or None; the
    border's vote). A plain border is paper, and settles it, unless the picture is a page on a
    desk: a plain border (the desk) in one tone, and the other tone over PAPER_SHARE of the
    photo (the page). Otherwise the caller compares the ink
    found both ways; where that cannot tell, a tone, darker or lighter than Otsu's threshold, that
    covers PAPER_SHARE of the picture is the paper (a page framed by a desk), and failing that (a
    tight crop, where the ink can cover as much as the paper) the border decides: a digit touches
    the frame at a few points, the paper runs along most of it."""
    border = np.concatenate([gray8[0], gray8[-1], gray8[1:-1, 0], gray8[1:-1, -1]])
    border.sort()
    n = len(border) - 1
    h, w = gray8.shape
    if int(border[(3 * n) // 4]) - int(border[n // 4]) <= MAX_BORDER_SPREAD * 255:
        paper = int(border[len(border) // 2])
        dark = 2 * paper > int(gray8.min()) + int(gray8.max())
        if min(h, w) < MIN_PHOTO_SIDE or not 1 / MAX_ASPECT <= w / h <= MAX_ASPECT:
            return dark, dark, dark
        # ...unless it is a desk all round a page that fills most of the picture in the other tone:
        # then the ink is found both ways, as for any border that is not plain.
        threshold, above = cv2.threshold(gray8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        light = cv2.countNonZero(above)  # the pixels over Otsu's threshold
        if (light <= (1 - PAPER_SHARE) * gray8.size) if dark else (light >= PAPER_SHARE * gray8.size):
            return None, not dark, dark
        return dark, dark, dark
    threshold, above = cv2.threshold(gray8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    vote = 2 * int(np.count_nonzero(border > threshold)) > len(border)
    if 1 / MAX_ASPECT <= w / h <= MAX_ASPECT:  # a page in a photo, framed by a darker desk
        light = cv2.countNonZero(above)
        if light >= PAPER_SHARE * gray8.size or light <= (1 - PAPER_SHARE) * gray8.size:
            return None, light >= PAPER_SHARE * gray8.size, vote
    return None, None, vote


def _odd(value: float) -> int:
    return max(3, int(round(value)) | 1)


# The headroom above each paper level: 255 - level, at least MIN_HEADROOM of full scale (float32).
_HEADROOM = np.maximum(np.float32(255.0) - np.arange(256, dtype=np.float32), np.float32(MIN_HEADROOM * 255))


def _against_paper(up: np.ndarray) -> np.ndarray:
    """Ink-up uint8 picture -> float32 ink above the local paper, as a fraction of the headroom."""
    h, w = up.shape
    factor = max(1, -(-max(h, w) // BACKGROUND_SIDE))
    small = cv2.resize(up, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    window = _odd(BACKGROUND_WINDOW * max(small.shape))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (window, window))
    # The window stops at the frame (OpenCV's default border for morphology): a stroke along the
    # edge is narrower than the window there too, so it is ink, not paper.
    background = cv2.morphologyEx(small, cv2.MORPH_OPEN, kernel)
    background = cv2.blur(background, (window, window), borderType=cv2.BORDER_REPLICATE)
    background = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR)
    headroom = cv2.LUT(background, _HEADROOM)  # float32, one pass and one allocation
    return np.divide(cv2.subtract(up, background), headroom, out=headroom)


def ink_image(gray8: np.ndarray) -> tuple[np.ndarray, float]:
    """uint8 picture -> (float32 ink in [0, 1] against the local paper, light on dark; how much
    the strokes' edges stand out, which tells a smooth picture, a wall or a gradient, from strokes).

    Where the tones leave the polarity open (light falling off across the page), the ink is what
    stands out more against its local paper: dark strokes on a gradient do, its bright side does not.
    """
    ink, edges = _ink_and_edges(gray8)
    return ink, _peak(edges)


def _ink_and_edges(gray8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`ink_image`'s ink, and the uint8 edges whose peak is its contrast."""
    plain, tones, vote = _polarity(gray8)
    if plain is not None:
        return _ink_up(cv2.bitwise_not(gray8) if plain else gray8)
    (ink_dark, edges_dark), (ink_light, edges_light) = _ink_up(cv2.bitwise_not(gray8)), _ink_up(gray8)
    peak_dark, peak_light = _peak(ink_dark), _peak(ink_light)
    # Strokes are sparse: the other way round, the page between them (or the bright middle of a
    # vignetted page) stands out over a far larger area.
    area_dark = np.count_nonzero(ink_dark >= np.float32(peak_dark / 2)) if peak_dark > 0 else ink_dark.size
    area_light = np.count_nonzero(ink_light >= np.float32(peak_light / 2)) if peak_light > 0 else ink_light.size
    if min(area_dark, area_light) < SPARSER * max(area_dark, area_light):
        dark = area_dark < area_light
    elif abs(peak_dark - peak_light) > POLARITY_MARGIN:
        dark = peak_dark > peak_light
    else:
        dark = vote if tones is None else tones
    return (ink_dark, edges_dark) if dark else (ink_light, edges_light)


def _ink_up(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`_ink_and_edges` for a picture whose ink is bright (`up`)."""
    h, w = up.shape
    ink = _against_paper(up)
    # Strokes have edges; light and shadow change smoothly. What stands out against a small blur:
    window = _odd(EDGE_WINDOW * max(h, w))
    return ink, cv2.absdiff(up, cv2.blur(up, (window, window), borderType=cv2.BORDER_REPLICATE))


def _top(values: np.ndarray) -> float:
    """The level that the brightest SMALL_INK of `values` reach (at least SMALL_INK_PX of them;
    uint8 read as level / 255): the peak of ink too sparse for PEAK_PERCENTILE to see."""
    flat = values.ravel()
    k = min(flat.size, max(SMALL_INK_PX, int(SMALL_INK * flat.size)))
    top = np.partition(flat, flat.size - k)[flat.size - k]
    return float(np.float32(top) / np.float32(255.0)) if values.dtype == np.uint8 else float(top)


def _bins(values: np.ndarray) -> np.ndarray:
    """float32 values in [0, 1] (above 1 counts as 1) -> their bins of 1/4096."""
    return np.multiply(np.minimum(values, np.float32(1.0)), HISTOGRAM_BINS - 1, dtype=np.float32).astype(np.int32)


# The bin of each uint8 level read as level / 255: the same float32 arithmetic as a float picture's.
_LEVEL_BINS = _bins(np.arange(256, dtype=np.float32) / np.float32(255.0))


def _peak(ink: np.ndarray) -> float:
    """The ink's robust peak, its PEAK_PERCENTILE: exact on small pictures; on large ones, from a
    histogram of 1/4096 resolution, of every second pixel in each direction beyond 250,000.
    A uint8 picture is read as level / 255 (and counted over its 256 levels, which is faster)."""
    if ink.size <= 1000:
        if ink.size == 0:
            return 0.0
        return float(np.float32(ink.max()) / np.float32(255.0)) if ink.dtype == np.uint8 else float(ink.max())
    sample = ink[::2, ::2] if ink.size > 250_000 else ink
    if sample.dtype == np.uint8:
        levels = cv2.calcHist([np.ascontiguousarray(sample)], [0], None, [256], [0, 256]).ravel()
        counts = np.bincount(_LEVEL_BINS, weights=levels, minlength=HISTOGRAM_BINS)
    else:
        counts = np.bincount(_bins(sample).ravel(), minlength=HISTOGRAM_BINS)
    rank = int(np.searchsorted(np.cumsum(counts), PEAK_PERCENTILE / 100 * sample.size))
    return min(rank + 1, HISTOGRAM_BINS - 1) / (HISTOGRAM_BINS - 1)


def _stroke_level(ink: np.ndarray, peak: float) -> float:
    """The ink level that separates strokes from what is merely darker than the paper around it
    (a shadow, a stain): Otsu's threshold over the ink that stands out at all, and never under
    STRONG_INK of the peak."""
    scaled = np.multiply(ink, np.float32(255.0 / peak))  # one float temporary, reused (a fresh one costs more)
    levels = np.minimum(scaled, np.float32(255.0), out=scaled).astype(np.uint8)
    marked = levels[levels >= int(255 * STRONG_INK / 2)]
    if marked.size < 2:
        return STRONG_INK * peak
    threshold, _ = cv2.threshold(marked.reshape(1, -1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return max(STRONG_INK, float(threshold) / 255) * peak


def _remove_lines(strong: np.ndarray, side: int) -> np.ndarray:
    """Clear long thin straight lines (ruled and squared paper) from a 0/255 stroke mask. A line
    counts only where strokes cover LINE_COVERAGE of its length: the aligned tops and bottoms of a
    row of digits (a number typed on one line) fall on a line too, with gaps between them."""
    h, w = strong.shape
    if side < MIN_PHOTO_SIDE:  # a picture this small holds no ruled page, and its strokes are all thin
        return strong
    thin_side = max(2, int(round(THIN * max(h, w))))
    thick = cv2.morphologyEx(strong, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (thin_side + 1,
                                                                                               thin_side + 1)))
    thin = cv2.subtract(strong, thick)
    # The standard Hough transform (deterministic, unlike the probabilistic one): a line gets a
    # vote from each thin stroke pixel on it, and needs LINE_LENGTH of the picture's side. Fewer
    # thin pixels than that hold no line (thick strokes, a marker's), and the transform is skipped.
    votes = max(10, int(LINE_LENGTH * side))
    if cv2.countNonZero(thin) < votes:
        return strong
    found = cv2.HoughLines(thin, 1, np.pi / 180, threshold=votes)
    if found is None:
        return strong
    # Ruled and squared paper repeat their lines: a family of LINE_FAMILY parallel lines, apart by
    # more than a stroke, is paper; one or two long straight strokes may be a digit's (a 1, a 0).
    families: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    near = cv2.dilate(thin, np.ones((3, 3), np.uint8))  # on or next to a stroke
    for rho, theta in found.reshape(-1, 2).astype(np.float64):
        angle = np.degrees(theta)  # of the line's normal: 90 for a horizontal line
        horizontal = abs(angle - 90) <= LINE_ANGLE
        if horizontal or min(angle, 180 - angle) <= LINE_ANGLE:
            c, s_ = np.cos(theta), np.sin(theta)
            offset = (rho - w / 2 * c) / s_ if horizontal else (rho - h / 2 * s_) / c  # where it crosses the middle
            if _coverage(near, float(rho), float(theta)) < LINE_COVERAGE:
                continue
            families[horizontal].append((float(offset), float(rho), float(theta)))
    lines = np.zeros_like(strong)
    reach = 2 * (h + w)
    for members in families.values():
        offsets = [offset for offset, _, _ in members]
        if len(members) < LINE_FAMILY or max(offsets) - min(offsets) <= 4 * thin_side:
            continue
        for _, rho, theta in members:
            cv2.line(lines, *_line_ends(rho, theta, reach), 255, thin_side + 2)
    lines = cv2.bitwise_and(lines, thin)
    cleared = cv2.subtract(strong, lines)
    return cleared if cv2.countNonZero(cleared) else strong


def _line_ends(rho: float, theta: float, reach: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """Two points `reach` px either side of where a Hough line (rho, theta) is nearest the origin."""
    c, s_ = np.cos(theta), np.sin(theta)
    x, y = rho * c, rho * s_
    return (int(round(x - reach * s_)), int(round(y + reach * c))), (int(round(x + reach * s_)), int(round(y - reach * c)))


def _coverage(near: np.ndarray, rho: float, theta: float) -> float:
    """The share of a Hough line's length, within the picture, that lies on `near` (the strokes and
    the pixels next to them)."""
    line = np.zeros_like(near)
    cv2.line(line, *_line_ends(rho, theta, 2 * sum(near.shape)), 255, 1)
    length = cv2.countNonZero(line)
    return cv2.countNonZero(cv2.bitwise_and(line, near)) / length if length else 0.0


def find_digits(gray: np.ndarray) -> Found:
    """float32 luminance in [0, 1] (H, W), or its uint8 levels -> the digit with the most ink, its
    box in the picture's pixels. Raises NoDigitError.

    A picture over WORK_SIDE on its longer side is searched at WORK_SIDE (OpenCV's area average):
    the decoder's integer reductions leave up to twice that, and the search's cost grows with the
    pixels, while a digit that fills a twentieth of the height still keeps 24 px."""
    return _search(gray, every=False)[0]


def find_all_digits(gray: np.ndarray) -> list[Found]:
    """As `find_digits`, every digit in the picture, left to right (each one's `count` is how many
    there are). A group that `find_digits` would count as another digit but whose ink falls into
    too many pieces to be one is left out. Raises NoDigitError where `find_digits` would."""
    return _search(gray, every=True)


def _search(gray: np.ndarray, every: bool) -> list[Found]:
    # np.rint(gray * 255) saturated to uint8, in one pass
    gray8 = gray if gray.dtype == np.uint8 else cv2.convertScaleAbs(gray, alpha=255.0)
    h, w = gray8.shape
    size = (w, h) if max(h, w) <= WORK_SIDE else _work_size(w, h)
    work = gray8 if size == (w, h) else cv2.resize(gray8, size, interpolation=cv2.INTER_AREA)
    clean = None if every else _clean(work)
    found = [clean] if clean else _find(work, every=every)
    if size == (w, h):
        return found

    def scaled(found: Found) -> Found:
        return replace(found, box=scale_box(found.box, size, (w, h)), parts=tuple(scaled(part) for part in found.parts))

    return [scaled(item) for item in found]


def _clean(gray8: np.ndarray) -> Found | None:
    """The digit of a clean canvas (a drawing pad's, an app's own drawing, MNIST's digits): paper of
    exactly 0 or exactly 255 all round the frame, and every pixel of another level in one
    8-connected stroke of one tone (within REACH of ink at CORE of its peak: an anti-aliased edge
    is, a grey fill or a faint line is not). There is no light, line or desk to set aside, so the
    digit is all of that ink, as the search would find it, without its cost. None for any other
    picture, and for a stroke the search would treat apart (faint ink, a line across the picture,
    a solid box, a lace of holes): the search decides those (web/src/find.js: clean)."""
    paper = int(gray8[0, 0])
    if paper not in (0, 255):
        return None
    if ((gray8[0] != paper).any() or (gray8[-1] != paper).any() or (gray8[:, 0] != paper).any()
            or (gray8[:, -1] != paper).any()):
        return None
    h, w = gray8.shape
    # NumPy, not OpenCV, for the masks: OpenCV reads an array of up to 4 values as a scalar.
    x, y, bw, bh = cv2.boundingRect((gray8 != paper).view(np.uint8))
    if bw * bh < 2:  # nothing, or one pixel: the search says what that is
        return None
    # Every stroke lies in the ink's box: its outlines are traced there only (OpenCV's contours
    # follow a component 8-connected, as the search's labels do, and list its holes under it).
    box = gray8[y : y + bh, x : x + bw]
    crop = np.ascontiguousarray(box) if paper == 0 else np.subtract(255, box, dtype=np.uint8)
    member = (crop > 0).view(np.uint8)
    if np.count_nonzero(member) < SPARSE * gray8.size:  # a speck the search would call blank (its peak)
        return None
    level = int(crop.max())
    top = np.float32(level) / np.float32(255.0)
    line = (bw >= ACROSS * w and bh <= (1 - ACROSS) * h) or (bh >= ACROSS * h and bw <= (1 - ACROSS) * w)
    if top < MIN_CONTRAST or line:
        return None
    core = cv2.dilate((crop >= CORE * level).view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * REACH + 1,) * 2))
    if np.count_nonzero(member > core):  # ink of another tone, away from the stroke's own
        return None
    contours, hierarchy = cv2.findContours(member, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    outer = [c for c, (_, _, _, parent) in zip(contours, hierarchy[0], strict=True) if parent < 0]
    if len(outer) != 1 or len(contours) > MAX_PIECES:  # one stroke; its holes, pinholes too, count as pieces
        return None
    if min(bw, bh) >= MIN_PANEL_PX:  # a solid box (its holes filled) holds the digit, for the search to find
        filled = cv2.drawContours(np.zeros_like(member), outer, -1, 1, cv2.FILLED)
        if np.count_nonzero(filled) >= PANEL * member.size:
            return None
    # The search's arithmetic: ink as a fraction of full scale, then of the digit's own peak.
    ink = np.divide(crop, np.float32(255.0), dtype=np.float32)
    return Found(np.minimum(ink / top, np.float32(1.0)), (x, y, x + bw, y + bh), 1)


def scale_box(box: tuple[int, int, int, int], seen: tuple[int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A box (left, top, right, bottom) in a picture searched at `seen` (width, height) -> the same
    box in the picture at `size`, rounded outwards and kept inside it."""
    (left, top, right, bottom), (width, height) = box, size
    sx, sy = width / seen[0], height / seen[1]
    return int(left * sx), int(top * sy), min(width, int(np.ceil(right * sx))), min(height, int(np.ceil(bottom * sy)))


def _work_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) scaled so that the longer side is WORK_SIDE (web/src/find.js: workSize)."""
    longer = max(width, height)
    return (max(1, int(np.floor(width * WORK_SIDE / longer + 0.5))),
            max(1, int(np.floor(height * WORK_SIDE / longer + 0.5))))


def _find(gray8: np.ndarray, _depth: int = 0, every: bool = False) -> list[Found]:
    """`find_digits` on uint8 levels at the working size: [the digit with the most ink], or with
    `every`, every digit, left to right. `_depth` below NESTING: how many panels the search is inside,
    where it may look inside a panel again; at NESTING it looks inside none (`_inside_panel`)."""
    gray = gray8
    ink, edges = _ink_and_edges(gray8)
    peak, contrast = _peak(ink), _peak(edges)
    if peak < MIN_CONTRAST or contrast < MIN_EDGE:
        # A small digit on a large page may be less of it than the percentile leaves out (a 30 px
        # digit in a 640x480 scan): its peak is what the brightest few of its pixels reach.
        peak, contrast = _top(ink), _top(edges)
        if peak < MIN_CONTRAST or contrast < MIN_EDGE:
            raise NoDigitError("no digit found (blank or ink-less image)")
    level = float(np.float32(_stroke_level(ink, peak)))
    strong = cv2.compare(ink, level, cv2.CMP_GE)  # 255 where ink >= level
    grains = cv2.connectedComponents(strong, connectivity=8)[0] - 1
    if grains >= max(GRAINS, GRAIN_DENSITY * gray.size):
        raise NoDigitError(NOISE)
    if min(gray.shape) >= MIN_PHOTO_SIDE:  # soft stroke edges, chalk dust
        strong = _hysteresis(strong, ink, WEAK * level)
    strong = _remove_lines(strong, min(gray.shape))
    unjoined = strong
    if min(gray.shape) >= MIN_PHOTO_SIDE:  # chalk and a dry marker break a stroke into grains
        side = _odd(GRAIN_GAP * max(gray.shape))
        strong = cv2.morphologyEx(strong, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side)))
        shadow = _shadow(strong, ink)  # a soft shadow that the strokes run into
        if shadow is not None:
            strong = cv2.bitwise_and(strong, cv2.bitwise_not(shadow))
            unjoined = cv2.bitwise_and(unjoined, strong)
    count, labels = cv2.connectedComponents(strong, connectivity=8)
    if count <= 1:
        raise NoDigitError("no digit found (too little ink)")
    stroke = _flat_nonzero(strong)  # the labelled pixels, in order: the same sums as over the whole picture
    labelled = labels.ravel()[stroke]
    h, w = gray.shape
    ys, xs = np.divmod(stroke, w)
    stats = _stats(labelled, ys, xs, count, strong.shape)
    mass = np.bincount(labelled, weights=ink.ravel()[stroke], minlength=count)[1:]
    spans = stats[1:, 2:4] / np.array([w, h])  # width, height as fractions of the picture
    lines = ((spans >= ACROSS) & (spans[:, ::-1] <= 1 - ACROSS)).any(axis=1)  # a margin, an edge
    # Each component's pixels on the frame, per side (left, right, top, bottom), and in all.
    sides = [np.bincount(side, minlength=count)[1:] for side in (labels[:, 0], labels[:, -1], labels[0], labels[-1])]
    contact = sides[0] + sides[1] + sides[2] + sides[3]
    # A desk all round the page touches the whole frame (a narrow crop of a 1 does too).
    ring = (contact >= RING * 2 * (h + w)) & (min(h, w) >= MIN_PHOTO_SIDE)
    fills = (spans >= FILLS).all(axis=1)
    # A thin sliver along the edge is beyond the page (a desk in a corner), not a digit's stroke.
    length = stats[1:, 2:4].max(axis=1)
    thin = stats[1:, 4] <= SLIVER * max(h, w) * length  # mean thickness: area over length
    thin &= min(h, w) >= MIN_PHOTO_SIDE
    margin = max(1, int(MARGIN * min(h, w)))  # each component's pixels in the band along the frame:
    band = (ys < margin) | (ys >= h - margin) | (xs < margin) | (xs >= w - margin)
    near_edge = np.bincount(labelled[band], minlength=count)[1:]
    hugs = (near_edge >= HUGS * stats[1:, 4]) & (min(h, w) >= MIN_PHOTO_SIDE)  # a desk round the edges
    sliver = (contact >= HUG * length) & thin & (~fills | hugs)
    mass[lines | ring] = 0
    if (mass * ~sliver).any():
        mass[sliver] = 0
    # A soft shadow as dark as the ink (a hand's, a pen's) is a blob whose edges rise over many pixels,
    # where a stroke's rise over a few: a component whose edges take SOFT times as long to rise as the
    # sharpest one's is a shadow, not a stroke. (A blurred digit is soft all over, and stays.)
    considered = mass >= SPECK * mass.max()
    if min(h, w) >= MIN_PHOTO_SIDE and np.count_nonzero(considered) > 1:
        rise = _rise(strong, labels, ink, count)
        mass[considered & (rise > SOFT * rise[considered].min())] = 0
    # A band across the whole picture that lies along a side of the frame is what lies beyond the page or a
    # display's panel (a desk, a bezel), however wide: it does not join the strokes beside it.
    beyond = (((spans[:, 1] >= ACROSS) & (np.maximum(sides[0], sides[1]) >= ACROSS * h))
            | ((spans[:, 0] >= ACROSS) & (np.maximum(sides[2], sides[3]) >= ACROSS * w)))
    beyond &= min(h, w) >= MIN_PHOTO_SIDE
    if (mass * ~beyond).any():
        mass[beyond] = 0
    if not mass.any():
        raise NoDigitError("no digit found (only lines)")
    keep = np.flatnonzero(mass >= SPECK * mass.max())
    boxes, contact = stats[1:, :4][keep], contact[keep]  # x, y, w, h
    # The gap that joins strokes is a share of the largest one's size, where a stroke that runs
    # along the frame (a desk, a shadow) does not count unless every one does.
    inside = np.where(contact < FRAME_CONTACT * min(h, w), mass[keep], 0)
    big = boxes[int(np.argmax(inside if inside.any() else mass[keep]))]
    # A thin band along the frame joins only its own kind: a desk's slanted edge has a large box,
    # which would swallow a digit beside it.
    along = (contact >= FRAME_CONTACT * min(h, w)) & thin[keep] & ~fills[keep]
    # A picture smaller than a photo is one digit's own canvas (an MNIST array, a tight crop):
    # whatever ink is left in it is that digit, broken strokes and all.
    gap = GROUP_GAP * max(int(big[2]), int(big[3])) if min(h, w) >= MIN_PHOTO_SIDE else float(max(h, w))
    groups = _group(boxes, gap, along)
    group_mass = np.array([mass[keep][g].sum() for g in groups])
    extents = np.array([[boxes[g, 0].min(), boxes[g, 1].min(), (boxes[g, 0] + boxes[g, 2]).max(),
                         (boxes[g, 1] + boxes[g, 3]).max()] for g in groups])
    # A group that runs along the frame for FRAME_CONTACT of a side without filling the picture is
    # a desk or a shadow beyond the page. A tightly cropped digit touches the frame too, but it fills
    # the picture both ways. When nothing else is left, what touches the frame is the digit.
    fills = ((extents[:, 2] - extents[:, 0]) >= FILLS * w) & ((extents[:, 3] - extents[:, 1]) >= FILLS * h)
    touching = np.array([contact[g].sum() for g in groups]) >= FRAME_CONTACT * min(h, w)
    # ...and one that fills it only by running round its edges (a desk on three sides) hugs them.
    near_edge, area = near_edge[keep], stats[1:, 4][keep]
    hugging = np.array([near_edge[g].sum() >= HUGS * area[g].sum() for g in groups]) & (min(h, w) >= MIN_PHOTO_SIDE)
    frame = touching & (~fills | hugging)
    if (group_mass * ~frame).any():
        group_mass = group_mass * ~frame
    # A digit inside the picture, with INSIDE_SHARE of the ink of what runs along the frame, is the
    # digit: the rest is a desk, a shadow or the page's edge, even where it wraps round the picture.
    inner = np.where(touching, 0, group_mass)
    if inner.any() and inner.max() >= INSIDE_SHARE * group_mass.max():
        group_mass = inner
    order = np.argsort(-group_mass, kind="stable")
    others = [int(i) for i in order[1:] if group_mass[i] >= OTHER_DIGIT * group_mass[order[0]]]

    def digit(group: np.ndarray, count: int) -> list[Found]:
        """The group's digit (or, in a panel, the digits inside it), cropped; NoDigitError(NOISE) for a
        group whose ink falls into too many pieces to be a digit."""
        x0, y0 = int(boxes[group, 0].min()), int(boxes[group, 1].min())
        x1, y1 = int((boxes[group, 0] + boxes[group, 2]).max()), int((boxes[group, 1] + boxes[group, 3]).max())
        chosen = np.zeros(len(mass) + 1, bool)
        chosen[keep[group] + 1] = True
        member = chosen[labels[y0:y1, x0:x1]]  # the group lies in its box
        # A solid box is not a digit but what holds one: a display's panel, a label. Look inside it.
        held = _panel(member, ink, (x0, y0, x1, y1)) if _depth < NESTING and min(x1 - x0, y1 - y0) >= MIN_PANEL_PX else None
        if held is not None:
            panel, (px0, py0, px1, py1) = held
            # Searched as it is, a panel askew in its box, or one whose edge or rim the search takes for the
            # digit, is searched again with what lies outside it (a desk in the box's corners) in the tone
            # of its edge (the median level there), as if it filled its box.
            box_gray = np.ascontiguousarray(gray[py0:py1, px0:px1])
            turned = cv2.countNonZero(panel) < PANEL * panel.size
            inside = [] if turned else _inside_panel(box_gray, every)
            if turned or any(_edge(item.box, panel.shape) for item in inside):
                inner = cv2.erode(panel, _CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0)
                tone = _percentile(np.bincount(box_gray[panel > inner], minlength=256), 50)  # the edge's lower median
                inside = _inside_panel(np.where(panel > 0, box_gray, tone).astype(np.uint8), every, _depth + 1)
            # What is still the panel's edge or rim, or a plain blob, its empty middle: the group is the digit.
            inside = [item for item in inside if not (_edge(item.box, panel.shape) or _middle(item, panel.shape))]
            if inside:
                return [_moved(found, px0, py0) for found in inside]
        if _pieces(strong[y0:y1, x0:x1], member) > MAX_PIECES:
            raise NoDigitError(NOISE)
        box = (x0, y0, x1, y1)
        # The group's own strokes, with the soft ink around them, and nothing of any other group.
        nx0, ny0 = max(x0 - REACH, 0), max(y0 - REACH, 0)
        nx1, ny1 = min(x1 + REACH, ink.shape[1]), min(y1 + REACH, ink.shape[0])
        around = np.zeros((ny1 - ny0, nx1 - nx0), np.uint8)  # the box and REACH around it
        around[y0 - ny0 : y1 - ny0, x0 - nx0 : x1 - nx0] = member
        near = cv2.dilate(around, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * REACH + 1,) * 2))
        crop = ink[ny0:ny1, nx0:nx1] * near
        # Where the closing joined grains (chalk, a dry marker), the gaps between them are stroke too:
        # they get the grains' typical ink, so that the digit reads as drawn, not as a texture.
        joined = member & (unjoined[y0:y1, x0:x1] == 0)
        kept = (member & ~joined).astype(np.uint8)
        if joined.any() and cv2.connectedComponents(kept, connectivity=8)[0] - 1 >= GRAINY:
            typical = np.median(ink[y0:y1, x0:x1][kept > 0])
            inner = crop[y0 - ny0 : y1 - ny0, x0 - nx0 : x1 - nx0]
            np.maximum(inner, np.where(joined, typical, np.float32(0)), out=inner)
        local = float(crop.max())
        crop = np.minimum(crop / np.float32(local), np.float32(1.0)) if local > 0 else crop
        return [Found(crop.astype(np.float32), box, count)]

    weight = mass[keep]

    def split(index: int, count: int) -> list[Found]:
        """The group's digit, whole; where its tall columns hold nearly all its ink (typed or written
        close together, a number's digits fall into one group), with those columns as its `parts`:
        several digits, or one digit of separate strokes (a 4 whose bar stops short of its stem),
        which the model's answers decide (`Classifier.predict` and `read`). With `every`, a group
        whose ink is noise gives [] (or its parts), where `find_digits` raises NoDigitError(NOISE)."""
        group = groups[index]
        height = float(extents[index, 3] - extents[index, 1])
        columns = _columns(boxes[group])
        tops = [boxes[group[c], 1].min() for c in columns]
        bottoms = [(boxes[group[c], 1] + boxes[group[c], 3]).max() for c in columns]
        tall = [c for c, top, bottom in zip(columns, tops, bottoms, strict=True) if bottom - top >= DIGIT_HEIGHT * height]
        splits = len(tall) > 1 and sum(weight[group[c]].sum() for c in tall) >= NUMBER_INK * weight[group].sum()
        try:
            whole = digit(group, count)
        except NoDigitError:
            if not (every or splits):
                raise
            whole = []  # a group whose ink is noise is left out, not the picture refused
        parts = []
        for column in tall if splits else []:
            try:
                parts += digit(group[column], count)
            except NoDigitError:
                pass
        if len(whole) == 1 and len(parts) > 1:
            return [Found(whole[0].ink, whole[0].box, count, tuple(_reading_order(parts)), len(columns) - len(tall))]
        if not (every or whole):
            # Too many pieces for one digit, but standing in columns that are digits (a long number
            # typed on one line): the digit with the most ink, as for digits standing apart.
            if len(parts) < 2:
                raise NoDigitError(NOISE)
            heaviest = max(parts, key=lambda part: float(part.ink.sum()))
            return [Found(heaviest.ink, heaviest.box, count - 1 + len(parts))]
        return whole or parts

    if not every:
        return split(int(order[0]), 1 + len(others))[:1]
    # Every digit: the groups counted as digits, as for `count`. Typed or written close together, a
    # number's digits fall into one group (within GROUP_GAP); its strokes then stand in columns side
    # by side, each as tall as the group. A group whose tall columns hold nearly all its ink may be
    # those digits (a minus sign, a decimal point or a colon between them left out), or one digit
    # of separate strokes (a 4 whose bar stops short of its stem): it comes back whole, with the
    # columns as its `parts`, and the model's answers decide (`Classifier.read`).
    digits = []
    first = float(extents[order[0], 3] - extents[order[0], 1])  # the group with the most ink
    heights = extents[:, 3] - extents[:, 1]
    # As tall as the digit with the most ink, with THIN_DIGIT of its ink, on its line and next to
    # the digits (within its height): a 1 beside them.
    x0, y0, x1, y1 = (float(v) for v in extents[order[0]])
    for i in others:
        x0, x1 = min(x0, float(extents[i, 0])), max(x1, float(extents[i, 2]))
    thin_ones = [int(i) for i in order[1:] if i not in others and group_mass[i] >= THIN_DIGIT * group_mass[order[0]]
                 and min(y1, extents[i, 3]) - max(y0, extents[i, 1]) >= 0.5 * heights[i]
                 and max(x0 - extents[i, 2], extents[i, 0] - x1) <= first]
    used = set()
    for index in (int(order[0]), *others, *thin_ones):
        if heights[index] < DIGIT_HEIGHT * first:  # a sign or a point apart from the digits (a 1 is not)
            continue
        used.add(index)
        digits += split(index, 1)
    if not digits:
        raise NoDigitError(NOISE)
    # The marks left out beside the digits: shorter than a digit, their middle between the digits' tops
    # and bottoms, and within a digit's height of them (a decimal point, a minus, a colon).
    left, right = min(item.box[0] for item in digits) - first, max(item.box[2] for item in digits) + first
    top, bottom = min(item.box[1] for item in digits), max(item.box[3] for item in digits)
    middles = (extents[:, :2] + extents[:, 2:]) / 2
    beside = sum(1 for i in range(len(groups)) if i not in used and group_mass[i] > 0 and heights[i] < DIGIT_HEIGHT * first
                 and left < middles[i, 0] < right and top <= middles[i, 1] <= bottom)
    return [Found(item.ink, item.box, len(digits), item.parts, item.marks, beside) for item in _reading_order(digits)]


def _hysteresis(strong: np.ndarray, ink: np.ndarray, low: float, side: int | None = None) -> np.ndarray:
    """The stroke mask grown into the weaker ink (at least `low`) that it touches, as far as
    WEAK_REACH from it. Chalk leaves a lace of strong grains with fainter dust between them, and a
    stroke's soft edges fall under the stroke level: joined, the lace's holes close. A shadow beside
    the digit, which unlimited growth would follow, is cut off near the stroke."""
    side = _odd(WEAK_REACH * max(strong.shape)) if side is None else side  # (a crop keeps the picture's)
    # Nothing grows beyond side // 2 of the strokes' box: the work stays inside it.
    left, top, width, height = cv2.boundingRect(strong)
    x0, y0 = max(left - side // 2, 0), max(top - side // 2, 0)
    x1, y1 = min(left + width + side // 2, strong.shape[1]), min(top + height + side // 2, strong.shape[0])
    if (x0, y0, x1, y1) != (0, 0, strong.shape[1], strong.shape[0]):
        grown = np.zeros_like(strong)
        grown[y0:y1, x0:x1] = _hysteresis(strong[y0:y1, x0:x1], ink[y0:y1, x0:x1], low, side)
        return grown
    near = cv2.dilate(strong, cv2.getStructuringElement(cv2.MORPH_RECT, (side, side)))
    weak = cv2.bitwise_and(cv2.compare(ink, float(np.float32(low)), cv2.CMP_GE), near)
    count, labels = cv2.connectedComponents(weak, connectivity=8)
    grown = np.zeros(count, np.uint8)  # 255 for the components of `weak` that hold a stroke pixel
    if count <= 256:  # the common case, in OpenCV's passes over uint8 labels
        labels8 = cv2.convertScaleAbs(labels)
        held = cv2.calcHist([labels8], [0], strong, [256], [0, 256]).ravel()[:count]
        grown[held > 0] = 255
        grown[0] = 0
        return cv2.LUT(labels8, np.pad(grown, (0, 256 - count)))
    grown[labels.ravel()[_flat_nonzero(strong)]] = 255
    grown[0] = 0
    return grown[labels]


def _slope(ink: np.ndarray) -> np.ndarray:
    """float32 ink -> the magnitude of its Sobel 3x3 gradient per pixel: 8 times the ink's rise per
    pixel (the kernel sums to 8), which `_rise` and `_shadow` divide out (web/src/find.js: slopeOf)."""
    return cv2.magnitude(cv2.Sobel(ink, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(ink, cv2.CV_32F, 0, 1, ksize=3))


def _rise(strong: np.ndarray, labels: np.ndarray, ink: np.ndarray, count: int) -> np.ndarray:
    """Per component, how many pixels its edge takes to rise to its ink: over its boundary pixels, the
    sum of their ink over the sum of the ink's slope there (Sobel's 3x3 gradient, per pixel)."""
    edge = _flat_nonzero(cv2.subtract(strong, cv2.erode(strong, _SQUARE)))
    slope = _slope(ink)
    at = labels.ravel()[edge]
    level = np.bincount(at, weights=ink.ravel()[edge], minlength=count)[1:]
    steep = np.bincount(at, weights=slope.ravel()[edge], minlength=count)[1:] / 8  # Sobel's kernel sums to 8
    return level / np.maximum(steep, 1e-9)


def _shadow(strong: np.ndarray, ink: np.ndarray) -> np.ndarray | None:
    """The part of the stroke mask that is a soft shadow run into by the strokes (0/255), or None.
    Each pixel of the mask belongs to the nearest point of its outline; where that outline rises
    SOFT times as slowly as the sharp outlines do, the pixel is shadow, unless it stands out
    against the shadow as a stroke does against the paper (a stroke drawn across the shadow)."""
    left, top, width, height = cv2.boundingRect(strong)
    if width < 3 or height < 3:
        return None
    x0, y0 = max(left - 1, 0), max(top - 1, 0)
    x1, y1 = min(left + width + 1, strong.shape[1]), min(top + height + 1, strong.shape[0])
    mask, up = strong[y0:y1, x0:x1], ink[y0:y1, x0:x1]
    inner = cv2.erode(mask, _SQUARE)
    edge = cv2.subtract(mask, inner)
    points = _flat_nonzero(edge)
    if len(points) < MIN_SHADOW_EDGE:
        return None
    slope = _slope(up)
    rise = up.ravel()[points] / np.maximum(slope.ravel()[points] / 8, np.float32(1e-6))
    sharp = int(SHARP_EDGES / 100 * (len(rise) - 1))
    soft = rise > SOFT * float(np.partition(rise, sharp)[sharp])
    if np.count_nonzero(soft) < SHADOW_EDGE * len(points):
        return None
    # The outline's soft share around each of its pixels decides, not one pixel's noise.
    marks = np.zeros(mask.size, np.float32)
    marks[points[soft]] = 1
    window = (SHADOW_WINDOW, SHADOW_WINDOW)
    share = cv2.blur(marks.reshape(mask.shape), window) / np.maximum(cv2.blur((edge > 0).astype(np.float32), window), 1e-6)
    soft_edge = (edge > 0) & (share > 0.5)
    if not soft_edge.any():
        return None
    _, nearest = cv2.distanceTransformWithLabels(inner, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    is_soft = np.zeros(int(nearest.max()) + 1, bool)
    is_soft[nearest[soft_edge]] = True
    region = is_soft[nearest] & (mask > 0)
    kept = (mask > 0) & ~region
    if not kept.any():
        return None  # soft all round: a blurred digit, which stays
    # A stroke across the shadow: it stands out against the shadow round it (a top-hat a few strokes wide).
    stroke = 4 * float(cv2.distanceTransform(kept.view(np.uint8), cv2.DIST_L2, 5)[kept].mean(dtype=np.float64))
    side = _odd(STROKES_WIDE * max(stroke, 1.0))
    hat = cv2.morphologyEx(up, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side)))
    region &= hat < ACROSS_SHADOW * float(np.median(hat[kept]))
    # A shadow is a blob: soft specks in a chalk stroke's lace are not one.
    count, labels, stats, _ = cv2.connectedComponentsWithStats(region.view(np.uint8), connectivity=8)
    blobs = stats[:, cv2.CC_STAT_AREA] >= SHADOW_AREA * np.count_nonzero(mask)
    blobs[0] = False
    if not blobs.any():
        return None
    shadow = np.zeros_like(strong)
    shadow[y0:y1, x0:x1] = blobs[labels].view(np.uint8) * 255
    return shadow


def _flat_nonzero(mask: np.ndarray) -> np.ndarray:
    """np.flatnonzero of a uint8 mask, in row-major order, from OpenCV's faster scan."""
    points = cv2.findNonZero(mask)
    if points is None:
        return np.zeros(0, np.intp)
    points = points.reshape(-1, 2).astype(np.intp)
    return points[:, 1] * mask.shape[1] + points[:, 0]


def _stats(labels: np.ndarray, ys: np.ndarray, xs: np.ndarray, count: int, shape: tuple[int, int]) -> np.ndarray:
    """connectedComponentsWithStats' stats (x, y, width, height, area per label) from the labelled
    pixels alone: their labels, rows and columns. Strokes are a small share of a picture, and
    OpenCV's stats pass reads every pixel, which costs more than the labelling itself."""
    h, w = shape
    left, top = np.full(count, w, np.intp), np.full(count, h, np.intp)
    right, bottom = np.full(count, -1, np.intp), np.full(count, -1, np.intp)
    np.minimum.at(left, labels, xs)
    np.minimum.at(top, labels, ys)
    np.maximum.at(right, labels, xs)
    np.maximum.at(bottom, labels, ys)
    return np.stack([left, top, right - left + 1, bottom - top + 1, np.bincount(labels, minlength=count)], axis=1)


def _columns(boxes: np.ndarray) -> list[np.ndarray]:
    """Indices of stroke boxes (x, y, w, h) grouped into digits: transitively, strokes that overlap
    side by side by COLUMN_OVERLAP of the narrower one and lie within LINE_GAP of the tallest
    one's height above or below each other. Digits written close together, whose boxes overlap
    a little, stay apart; the strokes of one digit lie over each other."""
    tall = float(boxes[:, 3].max()) if len(boxes) else 0.0

    def joined(i: int, j: int) -> bool:
        overlap = min(boxes[i, 0] + boxes[i, 2], boxes[j, 0] + boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
        return overlap >= COLUMN_OVERLAP * min(boxes[i, 2], boxes[j, 2]) and _apart(boxes, i, j, 1) <= LINE_GAP * tall

    return _unions(len(boxes), joined)


def _moved(found: Found, dx: int, dy: int) -> Found:
    """The same digit (and its parts) with its box moved by (dx, dy)."""
    left, top, right, bottom = found.box
    return replace(found, box=(left + dx, top + dy, right + dx, bottom + dy), parts=tuple(_moved(part, dx, dy) for part in found.parts))


def _reading_order(found: list[Found]) -> list[Found]:
    """Digits in reading order: lines from top to bottom (a digit whose middle lies within a line's
    height belongs to it), each line left to right."""
    lines: list[list[Found]] = []
    for item in sorted(found, key=lambda item: item.box[1]):
        middle = (item.box[1] + item.box[3]) / 2
        for line in lines:
            if min(other.box[1] for other in line) <= middle <= max(other.box[3] for other in line):
                line.append(item)
                break
        else:
            lines.append([item])
    return [item for line in lines for item in sorted(line, key=lambda item: item.box[0])]


def _group(boxes: np.ndarray, gap: float, kind: np.ndarray) -> list[np.ndarray]:
    """Indices of boxes (x, y, w, h) grouped transitively when they come within `gap` of each
    other and are of the same `kind`."""
    return _unions(len(boxes), lambda i, j: max(_apart(boxes, i, j, 0), _apart(boxes, i, j, 1)) <= gap
                   and kind[i] == kind[j])


def _apart(boxes: np.ndarray, i: int, j: int, axis: int) -> int:
    """The gap between boxes i and j (x, y, w, h) along an axis (0: x, 1: y); 0 where they overlap."""
    return max(boxes[j, axis] - (boxes[i, axis] + boxes[i, axis + 2]), boxes[i, axis] - (boxes[j, axis] + boxes[j, axis + 2]), 0)


def _unions(n: int, joined) -> list[np.ndarray]:
    """The items 0..n-1 grouped transitively by `joined(i, j)` (i < j; union-find), each group in
    index order, the groups in the order of their first items."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if joined(i, j):
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return [np.array(g) for g in groups.values()]


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
_SQUARE = np.ones((3, 3), np.uint8)


def _filled(member: np.ndarray) -> np.ndarray:
    """The group's mask (bool, in its box) with its holes filled, as uint8 0/1."""
    framed = cv2.copyMakeBorder((~member).astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)
    _, labels = cv2.connectedComponents(framed, connectivity=4)
    return (labels[1:-1, 1:-1] != labels[0, 0]).view(np.uint8)


def _panel(member: np.ndarray, ink: np.ndarray, box: tuple[int, int, int, int]):
    """(the panel's mask, uint8 0/1 in its box; that box) where the group (`member`, in its `box`) is
    a solid box that holds the digit, not a digit; else None. The panel is the ink above Otsu's level
    in a window round the group (its box and as much again each way) that touches the group, its
    holes filled, where it covers PANEL of its box or PANEL_TURNED of the smallest rectangle at any
    angle round it: a card askew on a desk. A digit's strokes leave far more of either empty. A group
    that covers PANEL of its own box, its holes filled, is the panel, unless the panel round it
    outgrows it by PANEL_GROWTH of its size: then it is only a part of one (a card's lit side, where
    the strokes' level, Otsu's over the whole picture, splits the card's own light in two)."""
    x0, y0, x1, y1 = box
    own = _filled(member)
    area = cv2.countNonZero(own)
    if area < PANEL * member.size and (area < HALF * member.size or not _turned_solid(member, ink[y0:y1, x0:x1])):
        return None  # not nearly a panel even in its own box: a digit (the window's search costs more)
    wx0, wy0 = max(2 * x0 - x1, 0), max(2 * y0 - y1, 0)
    wx1, wy1 = min(2 * x1 - x0, ink.shape[1]), min(2 * y1 - y0, ink.shape[0])
    above = _above_otsu(ink[wy0:wy1, wx0:wx1])
    inner = above[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0]
    inner[member] = 1
    _, labels = cv2.connectedComponents(above, connectivity=8)
    touched = np.zeros(labels.max() + 1, bool)
    touched[labels[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0][member]] = True
    region = touched[labels].view(np.uint8)
    left, top, width, height = cv2.boundingRect(region)
    filled = _filled(region[top : top + height, left : left + width] > 0)
    solid = cv2.countNonZero(filled) >= PANEL * filled.size or _turned_fill(filled) >= PANEL_TURNED
    wide = (wx0 + left, wy0 + top, wx0 + left + width, wy0 + top + height)
    if area >= PANEL * member.size:  # the group alone is a solid box...
        # ...which is the panel, unless it is only part of one (a card's lit side)
        grown = max(x0 - wide[0], y0 - wide[1], wide[2] - x1, wide[3] - y1) / max(x1 - x0, y1 - y0)
        return (filled, wide) if solid and grown > PANEL_GROWTH else (own, box)
    return (filled, wide) if solid else None


def _turned_fill(filled: np.ndarray) -> float:
    """The share of the smallest rectangle at any angle round a mask's pixels that they cover (the
    rectangle runs through the pixels' centres: a pixel more each way holds them whole). The
    rectangle is that of the mask's outlines: their hull is the pixels' hull, at a fraction of the points."""
    contours, _ = cv2.findContours(filled, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    (_, _), (width, height), _ = cv2.minAreaRect(np.concatenate(contours))
    return cv2.countNonZero(filled) / ((width + 1) * (height + 1))


def _turned_solid(member: np.ndarray, ink: np.ndarray) -> bool:
    """Whether the group with the ink above Otsu's level in its box, holes filled, covers NEAR_PANEL
    of the smallest rectangle at any angle round it."""
    return _turned_fill(_filled(member | (_above_otsu(ink) > 0))) >= NEAR_PANEL


def _above_otsu(ink: np.ndarray) -> np.ndarray:
    """uint8 0/1: the float ink (in [0, 1], saturated above) at or above Otsu's level over it, in 8-bit steps."""
    return cv2.threshold(cv2.convertScaleAbs(ink, alpha=255.0), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]


def _inside_panel(gray: np.ndarray, every: bool, depth: int = NESTING) -> list[Found]:
    """The search inside a panel: what it finds there, or [] for a plain panel. Only the search of a
    panel whose outside took its edge's tone (`depth` below NESTING) looks for a panel again: a
    display's bezel, searched so, holds its glass, which holds the digit."""
    try:
        return _find(gray, depth, every=every)
    except NoDigitError:
        return []  # a plain box: the box itself is what there is (a thick 1, cropped tight)


def _edge(box: tuple[int, int, int, int], shape: tuple[int, int]) -> bool:
    """Whether a box found inside a panel (of `shape`) is the panel's own edge (`_spans`) or its rim (`_rim`)."""
    return _spans(box, shape) or _rim(box, shape)


def _rim(box: tuple[int, int, int, int], shape: tuple[int, int]) -> bool:
    """Whether a box found inside a panel is a band along one of its sides: touching that side, over
    half as long as it, and no deeper than 1 - ACROSS of the panel (a display's rim, a card's edge in
    the light). A digit's strokes stand away from the side, or run across the panel from it."""
    (x0, y0, x1, y1), (h, w) = box, shape
    along_x = x1 - x0 >= w / 2 and y1 - y0 <= (1 - ACROSS) * h and (y0 == 0 or y1 == h)
    along_y = y1 - y0 >= h / 2 and x1 - x0 <= (1 - ACROSS) * w and (x0 == 0 or x1 == w)
    return along_x or along_y


def _spans(box: tuple[int, int, int, int], shape: tuple[int, int]) -> bool:
    """Whether a box found inside a panel spans ACROSS of it both ways: the panel's own edge."""
    return box[2] - box[0] >= ACROSS * shape[1] and box[3] - box[1] >= ACROSS * shape[0]


def _middle(found: Found, shape: tuple[int, int]) -> bool:
    """Whether what the search inside a panel (of `shape`) found is the panel's empty middle, not a
    digit it holds: a plain blob, its ink (at half its peak) filling PANEL_TURNED of its convex hull,
    with less of the panel round it, on every side, than it is wide. That is the dark inside of a
    seven-segment 0 lit all round; a digit's strokes leave much of their hull empty, and a 1 on a
    card has far more card round it than its width."""
    points = cv2.findNonZero((found.ink >= np.float32(0.5)).view(np.uint8))
    if points is None:
        return False
    (_, _), (width, height), _ = cv2.minAreaRect(points)
    hull = cv2.convexHull(points)
    area = cv2.contourArea(hull) + cv2.arcLength(hull, True) / 2 + 1  # its pixels (Pick: the hull runs through their centres)
    x0, y0, x1, y1 = found.box
    margin = min(x0, y0, shape[1] - x1, shape[0] - y1)
    return len(points) >= PANEL_TURNED * area and margin < min(width, height)


def _pieces(strong: np.ndarray, member: np.ndarray) -> int:
    """Components of the group's strokes plus the holes inside them, each of at least PIECE of the
    group's box (chalk and a felt pen leave pinholes in a stroke)."""
    mask = (member & (strong > 0)).astype(np.uint8)
    least = max(MIN_PIECE_PX, PIECE * mask.size)
    parts = _areas(mask, 8)
    holes = _areas(cv2.copyMakeBorder(1 - mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1), 4)
    return int((parts[1:] >= least).sum()) + int((holes[2:] >= least).sum())


def _areas(mask: np.ndarray, connectivity: int) -> np.ndarray:
    """Pixels per connected component of a 0/1 mask (label 0 first): connectedComponentsWithStats'
    areas, from the labels (its stats pass over every pixel costs more than a count)."""
    count, labels = cv2.connectedComponents(mask, connectivity=connectivity)
    if count <= 256:  # the common case: OpenCV's histogram of the labels as uint8 (exact below 2**24 px)
        return cv2.calcHist([cv2.convertScaleAbs(labels)], [0], None, [256], [0, 256]).ravel()[:count].astype(np.intp)
    return np.bincount(labels.ravel(), minlength=count)
