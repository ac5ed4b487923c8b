"""Make the scene sets: camera-like pictures of one digit each, and their non-digit twins.

    python -m tools.make_scenes --split tune      # writes scenes/tune/<scene>/<label>/*.png|jpg
    python -m tools.make_scenes --split report    # and scenes/report/...; --out DIR, --per-scene N

Each picture is a whole "photo" with one digit somewhere in it, for evaluating a digit *finder*
(locate, then classify). Eight scenes (SCENES): ruled notebook paper, squared paper, paper under a
light fall-off and a shadow, a small digit in a large slightly tilted frame (up to 4000x3000),
marker on a whiteboard with glare, chalk on a dark board, seven-segment LCD/LED digits, and digits
cropped tightly to their ink. Every scene also has non-digit twins in `<scene>/none/`: the same
kind of picture with a letter, a symbol, a shape or a scribble where the digit would be.

Layout: OUT/<scene>/<label>/<index>_<source>.png|jpg (label 0-9) and OUT/<scene>/none/<index>_<kind>,
plus OUT/boxes.csv: every file's digit (or twin) bounding box, (left, top, right, bottom) in pixels,
right and bottom exclusive, as `render` returns it.

Digit ink comes from three sources, mixed per scene (about half, a quarter, a quarter): MNIST *test*
digits (the model trains on x_train only; $MNIST_PATH, default ../shared/data/mnist.npz), pen strokes
(tools/synthetic.STROKES, jittered) and TrueType digits (DejaVu, Liberation). The two splits share no
source: `tune` draws MNIST test indices 0-4999, `report` 5000-9999; each takes every other font of the
sorted list; their letters and symbols are disjoint sets; their seeds differ (`check_splits`).
Everything is seeded: the same split makes byte-identical files. Pillow and numpy only.

About 60% of the pictures are JPEG (quality 75-90; the 4000x3000 ones 85) with camera noise; the
PNG ones are the clean kind (a scan, a screenshot): at most 800x600, no sensor noise or paper grain,
since a noisy PNG photo takes megabytes. A split is about 27 MB.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tools.synthetic import STROKES
from tools.figures import tool_parser

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "scenes"
MNIST_DEFAULTS = (ROOT / "data" / "mnist.npz", ROOT.parent / "shared" / "data" / "mnist.npz")  # the data stage's, then CI's
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
SKIP_FONTS = {"DejaVuMathTeXGyre.ttf"}

SCENES = ("ruled", "grid", "gradient_shadow", "small_in_frame", "whiteboard", "board_dark", "seven_segment",
          "tight_crop")
SPLITS = ("tune", "report")
SEEDS = {"tune": 20270311, "report": 20270419}
MNIST_RANGES = {"tune": range(0, 5000), "report": range(5000, 10000)}
PER_SCENE = 60  # digits per scene (tight_crop: 5/3 as many); non-digit twins: a third as many
# Letters that look like digits (o/O 0, l/I 1, z/Z 2, s/S 5, b/G 6, g/q 9, B 8) are never twins.
EXCLUDED_LETTERS = "olgiszbqOLGISZBQ"
LETTERS = {
    "tune": "".join(c for c in "abcdefghijklmn" if c not in EXCLUDED_LETTERS),
    "report": "".join(c for c in "pqrstuvwxyz" if c not in EXCLUDED_LETTERS),
}
LETTERS = {split: letters + letters.upper() for split, letters in LETTERS.items()}
SYMBOLS = {"tune": "#&?+", "report": "%@="}  # and pen-drawn arrows in both
NONE_KINDS = ("letter", "symbol", "shape", "scribble")
INK_PX = 160  # pen and font inks are drawn this tall, then scaled by `render`
WORK_PX = 256  # a marker's or chalk's thicker stroke is dilated at this height

# Seven-segment patterns: a top, b upper right, c lower right, d bottom, e lower left, f upper left,
# g middle. Letters and symbols that read as no digit, split like LETTERS.
DIGIT_SEGMENTS = {0: "abcdef", 1: "bc", 2: "abdeg", 3: "abcdg", 4: "bcfg", 5: "acdfg", 6: "acdefg", 7: "abc",
                  8: "abcdefg", 9: "abcdfg"}
DIGIT_SEGMENT_VARIANTS = {6: "cdefg", 7: "abcf", 9: "abcfg"}  # the other common shapes of 6, 7, 9
SEGMENT_LETTERS = {
    "tune": {"A": "abcefg", "C": "adef", "c": "deg", "d": "bcdeg", "E": "adefg", "F": "aefg", "H": "bcefg",
             "h": "cefg", "J": "bcde", "n": "ceg"},
    "report": {"P": "abefg", "r": "eg", "t": "defg", "U": "bcdef", "u": "cde"},
}
SEGMENT_SYMBOLS = {"tune": {"minus": "g", "bars": "adg"}, "report": {"degree": "abfg", "equals": "dg"}}

PHOTO_SIZES = ((640, 480), (800, 600), (960, 720), (1024, 768), (1280, 960), (1600, 1200))
PHOTO_WEIGHTS = (0.4, 0.25, 0.12, 0.1, 0.08, 0.05)
# Pictures saved as PNG are smaller and cleaner (a scan, a screenshot): noisy PNGs would be huge.
LOSSLESS_SIZES = ((640, 480), (640, 480), (800, 600))
FRAME_SIZES = ((640, 480), (800, 600), (1024, 768), (1280, 960), (1600, 1200), (2048, 1536), (2592, 1944),
               (3264, 2448))
FRAME_WEIGHTS = (0.26, 0.22, 0.17, 0.13, 0.1, 0.06, 0.04, 0.02)
BIG = (4000, 3000)  # 12 MP: a few per split (make puts 3 in small_in_frame), saved as JPEG quality 85


# ---------------------------------------------------------------- the splits and their sources


def fonts() -> list[Path]:
    return sorted(p for d in FONT_DIRS if d.is_dir() for p in d.glob("*.ttf") if p.name not in SKIP_FONTS)


def split_fonts(split: str) -> list[Path]:
    """Every other font of the sorted list: tune the even ones, report the odd ones."""
    return fonts()[SPLITS.index(split)::2]


def check_splits() -> None:
    """The two splits share no seed, MNIST index, font, letter or symbol (raises AssertionError)."""
    tune, report = SPLITS
    assert SEEDS[tune] != SEEDS[report]
    assert not set(MNIST_RANGES[tune]) & set(MNIST_RANGES[report])
    assert all(r.start >= 0 and r.stop <= 10_000 for r in MNIST_RANGES.values())
    assert not set(split_fonts(tune)) & set(split_fonts(report))
    assert not set(LETTERS[tune]) & set(LETTERS[report])
    assert not set(SYMBOLS[tune]) & set(SYMBOLS[report])
    assert not set(SEGMENT_LETTERS[tune]) & set(SEGMENT_LETTERS[report])
    assert not set(SEGMENT_SYMBOLS[tune]) & set(SEGMENT_SYMBOLS[report])
    for split in SPLITS:
        assert not set(LETTERS[split]) & set(EXCLUDED_LETTERS)
        assert not set(SEGMENT_LETTERS[split]) & set(EXCLUDED_LETTERS)
        patterns = {frozenset(p) for p in (*DIGIT_SEGMENTS.values(), *DIGIT_SEGMENT_VARIANTS.values())}
        for pattern in (*SEGMENT_LETTERS[split].values(), *SEGMENT_SYMBOLS[split].values()):
            assert frozenset(pattern) not in patterns, pattern


def load_mnist_test(split: str, path: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, labels, test indices) of the split's share of MNIST x_test (from `path`, else
    $MNIST_PATH, else the data stage's data/mnist.npz, else ../shared/data/mnist.npz)."""
    from pipeline.mnist import DataError, load_arrays

    given = path is not None
    found = next((candidate for candidate in MNIST_DEFAULTS if candidate.is_file()), MNIST_DEFAULTS[0])
    path = Path(path or os.environ.get("MNIST_PATH", str(found)))
    if not path.is_file():
        where = ("pass the mnist.npz that `dvc repro data` writes" if given
                 else "run `dvc repro data`, or set MNIST_PATH to mnist.npz")
        raise SystemExit(f"make_scenes: error: no MNIST at {path}; {where}")
    try:
        data = load_arrays(path, ("x_test", "y_test"))
    except DataError as error:
        raise SystemExit(f"make_scenes: error: {error}") from None
    x, y = data["x_test"], data["y_test"]
    indices = np.asarray(MNIST_RANGES[split])
    return x[indices], y[indices].astype(int), indices


