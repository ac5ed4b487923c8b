"""Make the held-out non-digit set: pictures that are not digits, for measuring "no digit" answers.

    python -m tools.make_nondigits                     # writes realworld/heldout_nondigits/
    python -m tools.make_nondigits --out DIR --count N --force

The classifier should answer "no digit" for every picture here; the share it does is its held-out
non-digit rejection. Nothing trains on the set, and it is made independently of the training
generator of negatives (pipeline/negatives.py): it holds only letters, symbols and fonts chosen
to be fair to a model trained on that generator's:
- letters (40%): only "prtuvwxy" and "PRTUVWXY". The other letters are training's (a-n among
  them) or left out everywhere because they look like digits: o l i g s z b q and their capitals
  (0 1 1 9 5 2 6 9);
- symbols (20%): only "%@=÷±×∞™♪¤", each in the fonts that have it (a glyph that renders empty
  or as the font's .notdef box, the picture of an unassigned code point, is skipped);
- shapes (20%), drawn with Pillow, filled or outlined with a varied pen: hexagon, octagon,
  triangle pointing down, crescent, lightning bolt, smiley face, cloud, hourglass, house,
  double-headed arrow (within 40 degrees of level), star of David, five-pointed star, heart,
  crossed-out box. Never a circle, ellipse or ring (a 0; a hexagon or octagon under 40 px is
  filled, not outlined), a single straight line (a 1), a spiral or anything else read as a digit;
- scribbles (20%), with a round pen: tangles of 3-5 random strokes (at least five diagonals of
  their box long, so that none passes for a character), zigzag hatching (8-16 strokes), dense
  crossed-out blobs, chains of 4-8 loops; one whose ink covers under 3% or over 60% of its box
  is drawn again.
Letters and symbols use only the TrueType faces under /usr/share/fonts/truetype/dejavu and
/usr/share/fonts/truetype/liberation (Debian's fonts-dejavu-core and fonts-liberation), less
DejaVuMathTeXGyre.ttf.

Each picture is drawn large, rotated up to +-15 degrees and scaled down (Lanczos) to 40-85% of the
height of a 28-200 px canvas (not always square), off-centre, in either polarity, sometimes with
coloured ink and paper (saved RGB, else greyscale), a slight blur or Gaussian grain; 30% are JPEG
(quality 70-95), the rest PNG. Layout: OUT/<kind>/NNNN.png|jpg (one running index over all
kinds) and OUT/manifest.csv (file,kind,content,font). One numpy Generator with a fixed seed draws
everything, in picture order: the same command makes byte-identical files, and a smaller --count
makes the first pictures of a larger one (`tests/pipeline/test_nondigits.py` re-makes a few).
The set is written to a hidden sibling folder and renamed into place when complete.
"""

from __future__ import annotations

import argparse
import csv
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from tools.figures import tool_parser

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "realworld" / "heldout_nondigits"
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
SKIP_FONTS = {"DejaVuMathTeXGyre.ttf"}
SEED = 20261204
COUNT = 400

LETTERS = "prtuvwxyPRTUVWXY"
SYMBOLS = "%@=÷±×∞™♪¤"
DIGIT_TWINS = "olgiszbqOLGISZBQ0123456789"  # never in LETTERS or SYMBOLS
TRAINING_LETTERS = "abcdefghijklmnABCDEFGHIJKLMN"  # pipeline/negatives.py's: never here
SHAPES = ("hexagon", "octagon", "triangle_down", "crescent", "lightning", "smiley", "cloud", "hourglass", "house",
          "double_arrow", "star_of_david", "star", "heart", "crossed_box")
SCRIBBLES = ("tangle", "zigzag", "crossout", "loops")
KINDS = ("letter", "symbol", "shape", "scribble")
# The kind of picture i is CYCLE[i % 10]: 4 letters, 2 symbols, 2 shapes, 2 scribbles in every ten.
CYCLE = ("letter", "symbol", "letter", "shape", "scribble", "letter", "symbol", "letter", "shape", "scribble")

