"""Pictures that are not digits, for outlier exposure: the qat stage teaches the model to answer
"not a digit" (docs/non-digits.md).

Five kinds, each drawn at random on a plain canvas and read through the runtime's own path
(`runtime.preprocess.prepare_image`: the digit finder, then the MNIST recipe), so the model
learns from the 28x28 inputs that such pictures really become:

- letters from a-n, both cases, without the digits' twins (o l i g s z b q; within a-n that
  leaves a c d e f h j k m n), and Greek and Cyrillic letters that read as neither a digit nor
  a Latin letter. A seven-segment 0 with its bottom segment dim is a box open at the bottom, so
  neither pi nor pe (Π П, nor the product sign ∏) is drawn, nor an m in the seven-segment faces,
  which draw it so. The held-out letters p-z (without q s z) are never drawn here: they are the
  evaluation's (`HELD_OUT_LETTERS`; tools/make_nondigits.py, tools/make_scenes.py);
- symbols, a set disjoint from the held-out ones (`HELD_OUT_SYMBOLS`);
- letters and symbols come from fonts the evaluation never uses (`TRAIN_FONT_DIRS`: URW base35,
  Cantarell, Comic Neue, Lato and five handwriting faces, and four seven-segment faces of DSEG,
  `TRAIN_FONT_FILES`, so that a display's digits are digits; the evaluation sets use DejaVu and
  Liberation only, and draw their seven-segment displays segment by segment, tools/make_scenes.py).
  `make pipeline` installs them with apt;
- shapes: polygons, stars, crosses, arrows, hearts, outlined or filled. Never a circle, an ellipse
  or a single straight line: those are a 0 and a 1. Nor an outlined rectangle standing upright,
  taller than wide: that is a seven-segment display's 0 (one turned that way is laid on its side);
- scribbles: several random pen strokes; and textures: blobs of smoothed noise, hatching.

A quarter of the glyphs, letters, symbols and printed digits alike, are drawn hollow (only their
outline, as outline fonts and signs draw them): when only non-digits were ever hollow, the model
learned that an outline is not a digit and refused outlined print.

Beside them, `printed_digits` draws digits in the same fonts, the same way, labelled with their
digit: MNIST is handwriting only, so without them "printed" would be learned as "not a digit".
A `SEVEN_SEGMENT_DIGITS` share of them is typeset in the seven-segment faces: at their share of
the faces (4 of 75), a display's 0, a box of straight segments, was refused as "not a digit" by
the model, in 23 of DSEG's 26 seven-segment faces (its nearest non-digits: D, Π, filled boxes).

Deterministic under a seed: `make(count, seed)` gives the same uint8 arrays every time.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from runtime.errors import InputError
from runtime.preprocess import prepare_image

TWINS = "olgiszbqOLGISZBQ"  # letters that read as digits: never a negative
TRAIN_LETTERS = "".join(c for c in "abcdefghijklmn" if c not in TWINS)
TRAIN_LETTERS += TRAIN_LETTERS.upper()
HELD_OUT_LETTERS = "".join(c for c in "pqrstuvwxyz" if c not in TWINS)
HELD_OUT_LETTERS += HELD_OUT_LETTERS.upper()
# Other scripts widen the shapes a letter may take. Left out: those that read as digits or as
# Latin letters of either list (Greek omicron, iota, theta, delta, epsilon, upsilon, chi; Cyrillic
# Ze, be, Che, O, Ve...).
TRAIN_SCRIPTS = "αγλμσφψωΓΔΛΞΣΦΨΩДЖИЛФЦШЩЫЭЮЯжилфцшщыюя"
# Nor pi and pe (Π П π п, and the product sign ∏ among the symbols): an upright box open at the
# bottom is a seven-segment display's 0 whose bottom segment is dim, and the model that learned
# them as non-digits refused a display's 0.
SEGMENT_TWINS = "mM"  # drawn by the seven-segment faces as that same box: never a negative in them
TRAIN_SYMBOLS = "#&?+*$€£¥§¶©®~^<>√∑∫∂∇≈≠≤≥←→↑↓↔★☆♠♣♦♥"
HELD_OUT_SYMBOLS = "%@=÷±×∞™♪¤"
TRAIN_FONT_DIRS = (
    "/usr/share/fonts/opentype/urw-base35", "/usr/share/fonts/opentype/cantarell",
    "/usr/share/fonts/opentype/comic-neue", "/usr/share/fonts/truetype/lato",
    "/usr/share/fonts/truetype/humor-sans", "/usr/share/fonts/truetype/fifthhorseman",
    "/usr/share/fonts/truetype/sjfonts", "/usr/share/fonts/truetype/breip",
)
# A few of DSEG's seven-segment faces (its 51 would outnumber every other face): plain and slanted,
# regular and bold, full and "Mini" segments.
TRAIN_FONT_FILES = tuple(f"/usr/share/fonts/truetype/dseg/{name}.ttf" for name in (
    "DSEG7Classic-Regular", "DSEG7Classic-BoldItalic", "DSEG7Modern-Bold", "DSEG7ClassicMini-LightItalic"))
SKIP_FONTS = {"StandardSymbolsPS", "D050000L"}  # symbol and dingbat faces: no letters in them
APT_FONTS = ("fonts-urw-base35 fonts-cantarell fonts-comic-neue fonts-lato fonts-humor-sans fonts-dkg-handwriting "
             "fonts-sjfonts fonts-breip fonts-dseg")
KINDS = ("letter", "symbol", "shape", "scribble", "texture")
WEIGHTS = (0.35, 0.15, 0.2, 0.2, 0.1)
DRAW = 128  # glyphs and strokes are drawn on a canvas this size, then scaled to the picture
HOLLOW = 0.25  # share of glyphs (letters, symbols, printed digits) drawn as their outline only
SEVEN_SEGMENT_DIGITS = 0.15  # share of the printed digits typeset in the seven-segment faces (a display's)
UPRIGHT_BOXES = False  # outlined rectangles standing upright and taller than wide: a seven-segment 0, never drawn
UPRIGHT = 30.0  # degrees: a rectangle within this of upright stands upright...
TALL = 1.15  # ...and is taller than wide by this factor
HOLLOW_PEN = (5, 7, 9)  # the outline's width: the glyph less its erosion by a square this wide, px at DRAW


class NegativesError(RuntimeError):
    """The training fonts are missing."""


def train_fonts() -> list[Path]:
    found = sorted(p for d in TRAIN_FONT_DIRS if Path(d).is_dir() for p in Path(d).iterdir()
                   if p.suffix in (".ttf", ".otf") and p.stem not in SKIP_FONTS)
    found += [Path(f) for f in TRAIN_FONT_FILES if Path(f).is_file()]
    if not found:
        raise NegativesError(f"no training fonts for the non-digits; apt-get install {APT_FONTS} (make pipeline does)")
    return found


def _render(text: str, face: ImageFont.FreeTypeFont) -> np.ndarray:
    box = face.getbbox(text)
    image = Image.new("L", (max(1, box[2] - box[0]) + 8, max(1, box[3] - box[1]) + 8), 0)
    ImageDraw.Draw(image).text((4 - box[0], 4 - box[1]), text, font=face, fill=255)
    return np.asarray(image)


@functools.lru_cache(maxsize=None)
def _face(font: Path) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font), size=DRAW)


def _glyph(text: str, font: Path) -> np.ndarray | None:
    """White-on-black mask of one glyph, DRAW px tall, or None where the font lacks it."""
    face = _face(font)
    mask = _render(text, face)
    if min(mask.shape) < 10 or np.array_equal(mask, _render("\uffff", face)):  # the missing-glyph box
        return None
    return mask


def _hollow(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The glyph's outline only: the mask less its erosion."""
    size = int(HOLLOW_PEN[int(rng.integers(0, len(HOLLOW_PEN)))])
    inner = np.asarray(Image.fromarray(mask).filter(ImageFilter.MinFilter(size)))
    return np.subtract(mask, inner, dtype=np.int16).clip(0, 255).astype(np.uint8)