# ---------------------------------------------------------------- ink masks (float32, 1 = ink)


def mnist_ink(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, np.float32) / 255.0


def _chaikin(points: list[tuple[float, float]], rounds: int) -> list[tuple[float, float]]:
    for _ in range(rounds):
        closed = points[0] == points[-1]
        out = [points[0]]
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            out += [(0.75 * x0 + 0.25 * x1, 0.75 * y0 + 0.25 * y1), (0.25 * x0 + 0.75 * x1, 0.25 * y0 + 0.75 * y1)]
        out.append(out[1] if closed else points[-1])
        points = out
    return points


def _pen(polylines: list[list[tuple[float, float]]], width: float, px: int = INK_PX,
         aspect: float = 1.0) -> np.ndarray:
    """Polylines in a unit box (y down) drawn with a round pen, `px` tall, antialiased."""
    ss = 3
    pad = width * px / 2 + 2
    w, h = int(px * aspect + 2 * pad), int(px + 2 * pad)
    mask = Image.new("L", (w * ss, h * ss), 0)
    draw = ImageDraw.Draw(mask)
    r = max(1.0, width * px * ss / 2)
    for line in polylines:
        points = [((pad + x * px * aspect) * ss, (pad + y * px) * ss) for x, y in line]
        draw.line(points, fill=255, width=int(round(2 * r)))
        for x, y in points:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(mask.resize((w, h), Image.Resampling.BOX), np.float32) / 255.0


def pen_ink(digit: int, rng: np.random.Generator) -> np.ndarray:
    """A tools/synthetic.py stroke digit, jittered, slanted and smoothed like handwriting."""
    aspect, slant, width = rng.uniform(0.5, 0.85), rng.uniform(-0.18, 0.12), rng.uniform(0.07, 0.15)
    rounds = int(rng.choice([0, 1, 2, 2]))
    lines = []
    for stroke in STROKES[digit]:
        jitter = rng.normal(0, 0.025, size=(len(stroke), 2))
        points = [(x + jx + slant * (1 - y), y + jy) for (x, y), (jx, jy) in zip(stroke, jitter)]
        if stroke[0] == stroke[-1]:
            points[-1] = points[0]
        lines.append(_chaikin(points, rounds))
    return _pen(lines, width, aspect=aspect)


def font_ink(text: str, font: Path, px: int = INK_PX) -> np.ndarray:
    face = ImageFont.truetype(str(font), size=px)
    left, top, right, bottom = face.getbbox(text)
    mask = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(mask).text((4 - left, 4 - top), text, font=face, fill=255)
    return np.asarray(mask, np.float32) / 255.0


def segment_ink(segments: str, rng: np.random.Generator, px: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(lit segments, all seven segments) of one seven-segment digit `px` tall, slanted."""
    width, t = rng.uniform(0.48, 0.6), rng.uniform(0.1, 0.17)
    gap, slant = rng.uniform(0.008, 0.025), math.tan(math.radians(rng.uniform(0, 12)))
    pointed = rng.random() < 0.7
    x0, x1, y0, y1, y2 = t / 2, width - t / 2, t / 2, 0.5, 1 - t / 2
    lines = {"a": ((x0, y0), (x1, y0)), "b": ((x1, y0), (x1, y1)), "c": ((x1, y1), (x1, y2)),
             "d": ((x0, y2), (x1, y2)), "e": ((x0, y1), (x0, y2)), "f": ((x0, y0), (x0, y1)),
             "g": ((x0, y1), (x1, y1))}
    ss, pad = 3, 0.1
    w, h = int((width + slant + 2 * pad) * px), int((1 + 2 * pad) * px)
    lit, every = (Image.new("L", (w * ss, h * ss), 0) for _ in range(2))
    for name, ((ax, ay), (bx, by)) in lines.items():
        length = math.hypot(bx - ax, by - ay)
        dx, dy = (bx - ax) / length, (by - ay) / length
        nx, ny = -dy, dx
        ax, ay, bx, by = ax + dx * gap, ay + dy * gap, bx - dx * gap, by - dy * gap
        half, tip = t / 2, (t / 2 if pointed else 0.0)
        corners = [(ax, ay), (ax + dx * tip + nx * half, ay + dy * tip + ny * half),
                   (bx - dx * tip + nx * half, by - dy * tip + ny * half), (bx, by),
                   (bx - dx * tip - nx * half, by - dy * tip - ny * half),
                   (ax + dx * tip - nx * half, ay + dy * tip - ny * half)]
        polygon = [((pad + x + slant * (1 - y)) * px * ss, (pad + y) * px * ss) for x, y in corners]
        ImageDraw.Draw(every).polygon(polygon, fill=255)
        if name in segments:
            ImageDraw.Draw(lit).polygon(polygon, fill=255)
    down = [np.asarray(m.resize((w, h), Image.Resampling.BOX), np.float32) / 255.0 for m in (lit, every)]
    return down[0], down[1]


def arrow_ink(rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0, 2 * math.pi)
    length, head = rng.uniform(0.7, 1.0), rng.uniform(0.2, 0.35)
    c, s = math.cos(angle), math.sin(angle)
    tail, tip = (0.5 - c * length / 2, 0.5 - s * length / 2), (0.5 + c * length / 2, 0.5 + s * length / 2)
    wings = [(tip[0] - head * math.cos(angle + a), tip[1] - head * math.sin(angle + a)) for a in (0.5, -0.5)]
    lines = [[tail, tip], [wings[0], tip, wings[1]]]
    if rng.random() < 0.3:  # double-headed
        lines.append([(tail[0] + head * math.cos(angle + a), tail[1] + head * math.sin(angle + a)) for a in (0.5,)]
                     + [tail] + [(tail[0] + head * math.cos(angle - 0.5), tail[1] + head * math.sin(angle - 0.5))])
    return _pen(lines, rng.uniform(0.05, 0.1))


def shape_ink(rng: np.random.Generator) -> np.ndarray:
    """A circle, box or triangle outline (or filled), sometimes two."""
    ss, px = 3, INK_PX
    mask = Image.new("L", (px * ss, px * ss), 0)
    draw = ImageDraw.Draw(mask)
    for _ in range(1 if rng.random() < 0.7 else 2):
        kind = int(rng.integers(0, 3))
        cx, cy, r = rng.uniform(0.35, 0.65) * px, rng.uniform(0.35, 0.65) * px, rng.uniform(0.2, 0.33) * px
        aspect = rng.uniform(0.8, 1.25)
        width = int(rng.uniform(0.04, 0.1) * px * ss)
        fill = 255 if rng.random() < 0.2 else None
        if kind == 0:
            box = ((cx - r * aspect) * ss, (cy - r) * ss, (cx + r * aspect) * ss, (cy + r) * ss)
            draw.ellipse(box, outline=255, width=width, fill=fill)
        else:
            n = 4 if kind == 1 else 3
            turn = (math.pi / 4 if n == 4 else -math.pi / 2) + rng.uniform(-0.4, 0.4)
            points = [((cx + r * aspect * math.cos(turn + 2 * math.pi * k / n)) * ss,
                       (cy + r * math.sin(turn + 2 * math.pi * k / n)) * ss) for k in range(n)]
            draw.polygon(points, outline=255, width=width, fill=fill)
    return np.asarray(mask.resize((px, px), Image.Resampling.BOX), np.float32) / 255.0


def scribble_ink(rng: np.random.Generator) -> np.ndarray:
    """A smooth random pen path: a heading that wanders and bounces off the unit box's walls."""
    steps = int(rng.integers(90, 220))
    bend, curvature = rng.uniform(0.08, 0.2), 0.0
    step = rng.uniform(0.025, 0.04)
    x, y, heading, points = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0, 2 * math.pi), []
    for kick in rng.normal(0, 1, steps):
        curvature = 0.85 * curvature + bend * kick
        heading += curvature
        x, y = x + step * math.cos(heading), y + step * math.sin(heading)
        if not 0 <= x <= 1:
            x, heading = min(max(x, 0.0), 1.0), math.pi - heading
        if not 0 <= y <= 1:
            y, heading = min(max(y, 0.0), 1.0), -heading
        points.append((x, y))
    return _pen([points], rng.uniform(0.02, 0.05), aspect=rng.uniform(0.8, 1.6))