FONT_PX = 300  # letters and symbols are rendered this large
DRAW_PX = 480  # shapes and scribbles: the unit box is this many px
MIN_INK, MAX_INK = 0.03, 0.60  # a scribble's ink share of its box
PEN_PX = 1.3  # the thinnest pen of a shape or scribble, px once shown
NOTDEF = "\uffff"  # an unassigned code point: every font draws it as its .notdef glyph


@dataclass(frozen=True)
class Style:
    width: int  # canvas, px
    height: int
    fraction: float  # ink height / canvas height
    rotation: float  # degrees
    ink: tuple[int, int, int]
    paper: tuple[int, int, int]
    blur: float  # Gaussian radius, px (0: none)
    grain: float  # Gaussian noise sigma, grey levels (0: none)
    quality: int  # JPEG quality (0: PNG)

    @property
    def grey(self) -> bool:
        return len(set(self.ink)) == 1 and len(set(self.paper)) == 1


@dataclass(frozen=True)
class Row:
    file: str  # relative to the set's folder
    kind: str
    content: str
    font: str


# ---------------------------------------------------------------- fonts


def fonts() -> list[Path]:
    return sorted(p for d in FONT_DIRS if d.is_dir() for p in d.glob("*.ttf") if p.name not in SKIP_FONTS)


@lru_cache(maxsize=None)
def _face(font: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font), size=size, layout_engine=ImageFont.Layout.BASIC)


def _glyph(text: str, font: Path, size: int, stroke: int = 0) -> Image.Image:
    """`text` as a white-on-black mask cut to its ink (an empty 1x1 mask if there is none)."""
    face = _face(font, size)
    left, top, right, bottom = face.getbbox(text, stroke_width=stroke)
    pad = 4 + stroke
    mask = Image.new("L", (max(1, right - left + 2 * pad), max(1, bottom - top + 2 * pad)), 0)
    draw = ImageDraw.Draw(mask)
    if stroke:  # hollow: the outline of the glyph, not its body
        draw.text((pad - left, pad - top), text, font=face, fill=0, stroke_width=stroke, stroke_fill=255)
    else:
        draw.text((pad - left, pad - top), text, font=face, fill=255)
    return _crop(mask)


@lru_cache(maxsize=None)
def has_glyph(font: Path, char: str) -> bool:
    """Whether `font` draws `char`: some ink, and not the .notdef box it draws for a missing one."""
    mask = _glyph(char, font, 64)
    if mask.getbbox() is None:
        return False
    notdef = _glyph(NOTDEF, font, 64)
    return mask.size != notdef.size or mask.tobytes() != notdef.tobytes()


# ---------------------------------------------------------------- ink masks (L, 255 = ink, cut to the ink)


def _crop(mask: Image.Image) -> Image.Image:
    box = mask.getbbox()
    return mask.crop(box) if box else Image.new("L", (1, 1), 0)


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    mask = Image.new("L", (2 * DRAW_PX, 2 * DRAW_PX), 0)
    return mask, ImageDraw.Draw(mask)


def _px(points: list[tuple[float, float]], aspect: float = 1.0) -> list[tuple[float, float]]:
    """Unit-box points (y down, about 0-1) -> canvas px, the box in the middle of the canvas."""
    return [(DRAW_PX * (1 + (x - 0.5) * aspect), DRAW_PX * (0.5 + y)) for x, y in points]


def _pen(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], width: float, closed: bool = False) -> None:
    """A round pen along canvas-px points, `width` px wide."""
    if closed:
        points = [*points, points[0]]
    r = width / 2
    draw.line(points, fill=255, width=max(1, round(width)), joint="curve")
    for x, y in points:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)


def _ring(cx: float, cy: float, r: float, n: int, turn: float) -> list[tuple[float, float]]:
    return [(cx + r * math.cos(turn + 2 * math.pi * k / n), cy + r * math.sin(turn + 2 * math.pi * k / n))
            for k in range(n)]