def _styled_glyph(text: str, font: Path, rng: np.random.Generator) -> np.ndarray | None:
    """`_glyph`, drawn hollow a `HOLLOW` share of the time."""
    mask = _glyph(text, font)
    if mask is not None and rng.random() < HOLLOW:
        mask = _hollow(mask, rng)
    return mask


def _polygon(rng: np.random.Generator, sides: int, star: bool) -> list[tuple[float, float]]:
    turn = rng.uniform(0, 2 * math.pi)
    points = []
    count = sides * 2 if star else sides
    for k in range(count):
        radius = (0.45 if k % 2 == 0 else rng.uniform(0.18, 0.28)) if star else 0.45
        angle = turn + 2 * math.pi * k / count
        points.append((DRAW / 2 + DRAW * radius * math.cos(angle), DRAW / 2 + DRAW * radius * math.sin(angle)))
    return points


def _shape(rng: np.random.Generator) -> np.ndarray:
    image = Image.new("L", (DRAW, DRAW), 0)
    draw = ImageDraw.Draw(image)
    pen = int(rng.integers(3, 14))
    fill = 255 if rng.random() < 0.35 else None
    name = ("polygon", "star", "cross", "arrow", "heart", "rectangle")[int(rng.integers(0, 6))]
    c, r = DRAW / 2, DRAW * 0.42
    if name == "polygon":
        points = _polygon(rng, int(rng.integers(3, 7)), star=False)
    elif name == "star":
        points = _polygon(rng, int(rng.integers(4, 8)), star=True)
    elif name == "cross":
        t = r * rng.uniform(0.15, 0.35)
        points = [(c - t, c - r), (c + t, c - r), (c + t, c - t), (c + r, c - t), (c + r, c + t), (c + t, c + t),
                  (c + t, c + r), (c - t, c + r), (c - t, c + t), (c - r, c + t), (c - r, c - t), (c - t, c - t)]
    elif name == "arrow":
        t, head = r * rng.uniform(0.12, 0.25), r * rng.uniform(0.3, 0.6)
        points = [(c - r, c - t), (c + r - head, c - t), (c + r - head, c - r * 0.6), (c + r, c),
                  (c + r - head, c + r * 0.6), (c + r - head, c + t), (c - r, c + t)]
    elif name == "heart":
        ts = np.linspace(0, 2 * math.pi, 60)
        xs, ys = 16 * np.sin(ts) ** 3, 13 * np.cos(ts) - 5 * np.cos(2 * ts) - 2 * np.cos(3 * ts) - np.cos(4 * ts)
        points = list(zip(c + xs * r / 17, c - ys * r / 17))
    else:
        w, h = r * rng.uniform(0.5, 1.0), r * rng.uniform(0.5, 1.0)
        points = [(c - w, c - h), (c + w, c - h), (c + w, c + h), (c - w, c + h)]
    if fill is not None:
        draw.polygon(points, fill=fill)
    else:
        draw.line([*points, points[0]], fill=255, width=pen, joint="curve")
    angle = float(rng.uniform(0, 360))
    if name == "rectangle" and fill is None and not UPRIGHT_BOXES and _upright_tall(w, h, angle):
        angle += 90  # lying on its side: the same outline, no longer a display's 0
    return np.asarray(image.rotate(angle, resample=Image.BILINEAR))