# ---------------------------------------------------------------- picture helpers


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a [0, 1] float mask (through 8 bits: Pillow blurs no float images)."""
    if sigma <= 0:
        return a
    image = Image.fromarray(np.round(np.clip(a, 0, 1) * 255).astype(np.uint8), "L")
    return np.asarray(image.filter(ImageFilter.GaussianBlur(sigma)), np.float32) / 255.0


def _resize(a: np.ndarray, w: int, h: int, resample=Image.Resampling.LANCZOS) -> np.ndarray:
    return np.asarray(Image.fromarray(np.asarray(a, np.float32), "F").resize((w, h), resample), np.float32)


def _field(rng: np.random.Generator, w: int, h: int, cell: float) -> np.ndarray:
    """Smooth noise, about unit variance, with features `cell` px wide."""
    gw, gh = max(2, int(w / cell) + 2), max(2, int(h / cell) + 2)
    return _resize(rng.standard_normal((gh, gw), dtype=np.float32), w, h, Image.Resampling.BICUBIC)


def _bbox(a: np.ndarray, threshold: float) -> tuple[int, int, int, int] | None:
    rows, cols = np.nonzero(a.max(axis=1) > threshold)[0], np.nonzero(a.max(axis=0) > threshold)[0]
    if not len(rows):
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _ink_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    box = _bbox(mask, 0.5) or _bbox(mask, 0.5 * float(mask.max()))
    return box or (0, 0, mask.shape[1], mask.shape[0])


def _smoothstep(a: np.ndarray) -> np.ndarray:
    """A mild contrast curve: soft MNIST greys -> the ink strength of a pen stroke."""
    t = np.clip((a - 0.1) / 0.8, 0, 1)
    return t * t * (3 - 2 * t)


def _blend(base: np.ndarray, colour, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return base * (1 - a) + np.asarray(colour, np.float32) * a


def _lines(w: int, h: int, spacing: float, width: float, phase: float, skew: float, vertical: bool) -> np.ndarray:
    """Antialiased parallel lines, `width` px wide, every `spacing` px."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) if not vertical else np.mgrid[0:w, 0:h].astype(np.float32)
    along = ys - xs * math.tan(math.radians(skew)) - phase
    distance = np.abs((along + spacing / 2) % spacing - spacing / 2)
    lines = np.clip(width / 2 + 0.5 - distance, 0, 1)
    return lines.T if vertical else lines


def _paper(rng: np.random.Generator, w: int, h: int, base=None, grain: float = 3.0,
           lossless: bool = False) -> np.ndarray:
    if base is None:
        base = 255 - rng.uniform(5, 25) + np.array([rng.uniform(0, 4), rng.uniform(-2, 2), -rng.uniform(0, 8)])
    texture = _field(rng, w, h, max(w, h) / 6) * rng.uniform(1, 4)
    if grain and not lossless:
        texture += _field(rng, w, h, 3) * grain * 0.3
    return np.asarray(base, np.float32)[None, None, :] + texture[..., None]