def _turned(points: list[tuple[float, float]], angle: float) -> list[tuple[float, float]]:
    """Points turned by `angle` radians about the unit box's centre."""
    c, s = math.cos(angle), math.sin(angle)
    return [(0.5 + (x - 0.5) * c - (y - 0.5) * s, 0.5 + (x - 0.5) * s + (y - 0.5) * c) for x, y in points]


def _chaikin(points: list[tuple[float, float]], rounds: int) -> list[tuple[float, float]]:
    for _ in range(rounds):
        smooth = [points[0]]
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            smooth += [(0.75 * x0 + 0.25 * x1, 0.75 * y0 + 0.25 * y1), (0.25 * x0 + 0.75 * x1, 0.25 * y0 + 0.75 * y1)]
        points = [*smooth, points[-1]]
    return points


def text_ink(text: str, font: Path, hollow: bool, rng: np.random.Generator) -> Image.Image:
    stroke = max(3, round(FONT_PX * rng.uniform(0.015, 0.035))) if hollow else 0
    return _glyph(text, font, FONT_PX, stroke)


def _outline(draw: ImageDraw.ImageDraw, polygon: list[tuple[float, float]], filled: bool, width: float,
             aspect: float) -> None:
    points = _px(polygon, aspect)
    if filled:
        draw.polygon(points, fill=255)
    else:
        _pen(draw, points, width, closed=True)


def _crescent(offset: float, inner: float, turn: float) -> list[tuple[float, float]]:
    """A unit disc less a disc of radius `inner` at `offset` to its right, as a polygon."""
    x = (1 + offset ** 2 - inner ** 2) / (2 * offset)
    y = math.sqrt(max(0.0, 1 - x * x))
    outer_from, inner_from = math.atan2(y, x), math.atan2(y, x - offset)
    outside = [(math.cos(t), math.sin(t)) for t in np.linspace(outer_from, 2 * math.pi - outer_from, 48)]
    inside = [(offset + inner * math.cos(t), inner * math.sin(t))
              for t in np.linspace(2 * math.pi - inner_from, inner_from, 48)]
    return _turned([(0.5 + 0.45 * px, 0.5 + 0.45 * py) for px, py in outside + inside], turn)


def _smiley(draw: ImageDraw.ImageDraw, filled: bool, width: float, rng: np.random.Generator) -> None:
    (cx, cy), = _px([(0.5, 0.5)])
    r = 0.45 * DRAW_PX
    eye_y, eye_dx, eye_r = cy - 0.22 * r, rng.uniform(0.3, 0.42) * r, rng.uniform(0.1, 0.15) * r
    grin = rng.uniform(0.4, 0.6)
    smile = [(cx + 0.6 * r * math.cos(t), cy + 0.05 * r + grin * r * math.sin(t))
             for t in np.linspace(math.radians(20), math.radians(160), 24)]
    features = 0 if filled else 255  # eyes and mouth cut out of a filled face, drawn in an outlined one
    if filled:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    else:
        _pen_ellipse(draw, cx, cy, r, width)
    for dx in (-eye_dx, eye_dx):
        draw.ellipse((cx + dx - eye_r, eye_y - 1.4 * eye_r, cx + dx + eye_r, eye_y + 1.4 * eye_r), fill=features)
    mouth = max(width, 0.1 * r)
    draw.line(smile, fill=features, width=round(mouth), joint="curve")
    for x, y in (smile[0], smile[-1]):
        draw.ellipse((x - mouth / 2, y - mouth / 2, x + mouth / 2, y + mouth / 2), fill=features)


def _pen_ellipse(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, width: float) -> None:
    draw.ellipse((cx - r - width / 2, cy - r - width / 2, cx + r + width / 2, cy + r + width / 2), fill=255)
    draw.ellipse((cx - r + width / 2, cy - r + width / 2, cx + r - width / 2, cy + r - width / 2), fill=0)