def _upright_tall(half_width: float, half_height: float, angle: float) -> bool:
    """Whether a rectangle, turned by `angle` degrees, stands within UPRIGHT of upright and is TALL
    times taller than wide: a seven-segment display's 0 (and a 0 some people write), not a non-digit."""
    turned = angle % 180
    if min(turned, 180 - turned) <= UPRIGHT:
        return half_height >= TALL * half_width
    if abs(turned - 90) <= UPRIGHT:
        return half_width >= TALL * half_height
    return False


def _scribble(rng: np.random.Generator) -> np.ndarray:
    """Three to six strokes, each a smoothed random walk with many turns."""
    image = Image.new("L", (DRAW, DRAW), 0)
    draw = ImageDraw.Draw(image)
    pen = int(rng.integers(3, 12))
    for _ in range(int(rng.integers(3, 7))):
        steps = int(rng.integers(12, 40))
        heading = np.cumsum(rng.normal(0, 0.9, steps)) + rng.uniform(0, 2 * math.pi)
        step = rng.uniform(4, 10)
        xy = np.cumsum(np.stack([np.cos(heading), np.sin(heading)], 1) * step, 0)
        xy += rng.uniform(0.2, 0.8, 2) * DRAW - xy.mean(0)
        draw.line([tuple(p) for p in np.clip(xy, 4, DRAW - 5)], fill=255, width=pen, joint="curve")
    return np.asarray(image)