def _falloff(rng: np.random.Generator, w: int, h: int, drop: float) -> np.ndarray:
    """1 on the bright side, 1 - drop on the dark side, linear or radial."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:
        angle = rng.uniform(0, 2 * math.pi)
        t = xs * math.cos(angle) + ys * math.sin(angle)
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    else:
        cx, cy = rng.uniform(-0.2, 1.2) * w, rng.uniform(-0.2, 1.2) * h
        t = np.hypot(xs - cx, ys - cy)
        t = np.clip(t / max(1e-6, float(t.max())), 0, 1) ** rng.uniform(0.8, 1.6)
    return 1 - drop * t


def _vignette(w: int, h: int, strength: float) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xs - w / 2) / (w / 2)) ** 2 + ((ys - h / 2) / (h / 2)) ** 2
    return 1 - strength * r2 / 2


def _polygon_mask(w: int, h: int, polygons, ellipses=(), scale: int = 8) -> np.ndarray:
    """Filled polygons/ellipses (full-size coordinates) drawn at 1/scale size, as a float mask."""
    lw, lh = max(8, w // scale), max(8, h // scale)
    mask = Image.new("L", (lw, lh), 0)
    draw = ImageDraw.Draw(mask)
    for polygon in polygons:
        draw.polygon([(x / scale, y / scale) for x, y in polygon], fill=255)
    for cx, cy, rx, ry, angle in ellipses:
        c, s = math.cos(angle), math.sin(angle)
        points = [((cx + rx * math.cos(t) * c - ry * math.sin(t) * s) / scale,
                   (cy + rx * math.cos(t) * s + ry * math.sin(t) * c) / scale)
                  for t in np.linspace(0, 2 * math.pi, 48, endpoint=False)]
        draw.polygon(points, fill=255)
    return np.asarray(mask, np.float32) / 255.0


def _upsample(small: np.ndarray, w: int, h: int, blur: float) -> np.ndarray:
    return np.clip(_resize(_blur(small, blur), w, h, Image.Resampling.BICUBIC), 0, 1)


def _photo_size(rng: np.random.Generator, size, lossless: bool, sizes=PHOTO_SIZES,
                weights=PHOTO_WEIGHTS) -> tuple[int, int]:
    pick = int(rng.choice(len(sizes), p=np.asarray(weights) / sum(weights)))
    portrait, small = rng.random() < 0.45, int(rng.integers(0, len(LOSSLESS_SIZES)))
    if size is not None:
        return int(size[0]), int(size[1])
    w, h = LOSSLESS_SIZES[small] if lossless else sizes[pick]
    return (h, w) if portrait else (w, h)


def _trim(layers: list[np.ndarray], margin: int = 3) -> tuple[list[np.ndarray], int, int]:
    """Cut the layers to their union's ink box and `margin` px around it (zeros past the array's
    edge), so that scaling up sees the ink fade out. Returns (layers, box height, box width)."""
    layers = [np.pad(layer, margin) for layer in layers]
    union = np.maximum.reduce(layers)
    h, w = union.shape
    left, top, right, bottom = _bbox(union, 0.05) or (margin, margin, w - margin, h - margin)
    cut = [layer[top - margin:bottom + margin, left - margin:right + margin] for layer in layers]
    return cut, bottom - top, right - left


def _place(ink: np.ndarray, rng: np.random.Generator, w: int, h: int, height: float, max_angle: float = 10.0,
           ghost: np.ndarray | None = None, thicken: float = 0.0):
    """Scale the ink to `height` px, rotate it, put it at a random place of a w x h canvas.

    Returns (ink mask, ghost mask or None, box of the ink above 0.5). The random draws do not depend
    on the ink, so two inks under one seed land on the same place."""
    angle = rng.uniform(-max_angle, max_angle)
    ux, uy = rng.random(2)
    layers, h0, w0 = _trim([ink] + ([ghost] if ghost is not None else []))
    scale = min(height / h0, 0.8 * w / w0, 0.8 * h / h0)
    ch, cw = layers[0].shape
    tw, th = max(1, round(cw * scale)), max(1, round(ch * scale))
    pad = int((0.12 + thicken) * max(tw, th)) + 3
    placed = []
    for layer in layers:
        radius = int(round(thicken * WORK_PX))
        if radius >= 1:  # a thicker pen (marker, chalk): dilate at a working size, then scale
            work_scale = WORK_PX / h0
            ww, wh = max(1, round(cw * work_scale)), max(1, round(ch * work_scale))
            work = np.pad(_smoothstep(np.clip(_resize(layer, ww, wh), 0, 1)), radius)
            work = np.asarray(Image.fromarray(work, "F").filter(ImageFilter.MaxFilter(2 * radius + 1)), np.float32)
            fw, fh = (max(1, round((side + 2 * radius) * scale / work_scale)) for side in (ww, wh))
            layer = np.pad(_smoothstep(np.clip(_resize(work, fw, fh), 0, 1)), max(0, pad - (fw - tw) // 2))
        else:
            layer = np.pad(_smoothstep(np.clip(_resize(layer, tw, th), 0, 1)), pad)
        rotated = Image.fromarray(layer, "F").rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
        placed.append(np.clip(np.asarray(rotated, np.float32), 0, 1))
    ph, pw = placed[0].shape
    x = int(round(ux * (w - pw))) if pw <= w else -((pw - w) // 2)
    y = int(round(uy * (h - ph))) if ph <= h else -((ph - h) // 2)
    out = []
    for layer in placed:
        canvas = np.zeros((h, w), np.float32)
        sx0, sy0 = max(0, -x), max(0, -y)
        dx0, dy0 = max(0, x), max(0, y)
        span_w, span_h = min(pw - sx0, w - dx0), min(ph - sy0, h - dy0)
        canvas[dy0:dy0 + span_h, dx0:dx0 + span_w] = layer[sy0:sy0 + span_h, sx0:sx0 + span_w]
        out.append(canvas)
    return out[0], (out[1] if ghost is not None else None), _ink_box(out[0])


def _finish(rgb: np.ndarray, rng: np.random.Generator, blur_p: float = 0.3, blur: tuple = (0.5, 1.5),
            noise: tuple = (0.5, 2.0), lossless: bool = False) -> Image.Image:
    """Camera: occasional Gaussian blur, sensor noise (none for a lossless picture), 8 bits."""
    h, w = rgb.shape[:2]
    blurred, sigma = rng.random() < blur_p, rng.uniform(*blur) * max(1.0, math.sqrt(min(w, h) / 720))
    # a phone denoises its larger pictures more: less noise per pixel above 0.5 MP
    sd = 0.0 if lossless else rng.uniform(*noise) * max(0.35, min(1.0, math.sqrt(480_000 / (w * h))))
    noise_rng = np.random.default_rng(rng.integers(0, 2**63))
    image = Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8), "RGB")
    if blurred:
        image = image.filter(ImageFilter.GaussianBlur(sigma))
    if sd > 0:
        a = np.asarray(image, np.float32)
        a += noise_rng.standard_normal(a.shape[:2], dtype=np.float32)[..., None] * sd * 0.8
        a += noise_rng.standard_normal(a.shape, dtype=np.float32) * sd * 0.6
        image = Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8), "RGB")
    return image


def _pen_colour(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    colours = ((25, 30, 110), (20, 20, 25), (35, 45, 60), (20, 60, 150), (140, 25, 30))
    colour = np.asarray(colours[int(rng.choice(len(colours), p=[0.35, 0.3, 0.15, 0.15, 0.05]))], np.float32)
    return colour + rng.uniform(-10, 10, 3), rng.uniform(0.8, 0.97)


# ---------------------------------------------------------------- the scenes


def _ruled(ink, rng, size, ghost, lossless):
    w, h = _photo_size(rng, size, lossless)
    s = max(w, h) / 640
    paper = _paper(rng, w, h, lossless=lossless)
    spacing, width = rng.uniform(25, 45) * s, rng.uniform(1, 3) * s
    colour = (rng.uniform(120, 170), rng.uniform(160, 195), rng.uniform(215, 240)) if rng.random() < 0.75 else \
        np.repeat(rng.uniform(150, 185), 3)
    paper = _blend(paper, colour, _lines(w, h, spacing, width, rng.uniform(0, spacing), rng.uniform(-1.5, 1.5),
                                         False) * rng.uniform(0.6, 0.9))
    if rng.random() < 0.7:  # the red margin, sometimes doubled
        x, lw = rng.uniform(0.06, 0.2) * w, rng.uniform(1, 2.5) * s
        if rng.random() < 0.5:
            x = w - x
        margin = np.clip(lw / 2 + 0.5 - np.abs(np.arange(w, dtype=np.float32) - x), 0, 1)
        if rng.random() < 0.3:
            margin = np.maximum(margin, np.roll(margin, int(4 * s)))
        paper = _blend(paper, (220, 110, 115), np.broadcast_to(margin[None, :] * 0.8, (h, w)))
    mask, _, _ = _place(ink, rng, w, h, spacing * rng.uniform(1.2, 3.0))
    colour, alpha = _pen_colour(rng)
    return _finish(_blend(paper, colour, mask * alpha), rng, blur_p=1.0, blur=(0.4, 1.0), lossless=lossless), mask


def _grid(ink, rng, size, ghost, lossless):
    w, h = _photo_size(rng, size, lossless)
    s = max(w, h) / 640
    paper = _paper(rng, w, h, lossless=lossless)
    spacing, width = rng.uniform(20, 40) * s, rng.uniform(0.8, 1.8) * s
    colour = (rng.uniform(140, 185), rng.uniform(175, 205), rng.uniform(215, 240)) if rng.random() < 0.7 else \
        np.repeat(rng.uniform(160, 195), 3)
    skew, strength = rng.uniform(-1.5, 1.5), rng.uniform(0.5, 0.85)
    lines = np.maximum(_lines(w, h, spacing, width, rng.uniform(0, spacing), skew, False),
                       _lines(w, h, spacing, width, rng.uniform(0, spacing), -skew, True))
    paper = _blend(paper, colour, lines * strength)
    mask, _, _ = _place(ink, rng, w, h, spacing * rng.uniform(2, 5))
    colour, alpha = _pen_colour(rng)
    return _finish(_blend(paper, colour, mask * alpha), rng, lossless=lossless), mask


def _shadow(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A soft shadow (a hand, a phone, an edge) over 10-40% of the page."""
    kind, target = int(rng.integers(0, 3)), rng.uniform(0.1, 0.4)
    small = None
    for _ in range(24):
        side = int(rng.integers(0, 4))
        u = rng.random(6)
        if kind == 0:  # a straight edge: the shadow of the phone or of a book
            d0, d1 = target * (1 + (u[0] - 0.5)), target * (1 - (u[0] - 0.5))
            corners = [(0, 0), (d0, 0), (d1, 1), (0, 1)]
            polygons, ellipses = [corners], []
        elif kind == 1:  # a hand: a palm and an arm running off the page
            cx, cy = 0.1 + 0.4 * u[0], 0.2 + 0.6 * u[1]
            rx, ry = 0.15 + 0.2 * u[2], 0.12 + 0.15 * u[3]
            polygons = [[(0, cy - ry * 0.7), (cx, cy - ry * 0.6), (cx, cy + ry * 0.6), (0, cy + ry * 0.7)]]
            ellipses = [(cx, cy, rx, ry, (u[4] - 0.5) * 1.2)]
        else:  # a phone held over the page: a long rounded box from an edge
            cy, half, depth, tilt = 0.2 + 0.6 * u[0], 0.12 + 0.15 * u[1], 0.3 + 0.5 * u[2], (u[3] - 0.5) * 0.6
            polygons = [[(-0.1, cy - half), (depth, cy - half + tilt * depth),
                         (depth, cy + half + tilt * depth), (-0.1, cy + half)]]
            ellipses = []

        def orient(x, y):
            return [(x * w, y * h), ((1 - x) * w, y * h), (y * w, x * h), (y * w, (1 - x) * h)][side]

        polygons = [[orient(x, y) for x, y in polygon] for polygon in polygons]
        ellipses = [(*orient(cx, cy), rx * (w if side < 2 else h), ry * (h if side < 2 else w),
                     angle + (math.pi / 2 if side >= 2 else 0)) for cx, cy, rx, ry, angle in ellipses]
        small = _polygon_mask(w, h, polygons, ellipses)
        if 0.1 <= small.mean() <= 0.4:
            break
    return _upsample(small, w, h, rng.uniform(0.02, 0.07) * max(small.shape))