def _cloud(draw: ImageDraw.ImageDraw, filled: bool, width: float, aspect: float, rng: np.random.Generator) -> None:
    """Bumps on a flat base, filled or traced along its edge."""
    bumps = [(0.2, 0.6, 0.17), (0.4, 0.42, 0.25), (0.64, 0.45, 0.22), (0.83, 0.6, 0.16)]
    bumps = [(x + rng.normal(0, 0.02), y + rng.normal(0, 0.03), r * rng.uniform(0.9, 1.1)) for x, y, r in bumps]
    body = Image.new("L", (2 * DRAW_PX, 2 * DRAW_PX), 0)
    fill = ImageDraw.Draw(body)
    for x, y, r in bumps:
        (cx, cy), = _px([(x, y)], aspect)
        fill.ellipse((cx - r * DRAW_PX, cy - r * DRAW_PX, cx + r * DRAW_PX, cy + r * DRAW_PX), fill=255)
    fill.rectangle((*_px([(0.2, 0.6)], aspect)[0], *_px([(0.83, 0.76)], aspect)[0]), fill=255)
    fill.polygon(_px([(x, y) for x, y, _ in bumps] + [(0.83, 0.76), (0.2, 0.76)], aspect), fill=255)  # no holes
    if filled:
        draw.bitmap((0, 0), body, fill=255)
    else:
        _trace(draw, body, width)


def _trace(draw: ImageDraw.ImageDraw, body: Image.Image, width: float) -> None:
    """A round pen `width` px wide along the edge of a filled mask."""
    edge = np.asarray(body.filter(ImageFilter.FIND_EDGES)) > 127
    r = width / 2
    for y, x in zip(*np.nonzero(edge)):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)


def _arrow(draw: ImageDraw.ImageDraw, filled: bool, width: float, rng: np.random.Generator) -> None:
    """A double-headed arrow, within 40 degrees of level (a near-upright one reads as a 1)."""
    head, half = rng.uniform(0.22, 0.32), rng.uniform(0.1, 0.18)
    if filled:  # a block arrow
        shaft = rng.uniform(0.05, 0.09)
        outline = [(0.0, 0.5), (head, 0.5 - half), (head, 0.5 - shaft), (1 - head, 0.5 - shaft), (1 - head, 0.5 - half),
                   (1.0, 0.5), (1 - head, 0.5 + half), (1 - head, 0.5 + shaft), (head, 0.5 + shaft), (head, 0.5 + half)]
        draw.polygon(_px(_turned(outline, math.radians(rng.uniform(-40, 40)))), fill=255)
        return
    turn = math.radians(rng.uniform(-40, 40))
    _pen(draw, _px(_turned([(0.0, 0.5), (1.0, 0.5)], turn)), width)
    for tip, back in ((0.0, head), (1.0, 1 - head)):
        _pen(draw, _px(_turned([(back, 0.5 - half), (tip, 0.5), (back, 0.5 + half)], turn)), width)