def _texture(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:  # blobs: smoothed noise above a level
        noise = Image.fromarray((rng.random((DRAW // 8, DRAW // 8)) * 255).astype(np.uint8))
        smooth = np.asarray(noise.resize((DRAW, DRAW), Image.BICUBIC).filter(ImageFilter.GaussianBlur(3)))
        return np.where(smooth > np.percentile(smooth, rng.uniform(60, 85)), 255, 0).astype(np.uint8)
    image = Image.new("L", (DRAW, DRAW), 0)  # hatching, one or two directions
    draw = ImageDraw.Draw(image)
    gap, pen = int(rng.integers(10, 22)), int(rng.integers(2, 6))
    for direction in range(int(rng.integers(1, 3))):
        for k in range(-DRAW, 2 * DRAW, gap):
            if direction == 0:
                draw.line([(k, 0), (k + DRAW // 2, DRAW)], fill=255, width=pen)
            else:
                draw.line([(k + DRAW // 2, 0), (k, DRAW)], fill=255, width=pen)
    return np.asarray(image)


def _seven_segment(font: Path) -> bool:
    return font.name.startswith("DSEG7")


def _ink(kind: str, rng: np.random.Generator, fonts: list[Path]) -> tuple[np.ndarray | None, str]:
    """(the mask, or None for a glyph not drawn; the glyph, or "" for a shape, a scribble or a texture)."""
    if kind in ("letter", "symbol"):
        letters = TRAIN_LETTERS + TRAIN_SCRIPTS if rng.random() < 0.4 else TRAIN_LETTERS
        alphabet = letters if kind == "letter" else TRAIN_SYMBOLS
        text, font = alphabet[int(rng.integers(0, len(alphabet)))], fonts[int(rng.integers(0, len(fonts)))]
        if text in SEGMENT_TWINS and _seven_segment(font):
            return None, text
        mask = _styled_glyph(text, font, rng)
        if mask is not None:
            angle = float(rng.uniform(-15, 15))
            mask = np.asarray(Image.fromarray(mask).rotate(angle, resample=Image.BILINEAR, expand=True))
        return mask, text
    return {"shape": _shape, "scribble": _scribble, "texture": _texture}[kind](rng), ""


def _picture(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The mask as a user's picture: dark ink on light paper (or the other way), on a canvas
    28-160 px with a margin, sometimes blurred; uint8 grey."""
    ys, xs = np.nonzero(mask > 32)
    if ys.size == 0:
        return mask
    mask = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    side = int(rng.integers(28, 161))
    longer = max(mask.shape)
    fill = rng.uniform(0.5, 0.85)
    scale = side * fill / longer
    h, w = max(1, round(mask.shape[0] * scale)), max(1, round(mask.shape[1] * scale))
    glyph = np.asarray(Image.fromarray(mask).resize((w, h), Image.LANCZOS), dtype=np.float32) / 255
    canvas = np.zeros((max(side, h + 2), max(side, w + 2)), np.float32)
    top = int(rng.integers(0, canvas.shape[0] - h + 1))
    left = int(rng.integers(0, canvas.shape[1] - w + 1))
    canvas[top : top + h, left : left + w] = glyph
    paper, ink = rng.uniform(180, 255), rng.uniform(0, 90)
    if rng.random() < 0.3:
        paper, ink = 255 - paper, 255 - ink
    picture = paper + (ink - paper) * canvas
    if rng.random() < 0.2:
        picture = np.asarray(Image.fromarray(picture.astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8)),
                             np.float32)
    return np.clip(np.rint(picture), 0, 255).astype(np.uint8)


def generate(seed: int, fonts: list[Path] | None = None, described: bool = False) -> Iterator[tuple]:
    """Endless (28x28 uint8 model input, kind) pairs; pictures the runtime refuses ("no digit
    found", as noise and blank canvases are) are skipped: the model never sees them. With
    `described`, (input, kind, glyph) triples: the letter or symbol drawn, "" for the other kinds."""
    fonts = train_fonts() if fonts is None else fonts
    rng = np.random.default_rng(seed)
    while True:
        kind = KINDS[int(rng.choice(len(KINDS), p=WEIGHTS))]
        mask, text = _ink(kind, rng, fonts)
        if mask is None or not (mask > 32).any():
            continue
        try:
            tensor = prepare_image(_picture(mask, rng)).tensor
        except InputError:
            continue
        image = np.rint(tensor[..., 0] * 255).astype(np.uint8)
        yield (image, kind, text) if described else (image, kind)


def printed_digits(count: int, seed: int, fonts: list[Path] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`count` digits typeset in the training fonts, drawn and read like the non-digits: uint8
    (count, 28, 28) model inputs and their labels."""
    fonts = train_fonts() if fonts is None else fonts
    segments = [font for font in fonts if _seven_segment(font)]
    others = [font for font in fonts if not _seven_segment(font)] or fonts
    rng = np.random.default_rng(seed)
    images, labels = [], []
    while len(images) < count:
        digit = int(rng.integers(0, 10))
        faces = segments if segments and rng.random() < SEVEN_SEGMENT_DIGITS else others
        mask = _styled_glyph(str(digit), faces[int(rng.integers(0, len(faces)))], rng)
        if mask is None:
            continue
        mask = np.asarray(Image.fromarray(mask).rotate(float(rng.uniform(-12, 12)), resample=Image.BILINEAR,
                                                        expand=True))
        try:
            tensor = prepare_image(_picture(mask, rng)).tensor
        except InputError:
            continue
        images.append(np.rint(tensor[..., 0] * 255).astype(np.uint8))
        labels.append(digit)
    return (np.stack(images) if images else np.zeros((0, 28, 28), np.uint8)), np.array(labels, np.int64)


def make(count: int, seed: int, fonts: list[Path] | None = None) -> tuple[np.ndarray, list[str]]:
    """`count` negatives as uint8 (count, 28, 28) model inputs, and their kinds."""
    images, kinds = [], []
    for image, kind in generate(seed, fonts):
        if len(images) == count:
            break
        images.append(image)
        kinds.append(kind)
    return np.stack(images) if images else np.zeros((0, 28, 28), np.uint8), kinds