def _gradient_shadow(ink, rng, size, ghost, lossless):
    w, h = _photo_size(rng, size, lossless)
    paper = _paper(rng, w, h, lossless=lossless)
    light = _falloff(rng, w, h, rng.uniform(0.25, 0.6))
    shadow = _shadow(rng, w, h) * rng.uniform(0.3, 0.6)
    tint = np.array([1.0, 1.0, 1.04], np.float32)
    mask, _, _ = _place(ink, rng, w, h, h * rng.uniform(0.15, 0.6))
    colour, alpha = _pen_colour(rng)
    page = _blend(paper, colour, mask * alpha)
    lit = page * light[..., None] * (1 - shadow[..., None] * tint)
    return _finish(lit, rng, noise=(0.8, 2.5), lossless=lossless), mask


def _perspective(w: int, h: int, rng: np.random.Generator, amount: float) -> list[float]:
    """PIL PERSPECTIVE coefficients (output -> input) that move each corner up to `amount` of the size."""
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    dst = [(x + rng.uniform(-amount, amount) * w, y + rng.uniform(-amount, amount) * h) for x, y in src]
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    return [float(c) for c in np.linalg.solve(np.asarray(rows, np.float64), np.asarray(rhs, np.float64))]


def _warp(a: np.ndarray, w: int, h: int, coeffs) -> np.ndarray:
    image = Image.fromarray(np.asarray(a, np.float32), "F")
    return np.asarray(image.transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC),
                      np.float32)


def _small_in_frame(ink, rng, size, ghost, lossless):
    w, h = _photo_size(rng, size, lossless, FRAME_SIZES, FRAME_WEIGHTS)
    paper = _paper(rng, w, h, grain=rng.uniform(2, 5), lossless=lossless)
    mask, _, _ = _place(ink, rng, w, h, h * rng.uniform(0.05, 0.15))
    colour, alpha = _pen_colour(rng)
    page = _blend(paper, colour, mask * alpha)
    coeffs = _perspective(w, h, rng, rng.uniform(0.02, 0.08))
    tables = ((150, 110, 70), (95, 65, 45), (120, 120, 125), (200, 198, 192), (40, 40, 45), (60, 90, 75))
    table = np.asarray(tables[int(rng.integers(0, len(tables)))], np.float32) * rng.uniform(0.8, 1.15)
    table = table[None, None, :] * (1 + 0.15 * _field(rng, w, h, max(w, h) / 10))[..., None]
    cover = np.clip(_warp(np.ones((h, w), np.float32), w, h, coeffs), 0, 1)
    mask = np.clip(_warp(mask, w, h, coeffs), 0, 1)
    page = np.stack([_warp(page[..., c], w, h, coeffs) for c in range(3)], axis=-1)
    rgb = page * cover[..., None] + table * (1 - cover[..., None])
    rgb *= (_vignette(w, h, rng.uniform(0.15, 0.45)) * _falloff(rng, w, h, rng.uniform(0, 0.25)))[..., None]
    return _finish(rgb, rng, noise=(0.6, 2.0), lossless=lossless), mask