def shape_ink(name: str, rng: np.random.Generator, ink_px: float) -> Image.Image:
    """One named shape, to be shown `ink_px` tall: filled (about 45%) or outlined with a round pen
    at least 1.3 px wide once shown. A hexagon or octagon under 40 px is always filled: thinly
    outlined it reads as a 0."""
    filled = bool(rng.random() < 0.45) or (name in ("hexagon", "octagon") and ink_px < 40)
    width = DRAW_PX * max(PEN_PX / ink_px, rng.uniform(0.035, 0.1))
    aspect = rng.uniform(0.85, 1.2)
    mask, draw = _canvas()
    if name in ("hexagon", "octagon", "triangle_down"):
        n = {"hexagon": 6, "octagon": 8, "triangle_down": 3}[name]
        turn = math.pi / 2 if n == 3 else rng.uniform(0, 2 * math.pi / n)
        _outline(draw, _ring(0.5, 0.5, 0.5, n, turn), filled, width, 1.0 if n != 3 else aspect)
    elif name == "crescent":
        polygon = _crescent(rng.uniform(0.4, 0.6), rng.uniform(0.85, 1.0), rng.uniform(0, 2 * math.pi))
        _outline(draw, polygon, filled, width, 1.0)
    elif name == "lightning":
        bolt = [(0.42, 0.0), (0.82, 0.0), (0.58, 0.38), (0.8, 0.38), (0.22, 1.0), (0.4, 0.52), (0.18, 0.52)]
        _outline(draw, [(x + rng.normal(0, 0.015), y + rng.normal(0, 0.015)) for x, y in bolt], filled, width, aspect)
    elif name == "smiley":
        _smiley(draw, filled, width, rng)
    elif name == "cloud":
        _cloud(draw, filled, width, rng.uniform(1.1, 1.4), rng)
    elif name == "hourglass":
        waist = rng.uniform(0.03, 0.07)
        glass = [(0.15, 0.04), (0.85, 0.04), (0.5 + waist, 0.5), (0.85, 0.96), (0.15, 0.96), (0.5 - waist, 0.5)]
        _outline(draw, glass, filled, width, aspect)
        for y in (0.04, 0.96):  # the wooden ends, wider than the glass
            _pen(draw, _px([(0.04, y), (0.96, y)], aspect), max(width, 0.07 * DRAW_PX))
    elif name == "house":
        walls = [(0.18, 0.95), (0.18, 0.45), (0.5, 0.08), (0.82, 0.45), (0.82, 0.95)]
        door = [(0.42, 0.95), (0.42, 0.68), (0.58, 0.68), (0.58, 0.95)]
        if filled:
            draw.polygon(_px(walls, aspect), fill=255)
            draw.polygon(_px(door, aspect), fill=0)
        else:
            _pen(draw, _px(walls, aspect), width, closed=True)
            _pen(draw, _px(door, aspect), width)
            _pen(draw, _px([(0.08, 0.55), (0.5, 0.08), (0.92, 0.55)], aspect), width)
    elif name == "double_arrow":
        _arrow(draw, filled, width, rng)
    elif name == "star_of_david":
        turn = rng.uniform(-0.15, 0.15)
        for start in (-math.pi / 2, math.pi / 2):
            _outline(draw, _ring(0.5, 0.5, 0.5, 3, start + turn), filled, width, 1.0)
    elif name == "star":
        turn = -math.pi / 2 + rng.uniform(-0.3, 0.3)
        inner = rng.uniform(0.38, 0.5)
        points = [(0.5 + r * math.cos(turn + math.pi * k / 5), 0.5 + r * math.sin(turn + math.pi * k / 5))
                  for k, r in enumerate([0.5, 0.5 * inner] * 5)]
        _outline(draw, points, filled, width, 1.0)
    elif name == "heart":
        t = np.linspace(0, 2 * math.pi, 96, endpoint=False)
        x, y = 16 * np.sin(t) ** 3, 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
        _outline(draw, [(0.5 + a / 34, 0.5 - b / 34) for a, b in zip(x, y)], filled, width, aspect)
    elif name == "crossed_box":
        box = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
        _pen(draw, _px(box, aspect), width, closed=True)
        _pen(draw, _px([(0.0, 0.0), (1.0, 1.0)], aspect), width)
        _pen(draw, _px([(1.0, 0.0), (0.0, 1.0)], aspect), width)
    else:
        raise ValueError(f"no such shape: {name}")
    return _crop(mask)


def _wander(rng: np.random.Generator, steps: int, step: float, bend: float) -> list[tuple[float, float]]:
    """A smooth random pen path in the unit box: a heading that wanders, bouncing off the walls."""
    x, y = rng.uniform(0.15, 0.85), rng.uniform(0.15, 0.85)
    heading, curvature, points = rng.uniform(0, 2 * math.pi), 0.0, [(x, y)]
    for kick in rng.normal(0, 1, steps):
        curvature = 0.85 * curvature + bend * kick
        heading += curvature
        x, y = x + step * math.cos(heading), y + step * math.sin(heading)
        if not 0 <= x <= 1:
            x, heading = min(max(x, 0.0), 1.0), math.pi - heading
        if not 0 <= y <= 1:
            y, heading = min(max(y, 0.0), 1.0), -heading
        points.append((x, y))
    return points


