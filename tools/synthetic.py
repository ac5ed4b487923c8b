"""Synthetic pictures of digits, the one generator shared by the tests and `tools.bench`:
hand-drawn-like strokes and typeset digits, at many sizes and positions, both polarities,
in colour and with transparency. Pillow and numpy only."""

from __future__ import annotations

import io

import numpy as np
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

# Stroke drawings (polylines in a unit box, y down) that look like handwriting, not type.
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [[(0.5, 0.0), (0.15, 0.2), (0.1, 0.6), (0.35, 1.0), (0.7, 0.95), (0.9, 0.5), (0.8, 0.1), (0.5, 0.0)]],
    1: [[(0.35, 0.2), (0.55, 0.0), (0.55, 1.0)]],
    2: [[(0.1, 0.25), (0.4, 0.0), (0.8, 0.1), (0.85, 0.35), (0.1, 1.0), (0.95, 1.0)]],
    3: [[(0.1, 0.1), (0.5, 0.0), (0.85, 0.2), (0.45, 0.5), (0.9, 0.75), (0.55, 1.0), (0.1, 0.9)]],
    4: [[(0.65, 1.0), (0.65, 0.0), (0.05, 0.7), (0.95, 0.7)]],
    5: [[(0.85, 0.0), (0.2, 0.0), (0.15, 0.45), (0.6, 0.4), (0.9, 0.7), (0.6, 1.0), (0.1, 0.9)]],
    6: [[(0.75, 0.0), (0.3, 0.3), (0.12, 0.75), (0.4, 1.0), (0.8, 0.85), (0.75, 0.55), (0.35, 0.5), (0.15, 0.75)]],
    7: [[(0.05, 0.05), (0.95, 0.05), (0.4, 1.0)]],
    8: [[(0.5, 0.5), (0.15, 0.25), (0.5, 0.0), (0.85, 0.25), (0.5, 0.5), (0.1, 0.75), (0.5, 1.0), (0.9, 0.75),
         (0.5, 0.5)]],
    9: [[(0.85, 0.45), (0.5, 0.55), (0.15, 0.3), (0.45, 0.0), (0.85, 0.2), (0.85, 0.45), (0.75, 1.0)]],
}


def draw_digit(digit: int, size: int, box: int, offset: tuple[int, int], width_frac: float = 0.12,
               ink: int = 0, paper: int = 255, aspect: float = 0.7) -> Image.Image:
    """A hand-drawn-like digit, `box` px tall, on a `size` x `size` L-mode page."""
    image = Image.new("L", (size, size), paper)
    draw = ImageDraw.Draw(image)
    width = max(1, int(box * width_frac))
    w = box * aspect
    for stroke in STROKES[digit]:
        points = [(offset[0] + x * w, offset[1] + y * box) for x, y in stroke]
        draw.line(points, fill=ink, width=width, joint="curve")
        for px, py in points:
            r = width / 2
            draw.ellipse((px - r, py - r, px + r, py + r), fill=ink)
    return image


def render_digit(digit: int, size: int, font_px: int, offset: tuple[int, int], ink: int = 0,
                 paper: int = 255) -> Image.Image:
    """A typeset digit in Pillow's bundled font."""
    image = Image.new("L", (size, size), paper)
    ImageDraw.Draw(image).text(offset, str(digit), fill=ink, font=ImageFont.load_default(size=font_px))
    return image


def variants(seed: int = 0) -> list[tuple[int, str, Image.Image]]:
    """(label, description, picture) over digits x sizes x positions x polarity x colour modes."""
    rng = np.random.default_rng(seed)
    out = []
    for digit in range(10):
        for size, box in ((32, 20), (64, 40), (200, 90), (640, 300)):
            x = int(rng.integers(2, max(3, size - int(box * 0.7) - 2)))
            y = int(rng.integers(2, max(3, size - box - 2)))
            dark_on_light = bool(rng.integers(0, 2))
            ink, paper = (0, 255) if dark_on_light else (255, 0)
            gray = draw_digit(digit, size, box, (x, y), ink=ink, paper=paper)
            out.append((digit, f"drawn {size}px {'dark' if dark_on_light else 'light'} ink", gray))
            out.append((digit, f"colour {size}px", colourize(gray, rng, dark_on_light)))
            out.append((digit, f"transparent {size}px", transparent(gray, rng, dark_on_light)))
    return out


def colourize(gray: Image.Image, rng: np.random.Generator, dark_on_light: bool) -> Image.Image:
    """Blue ink on cream paper (or the reverse polarity), as RGB."""
    ink_colour = np.array([20, 40, 160]) if dark_on_light else np.array([250, 240, 120])
    paper_colour = np.array([245, 235, 210]) if dark_on_light else np.array([30, 20, 60])
    a = np.asarray(gray, dtype=np.float64)[..., None] / 255.0
    if dark_on_light:
        a = 1 - a
    rgb = a * ink_colour + (1 - a) * paper_colour + rng.normal(0, 3, size=a.shape[:2] + (3,))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def transparent(gray: Image.Image, rng: np.random.Generator, dark_on_light: bool) -> Image.Image:
    """Strokes as opaque pixels on a fully transparent background (RGBA), like an exported sketch."""
    a = np.asarray(gray, dtype=np.uint8)
    alpha = (255 - a) if dark_on_light else a
    colour = (0, 0, 0) if dark_on_light else (255, 255, 255)
    rgba = np.zeros(a.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = colour
    rgba[..., 3] = alpha
    return Image.fromarray(rgba, "RGBA")


def png_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def write_digit_folder(folder: Path, count: int, seed: int = 0, size: int = 28,
                       corrupt_at: int | None = None) -> list[int]:
    """Write `count` drawn digits as PNGs named 000000.png...; returns their labels.

    With `corrupt_at`, that file holds bytes that are not an image (a bad file mid-folder).
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = []
    for i in range(count):
        digit = int(rng.integers(0, 10))
        labels.append(digit)
        path = folder / f"{i:06d}.png"
        if i == corrupt_at:
            path.write_bytes(b"not an image")
            continue
        box = int(size * 0.7)
        x, y = (int(v) for v in rng.integers(1, max(2, size - box), size=2))
        draw_digit(digit, size, box, (x, y), ink=255, paper=0).save(path)
    return labels