def _whiteboard(ink, rng, size, ghost, lossless):
    w, h = _photo_size(rng, size, lossless)
    s = max(w, h) / 640
    board = np.array([rng.uniform(222, 238), rng.uniform(228, 242), rng.uniform(236, 250)], np.float32)
    rgb = _paper(rng, w, h, base=board, grain=1.5, lossless=lossless)
    rgb *= _falloff(rng, w, h, rng.uniform(0.05, 0.25))[..., None]
    if rng.random() < 0.6:  # old marker, wiped: faint wide smears
        smears = _polygon_mask(w, h, [], [(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.1, 0.3) * w,
                                           rng.uniform(0.03, 0.08) * h, rng.uniform(-0.3, 0.3)) for _ in range(3)])
        rgb = _blend(rgb, (150, 155, 165), _upsample(smears, w, h, 2.0) * rng.uniform(0.04, 0.1))
    if rng.random() < 0.35:  # the aluminium frame along one edge
        band = int(rng.uniform(0.02, 0.05) * min(w, h))
        frame = np.zeros((h, w), np.float32)
        edge = int(rng.integers(0, 4))
        frame[(slice(0, band), slice(h - band, h), slice(None), slice(None))[edge],
              (slice(None), slice(None), slice(0, band), slice(w - band, w))[edge]] = 1.0
        rgb = _blend(rgb, np.repeat(rng.uniform(150, 195), 3), frame)
    height = h * rng.uniform(0.15, 0.6)
    mask, _, box = _place(ink, rng, w, h, height, thicken=rng.uniform(0.015, 0.035))
    colours = ((25, 25, 30), (25, 50, 150), (175, 30, 35), (25, 115, 60))
    colour = np.asarray(colours[int(rng.integers(0, 4))], np.float32) + rng.uniform(-10, 10, 3)
    rgb = _blend(rgb, colour, _blur(mask, 0.6 * s) * rng.uniform(0.85, 0.97))
    spots = []
    near = rng.random() < 0.5
    for k in range(1 if rng.random() < 0.5 else 2):
        u = rng.random(5)
        if near and k == 0:  # partly over the stroke
            bx, by = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            cx, cy = bx + (u[0] - 0.5) * (box[2] - box[0]) * 1.5, by + (u[1] - 0.5) * (box[3] - box[1]) * 1.5
        else:
            cx, cy = u[0] * w, u[1] * h
        spots.append((cx, cy, (0.06 + 0.14 * u[2]) * w, (0.03 + 0.08 * u[3]) * h, (u[4] - 0.5) * 1.5))
    glare = _upsample(_polygon_mask(w, h, [], spots, scale=4), w, h, rng.uniform(1.5, 4))
    rgb = _blend(rgb, (253, 253, 252), glare * rng.uniform(0.7, 0.95))
    return _finish(rgb, rng, lossless=lossless), mask


def _board_dark(ink, rng, size, ghost, lossless):
    w, h = _photo_size(rng, size, lossless)
    s = max(w, h) / 640
    if rng.random() < 0.65:
        board = np.array([rng.uniform(30, 50), rng.uniform(55, 80), rng.uniform(45, 62)], np.float32)
    else:
        board = np.repeat(rng.uniform(22, 40), 3).astype(np.float32) + np.array([0, 1, 3], np.float32)
    rgb = _paper(rng, w, h, base=board, grain=2.0, lossless=lossless)
    rgb *= _falloff(rng, w, h, rng.uniform(0.05, 0.3))[..., None]
    chalk = np.array([238, 238, 230], np.float32) if rng.random() < 0.8 else \
        np.asarray(((240, 230, 150), (240, 180, 190), (170, 210, 240))[int(rng.integers(0, 3))], np.float32)
    smudges = [(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.1, 0.35) * w, rng.uniform(0.04, 0.15) * h,
                rng.uniform(-0.4, 0.4)) for _ in range(int(rng.integers(2, 7)))]
    old = _upsample(_polygon_mask(w, h, [], smudges), w, h, rng.uniform(3, 6))
    streaks = _resize(rng.standard_normal((max(2, int(h / (4 * s))), 6), dtype=np.float32), w, h,
                      Image.Resampling.BICUBIC)  # an eraser's strokes run along the board
    old *= np.clip(0.6 + 0.4 * streaks, 0, 1)
    rgb = _blend(rgb, (200, 205, 200), old * rng.uniform(0.06, 0.16))
    height = h * rng.uniform(0.15, 0.6)
    mask, _, _ = _place(ink, rng, w, h, height, thicken=rng.uniform(0, 0.015))
    grain = _field(rng, w, h, rng.uniform(1.0, 2.0) * s) + 0.6 * _field(rng, w, h, 6 * s)
    gaps = rng.uniform(-0.8, -0.1)
    texture = np.clip((grain - gaps) / 0.8, 0, 1) * rng.uniform(0.7, 0.95)
    rgb = _blend(rgb, chalk, mask * texture)
    return _finish(rgb, rng, noise=(0.8, 2.5), lossless=lossless), mask


def _seven_segment(ink, rng, size, ghost, lossless):
    w, h = _photo_size(rng, size, lossless)
    s = max(w, h) / 640
    led = rng.random() < 0.5
    height = h * rng.uniform(0.15, 0.6)
    if ghost is None:
        ghost = np.zeros_like(ink)
    mask, ghost, box = _place(ink, rng, w, h, height, max_angle=4.0, ghost=ghost)
    off = np.clip(ghost - mask, 0, 1)
    if led:
        back = np.repeat(rng.uniform(5, 25), 3).astype(np.float32)
        rgb = _paper(rng, w, h, base=back, grain=1.0, lossless=lossless)
        colours = ((255, 45, 30), (60, 255, 90), (245, 245, 255), (255, 170, 30))
        colour = np.asarray(colours[int(rng.choice(4, p=[0.4, 0.25, 0.2, 0.15]))], np.float32)
        rgb = _blend(rgb, colour * 0.25, off * rng.uniform(0.0, 0.25))
        core = colour + (255 - colour) * rng.uniform(0.0, 0.6)
        glow = (_blur(mask, height * rng.uniform(0.04, 0.1)) * rng.uniform(0.8, 1.6)
                + _blur(mask, height * 0.015) * rng.uniform(0.3, 0.6))
        rgb = rgb + np.clip(glow, 0, 1.2)[..., None] * colour
        rgb = _blend(rgb, core, mask)
        bezel = np.repeat(rng.uniform(40, 120), 3)
    else:
        if rng.random() < 0.7:  # reflective grey-green
            back = np.array([rng.uniform(145, 175), rng.uniform(160, 185), rng.uniform(135, 160)], np.float32)
        else:  # backlit
            back = np.asarray(((150, 210, 90), (110, 170, 235), (235, 180, 90))[int(rng.integers(0, 3))], np.float32)
        rgb = _paper(rng, w, h, base=back, grain=1.5, lossless=lossless)
        rgb *= _falloff(rng, w, h, rng.uniform(0, 0.2))[..., None]
        segment = np.array([rng.uniform(30, 60), rng.uniform(35, 65), rng.uniform(30, 55)], np.float32)
        rgb = _blend(rgb, segment, off * rng.uniform(0.1, 0.2))
        dx, dy = int(rng.uniform(1, 3) * s), int(rng.uniform(1, 3) * s)
        rgb = _blend(rgb, segment, np.roll(mask, (dy, dx), axis=(0, 1)) * 0.15)
        rgb = _blend(rgb, segment, mask * rng.uniform(0.85, 0.97))
        bezel = np.repeat(rng.uniform(25, 90), 3)
    if rng.random() < 0.5:  # the bezel: the display window's frame
        bh = box[3] - box[1]
        grow = rng.uniform(0.15, 0.7, 4) * bh
        x0, y0 = int(max(0, box[0] - grow[0])), int(max(0, box[1] - grow[1]))
        x1, y1 = int(min(w, box[2] + grow[2])), int(min(h, box[3] + grow[3]))
        frame = np.ones((h, w), np.float32)
        frame[y0:y1, x0:x1] = 0
        edge = np.zeros((h, w), np.float32)
        bevel = max(1, int(2 * s))
        edge[max(0, y0 - bevel):y0, max(0, x0 - bevel):x1 + bevel] = 1
        edge[max(0, y0 - bevel):y1 + bevel, max(0, x0 - bevel):x0] = 1
        rgb = _blend(rgb, bezel + rng.uniform(-5, 5, 3), frame)
        rgb = _blend(rgb, np.minimum(255, bezel + 60), edge * 0.7)
    return _finish(rgb, rng, blur_p=0.35, noise=(0.8, 2.5), lossless=lossless), mask