def _zigzag(rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    """Hatching: one pen stroke back and forth across a band, 8-16 times, sometimes crossed."""
    strokes = []
    for layer in range(1 if rng.random() < 0.6 else 2):
        teeth = int(rng.integers(8, 17))
        turn = rng.uniform(-0.5, 0.5) + layer * rng.uniform(1.2, 1.9)
        points = [(k / teeth + rng.normal(0, 0.015), (0.0 if k % 2 else 1.0) + rng.normal(0, 0.06))
                  for k in range(teeth + 1)]
        strokes.append(_turned(points, turn))
    return strokes


def _crossout(rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    """Scribbling over a word: a smoothed pen path going up and down across a band while it
    sweeps along it and back, 2-3 times."""
    height, sweeps = rng.uniform(0.4, 0.7), int(rng.integers(2, 4))
    turns = int(rng.integers(16, 28)) * sweeps
    phase = np.linspace(0, sweeps, turns)
    along = np.abs((phase + 1) % 2 - 1) * 0.9 + 0.05 + rng.normal(0, 0.05, turns)  # 0 -> 1 -> 0 ...
    across = 0.5 + height * (np.arange(turns) % 2 - 0.5) + rng.normal(0, 0.08, turns)
    return [_turned(_chaikin(list(zip(along.tolist(), across.tolist())), 2), rng.uniform(-0.4, 0.4))]


def _loops(rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    """A chain of 4-8 loops: a pen turning steadily (with wobble) while drifting across."""
    loops, per = int(rng.integers(4, 9)), int(rng.integers(14, 22))
    radius, drift = rng.uniform(0.09, 0.16), rng.uniform(0.75, 1.0) / (loops * per)
    angle = rng.uniform(-0.6, 0.6)
    t = np.arange(loops * per + 1) * 2 * math.pi / per + rng.normal(0, 0.08, loops * per + 1).cumsum()
    r = radius * (1 + 0.25 * rng.normal(0, 1, loops * per + 1).cumsum() / math.sqrt(loops * per))
    along = np.arange(loops * per + 1) * drift + r * np.cos(t)
    across = 0.5 + r * np.sin(t) + 0.05 * np.sin(np.arange(loops * per + 1) / per * rng.uniform(0.5, 1.5))
    return [_turned([(0.05 + a, b) for a, b in zip(along, across)], angle)]


def _tangle(rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    """3-5 wandering strokes, long enough together (5 diagonals of their box) not to pass for a
    letter or digit; shorter ones are drawn again."""
    while True:
        strokes = [_wander(rng, int(rng.integers(40, 100)), rng.uniform(0.03, 0.05), rng.uniform(0.1, 0.3))
                   for _ in range(int(rng.integers(3, 6)))]
        points = np.concatenate([np.asarray(stroke) for stroke in strokes])
        length = sum(float(np.hypot(*np.diff(np.asarray(stroke), axis=0).T).sum()) for stroke in strokes)
        if length >= 5 * float(np.hypot(*(points.max(axis=0) - points.min(axis=0)))):
            return strokes


def scribble_ink(name: str, rng: np.random.Generator, ink_px: float) -> Image.Image:
    """One named scribble, to be shown `ink_px` tall, with a round pen (at least 1.3 px wide once
    shown), drawn again until its ink covers 3-60% of its box."""
    for _ in range(100):
        width = DRAW_PX * max(PEN_PX / ink_px, rng.uniform(0.015, 0.06))
        aspect = rng.uniform(0.9, 1.6)  # wider than tall, unlike a digit
        if name == "tangle":
            strokes = _tangle(rng)
        elif name == "zigzag":
            strokes = _zigzag(rng)
        elif name == "crossout":
            strokes = _crossout(rng)
        elif name == "loops":
            strokes = _loops(rng)
        else:
            raise ValueError(f"no such scribble: {name}")
        mask, draw = _canvas()
        for stroke in strokes:
            _pen(draw, _px(stroke, aspect), width)
        mask = _crop(mask)
        if MIN_INK <= ink_share(mask) <= MAX_INK:
            return mask
    raise RuntimeError(f"make_nondigits: no {name} scribble with {MIN_INK:.0%}-{MAX_INK:.0%} ink in 100 tries")


def ink_share(mask: Image.Image) -> float:
    """The share of the mask's box that is ink (over half strength)."""
    return float((np.asarray(mask) > 127).mean())


# ---------------------------------------------------------------- pictures


def style(rng: np.random.Generator) -> Style:
    height = int(rng.integers(28, 201))
    width = height if rng.random() < 0.4 else int(np.clip(round(height * rng.uniform(0.7, 1.45)), 28, 200))
    dark_on_light = rng.random() < 0.7
    tone, light = np.repeat(rng.integers(0, 70), 3), np.repeat(255 - rng.integers(0, 50), 3)
    if rng.random() < 0.35:  # coloured ink and paper
        tone, light = rng.integers(0, 110, size=3), rng.integers(185, 256, size=3)
    ink, paper = (tone, light) if dark_on_light else (light, tone)
    grey = len(set(ink.tolist())) == 1 and len(set(paper.tolist())) == 1
    blur = rng.uniform(0.35, 0.9) * max(1.0, min(width, height) / 80) if rng.random() < 0.2 else 0.0
    quality = int(rng.integers(70, 96)) if rng.random() < 0.3 else 0
    # Grain on half the JPEG ones (a photo); a grainy PNG is large, so only on a few grey ones.
    grain = rng.uniform(2, 6) if rng.random() < (0.5 if quality else 0.12 if grey else 0.0) else 0.0
    return Style(width, height, float(rng.uniform(0.4, 0.85)), float(rng.uniform(-15, 15)),
                 tuple(int(v) for v in ink), tuple(int(v) for v in paper), blur, grain, quality)


def _fit(ink: Image.Image, s: Style) -> tuple[Image.Image, int, int]:
    """Scale the ink to s.fraction of the canvas height; a wide ink widens the canvas (to 200 px)
    or, past that, shrinks with it. Returns (scaled ink, canvas width, canvas height)."""
    aspect = ink.width / ink.height
    width, height = s.width, s.height
    tall = s.fraction * height
    if tall * aspect > 0.95 * width:
        width = min(200, math.ceil(tall * aspect / 0.95))
    if tall * aspect > 0.95 * width:
        tall = 0.95 * width / aspect
        height = max(28, round(tall / s.fraction))
    size = (max(1, round(tall * aspect)), max(1, round(tall)))
    return ink.resize(size, Image.Resampling.LANCZOS), width, height


def render(ink: Image.Image, s: Style, rng: np.random.Generator) -> Image.Image:
    """A big ink mask -> the picture: rotated, scaled, placed off-centre, coloured, blurred, grainy."""
    ink = _crop(ink.rotate(s.rotation, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=0))
    ink, width, height = _fit(ink, s)
    left = int(rng.integers(0, width - ink.width + 1))
    top = int(rng.integers(0, height - ink.height + 1))
    mask = Image.new("L", (width, height), 0)
    mask.paste(ink, (left, top))
    if s.blur:
        mask = mask.filter(ImageFilter.GaussianBlur(s.blur))
    a = np.asarray(mask, np.float32)[..., None] / 255.0
    rgb = a * np.array(s.ink, np.float32) + (1 - a) * np.array(s.paper, np.float32)
    if s.grain:
        rgb += rng.normal(0, s.grain, rgb.shape[:2] + ((1,) if s.grey else (3,))).astype(np.float32)
    image = Image.fromarray(np.round(np.clip(rgb, 0, 255)).astype(np.uint8), "RGB")
    return image.convert("L") if s.grey else image


def content_of(index: int) -> tuple[str, str]:
    """(kind, content) of picture `index`: the kind from CYCLE, the content in turn within it."""
    kind = CYCLE[index % len(CYCLE)]
    turn = (index // len(CYCLE)) * CYCLE.count(kind) + CYCLE[:index % len(CYCLE)].count(kind)
    choices = {"letter": LETTERS, "symbol": SYMBOLS, "shape": SHAPES, "scribble": SCRIBBLES}[kind]
    return kind, choices[turn % len(choices)]


def picture(index: int, faces: list[Path], rng: np.random.Generator) -> tuple[Image.Image, Style, Row]:
    kind, content = content_of(index)
    s = style(rng)
    ink_px = s.fraction * s.height
    font = ""
    if kind in ("letter", "symbol"):
        if kind == "symbol":
            content = _drawable_symbol(content, faces)
        usable = [f for f in faces if kind == "letter" or has_glyph(f, content)]
        face = usable[int(rng.integers(0, len(usable)))]
        hollow = bool(rng.random() < 0.12) and ink_px >= 40
        ink, font = text_ink(content, face, hollow, rng), face.stem
    elif kind == "shape":
        ink = shape_ink(content, rng, ink_px)
    else:
        ink = scribble_ink(content, rng, ink_px)
    image = render(ink, s, rng)
    name = f"{kind}/{index:04d}.{'jpg' if s.quality else 'png'}"
    return image, s, Row(name, kind, content, font)


def _drawable_symbol(symbol: str, faces: list[Path]) -> str:
    """`symbol`, or the next one of SYMBOLS that some font has (a symbol no font has is skipped)."""
    start = SYMBOLS.index(symbol)
    for k in range(len(SYMBOLS)):
        candidate = SYMBOLS[(start + k) % len(SYMBOLS)]
        if any(has_glyph(f, candidate) for f in faces):
            return candidate
    raise SystemExit("make_nondigits: error: no font has any of the symbols " + SYMBOLS)


def save(image: Image.Image, path: Path, quality: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if quality:
        image.save(path, "JPEG", quality=quality, optimize=True)
    else:
        image.save(path, "PNG", optimize=True)


def check_alphabets() -> None:
    """No letter or symbol of the set is a digit, looks like one, or is a training letter."""
    for alphabet in (LETTERS, SYMBOLS):
        assert not set(alphabet) & set(DIGIT_TWINS + TRAINING_LETTERS), alphabet


def write_set(folder: Path, count: int, seed: int = SEED) -> list[Row]:
    """Draw `count` pictures into `folder` (which must not exist) with their manifest.csv."""
    check_alphabets()
    faces = fonts()
    if not faces:
        raise SystemExit("make_nondigits: error: no DejaVu or Liberation fonts; "
                         "apt-get install fonts-dejavu-core fonts-liberation")
    rng = np.random.default_rng(seed)
    rows = []
    folder.mkdir(parents=True)
    for index in range(count):
        image, s, row = picture(index, faces, rng)
        save(image, folder / row.file, s.quality)
        rows.append(row)
    with open(folder / "manifest.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["file", "kind", "content", "font"])
        writer.writerows([row.file, row.kind, row.content, row.font] for row in rows)
    return rows


def make(out: Path = OUT, count: int = COUNT, seed: int = SEED, force: bool = False) -> list[Row]:
    """Write the set to a hidden sibling of `out`, then rename it into place (replacing an
    existing `out` only with `force`)."""
    if out.exists() and not force:
        raise SystemExit(f"make_nondigits: error: {out} exists; pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        rows = write_set(work / "set", count, seed)
        if out.exists():
            out.rename(work / "old")
        try:
            (work / "set").rename(out)
        except BaseException:
            if (work / "old").exists():
                (work / "old").rename(out)
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("python -m tools.make_nondigits", __doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--count", type=int, default=COUNT, help=f"pictures (default {COUNT})")
    parser.add_argument("--force", action="store_true", help="replace an existing --out folder")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    rows = make(args.out, args.count, force=args.force)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    kinds = ", ".join(f"{sum(r.kind == k for r in rows)} {k}s" for k in KINDS)
    print(f"make_nondigits: wrote {len(rows)} pictures ({kinds}), {size / 1e6:.2f} MB, to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
