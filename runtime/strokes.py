"""Bring a digit's strokes closer to MNIST's pen: restore faded hair lines, fill hollow (outline) glyphs.

MNIST was written with a pen about 2 to 3 px wide in the 20 px box. Two kinds of picture
are far from that:
- outline fonts draw each stroke as two thin contours with paper between them; the model
  sees a double-lined shape it never trained on. `fill_outline` paints the paper inside the
  contours, giving the solid glyph;
- a hair-line pen, much thinner than the picture's scale: shrinking it to the 20 px box averages
  it with the paper beside it, and it arrives as a faint ghost; `restore_contrast` brings its
  peak back to full ink. (Widening thin strokes as well was tried: it changed no answer on the
  real-world set, and it turned random noise into a confident blob.)

Both are decided on the 20 px digit so that MNIST's own digits pass through unchanged (the
MNIST-as-PNG test checks this). The loops of 0, 6, 8 and 9 are holes too; an outline's
interior differs in being a long thin band that borders nearly all of the ink, which is
what the thresholds below test. web/src/strokes.js is the same code for the browser.
"""

from __future__ import annotations

import numpy as np

WALL = 0.25  # ink at this level closes a contour
INK = 0.5  # ink at this level counts as stroke, for width and area
MAX_ROUNDNESS = 0.35  # 4*pi*area/perimeter^2 of an interior: below is a band, above a loop
MIN_BORDERED = 0.7  # share of the ink that an outline's interior must touch
MIN_INTERIOR = 0.5  # interior area against ink area
MAX_OUTLINE_WIDTH = 1.0  # an outline's contours are hair lines (stroke_width, px)
GHOST = 0.5  # a 20 px digit whose brightest pixel is below this has faded in the shrinking


def restore_contrast(digit: np.ndarray) -> np.ndarray:
    """Scale a 20 px digit that faded in the shrinking back to full ink.

    Shrinking a picture with a pen much thinner than its scale averages each stroke with the
    paper beside it: a 1 px line on a 200 px canvas arrives as a ghost at a tenth of full ink.
    """
    peak = float(digit.max())
    return digit / np.float32(peak) if 0 < peak < GHOST else digit


def stroke_width(digit: np.ndarray) -> float:
    """Mean stroke width in pixels, estimated as 2 * area / perimeter of the ink mask."""
    mask = digit >= INK
    return 2 * float(mask.sum()) / max(_perimeter(mask), 1)


def _perimeter(mask: np.ndarray) -> int:
    """Edges between the mask and the rest, the frame counting as outside."""
    inner = np.count_nonzero(mask[:, 1:] != mask[:, :-1]) + np.count_nonzero(mask[1:] != mask[:-1])
    frame = (np.count_nonzero(mask[0]) + np.count_nonzero(mask[-1]) + np.count_nonzero(mask[:, 0])
             + np.count_nonzero(mask[:, -1]))  # (np.pad costs more than the whole count)
    return int(inner + frame)


def _grow4(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def _flood(seed: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Every pixel of `allowed` 4-connected to `seed`."""
    reach = seed & allowed
    while True:
        grown = _grow4(reach) & allowed
        if np.array_equal(grown, reach):
            return reach
        reach = grown


def _pool3(x: np.ndarray, reduce_max: bool) -> np.ndarray:
    """3x3 max (dilation) or min (erosion), the outside reading as 0."""
    padded = np.pad(x, 1)
    h, w = x.shape
    stack = np.stack([padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)])
    return stack.max(axis=0) if reduce_max else stack.min(axis=0)


def _band_interiors(wall: np.ndarray) -> np.ndarray:
    """Holes in the ink (not reachable from the frame) that are thin, elongated bands."""
    frame = np.zeros_like(wall)
    frame[0] = frame[-1] = True
    frame[:, 0] = frame[:, -1] = True
    holes = ~wall & ~_flood(frame, ~wall)
    bands = np.zeros_like(holes)
    while holes.any():
        seed = np.zeros_like(holes)
        seed.flat[int(np.flatnonzero(holes)[0])] = True
        part = _flood(seed, holes)
        holes &= ~part
        thin = not _pool3(_pool3(part, False), False).any()  # nothing survives two erosions
        roundness = 4 * np.pi * float(part.sum()) / _perimeter(part) ** 2
        if thin and roundness < MAX_ROUNDNESS:
            bands |= part
    return bands


def fill_outline(digit: np.ndarray) -> np.ndarray:
    """The solid glyph if `digit` (float, [0, 1]) is an outline; otherwise `digit` itself."""
    ink = digit >= INK
    if stroke_width(digit) >= MAX_OUTLINE_WIDTH or not ink.any():
        return digit
    bands = _band_interiors(digit >= WALL)
    bordered = float((ink & _pool3(bands, True)).sum()) / float(ink.sum())
    if bands.sum() < MIN_INTERIOR * ink.sum() or bordered < MIN_BORDERED:
        return digit
    return np.where(bands, np.float32(1.0), digit).astype(np.float32)