def _tight_crop(ink, rng, size):
    side = float(max(size)) if size is not None else math.exp(rng.uniform(math.log(16), math.log(300)))
    angle = rng.uniform(-10, 10)
    touching = int(rng.integers(1, 5))
    order = rng.permutation(4)
    cut = rng.choice([0, 0, 0, 0, 0, 1, 2], size=4)
    near = rng.random() < 0.5
    spare = rng.uniform(0.02, 0.12, size=4)
    (ink,), h0, w0 = _trim([ink])
    scale = side / max(h0, w0)
    tw, th = max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale))
    pad = int(0.2 * side) + 6
    layer = np.pad(_smoothstep(np.clip(_resize(ink, tw, th), 0, 1)), pad)
    mask = np.clip(np.asarray(Image.fromarray(layer, "F").rotate(angle, resample=Image.Resampling.BICUBIC), np.float32),
                   0, 1)
    left, top, right, bottom = _bbox(mask, 0.25) or _ink_box(mask)
    margins = [0, 0, 0, 0]
    for rank, sideno in enumerate(order):
        if rank < touching:
            margins[sideno] = -int(cut[sideno])
        else:
            margins[sideno] = int(rng.integers(1, 3)) if near else 1 + int(spare[sideno] * side)
    left, top, right, bottom = left - margins[0], top - margins[1], right + margins[2], bottom + margins[3]
    if right - left < math.ceil((bottom - top) / 6):  # at most 1:6, like a narrow 1
        grow = math.ceil((bottom - top) / 6) - (right - left)
        left, right = left - grow // 2, right + grow - grow // 2
    if bottom - top < math.ceil((right - left) / 6):
        grow = math.ceil((right - left) / 6) - (bottom - top)
        top, bottom = top - grow // 2, bottom + grow - grow // 2
    mask = mask[top:bottom, left:right]
    h, w = mask.shape
    dark_on_light = rng.random() < 0.7
    paper_tone, ink_tone = rng.uniform(200, 252), rng.uniform(5, 70)
    tint = rng.uniform(-12, 12, 3) if rng.random() < 0.5 else np.zeros(3)
    if not dark_on_light:
        paper_tone, ink_tone = 255 - paper_tone * rng.uniform(0.75, 1.0), 255 - ink_tone
    base = np.clip(paper_tone + tint, 0, 255)
    if rng.random() < 0.5:
        paper = _paper(rng, w, h, base=base, grain=2.0)
    else:
        paper = np.broadcast_to(base.astype(np.float32), (h, w, 3))
    rgb = _blend(paper, np.clip(ink_tone + tint, 0, 255), mask * rng.uniform(0.85, 1.0))
    grey = rng.random() < 0.3
    image = _finish(rgb, rng, blur_p=0.15, blur=(0.3, 0.7), noise=(0.0, 2.0))
    return (image.convert("L") if grey else image), mask


_SCENE_RENDERERS = {"ruled": _ruled, "grid": _grid, "gradient_shadow": _gradient_shadow,
                    "small_in_frame": _small_in_frame, "whiteboard": _whiteboard, "board_dark": _board_dark,
                    "seven_segment": _seven_segment}


def render(scene: str, ink: np.ndarray, rng: np.random.Generator, size: tuple[int, int] | None = None, *,
           ghost: np.ndarray | None = None, lossless: bool = False) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """One picture of `scene` with `ink` (float [0, 1], 1 = ink, any size) in it, and the ink's box.

    size: (width, height) of the picture, else drawn from the scene's sizes (tight_crop: the longer
    side of the ink before the crop). ghost: for seven_segment, the mask of all segments, drawn
    faintly (the off segments of an LCD). lossless: the picture will be saved as PNG, so it is made
    smaller (at most 800x600 unless `size` says) and cleaner (no sensor noise, no paper grain),
    like a scan or a screenshot: a noisy PNG photo takes megabytes. The box is (left, top, right,
    bottom) in the picture's pixels, right and bottom exclusive: the ink above 0.5 after scaling,
    rotation and perspective (tight_crop: after the crop)."""
    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}; one of {', '.join(SCENES)}")
    ink = np.clip(np.asarray(ink, np.float32), 0, 1)
    if ink.ndim != 2 or not ink.any():
        raise ValueError("ink must be a 2-D mask with some ink")
    image, mask = _render(scene, ink, rng, size, ghost, lossless)
    return image, _ink_box(mask)


def _render(scene: str, ink: np.ndarray, rng: np.random.Generator, size, ghost, lossless: bool):
    """(picture, the ink's mask in it: float [0, 1], the picture's size)."""
    if scene == "tight_crop":
        return _tight_crop(ink, rng, size)
    if ghost is not None:
        ghost = np.clip(np.asarray(ghost, np.float32), 0, 1)
    return _SCENE_RENDERERS[scene](ink, rng, size, ghost, lossless)


# ---------------------------------------------------------------- the set


