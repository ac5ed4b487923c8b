"""Make the real-world evaluation set: pictures of digits as people print, type and draw them.

    python -m tools.make_realworld            # writes realworld/digits/<label>/*.png|jpg and
                                              # realworld/nondigits/*.png (deterministic, seeded)

The set is for evaluation only: nothing trains on it, and training never renders these fonts
or strokes. It mixes:
- typeset digits in 38 TrueType faces (DejaVu and Liberation: sans, serif, mono, condensed,
  narrow, bold, italic, extra-light), some outlined (hollow strokes);
- pen-like strokes (the hand-drawn shapes of tools/synthetic.py) with varied pen widths;
on canvases from 28 to 320 px, off-centre, rotated up to +-12 degrees, both polarities,
coloured ink and paper, some blurred, some saved as JPEG. A separate `nondigits/` folder holds
pictures that are not digits (letters, shapes, noise, smooth gradients): the runtime should mostly
answer "no digit found" or mark them uncertain.

Fonts come from Debian's fonts-dejavu-core and fonts-liberation; `tests/pipeline/test_realworld.py`
re-makes a sample and compares pixels, skipped where those fonts are missing.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tools.figures import count, tool_parser
from tools.synthetic import STROKES

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "realworld"
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
SKIP_FONTS = {"DejaVuMathTeXGyre.ttf"}
SEED = 20261123
PER_DIGIT = 110  # 1,100 digit pictures
NON_DIGITS = 120
LETTERS = "ACEFHKLMNPRTUVWXYaehkmnrtuwxy#%&@?"


@dataclass(frozen=True)
class Style:
    size: int  # canvas side, px
    box: int  # digit height, px
    rotation: float
    ink: tuple[int, int, int]
    paper: tuple[int, int, int]
    blur: float
    jpeg: bool
    offset: tuple[int, int]


def fonts() -> list[Path]:
    found = sorted(p for d in FONT_DIRS if d.is_dir() for p in d.glob("*.ttf") if p.name not in SKIP_FONTS)
    return found


def style(rng: np.random.Generator) -> Style:
    size = int(rng.choice([28, 32, 40, 48, 56, 64, 80, 96, 128, 160]))
    box = int(size * rng.uniform(0.35, 0.8))
    dark_on_light = rng.random() < 0.75
    tone = np.repeat(rng.integers(0, 60), 3)
    light = np.repeat(255 - rng.integers(0, 50), 3)
    coloured = rng.random() < 0.4
    if coloured:
        tone = rng.integers(0, 140, size=3)
        light = rng.integers(170, 256, size=3)
    ink, paper = (tone, light) if dark_on_light else (light, tone)
    room = max(1, size - box)
    offset = (int(rng.integers(0, room)), int(rng.integers(0, room)))
    return Style(size, box, float(rng.uniform(-12, 12)), tuple(int(v) for v in ink), tuple(int(v) for v in paper),
                 float(rng.choice([0, 0, 0, 0.6, 1.0])) * size / 64, bool(rng.random() < 0.3), offset)


def _finish(mask: Image.Image, s: Style, rng: np.random.Generator) -> Image.Image:
    """A grey-level ink mask (255 = ink) -> the coloured, rotated, blurred picture."""
    mask = mask.rotate(s.rotation, resample=Image.Resampling.BICUBIC, fillcolor=0)
    if s.blur:
        mask = mask.filter(ImageFilter.GaussianBlur(s.blur))
    a = np.asarray(mask, np.float32)[..., None] / 255.0
    rgb = a * np.array(s.ink, np.float32) + (1 - a) * np.array(s.paper, np.float32)
    if rng.random() < 0.3:  # paper grain, sensor noise (kept to some pictures: noise makes files large)
        rgb += rng.normal(0, 3, rgb.shape).astype(np.float32)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    grey = len(set(s.ink)) == 1 and len(set(s.paper)) == 1
    return image.convert("L") if grey else image


def typeset(digit: int, font: Path, s: Style, rng: np.random.Generator) -> Image.Image:
    mask = Image.new("L", (s.size, s.size), 0)
    draw = ImageDraw.Draw(mask)
    face = ImageFont.truetype(str(font), size=max(8, s.box))
    left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=face)
    x = min(s.offset[0], max(0, s.size - (right - left))) - left
    y = min(s.offset[1], max(0, s.size - (bottom - top))) - top
    hollow = rng.random() < 0.1 and s.box >= 40
    if hollow:
        draw.text((x, y), str(digit), font=face, fill=0, stroke_width=max(1, s.box // 30), stroke_fill=255)
    else:
        draw.text((x, y), str(digit), font=face, fill=255)
    return _finish(mask, s, rng)


def handwritten(digit: int, s: Style, rng: np.random.Generator) -> Image.Image:
    mask = Image.new("L", (s.size, s.size), 0)
    draw = ImageDraw.Draw(mask)
    width = max(1, int(s.box * rng.uniform(0.05, 0.16)))
    aspect = rng.uniform(0.5, 0.85)
    jitter = rng.normal(0, 0.03, size=(32, 2))
    for stroke in STROKES[digit]:
        points = [(s.offset[0] * 0.5 + (x + jitter[i % 32, 0]) * s.box * aspect,
                   s.offset[1] * 0.5 + (y + jitter[i % 32, 1]) * s.box) for i, (x, y) in enumerate(stroke)]
        draw.line(points, fill=255, width=width, joint="curve")
        for px, py in points:
            r = width / 2
            draw.ellipse((px - r, py - r, px + r, py + r), fill=255)
    return _finish(mask, s, rng)


def non_digit(index: int, rng: np.random.Generator) -> Image.Image:
    s = style(rng)
    kind = index % 4
    if kind == 0:  # a letter or symbol in a font
        face = ImageFont.truetype(str(fonts()[index % len(fonts())]), size=max(8, s.box))
        mask = Image.new("L", (s.size, s.size), 0)
        ImageDraw.Draw(mask).text((s.offset[0] // 2, s.offset[1] // 2), LETTERS[index % len(LETTERS)], font=face,
                                  fill=255)
        return _finish(mask, s, rng)
    if kind == 1:  # random noise
        side = min(s.size, 64)
        return Image.fromarray(rng.integers(0, 256, size=(side, side), dtype=np.uint8), "L")
    if kind == 2:  # a smooth gradient, like a photo of a wall
        ramp = np.linspace(rng.uniform(0, 120), rng.uniform(130, 255), s.size, dtype=np.float32)
        plane = ramp[None, :] if rng.random() < 0.5 else ramp[:, None]
        gray = np.broadcast_to(plane, (s.size, s.size))
        return Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), "L").convert("RGB")
    mask = Image.new("L", (s.size, s.size), 0)  # geometric shapes: boxes and circles
    draw = ImageDraw.Draw(mask)
    for _ in range(int(rng.integers(1, 4))):
        x0, y0 = (int(v) for v in rng.integers(0, s.size // 2, size=2))
        width, height = (int(v) for v in rng.integers(s.size // 6, s.size // 2, size=2))
        x1, y1 = x0 + width, y0 + height
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((int(x0), int(y0), int(x1), int(y1)), outline=255,
                                                                  width=max(1, s.size // 24))
    return _finish(mask, s, rng)


def save(image: Image.Image, path_stem: Path, jpeg: bool) -> Path:
    path = path_stem.with_suffix(".jpg" if jpeg else ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    if jpeg:
        image.save(path, quality=80, optimize=True)
    else:
        image.save(path, optimize=True)
    return path


def make(out: Path = OUT, per_digit: int = PER_DIGIT, non_digits: int = NON_DIGITS, seed: int = SEED) -> list[Path]:
    faces = fonts()
    if not faces:
        raise SystemExit("make_realworld: error: no DejaVu or Liberation fonts; apt-get install fonts-dejavu-core "
                         "fonts-liberation")
    written = []
    for digit in range(10):
        rng = np.random.default_rng([seed, digit])
        for index in range(per_digit):
            s = style(rng)
            if index % 2 == 0:
                font = faces[(index // 2 + digit) % len(faces)]
                image, kind = typeset(digit, font, s, rng), f"font-{font.stem}"
            else:
                image, kind = handwritten(digit, s, rng), "pen"
            written.append(save(image, out / "digits" / str(digit) / f"{index:03d}_{kind}", s.jpeg))
    rng = np.random.default_rng([seed, 99])
    for index in range(non_digits):
        written.append(save(non_digit(index, rng), out / "nondigits" / f"{index:03d}", jpeg=index % 5 == 0))
    return written


def labelled_files(root: Path = OUT) -> list[tuple[Path, int]]:
    """(file, label) for every digit picture of the set, in a stable order."""
    return [(path, int(path.parent.name)) for path in sorted((root / "digits").glob("*/*")) if path.is_file()]


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("python -m tools.make_realworld", __doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=count(0), default=SEED,
                        help=f"another seed than {SEED} (the committed set's) makes a tuning split of the same kinds, "
                             "for tools.open_set_tune --realworld-tune")
    parser.add_argument("--digits-only", action="store_true", help="no non-digit pictures")
    parser.add_argument("--per-digit", type=count(1), default=PER_DIGIT, help="pictures of each digit")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out}: is a file; name a folder")
    other = args.seed != SEED or args.digits_only or args.per_digit != PER_DIGIT
    if other and args.out.resolve() == OUT.resolve():
        parser.error(f"{OUT} is the committed set (seed {SEED}, {PER_DIGIT} per digit, with non-digits); "
                     "write a tuning split elsewhere with --out DIR")
    written = make(args.out, args.per_digit, non_digits=0 if args.digits_only else NON_DIGITS, seed=args.seed)
    size = sum(p.stat().st_size for p in written)
    print(f"make_realworld: wrote {len(written)} files, {size / 1e6:.2f} MB, to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