def _save(image: Image.Image, stem: Path, jpeg: bool, quality: int) -> Path:
    path = stem.with_suffix(".jpg" if jpeg else ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    if jpeg:
        image.save(path, quality=quality, optimize=True)
    else:
        image.save(path, optimize=True)
    return path


def _format(scene: str, size, rng: np.random.Generator) -> tuple[bool, int]:
    """(JPEG?, quality): 60% JPEG over the set; ruled pages and 12 MP frames always, tight crops 40%."""
    jpeg, quality = rng.random() < (0.4 if scene == "tight_crop" else 0.6), int(rng.integers(75, 91))
    if size == BIG:
        return True, 85
    return jpeg or scene == "ruled", quality


def _plan(n: int, shares: tuple[float, ...], rng: np.random.Generator) -> list[int]:
    counts = [int(round(n * share)) for share in shares]
    counts[0] += n - sum(counts)
    return [int(k) for k in rng.permutation(np.repeat(np.arange(len(shares)), counts))]


def make(split: str, out: Path | None = None, per_scene: int = PER_SCENE, mnist: Path | None = None) -> list[tuple[Path, str, int | None, str,
                                                                                         tuple[int, int, int, int]]]:
    """Write the split; returns (file, scene, label or None, source, box) per picture."""
    check_splits()
    out = OUT / split if out is None else Path(out)
    seed = SEEDS[split]
    faces = split_fonts(split)
    if not faces:
        raise SystemExit("make_scenes: error: no DejaVu or Liberation fonts; apt-get install fonts-dejavu-core "
                         "fonts-liberation")
    images, labels, indices = load_mnist_test(split, mnist)
    order = np.random.default_rng([seed, 0]).permutation(len(labels))
    queues = {d: [int(i) for i in order if labels[i] == d] for d in range(10)}
    for old in (p for scene in SCENES for p in sorted((out / scene).glob("*/*")) if p.suffix in (".png", ".jpg")):
        old.unlink()
    written = []
    for scene_no, scene in enumerate(SCENES, start=1):
        n_digits = per_scene * 5 // 3 if scene == "tight_crop" else per_scene
        shares = (0.7, 0.15, 0.15) if scene == "tight_crop" else (0.5, 0.25, 0.25)
        plan = _plan(n_digits, shares, np.random.default_rng([seed, scene_no, 2]))
        big = {n_digits // 6, n_digits * 3 // 5} if scene == "small_in_frame" else set()
        for index in range(n_digits):
            label, rng = index % 10, np.random.default_rng([seed, scene_no, 0, index])
            ghost = None
            if scene == "seven_segment":
                pattern = DIGIT_SEGMENTS[label]
                if label in DIGIT_SEGMENT_VARIANTS and rng.random() < 0.3:
                    pattern = DIGIT_SEGMENT_VARIANTS[label]
                ink, ghost = segment_ink(pattern, rng)
                source = "seg"
            elif plan[index] == 0:
                position = queues[label].pop()
                assert int(indices[position]) in MNIST_RANGES[split]
                ink, source = mnist_ink(images[position]), f"mnist{int(indices[position]):04d}"
            elif plan[index] == 1:
                ink, source = pen_ink(label, rng), "pen"
            else:
                font = faces[int(rng.integers(0, len(faces)))]
                ink, source = font_ink(str(label), font), f"font-{font.stem}"
            size = BIG if index in big else None
            jpeg, quality = _format(scene, size, rng)
            image, box = render(scene, ink, rng, size, ghost=ghost, lossless=not jpeg)
            path = _save(image, out / scene / str(label) / f"{index:03d}_{source}", jpeg, quality)
            written.append((path, scene, label, source, box))
        for index in range(per_scene // 3):
            kind, rng = NONE_KINDS[index % len(NONE_KINDS)], np.random.default_rng([seed, scene_no, 1, index])
            ink, ghost, detail = _non_digit(scene, kind, split, faces, rng)
            size = BIG if scene == "small_in_frame" and index == 7 else None
            jpeg, quality = _format(scene, size, rng)
            image, box = render(scene, ink, rng, size, ghost=ghost, lossless=not jpeg)
            path = _save(image, out / scene / "none" / f"{index:03d}_{kind}", jpeg, quality)
            written.append((path, scene, None, detail, box))
    with open(out / "boxes.csv", "w", newline="") as f:
        rows = csv.writer(f, lineterminator="\n")
        rows.writerow(["file", "scene", "label", "source", "width", "height", "left", "top", "right", "bottom"])
        for path, scene, label, source, box in written:
            with Image.open(path) as image:
                width, height = image.size
            rows.writerow([path.relative_to(out).as_posix(), scene, "" if label is None else label, source, width,
                           height, *box])
    return written


def _non_digit(scene: str, kind: str, split: str, faces: list[Path], rng: np.random.Generator):
    """(ink, ghost or None, description) of a twin: a letter, a symbol, a shape or a scribble."""
    if scene == "seven_segment" and kind in ("letter", "symbol"):
        table = SEGMENT_LETTERS[split] if kind == "letter" else SEGMENT_SYMBOLS[split]
        name = sorted(table)[int(rng.integers(0, len(table)))]
        lit, every = segment_ink(table[name], rng)
        return lit, every, f"seg-{name}"
    if kind == "letter":
        letter = LETTERS[split][int(rng.integers(0, len(LETTERS[split])))]
        font = faces[int(rng.integers(0, len(faces)))]
        return font_ink(letter, font), None, f"letter-{letter}-{font.stem}"
    if kind == "symbol":
        if rng.random() < 0.3:
            return arrow_ink(rng), None, "arrow"
        symbol = SYMBOLS[split][int(rng.integers(0, len(SYMBOLS[split])))]
        font = faces[int(rng.integers(0, len(faces)))]
        return font_ink(symbol, font), None, f"symbol-{ord(symbol):x}-{font.stem}"
    if kind == "shape":
        return shape_ink(rng), None, "shape"
    return scribble_ink(rng), None, "scribble"


def labelled_files(root: Path) -> list[tuple[Path, str, int | None]]:
    """(file, scene, label or None for a non-digit twin) for every picture under root, sorted."""
    root = Path(root)
    found = []
    for path in sorted(root.glob("*/*/*")):
        scene, folder = path.parent.parent.name, path.parent.name
        if scene in SCENES and path.suffix in (".png", ".jpg") and (folder == "none" or folder.isdigit()):
            found.append((path, scene, None if folder == "none" else int(folder)))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("python -m tools.make_scenes", __doc__)
    parser.add_argument("--split", choices=SPLITS, required=True)
    parser.add_argument("--out", type=Path, default=None, help="default: scenes/<split>")
    parser.add_argument("--per-scene", type=int, default=PER_SCENE, help="digit pictures per scene (default 60)")
    parser.add_argument("--mnist", type=Path, default=None, help="mnist.npz (default: $MNIST_PATH, else data/mnist.npz)")
    args = parser.parse_args(argv)
    if args.per_scene < 1:
        parser.error("--per-scene must be at least 1")
    out = args.out if args.out is not None else OUT / args.split
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out}: is a file; name a folder")
    start = time.monotonic()
    written = make(args.split, out, args.per_scene, args.mnist)
    size = sum(path.stat().st_size for path, *_ in written) + (out / "boxes.csv").stat().st_size
    print(f"make_scenes: wrote {len(written)} files, {size / 1e6:.2f} MB, to {out} "
          f"in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
