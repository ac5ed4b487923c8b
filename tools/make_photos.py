"""A second, independent set of camera-like digit pictures: python -m tools.make_photos --split look|judge

    python -m tools.make_photos --split judge --out photos      # photos/judge/<scene>/..., labels.csv
    python -m tools.score_photos photos/judge                   # the bundled model, per scene

tools/make_scenes.py draws the scenes the evaluate stage reports, and its `tune` split is what the
finder's thresholds were chosen on; both come from the same code, so a habit of that code can flatter
the finder on both. This generator was written apart, from the real-pictures issue's description
only, without reading the repository's other generators, its finder or its docs, and draws every
scene its own way (numpy, Pillow, OpenCV): ruled and squared paper, light falling off with a soft
shadow, a small card or note on a desk in frames up to 12 MP, marker on a whiteboard with glare,
chalk on a dark board, seven-segment LCD and LED displays, tight crops whose ink touches the edges,
typeset digits, and each scene's non-digit twins (letters p-y and other capitals, symbols, shapes,
scribbles). Its digits: MNIST *test* images (never trained on), its own pen strokes, and DejaVu and
Liberation type (no training font).

Two splits: `look`, which a finder change may be judged on while it is made, and `judge`, which is
only reported (docs/real-pictures.md says which figures come from which). Deterministic: each picture
has its own generator seeded by (split, scene, index); MNIST's test indices are split by the parity of
a fixed per-label shuffle, so the two splits never share an MNIST image.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tools.figures import tool_parser

cv2.setNumThreads(1)

SPLIT_SEEDS = {"look": 41_017, "judge": 77_543}
MNIST = os.environ.get("MNIST_PATH", "data/mnist.npz")  # --mnist sets it

FONT_DIRS = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation"]
SEG_FONTS = ["/usr/share/fonts/truetype/dseg/DSEG7Modern-Regular.ttf",
             "/usr/share/fonts/truetype/dseg/DSEG7Modern-Italic.ttf",
             "/usr/share/fonts/truetype/dseg/DSEG7Modern-Light.ttf"]
# (DSEG7 7SEGG-CHAN was tried and dropped: its digits are drawn as cartoon faces.)


def list_fonts():
    out = []
    for d in FONT_DIRS:
        for f in sorted(os.listdir(d)):
            if f.endswith(".ttf") and "Math" not in f:
                out.append(os.path.join(d, f))
    return out


FONTS = list_fonts()

SCENES = ["ruled", "grid", "gradient_shadow", "small_in_frame", "whiteboard",
          "board_dark", "seven_segment", "tight_crop", "fonts"]

# ----------------------------------------------------------------------------- basic noise


def lowfreq(h, w, rng, cells=4):
    """Smooth random field in ~[0,1]."""
    g = rng.random((cells, cells)).astype(np.float32)
    f = cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
    f -= f.min()
    mx = f.max()
    return f / mx if mx > 0 else f


def fine_noise(h, w, rng, scale=2.0, sigma=0.8):
    """Correlated N(0,1)-ish noise at resolution / scale, upsampled."""
    sh, sw = max(2, int(h / scale)), max(2, int(w / scale))
    n = rng.standard_normal((sh, sw), dtype=np.float32)
    if sigma > 0:
        n = cv2.GaussianBlur(n, (0, 0), sigma)
        n /= max(n.std(), 1e-6)
    return cv2.resize(n, (w, h), interpolation=cv2.INTER_LINEAR)


def paper(h, w, color, rng, grain=0.015, blotch=0.04):
    col = np.asarray(color, np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = col
    shade = 1.0 - blotch * lowfreq(h, w, rng, cells=6) + grain * fine_noise(h, w, rng, scale=2.0)
    img *= shade[..., None]
    return img


def put(canvas, mask, cx, cy, color, alpha=1.0, mode="normal"):
    """Composite a float mask (ink=1) centred at (cx, cy)."""
    h, w = mask.shape
    x0 = int(round(cx - w / 2))
    y0 = int(round(cy - h / 2))
    X0, Y0 = max(x0, 0), max(y0, 0)
    X1, Y1 = min(x0 + w, canvas.shape[1]), min(y0 + h, canvas.shape[0])
    if X1 <= X0 or Y1 <= Y0:
        return
    m = mask[Y0 - y0:Y1 - y0, X0 - x0:X1 - x0, None] * alpha
    reg = canvas[Y0:Y1, X0:X1]
    col = np.asarray(color, np.float32)
    if mode == "mul":
        reg *= 1.0 - m * (1.0 - col)
    elif mode == "screen":
        reg[:] = 1.0 - (1.0 - reg) * (1.0 - m * col)
    else:
        reg[:] = reg * (1.0 - m) + col * m


def crop_ink(mask, pad=2, thr=0.02):
    ys, xs = np.nonzero(mask > thr)
    if len(ys) == 0:
        return mask
    y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, mask.shape[0])
    x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, mask.shape[1])
    return mask[y0:y1, x0:x1]


def rotate_mask(mask, deg):
    if abs(deg) < 0.05:
        return mask
    h, w = mask.shape
    M = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    c, s = abs(M[0, 0]), abs(M[0, 1])
    nw, nh = int(h * s + w * c) + 2, int(h * c + w * s) + 2
    M[0, 2] += nw / 2 - w / 2
    M[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(mask, M, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=0)


# ----------------------------------------------------------------------------- pen strokes


def catmull(pts, n=14, closed=False):
    P = np.asarray(pts, np.float64)
    if closed:
        P = np.vstack([P[-1], P, P[0], P[1]])
    else:
        P = np.vstack([P[0] * 2 - P[1], P, P[-1] * 2 - P[-2]])
    out = []
    t = np.linspace(0, 1, n, endpoint=False)[:, None]
    for i in range(1, len(P) - 2):
        p0, p1, p2, p3 = P[i - 1], P[i], P[i + 1], P[i + 2]
        a = 2 * p1
        b = p2 - p0
        c = 2 * p0 - 5 * p1 + 4 * p2 - p3
        d = -p0 + 3 * p1 - 3 * p2 + p3
        out.append(0.5 * (a + b * t + c * t * t + d * t * t * t))
    out.append(P[-2][None])
    return np.vstack(out)


def densify(pts, step=0.02):
    P = np.asarray(pts, np.float64)
    out = [P[0]]
    for a, b in zip(P[:-1], P[1:]):
        k = max(2, int(np.linalg.norm(b - a) / step))
        for t in np.linspace(0, 1, k + 1)[1:]:
            out.append(a + (b - a) * t)
    return np.array(out)


def ellipse_pts(cx, cy, rx, ry, a0, sweep, n):
    a = np.radians(a0 + np.linspace(0, sweep, n))
    return [(cx + rx * math.cos(t), cy + ry * math.sin(t)) for t in a]


def digit_strokes(d, rng):
    """(aspect, [(kind, points)]) in a unit box, y down. kind: L line, S spline, C closed."""
    u = lambda a, b: float(rng.uniform(a, b))
    if d == 0:
        ov = u(0, 25)
        pts = ellipse_pts(0.5, 0.5, 0.46, 0.5, -100, -360 - ov, 11)
        return u(0.55, 0.8), [("S", pts)]
    if d == 1:
        s = [("L", [(0.5, 0.0), (0.5 + u(-0.05, 0.02), 1.0)])]
        if rng.random() < 0.55:
            s = [("L", [(0.5 - u(0.18, 0.3), u(0.15, 0.3)), (0.5, 0.0), (0.5 + u(-0.05, 0.02), 1.0)])]
        if rng.random() < 0.25:
            s.append(("L", [(0.25, 1.0), (0.75, 1.0)]))
        return u(0.35, 0.5), s
    if d == 2:
        bottom_y = u(0.95, 1.0)
        s = [("S", [(0.08, 0.28), (0.3, 0.03), (0.65, 0.02), (0.88, 0.25), (0.72, 0.52), (0.38, 0.8), (0.04, bottom_y)]),
             ("L", [(0.04, bottom_y), (u(0.85, 1.0), u(0.95, 1.0))])]
        return u(0.55, 0.75), s
    if d == 3:
        mx = u(0.35, 0.5)
        return u(0.5, 0.7), [("S", [(0.1, 0.12), (0.45, 0.0), (0.85, 0.12), (0.8, 0.35), (mx, 0.48)]),
                             ("S", [(mx, 0.48), (0.88, 0.6), (0.88, 0.88), (0.45, 1.0), (0.05, 0.88)])]
    if d == 4:
        if rng.random() < 0.55:
            cy = u(0.6, 0.7)
            return u(0.6, 0.8), [("L", [(0.7, 0.0), (0.0, cy), (1.0, cy)]), ("L", [(0.72, 0.25), (0.72, 1.0)])]
        cy = u(0.5, 0.62)
        return u(0.6, 0.8), [("L", [(0.12, 0.0), (0.06, cy), (0.97, cy)]), ("L", [(0.75, 0.0), (0.75, 1.0)])]
    if d == 5:
        return u(0.55, 0.72), [("L", [(0.92, 0.01), (0.2, 0.0)]),
                               ("L", [(0.2, 0.0), (0.14, 0.45)]),
                               ("S", [(0.14, 0.45), (0.5, 0.35), (0.9, 0.5), (0.9, 0.8), (0.5, 1.0), (0.05, 0.88)])]
    if d == 6:
        return u(0.55, 0.72), [("S", [(0.82, 0.02), (0.45, 0.13), (0.15, 0.48), (0.12, 0.8), (0.4, 1.0),
                                      (0.8, 0.92), (0.87, 0.66), (0.5, 0.5), (0.15, 0.66)])]
    if d == 7:
        s = [("L", [(0.02, u(0.0, 0.05)), (0.98, 0.0), (u(0.3, 0.5), 1.0)])]
        if rng.random() < 0.3:
            s.append(("L", [(0.38, 0.52), (0.85, 0.5)]))
        return u(0.55, 0.75), s
    if d == 8:
        return u(0.5, 0.7), [("C", [(0.8, 0.12), (0.5, 0.0), (0.2, 0.14), (0.3, 0.38), (0.7, 0.6), (0.86, 0.82),
                                    (0.5, 1.0), (0.14, 0.82), (0.3, 0.6), (0.7, 0.38)])]
    if d == 9:
        sx = u(0.78, 0.88)
        return u(0.55, 0.72), [("S", [(sx, 0.15), (0.5, 0.0), (0.12, 0.15), (0.15, 0.42), (0.5, 0.52), (sx, 0.35), (sx, 0.12)]),
                               ("S", [(sx, 0.12), (sx - 0.02, 0.6), (sx - u(0.05, 0.2), 1.0)])]
    raise ValueError(d)


def _dot(x, y):
    return ("L", [(x - 0.01, y), (x + 0.01, y + 0.005)])


PEN_TWINS = {
    # name: (aspect, height scale, strokes)
    "p": (0.6, 1.0, [("L", [(0.15, 0.0), (0.15, 1.0)]), ("S", [(0.15, 0.06), (0.55, 0.0), (0.9, 0.22), (0.6, 0.5), (0.15, 0.45)])]),
    "r": (0.55, 0.7, [("L", [(0.2, 0.0), (0.2, 1.0)]), ("S", [(0.2, 0.35), (0.45, 0.05), (0.9, 0.05)])]),
    "t": (0.55, 1.0, [("S", [(0.45, 0.0), (0.45, 0.75), (0.55, 0.97), (0.85, 0.9)]), ("L", [(0.1, 0.3), (0.88, 0.3)])]),
    "u": (0.8, 0.7, [("S", [(0.1, 0.0), (0.12, 0.7), (0.45, 1.0), (0.85, 0.7), (0.88, 0.0)]), ("L", [(0.88, 0.0), (0.92, 1.0)])]),
    "v": (0.8, 0.7, [("L", [(0.0, 0.0), (0.5, 1.0), (1.0, 0.0)])]),
    "w": (1.1, 0.7, [("L", [(0.0, 0.0), (0.25, 1.0), (0.5, 0.3), (0.75, 1.0), (1.0, 0.0)])]),
    "x": (0.8, 0.7, [("L", [(0.0, 0.0), (1.0, 1.0)]), ("L", [(1.0, 0.0), (0.0, 1.0)])]),
    "y": (0.7, 1.0, [("L", [(0.0, 0.0), (0.52, 0.5)]), ("L", [(1.0, 0.0), (0.25, 1.0)])]),
    "P": (0.6, 1.0, [("L", [(0.1, 0.0), (0.1, 1.0)]), ("S", [(0.1, 0.02), (0.7, 0.02), (0.92, 0.25), (0.7, 0.5), (0.1, 0.5)])]),
    "R": (0.65, 1.0, [("L", [(0.1, 0.0), (0.1, 1.0)]), ("S", [(0.1, 0.02), (0.7, 0.02), (0.92, 0.25), (0.7, 0.5), (0.1, 0.5)]),
                      ("L", [(0.45, 0.5), (0.95, 1.0)])]),
    "T": (0.75, 1.0, [("L", [(0.0, 0.0), (1.0, 0.0)]), ("L", [(0.5, 0.0), (0.5, 1.0)])]),
    "U": (0.75, 1.0, [("S", [(0.08, 0.0), (0.1, 0.72), (0.5, 1.0), (0.9, 0.72), (0.92, 0.0)])]),
    "V": (0.8, 1.0, [("L", [(0.0, 0.0), (0.5, 1.0), (1.0, 0.0)])]),
    "W": (1.2, 1.0, [("L", [(0.0, 0.0), (0.25, 1.0), (0.5, 0.2), (0.75, 1.0), (1.0, 0.0)])]),
    "X": (0.8, 1.0, [("L", [(0.0, 0.0), (1.0, 1.0)]), ("L", [(1.0, 0.0), (0.0, 1.0)])]),
    "Y": (0.8, 1.0, [("L", [(0.0, 0.0), (0.5, 0.5)]), ("L", [(1.0, 0.0), (0.5, 0.5), (0.5, 1.0)])]),
    "A": (0.85, 1.0, [("L", [(0.0, 1.0), (0.5, 0.0), (1.0, 1.0)]), ("L", [(0.22, 0.62), (0.78, 0.62)])]),
    "E": (0.6, 1.0, [("L", [(0.9, 0.0), (0.1, 0.0), (0.1, 1.0), (0.9, 1.0)]), ("L", [(0.1, 0.5), (0.7, 0.5)])]),
    "F": (0.6, 1.0, [("L", [(0.9, 0.0), (0.1, 0.0), (0.1, 1.0)]), ("L", [(0.1, 0.5), (0.7, 0.5)])]),
    "H": (0.75, 1.0, [("L", [(0.1, 0.0), (0.1, 1.0)]), ("L", [(0.9, 0.0), (0.9, 1.0)]), ("L", [(0.1, 0.5), (0.9, 0.5)])]),
    "K": (0.7, 1.0, [("L", [(0.1, 0.0), (0.1, 1.0)]), ("L", [(0.9, 0.0), (0.1, 0.58)]), ("L", [(0.35, 0.42), (0.95, 1.0)])]),
    "M": (0.9, 1.0, [("L", [(0.0, 1.0), (0.1, 0.0), (0.5, 0.65), (0.9, 0.0), (1.0, 1.0)])]),
    "N": (0.75, 1.0, [("L", [(0.1, 1.0), (0.1, 0.0), (0.9, 1.0), (0.9, 0.0)])]),
    "+": (1.0, 0.6, [("L", [(0.5, 0.0), (0.5, 1.0)]), ("L", [(0.0, 0.5), (1.0, 0.5)])]),
    "=": (1.6, 0.4, [("L", [(0.0, 0.1), (1.0, 0.1)]), ("L", [(0.0, 0.9), (1.0, 0.9)])]),
    "#": (0.9, 1.0, [("L", [(0.35, 0.0), (0.25, 1.0)]), ("L", [(0.75, 0.0), (0.65, 1.0)]),
                     ("L", [(0.0, 0.32), (1.0, 0.32)]), ("L", [(0.0, 0.68), (1.0, 0.68)])]),
    "*": (1.0, 0.6, [("L", [(0.5, 0.0), (0.5, 1.0)]), ("L", [(0.07, 0.25), (0.93, 0.75)]), ("L", [(0.93, 0.25), (0.07, 0.75)])]),
    "/": (0.75, 1.0, [("L", [(1.0, 0.0), (0.0, 1.0)])]),
    "<": (0.8, 0.75, [("L", [(1.0, 0.0), (0.0, 0.5), (1.0, 1.0)])]),
    ">": (0.8, 0.75, [("L", [(0.0, 0.0), (1.0, 0.5), (0.0, 1.0)])]),
    "!": (0.2, 1.0, [("L", [(0.5, 0.0), (0.5, 0.72)]), _dot(0.5, 0.96)]),
    "?": (0.6, 1.0, [("S", [(0.1, 0.25), (0.4, 0.0), (0.85, 0.15), (0.8, 0.4), (0.5, 0.55), (0.5, 0.75)]), _dot(0.5, 0.96)]),
    "%": (0.8, 1.0, [("L", [(0.9, 0.0), (0.1, 1.0)]), ("C", ellipse_pts(0.2, 0.2, 0.16, 0.16, 0, 360, 8)[:-1]),
                     ("C", ellipse_pts(0.8, 0.8, 0.16, 0.16, 0, 360, 8)[:-1])]),
}
PEN_LETTERS = [k for k in PEN_TWINS if k.isalpha()]
PEN_SYMBOLS = [k for k in PEN_TWINS if not k.isalpha()]
FONT_LETTERS = list("prtuvwxyPRTUVWXYAEFHKMN")
FONT_SYMBOLS = list("+=#%&@?!*/<>")


def shape_strokes(name, rng):
    u = lambda a, b: float(rng.uniform(a, b))
    if name == "triangle":
        return 1.0, 0.9, [("L", [(0.5, 0.0), (1.0, 1.0), (0.0, 1.0), (0.5, 0.0)])]
    if name == "star":
        pts = []
        for k in range(11):
            r = 0.5 if k % 2 == 0 else 0.2
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((0.5 + r * math.cos(a), 0.52 + r * math.sin(a)))
        return 1.0, 1.0, [("L", pts)]
    if name == "arrow":
        return 1.6, 0.6, [("L", [(0.0, 0.5), (1.0, 0.5)]), ("L", [(0.7, 0.0), (1.0, 0.5), (0.7, 1.0)])]
    if name == "cross":
        a, b = 0.35, 0.65
        pts = [(a, 0), (b, 0), (b, a), (1, a), (1, b), (b, b), (b, 1), (a, 1), (a, b), (0, b), (0, a), (a, a), (a, 0)]
        return 1.0, 0.9, [("L", pts)]
    if name == "heart":
        t = np.linspace(0, 2 * np.pi, 40)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        x = (x - x.min()) / (x.max() - x.min())
        y = (y - y.min()) / (y.max() - y.min())
        return 1.05, 0.9, [("L", list(zip(x, y)))]
    if name == "scribble":
        kind = rng.integers(3)
        if kind == 0:  # random tangle
            n = int(rng.integers(15, 23))
            pts = rng.uniform(0, 1, (n, 2))
            return u(0.8, 1.6), 1.0, [("S", [tuple(p) for p in pts])]
        if kind == 1:  # cursive loops
            n = int(rng.integers(3, 6))
            t = np.linspace(0, n * 2 * np.pi, n * 16)
            x = t / t.max() * 0.8 + 0.12 * np.cos(t + np.pi)
            y = 0.5 + 0.4 * np.sin(t) * rng.uniform(0.8, 1.2)
            return u(1.5, 2.5), 0.7, [("L", list(zip(x, y)))]
        n = int(rng.integers(5, 9))  # hatch / zigzag
        pts = [(i / (n - 1), (i % 2) * 1.0 + rng.uniform(-0.1, 0.1)) for i in range(n)]
        return u(1.0, 2.0), 0.8, [("L", pts)]
    raise ValueError(name)


SHAPES = ["triangle", "star", "arrow", "cross", "heart"]


def render_pen(strokes, aspect, height, pen_px, rng, slant=0.0, rot=0.0, jitter=0.02, wvar=0.2, ss=2):
    """Render unit-box strokes into a float mask whose ink is ~height px tall."""
    height = float(height)
    sh = math.tan(slant)
    ca, sa = math.cos(math.radians(rot)), math.sin(math.radians(rot))
    polys = []
    for kind, pts in strokes:
        P = np.asarray(pts, np.float64).copy()
        P += rng.normal(0, jitter, P.shape)
        if kind == "S":
            Q = catmull(P, 14)
        elif kind == "C":
            Q = catmull(P, 14, closed=True)
        else:
            Q = densify(P, 0.03)
            Q += rng.normal(0, jitter * 0.08, Q.shape)
        x = (Q[:, 0] - 0.5) * aspect * height
        y = (Q[:, 1] - 0.5) * height
        x = x - sh * y
        xr, yr = ca * x - sa * y, sa * x + ca * y
        polys.append(np.stack([xr, yr], 1))
    allp = np.vstack(polys)
    pad = pen_px * 1.5 + 4
    mn = allp.min(0) - pad
    mx = allp.max(0) + pad
    W = int(math.ceil((mx[0] - mn[0]) * ss))
    H = int(math.ceil((mx[1] - mn[1]) * ss))
    img = np.zeros((H, W), np.uint8)
    phase = rng.uniform(0, 6.28)
    for Q in polys:
        Q = (Q - mn) * ss * 16
        q = Q.astype(np.int32)
        n = len(q)
        chunk = 4
        for i in range(0, n - 1, chunk - 1):
            seg = q[i:i + chunk]
            if len(seg) < 2:
                continue
            t = max(1, int(round(pen_px * ss * (1 + wvar * math.sin(phase + i * 0.15)))))
            cv2.polylines(img, [seg.reshape(-1, 1, 2)], False, 255, thickness=t, lineType=cv2.LINE_AA, shift=4)
    m = img.astype(np.float32) / 255.0
    if ss != 1:
        m = cv2.resize(m, (max(1, W // ss), max(1, H // ss)), interpolation=cv2.INTER_AREA)
    return crop_ink(m)


def pen_digit(d, height, pen_px, rng, **kw):
    aspect, strokes = digit_strokes(d, rng)
    kw.setdefault("slant", rng.uniform(-0.12, 0.3))
    kw.setdefault("rot", rng.uniform(-6, 6))
    return render_pen(strokes, aspect, height, pen_px, rng, **kw)


def pen_twin(height, pen_px, rng, cat=None):
    cat = cat or rng.choice(["letter", "letter", "letter", "symbol", "shape", "scribble"])
    if cat == "letter":
        aspect, hs, strokes = PEN_TWINS[rng.choice(PEN_LETTERS)]
    elif cat == "symbol":
        aspect, hs, strokes = PEN_TWINS[rng.choice(PEN_SYMBOLS)]
    elif cat == "shape":
        aspect, hs, strokes = shape_strokes(rng.choice(SHAPES), rng)
    else:
        aspect, hs, strokes = shape_strokes("scribble", rng)
    return render_pen(strokes, aspect, height * hs, pen_px, rng, slant=rng.uniform(-0.1, 0.25),
                      rot=rng.uniform(-8, 8))


# ----------------------------------------------------------------------------- fonts

_font_cache = {}
_digit_ratio = {}


def _font(path, size):
    key = (path, size)
    if key not in _font_cache:
        _font_cache[key] = ImageFont.truetype(path, size)
    return _font_cache[key]


def _raw_text(ch, path, size):
    f = _font(path, size)
    l, t, r, b = f.getbbox(ch)
    img = Image.new("L", (r - l + 8, b - t + 8), 0)
    ImageDraw.Draw(img).text((4 - l, 4 - t), ch, fill=255, font=f)
    return np.asarray(img, np.float32) / 255.0


def digit_height_ratio(path):
    if path not in _digit_ratio:
        m = _raw_text("8", path, 200)
        ys = np.nonzero(m.max(1) > 0.3)[0]
        _digit_ratio[path] = (ys.max() - ys.min() + 1) / 200.0
    return _digit_ratio[path]


def font_mask(ch, path, digit_h, rot=0.0, bold_px=0):
    """Ink mask of ch in font path, sized so that a digit would be digit_h px tall."""
    size = max(6, int(round(digit_h / digit_height_ratio(path))))
    ss = 2 if size < 120 else 1
    m = _raw_text(ch, path, size * ss)
    if bold_px > 0:
        k = int(bold_px * ss) * 2 + 1
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    if ss > 1:
        m = cv2.resize(m, (max(1, m.shape[1] // ss), max(1, m.shape[0] // ss)), interpolation=cv2.INTER_AREA)
    m = rotate_mask(m, rot)
    return crop_ink(m)


def font_twin_char(rng):
    return str(rng.choice(FONT_LETTERS)) if rng.random() < 0.6 else str(rng.choice(FONT_SYMBOLS))


def font_twin(height, rng, rot=0.0):
    path = str(rng.choice(FONTS))
    r = rng.random()
    if r < 0.8:
        return font_mask(font_twin_char(rng), path, height, rot=rot)
    # filled shape, as a printed pictogram
    aspect, hs, strokes = shape_strokes(str(rng.choice(SHAPES)), rng)
    m = render_pen(strokes, aspect, height * hs, max(2, height * 0.08), rng, jitter=0.0, wvar=0.0, rot=rot)
    mu = (m > 0.3).astype(np.uint8)
    ff = mu.copy()
    cnts, _ = cv2.findContours(mu, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(ff, cnts, -1, 1, thickness=-1)
    return np.maximum(m, cv2.GaussianBlur(ff.astype(np.float32), (0, 0), 0.7))


# ----------------------------------------------------------------------------- MNIST


def holes(b, min_frac=0.002):
    """Number of background regions not touching the border (ignoring specks)."""
    bg = np.pad((~b).astype(np.uint8), 1, constant_values=1)
    n, lab, st, _ = cv2.connectedComponentsWithStats(bg, connectivity=4)
    big = st[1:, cv2.CC_STAT_AREA] >= max(4, min_frac * b.size)
    return int(big.sum()) - 1 if n > 1 else 0


class MnistPool:
    def __init__(self, split):
        d = np.load(MNIST)
        self.x, self.y = d["x_test"], d["y_test"]
        order = np.random.default_rng(20240607).permutation(len(self.y))
        par = 0 if split == "look" else 1
        self.pool = {}
        for lab in range(10):
            idx = [i for i in order if self.y[i] == lab]
            self.pool[lab] = idx[par::2]
        self.pos = {lab: 0 for lab in range(10)}
        self.slot = 40  # each scene draws from its own slice of every label's pool
        self.used = []
        self._train = None
        self.dropped = []

    def _legible(self, i):
        """Drop only MNIST test images whose 5 nearest training images (14x14 pixels) mostly
        disagree with the label (<=1 of 5): a cheap screen for mislabeled / unreadable ones."""
        if self._train is None:
            d = np.load(MNIST)
            xt = d["x_train"].reshape(-1, 14, 2, 14, 2).mean((2, 4)).reshape(-1, 196).astype(np.float32)
            self._train = (xt, (xt * xt).sum(1), d["y_train"])
        xt, n2, yt = self._train
        q = self.x[i].reshape(14, 2, 14, 2).mean((1, 3)).reshape(196).astype(np.float32)
        dist = n2 - 2 * xt @ q
        nn = np.argpartition(dist, 5)[:5]
        return int((yt[nn] == self.y[i]).sum()) >= 2

    def start_scene(self, si):
        self.pos = {lab: si * self.slot for lab in range(10)}

    def next(self, lab):
        while True:
            assert self.pos[lab] < len(self.pool[lab])
            i = self.pool[lab][self.pos[lab]]
            self.pos[lab] += 1
            if self._legible(i):
                self.used.append(int(i))
                return int(i)
            self.dropped.append(int(i))

    def mask(self, i, height, rng, thick=None):
        a = self.x[i].astype(np.float32) / 255.0
        ys, xs = np.nonzero(a > 0.1)
        a = a[max(ys.min() - 2, 0):ys.max() + 3, max(xs.min() - 2, 0):xs.max() + 3]
        s = height / max(1, (ys.max() - ys.min() + 1))
        W, H = max(1, int(a.shape[1] * s)), max(1, int(a.shape[0] * s))
        m = cv2.resize(a, (W, H), interpolation=cv2.INTER_CUBIC)
        ref = holes(m > 0.75)  # a thin reading of the digit: loops a thick pen may have clogged
        area = float((m > 0.5).sum())
        m = cv2.GaussianBlur(m, (0, 0), max(0.5, s * 0.3))
        if thick is None:
            # stroke weight around MNIST's own (area at threshold 0.5), +-20%
            q = 1.0 - min(0.99, area * float(rng.uniform(0.8, 1.2)) / m.size)
            lo = float(np.clip(np.quantile(m, q) - 0.12, 0.2, 0.7))
        else:
            lo = thick
        # never let thickening close a loop (a 6/8/9/0 must keep its holes)
        while True:
            out = np.clip((m - lo) / 0.25, 0, 1)
            if holes(out > 0.5) >= ref or lo > 0.8:
                break
            lo += 0.05
        return crop_ink(out)


# ----------------------------------------------------------------------------- camera


SIZES = [(640, 480), (800, 600), (1024, 768), (1280, 960), (1600, 1200), (1280, 720), (1440, 1080), (1200, 900)]
MARGIN = 0.07


def pick_size(rng, sizes=SIZES, portrait=0.3):
    W, H = sizes[int(rng.integers(len(sizes)))]
    if rng.random() < portrait:
        W, H = H, W
    return W, H


def canvas_shape(W, H):
    return int(H * (1 + 2 * MARGIN)), int(W * (1 + 2 * MARGIN))


def photograph(canvas, W, H, rng, persp=0.04, light=(0.05, 0.25), blur=(0.4, 1.3), noise=(0.006, 0.025),
               vignette=(0.0, 0.25), wb=0.035):
    ch, cw = canvas.shape[:2]
    mx, my = (cw - W) / 2, (ch - H) / 2
    src = np.float32([[mx, my], [mx + W, my], [mx + W, my + H], [mx, my + H]])
    src += rng.uniform(-1, 1, (4, 2)).astype(np.float32) * persp * np.float32([W, H])
    dst = np.float32([[0, 0], [W, 0], [W, H], [0, H]])
    M = cv2.getPerspectiveTransform(src, dst)
    img = cv2.warpPerspective(canvas, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    sc = max(W, H) / 1000.0
    # uneven light + vignette + white balance, all as one gain field
    amp = rng.uniform(*light)
    small = (max(8, H // 8), max(8, W // 8))
    g = 1.0 - amp * lowfreq(small[0], small[1], rng, cells=3)
    v = rng.uniform(*vignette)
    if v > 0:
        yy, xx = np.mgrid[0:small[0], 0:small[1]].astype(np.float32)
        r2 = ((xx / small[1] - 0.5) ** 2 + (yy / small[0] - 0.5) ** 2) / 0.5
        g *= 1.0 - v * r2
    g = cv2.resize(g.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    gain = (1.0 + rng.uniform(-wb, wb, 3)).astype(np.float32) * rng.uniform(0.92, 1.08)
    img *= g[..., None]
    img *= gain
    s = rng.uniform(*blur) * sc
    if s > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), s)
    nsd = rng.uniform(*noise)
    nz = fine_noise(H, W, rng, scale=1.5 if sc < 2 else 2.0, sigma=0)
    img += (nsd * nz * np.sqrt(np.clip(img.mean(2), 0.02, 1.0)))[..., None]
    cn = rng.uniform(0.002, 0.008)
    cs = max(4, int(2 * sc))
    img += cv2.resize(rng.standard_normal((H // cs + 1, W // cs + 1, 3), dtype=np.float32) * cn, (W, H),
                      interpolation=cv2.INTER_LINEAR)
    return to_u8(img)


def to_u8(img):
    return cv2.convertScaleAbs(img, alpha=255.0, beta=0.5)


def save(img_u8, path_noext, rng, jpeg_p=0.6, force_jpeg=False):
    bgr = cv2.cvtColor(img_u8, cv2.COLOR_RGB2BGR)
    if force_jpeg or rng.random() < jpeg_p:
        q = int(rng.integers(70, 96))
        path = path_noext + ".jpg"
        cv2.imwrite(path, bgr, [cv2.IMWRITE_JPEG_QUALITY, q])
    else:
        path = path_noext + ".png"
        cv2.imwrite(path, bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    return path


def jpeg_roundtrip(img_u8, q):
    ok, buf = cv2.imencode(".jpg", img_u8, [cv2.IMWRITE_JPEG_QUALITY, int(q)])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


# ----------------------------------------------------------------------------- ink sources

INKS_PAPER = {"blue": (0.12, 0.16, 0.52), "black": (0.08, 0.08, 0.1), "pencil": (0.32, 0.32, 0.35),
              "darkblue": (0.08, 0.1, 0.3), "purple": (0.28, 0.12, 0.42)}


def pick_ink(rng):
    names = ["blue", "blue", "black", "black", "pencil", "darkblue", "purple"]
    n = str(rng.choice(names))
    alpha = rng.uniform(0.6, 0.8) if n == "pencil" else rng.uniform(0.85, 1.0)
    return INKS_PAPER[n], alpha


def written_glyph(ctx, rng, label, dh, src=None, pen_rel=(0.05, 0.12)):
    """Handwritten digit (label int) or pen twin (label None)."""
    if label is None:
        if rng.random() < 0.15:
            return font_twin(dh, rng, rot=rng.uniform(-6, 6))
        return pen_twin(dh, max(1.5, dh * rng.uniform(*pen_rel)), rng)
    src = src or ("mnist" if rng.random() < 0.5 else "pen")
    if src == "mnist":
        return ctx.mnist.mask(ctx.mnist.next(label), dh, rng)
    return pen_digit(label, dh, max(1.5, dh * rng.uniform(*pen_rel)), rng)


def printed_glyph(rng, label, dh, rot=None):
    rot = rng.uniform(-5, 5) if rot is None else rot
    if label is None:
        return font_twin(dh, rng, rot=rot)
    path = str(rng.choice(FONTS))
    return font_mask(str(label), path, dh, rot=rot)


def with_pressure(m, rng, amt=0.2):
    f = lowfreq(m.shape[0], m.shape[1], rng, cells=4)
    return m * (1 - amt * f)


# ----------------------------------------------------------------------------- scenes


def fit(g, cx, cy, W, H, cw, ch, inset=0.08):
    """Keep the glyph inside the photographed frame (inset for perspective), shrinking it if needed."""
    aw, ah = W * (1 - 2 * inset), H * (1 - 2 * inset)
    if g.shape[1] > aw or g.shape[0] > ah:
        k = min(aw / g.shape[1], ah / g.shape[0])
        g = cv2.resize(g, (max(1, int(g.shape[1] * k)), max(1, int(g.shape[0] * k))), interpolation=cv2.INTER_AREA)
    x0, y0 = (cw - W) / 2 + W * inset, (ch - H) / 2 + H * inset
    cx = float(np.clip(cx, x0 + g.shape[1] / 2, x0 + aw - g.shape[1] / 2))
    cy = float(np.clip(cy, y0 + g.shape[0] / 2, y0 + ah - g.shape[0] / 2))
    return g, cx, cy


def paper_color(rng):
    r = rng.random()
    if r < 0.6:
        b = rng.uniform(0.88, 0.98)
        return (b, b * rng.uniform(0.98, 1.0), b * rng.uniform(0.92, 0.99))
    if r < 0.85:
        b = rng.uniform(0.85, 0.95)
        return (b, b * 0.97, b * 0.86)  # cream
    b = rng.uniform(0.8, 0.9)
    return (b, b, b * 1.01)  # greyish recycled


def draw_lines(canvas, coords, horizontal, color, thick, alpha):
    h, w = canvas.shape[:2]
    m = np.zeros((h, w), np.uint8)
    for c in coords:
        c16 = int(round(c * 16))
        if horizontal:
            cv2.line(m, (0, c16), ((w - 1) * 16, c16), 255, max(1, int(round(thick))), cv2.LINE_AA, shift=4)
        else:
            cv2.line(m, (c16, 0), (c16, (h - 1) * 16), 255, max(1, int(round(thick))), cv2.LINE_AA, shift=4)
    mf = m.astype(np.float32) / 255.0 * alpha
    canvas *= 1.0 - mf[..., None] * (1.0 - np.asarray(color, np.float32))


def scene_ruled(ctx, rng, label):
    W, H = pick_size(rng)
    ch, cw = canvas_shape(W, H)
    c = paper(ch, cw, paper_color(rng), rng)
    dh = H * rng.uniform(0.28, 0.6)
    sp = dh / rng.uniform(1.2, 2.4)
    off = rng.uniform(0, sp)
    ys = np.arange(off, ch, sp)
    col = (0.45, 0.62, 0.88) if rng.random() < 0.7 else (0.6, 0.62, 0.68)
    draw_lines(c, ys, True, col, max(1, sp * rng.uniform(0.02, 0.05)), rng.uniform(0.5, 0.9))
    cx = cw / 2 + rng.uniform(-0.12, 0.12) * W
    margin = rng.random() < 0.65
    double = rng.random() < 0.3
    g = written_glyph(ctx, rng, label, dh)
    # sit on a ruled line near the centre
    line = ys[np.argmin(np.abs(ys - (ch / 2 + g.shape[0] / 2)))]
    cy = line - g.shape[0] / 2 + rng.uniform(-0.05, 0.15) * sp
    g, cx, cy = fit(g, cx, cy, W, H, cw, ch)
    if margin:
        mxp = cx - g.shape[1] / 2 - dh * rng.uniform(0.15, 0.8)
        xs = [mxp] + ([mxp - sp * 0.15] if double else [])
        draw_lines(c, xs, False, (0.9, 0.3, 0.32), max(1, sp * rng.uniform(0.03, 0.06)), rng.uniform(0.6, 0.9))
    ink, a = pick_ink(rng)
    put(c, with_pressure(g, rng), cx, cy, ink, a, "mul")
    return photograph(c, W, H, rng, persp=0.045, light=(0.08, 0.3)), 0.8


def scene_grid(ctx, rng, label):
    W, H = pick_size(rng)
    ch, cw = canvas_shape(W, H)
    c = paper(ch, cw, paper_color(rng), rng)
    dh = H * rng.uniform(0.28, 0.6)
    cell = dh / rng.uniform(2.0, 5.0)
    col = [(0.55, 0.68, 0.85), (0.62, 0.64, 0.68), (0.55, 0.75, 0.6), (0.85, 0.6, 0.55)][int(rng.integers(4))]
    th = max(1, cell * rng.uniform(0.02, 0.06))
    al = rng.uniform(0.4, 0.85)
    draw_lines(c, np.arange(rng.uniform(0, cell), ch, cell), True, col, th, al)
    draw_lines(c, np.arange(rng.uniform(0, cell), cw, cell), False, col, th, al)
    g = written_glyph(ctx, rng, label, dh)
    ink, a = pick_ink(rng)
    g, cx, cy = fit(g, cw / 2 + rng.uniform(-0.15, 0.15) * W, ch / 2 + rng.uniform(-0.1, 0.1) * H, W, H, cw, ch)
    put(c, with_pressure(g, rng), cx, cy, ink, a, "mul")
    return photograph(c, W, H, rng, persp=0.045, light=(0.08, 0.3)), 0.75


def shadow_blob(h, w, rng, size):
    """A hand (palm + fingers), a phone or a plain blob, as a [0,1] mask centred in an h x w box."""
    m = np.zeros((h, w), np.float32)
    kind = rng.integers(3)
    cx, cy = w / 2, h / 2
    if kind == 0:  # hand
        ang = rng.uniform(0, 2 * math.pi)
        d = np.array([math.cos(ang), math.sin(ang)])
        palm = np.array([cx, cy]) - d * size * 0.25
        cv2.ellipse(m, (int(palm[0]), int(palm[1])), (int(size * 0.45), int(size * 0.35)),
                    math.degrees(ang), 0, 360, 1.0, -1)
        perp = np.array([-d[1], d[0]])
        for k in range(4):
            base = palm + d * size * 0.3 + perp * (k - 1.5) * size * 0.18
            tip = base + d * size * rng.uniform(0.45, 0.7)
            cv2.line(m, tuple(int(v) for v in base), tuple(int(v) for v in tip), 1.0, max(2, int(size * 0.13)))
        # arm
        arm = palm - d * size * 2
        cv2.line(m, tuple(int(v) for v in palm), tuple(int(v) for v in arm), 1.0, max(2, int(size * 0.6)))
    elif kind == 1:  # phone / card
        rw, rh = size * rng.uniform(0.5, 0.8), size * rng.uniform(1.0, 1.6)
        box = cv2.boxPoints(((cx, cy), (rw, rh), rng.uniform(0, 180)))
        cv2.fillPoly(m, [box.astype(np.int32)], 1.0)
    else:
        cv2.ellipse(m, (int(cx), int(cy)), (int(size * rng.uniform(0.5, 0.9)), int(size * rng.uniform(0.3, 0.6))),
                    rng.uniform(0, 180), 0, 360, 1.0, -1)
    return m


def scene_gradient_shadow(ctx, rng, label):
    W, H = pick_size(rng)
    ch, cw = canvas_shape(W, H)
    c = paper(ch, cw, paper_color(rng), rng)
    dh = H * rng.uniform(0.3, 0.6)
    cx, cy = cw / 2 + rng.uniform(-0.1, 0.1) * W, ch / 2 + rng.uniform(-0.08, 0.08) * H
    r = rng.random()
    if r < 0.4:
        g = written_glyph(ctx, rng, label, dh, src="mnist")
    elif r < 0.7:
        g = written_glyph(ctx, rng, label, dh, src="pen")
    else:
        g = printed_glyph(rng, label, dh)
    ink, a = pick_ink(rng)
    g, cx, cy = fit(g, cx, cy, W, H, cw, ch)
    put(c, with_pressure(g, rng, 0.1), cx, cy, ink, a, "mul")
    # strong light gradient across the page
    fall = rng.uniform(0.25, 0.6)
    ang = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:ch:8, 0:cw:8].astype(np.float32)
    t = (xx - cw / 2) * math.cos(ang) + (yy - ch / 2) * math.sin(ang)
    t = (t - t.min()) / (t.max() - t.min())
    t = t ** rng.uniform(0.7, 1.6)
    grad = cv2.resize(1.0 - fall * t, (cw, ch), interpolation=cv2.INTER_LINEAR)
    # soft shadow partly over the digit
    sz = dh * rng.uniform(0.7, 1.3)
    sm = shadow_blob(ch // 4, cw // 4, rng, sz / 4)
    sm = cv2.GaussianBlur(sm, (0, 0), max(1.0, dh * rng.uniform(0.06, 0.18) / 4))
    sm = cv2.resize(sm, (cw, ch), interpolation=cv2.INTER_LINEAR)
    oa = rng.uniform(0, 2 * math.pi)
    od = dh * rng.uniform(0.45, 0.85)
    shift = np.float32([[1, 0, cx - cw / 2 + od * math.cos(oa)], [0, 1, cy - ch / 2 + od * math.sin(oa)]])
    sm = cv2.warpAffine(sm, shift, (cw, ch))
    dark = rng.uniform(0.3, 0.55)
    tint = np.float32([1.0, 1.0, 1.0]) - np.float32([0.0, 0.0, -0.06]) * rng.random()
    c *= (grad * (1 - dark * sm))[..., None] * tint
    return photograph(c, W, H, rng, persp=0.04, light=(0.0, 0.1)), 0.7


def desk(ch, cw, rng):
    """Desk / table surface, rendered at <= 1600 px and upscaled (camera noise adds the fine grain)."""
    f = max(1, int(math.ceil(max(ch, cw) / 1600)))
    img = _desk(ch // f + 1, cw // f + 1, rng)
    return cv2.resize(img, (cw, ch), interpolation=cv2.INTER_LINEAR) if f > 1 else img[:ch, :cw]


def _desk(ch, cw, rng):
    r = rng.random()
    if r < 0.35:  # wood
        base = np.float32([rng.uniform(0.45, 0.65), rng.uniform(0.3, 0.45), rng.uniform(0.18, 0.3)])
        img = np.empty((ch, cw, 3), np.float32)
        img[:] = base
        stripes = cv2.resize(rng.standard_normal((1, 64)).astype(np.float32), (cw, ch), interpolation=cv2.INTER_CUBIC)
        if rng.random() < 0.5:
            stripes = cv2.resize(rng.standard_normal((64, 1)).astype(np.float32), (cw, ch), interpolation=cv2.INTER_CUBIC)
        img *= (1 + 0.08 * stripes + 0.03 * fine_noise(ch, cw, rng, 4))[..., None]
        return img
    if r < 0.6:
        b = rng.uniform(0.25, 0.55)
        return paper(ch, cw, (b, b, b * rng.uniform(0.95, 1.1)), rng, grain=0.03, blotch=0.1)
    if r < 0.8:
        b = rng.uniform(0.7, 0.9)
        return paper(ch, cw, (b, b * 0.98, b * 0.95), rng, grain=0.02, blotch=0.08)
    b = rng.uniform(0.08, 0.2)
    return paper(ch, cw, (b, b, b), rng, grain=0.05, blotch=0.2)


LARGE_SIZES = [(640, 480), (1024, 768), (1600, 1200), (2048, 1536), (2592, 1944), (3264, 2448), (4000, 3000)]


def scene_small_in_frame(ctx, rng, label):
    W, H = LARGE_SIZES[int(rng.choice(len(LARGE_SIZES), p=[0.16, 0.16, 0.2, 0.14, 0.12, 0.11, 0.11]))]
    if rng.random() < 0.25:
        W, H = H, W
    ch, cw = canvas_shape(W, H)
    c = desk(ch, cw, rng)
    dh = H * rng.uniform(0.05, 0.15)
    cx = cw / 2 + rng.uniform(-0.25, 0.25) * W
    cy = ch / 2 + rng.uniform(-0.25, 0.25) * H
    # a sheet / sticky note / card holding the digit
    pw, ph = dh * rng.uniform(2.2, 6), dh * rng.uniform(2.0, 5)
    r = rng.random()
    pc = (rng.uniform(0.95, 1.0), rng.uniform(0.88, 0.95), rng.uniform(0.4, 0.6)) if r < 0.25 else paper_color(rng)
    box = cv2.boxPoints(((cx, cy), (pw, ph), rng.uniform(-8, 8)))
    # work only inside the sheet's bounding box (+ shadow margin): large frames are slow otherwise
    mg = int(dh * 0.5) + 4
    bx0, by0 = max(int(box[:, 0].min()) - mg, 0), max(int(box[:, 1].min()) - mg, 0)
    bx1, by1 = min(int(box[:, 0].max()) + mg, cw), min(int(box[:, 1].max()) + mg, ch)
    sub = c[by0:by1, bx0:bx1]
    sheet = np.zeros(sub.shape[:2], np.uint8)
    cv2.fillPoly(sheet, [((box - [bx0, by0]) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    sm = sheet.astype(np.float32) / 255.0
    # contact shadow
    sh = cv2.GaussianBlur(sm, (0, 0), max(1.0, dh * 0.08))
    sh = np.roll(sh, (int(dh * 0.05), int(dh * 0.05)), (0, 1))
    sub *= (1 - 0.35 * sh)[..., None]
    sub[:] = sub * (1 - sm[..., None]) + np.float32(pc) * sm[..., None]
    kind = rng.random()
    if kind < 0.5:
        g = printed_glyph(rng, label, dh)
        ink, a = INKS_PAPER["black"], rng.uniform(0.85, 1.0)
    else:
        g = written_glyph(ctx, rng, label, dh)
        ink, a = pick_ink(rng)
    g, gx, gy = fit(g, cx + rng.uniform(-0.2, 0.2) * pw * 0.3, cy + rng.uniform(-0.2, 0.2) * ph * 0.3, W, H, cw, ch)
    put(c, g, gx, gy, ink, a, "mul")
    big = W * H > 3e6
    img = photograph(c, W, H, rng, persp=0.035, light=(0.1, 0.3), vignette=(0.15, 0.45),
                     blur=(0.3, 1.0), noise=(0.01, 0.03))
    return img, (1.0 if big else 0.7)


def board_glyph(ctx, rng, label, W, H, cw, ch, pen, wvar):
    """A board's glyph (an MNIST digit, a pen digit, or a twin) 30-62% of the height, near the middle:
    (its mask, its height, its centre). `pen` is the pen's width range as a share of that height."""
    dh = H * rng.uniform(0.3, 0.62)
    cx, cy = cw / 2 + rng.uniform(-0.12, 0.12) * W, ch / 2 + rng.uniform(-0.08, 0.08) * H
    if label is not None and rng.random() < 0.3:
        g = ctx.mnist.mask(ctx.mnist.next(label), dh, rng, thick=None)
    elif label is not None:
        g = pen_digit(label, dh, dh * rng.uniform(*pen), rng, wvar=wvar)
    else:
        g = pen_twin(dh, dh * rng.uniform(*pen), rng)
    return g, dh, cx, cy


def scene_whiteboard(ctx, rng, label):
    W, H = pick_size(rng)
    ch, cw = canvas_shape(W, H)
    b = rng.uniform(0.84, 0.96)
    c = paper(ch, cw, (b, b * rng.uniform(0.99, 1.01), b * rng.uniform(1.0, 1.04)), rng, grain=0.006, blotch=0.08)
    # ghosts of old, erased writing
    for _ in range(int(rng.integers(2, 6))):
        gm = pen_twin(H * rng.uniform(0.15, 0.4), H * 0.02, rng, cat=str(rng.choice(["scribble", "letter"])))
        gm = cv2.GaussianBlur(gm, (0, 0), 2 + H * 0.004)
        put(c, gm, rng.uniform(0, cw), rng.uniform(0, ch), (0.55, 0.58, 0.62), rng.uniform(0.05, 0.14))
    if rng.random() < 0.35:  # aluminium frame edge
        t = int(H * rng.uniform(0.03, 0.05))
        side = rng.integers(4)
        sl = [np.s_[:int(ch * 0.07) + t, :], np.s_[-(int(ch * 0.07) + t):, :],
              np.s_[:, :int(cw * 0.07) + t], np.s_[:, -(int(cw * 0.07) + t):]][side]
        c[sl] = np.float32([0.7, 0.71, 0.73]) * rng.uniform(0.8, 1.0)
    g, dh, cx, cy = board_glyph(ctx, rng, label, W, H, cw, ch, (0.06, 0.12), 0.05)
    col = [(0.08, 0.08, 0.1), (0.1, 0.22, 0.65), (0.78, 0.12, 0.12), (0.1, 0.52, 0.22)][int(rng.integers(4))]
    streak = 1.0 - 0.18 * np.clip(fine_noise(g.shape[0], g.shape[1], rng, scale=3, sigma=1.5), 0, 3) / 3
    g, cx, cy = fit(g * streak, cx, cy, W, H, cw, ch)
    put(c, g, cx, cy, col, rng.uniform(0.85, 0.97))
    # glare: bright soft blobs / streaks, one of them overlapping the digit
    n = int(rng.integers(1, 4))
    gl = np.zeros((ch // 4, cw // 4), np.float32)
    for k in range(n):
        if k == 0:
            gx = (cx + rng.uniform(-0.5, 0.5) * dh) / 4
            gy = (cy + rng.uniform(-0.5, 0.5) * dh) / 4
        else:
            gx, gy = rng.uniform(0, cw / 4), rng.uniform(0, ch / 4)
        ax = rng.uniform(0.05, 0.3) * H / 4
        ay = ax * rng.uniform(0.15, 0.8)
        blob = np.zeros_like(gl)
        cv2.ellipse(blob, (int(gx), int(gy)), (int(ax), max(1, int(ay))), rng.uniform(0, 180), 0, 360, 1.0, -1)
        blob = cv2.GaussianBlur(blob, (0, 0), max(1.0, ax * rng.uniform(0.25, 0.5)))
        gl = np.maximum(gl, blob * rng.uniform(0.35, 0.6 if k == 0 else 0.85))
    gl = cv2.resize(gl, (cw, ch), interpolation=cv2.INTER_LINEAR)
    c[:] = 1.0 - (1.0 - c) * (1.0 - gl[..., None])
    return photograph(c, W, H, rng, persp=0.05, light=(0.1, 0.3)), 0.75


def scene_board_dark(ctx, rng, label):
    W, H = pick_size(rng)
    ch, cw = canvas_shape(W, H)
    if rng.random() < 0.6:
        base = (rng.uniform(0.1, 0.18), rng.uniform(0.22, 0.32), rng.uniform(0.17, 0.24))
    else:
        b = rng.uniform(0.07, 0.15)
        base = (b, b, b * 1.05)
    c = paper(ch, cw, base, rng, grain=0.04, blotch=0.15)
    chalk = (0.92, 0.92, 0.88) if rng.random() < 0.6 else (0.95, 0.9, 0.55)
    # old chalk smudges: eraser swipes and ghost writing
    for _ in range(int(rng.integers(2, 6))):
        sw = np.zeros((ch // 4, cw // 4), np.float32)
        p1 = (int(rng.uniform(0, cw / 4)), int(rng.uniform(0, ch / 4)))
        p2 = (int(p1[0] + rng.uniform(-0.5, 0.5) * cw / 4), int(p1[1] + rng.uniform(-0.2, 0.2) * ch / 4))
        cv2.line(sw, p1, p2, 1.0, max(2, int(H / 4 * rng.uniform(0.05, 0.15))))
        sw = cv2.GaussianBlur(sw, (0, 0), H / 4 * 0.03)
        sw = cv2.resize(sw, (cw, ch)) * (0.7 + 0.3 * lowfreq(ch, cw, rng, 8))
        put(c, sw, cw / 2, ch / 2, chalk, rng.uniform(0.04, 0.12))
    for _ in range(int(rng.integers(1, 4))):
        gm = pen_twin(H * rng.uniform(0.15, 0.35), H * 0.02, rng, cat=str(rng.choice(["scribble", "letter"])))
        gm = cv2.GaussianBlur(gm, (0, 0), 2 + H * 0.005)
        put(c, gm, rng.uniform(0, cw), rng.uniform(0, ch), chalk, rng.uniform(0.05, 0.12))
    g, dh, cx, cy = board_glyph(ctx, rng, label, W, H, cw, ch, (0.05, 0.1), 0.3)
    # grainy, broken chalk
    grain = rng.random(g.shape).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), 0.7)
    grain = (grain - grain.mean()) / max(grain.std(), 1e-6)
    th = rng.uniform(-0.9, -0.2)
    gm = np.clip((grain - th) * 0.8, 0, 1)
    brk = fine_noise(g.shape[0], g.shape[1], rng, scale=max(2.0, dh * 0.04), sigma=1.0)
    brk = np.clip((brk + rng.uniform(1.8, 2.5)) * 1.5, 0, 1)  # a few gaps only
    g, cx, cy = fit(g * gm * brk, cx, cy, W, H, cw, ch)
    put(c, g, cx, cy, chalk, rng.uniform(0.75, 0.95))
    return photograph(c, W, H, rng, persp=0.05, light=(0.1, 0.3), noise=(0.01, 0.03)), 0.75


SEG_ON = {0: "abcdef", 1: "bc", 2: "abdeg", 3: "abcdg", 4: "bcfg", 5: "acdfg", 6: "acdefg", 7: "abc", 8: "abcdefg",
          9: "abcdfg"}
SEG_ALT = {6: "cdefg", 7: "abcf", 9: "abcfg"}
SEG_TWINS = {"P": "abefg", "E": "adefg", "F": "aefg", "H": "bcefg", "A": "abcefg", "L": "def", "C": "adef",
             "r": "eg", "n": "ceg", "h": "cefg", "t": "defg", "u": "cde", "-": "g", "deg": "abfg"}


def seg_polys(x0, y0, w, h, t, gap, slant):
    """Hexagonal segment polygons for a digit cell (x0, y0, w, h)."""
    ends = {"a": ((0, 0), (1, 0)), "b": ((1, 0), (1, 0.5)), "c": ((1, 0.5), (1, 1)), "d": ((0, 1), (1, 1)),
            "e": ((0, 0.5), (0, 1)), "f": ((0, 0), (0, 0.5)), "g": ((0, 0.5), (1, 0.5))}
    out = {}
    for k, ((ux0, uy0), (ux1, uy1)) in ends.items():
        p = np.array([x0 + ux0 * w, y0 + uy0 * h])
        q = np.array([x0 + ux1 * w, y0 + uy1 * h])
        d = (q - p) / np.linalg.norm(q - p)
        n = np.array([-d[1], d[0]])
        p2, q2 = p + d * gap, q - d * gap
        ht = t / 2
        poly = [p2, p2 + d * ht + n * ht, q2 - d * ht + n * ht, q2, q2 - d * ht - n * ht, p2 + d * ht - n * ht]
        poly = np.array(poly)
        poly[:, 0] -= slant * (poly[:, 1] - (y0 + h / 2))
        out[k] = poly
    return out


def fill_polys(h, w, polys, ss=4):
    m = np.zeros((h, w), np.uint8)
    for p in polys:
        cv2.fillPoly(m, [(p * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return m.astype(np.float32) / 255.0


def scene_seven_segment(ctx, rng, label):
    W, H = pick_size(rng, SIZES, portrait=0.15)
    ch, cw = canvas_shape(W, H)
    # device body
    bc = [(0.15, 0.15, 0.16), (0.6, 0.6, 0.58), (0.8, 0.78, 0.72), (0.25, 0.28, 0.35)][int(rng.integers(4))]
    c = paper(ch, cw, bc, rng, grain=0.02, blotch=0.15)
    lcd = rng.random() < 0.5
    dh = H * rng.uniform(0.35, 0.62)
    dw = dh * rng.uniform(0.45, 0.6)
    cx, cy = cw / 2 + rng.uniform(-0.08, 0.08) * W, ch / 2 + rng.uniform(-0.06, 0.06) * H
    # bezel + window
    ww, wh = dw + dh * rng.uniform(0.35, 0.9), dh * rng.uniform(1.25, 1.5)
    bez = rng.uniform(0.06, 0.16) * dh
    ww, wh = min(ww, W * 0.95 - 2 * bez), min(wh, H * 0.95 - 2 * bez)
    bcol = np.float32(bc) * rng.uniform(0.4, 0.8)
    c[int(cy - wh / 2 - bez):int(cy + wh / 2 + bez), int(cx - ww / 2 - bez):int(cx + ww / 2 + bez)] = bcol
    x0, x1 = int(cx - ww / 2), int(cx + ww / 2)
    y0, y1 = int(cy - wh / 2), int(cy + wh / 2)
    if lcd:
        bg = np.float32([rng.uniform(0.55, 0.7), rng.uniform(0.62, 0.75), rng.uniform(0.45, 0.58)])
        on_col, ghost_a = np.float32([0.08, 0.1, 0.08]), rng.uniform(0.05, 0.13)
    else:
        bg = np.float32([0.03, 0.03, 0.03]) + rng.uniform(0, 0.04)
        on_col = np.float32([1.0, 0.12, 0.06]) if rng.random() < 0.6 else np.float32([0.15, 1.0, 0.3])
        ghost_a = rng.uniform(0.03, 0.1)
    win = c[y0:y1, x0:x1]
    win[:] = bg * (1 - 0.12 * lowfreq(y1 - y0, x1 - x0, rng, 3))[..., None]
    hh, ww_ = win.shape[:2]
    use_font = rng.random() < 0.3 and label is not None
    if use_font:
        path = str(rng.choice(SEG_FONTS))
        on = font_mask(str(label), path, dh)
        ghost = font_mask("8", path, dh)
        # same font, monospaced: align by top-left of bbox of "8" vs the digit's right edge
        gmask = np.zeros((hh, ww_), np.float32)
        omask = np.zeros((hh, ww_), np.float32)
        gy, gx = (hh - ghost.shape[0]) // 2, (ww_ - ghost.shape[1]) // 2
        if gy < 0 or gx < 0:
            use_font = False
        else:
            gmask[gy:gy + ghost.shape[0], gx:gx + ghost.shape[1]] = ghost
            oy = gy + ghost.shape[0] - on.shape[0]
            ox = gx + ghost.shape[1] - on.shape[1]
            oy, ox = max(oy, 0), max(ox, 0)
            omask[oy:oy + on.shape[0], ox:ox + on.shape[1]] = on[:hh - oy, :ww_ - ox]
    if not use_font:
        t = dh * rng.uniform(0.1, 0.17)
        slant = rng.uniform(0.0, 0.18) if rng.random() < 0.6 else 0.0
        polys = seg_polys((ww_ - dw) / 2, (hh - dh) / 2, dw, dh, t, t * rng.uniform(0.05, 0.2), slant)
        if label is None:
            segs = SEG_TWINS[str(rng.choice(list(SEG_TWINS)))]
        else:
            segs = SEG_ALT[label] if (label in SEG_ALT and rng.random() < 0.3) else SEG_ON[label]
        omask = fill_polys(hh, ww_, [polys[s] for s in segs])
        gmask = fill_polys(hh, ww_, list(polys.values()))
    gmask = np.clip(gmask - omask, 0, 1)
    if lcd:
        win[:] = win * (1 - ghost_a * gmask[..., None])
        sh = np.roll(omask, (max(1, int(dh * 0.015)),) * 2, (0, 1))  # faint drop shadow of the segments
        win[:] = win * (1 - 0.15 * sh[..., None])
        put(win, omask, ww_ / 2, hh / 2, on_col, rng.uniform(0.8, 0.95))
    else:
        win[:] = win + ghost_a * gmask[..., None] * on_col
        glow = cv2.GaussianBlur(omask, (0, 0), dh * rng.uniform(0.02, 0.05))
        win[:] = win + glow[..., None] * on_col * rng.uniform(0.3, 0.6)
        core = omask[..., None] * (on_col * 0.9 + 0.25 * rng.random())
        win[:] = np.maximum(win, core)
    # reflection across the window glass
    if rng.random() < 0.5:
        refl = lowfreq(hh, ww_, rng, 2) * rng.uniform(0.05, 0.2)
        win[:] = 1 - (1 - win) * (1 - refl[..., None])
    return photograph(c, W, H, rng, persp=0.05, light=(0.05, 0.25)), 0.7


def scene_tight_crop(ctx, rng, label):
    dh = int(rng.uniform(50, 320))
    if label is None:
        g = pen_twin(dh, max(1.5, dh * rng.uniform(0.06, 0.12)), rng) if rng.random() < 0.7 else font_twin(dh, rng)
    elif rng.random() < 0.55:
        g = ctx.mnist.mask(ctx.mnist.next(label), dh, rng)
    else:
        g = pen_digit(label, dh, max(1.5, dh * rng.uniform(0.06, 0.13)), rng)
    pad = int(dh * 0.3) + 4
    H, W = g.shape[0] + 2 * pad, g.shape[1] + 2 * pad
    c = paper(H, W, paper_color(rng), rng, grain=0.02, blotch=0.05)
    ink, a = pick_ink(rng)
    if rng.random() < 0.3:
        ink = INKS_PAPER["black"]
    put(c, with_pressure(g, rng, 0.15), W / 2, H / 2, ink, max(a, 0.8), "mul")
    # tight crop: ink touches >= 1 edge
    ys, xs = np.nonzero(g > 0.5)
    by0, by1, bx0, bx1 = ys.min() + pad, ys.max() + pad + 1, xs.min() + pad, xs.max() + pad + 1
    gh = by1 - by0
    marg = [rng.uniform(0, 0.12) * gh for _ in range(4)]  # top, bottom, left, right
    n_touch = int(rng.integers(1, 5))
    for s in rng.permutation(4)[:n_touch]:
        # digits: touch or cut a hair into the ink; twins: touch only (a cut '!' would be a '1')
        marg[s] = 0.0 if label is None else -rng.uniform(0, 0.035) * gh
    y0 = int(max(0, by0 - marg[0]))
    y1 = int(min(H, by1 + marg[1]))
    x0 = int(max(0, bx0 - marg[2]))
    x1 = int(min(W, bx1 + marg[3]))
    c = c[y0:y1, x0:x1]
    h, w = c.shape[:2]
    c *= rng.uniform(0.9, 1.05)
    s = rng.uniform(0.2, 0.9)
    c = cv2.GaussianBlur(c, (0, 0), s)
    c += rng.standard_normal(c.shape, dtype=np.float32) * rng.uniform(0.004, 0.02)
    img = to_u8(c)
    if rng.random() < 0.3:
        img = cv2.resize(img, (200, 200), interpolation=cv2.INTER_AREA if max(h, w) > 200 else cv2.INTER_CUBIC)
    if rng.random() < 0.4:
        img = jpeg_roundtrip(img, rng.integers(70, 95))
    return img, 0.5


def scene_fonts(ctx, rng, label):
    H = int(rng.uniform(40, 400))
    W = int(H * rng.uniform(0.6, 1.6))
    # colours: both polarities
    for _ in range(50):
        bgc = rng.uniform(0, 1, 3).astype(np.float32)
        if rng.random() < 0.5:
            bgc = np.float32([1, 1, 1]) * rng.uniform(0.8, 1.0) * (1 - 0.15 * rng.random(3).astype(np.float32))
        if rng.random() < 0.35:
            bgc = bgc * rng.uniform(0.0, 0.3)
        ink = rng.uniform(0, 1, 3).astype(np.float32)
        lum = lambda v: float(v @ np.float32([0.3, 0.59, 0.11]))
        if abs(lum(bgc) - lum(ink)) > 0.4:
            break
    c = np.empty((H, W, 3), np.float32)
    c[:] = bgc
    c *= (1 + 0.02 * fine_noise(H, W, rng, 2))[..., None]
    dh = min(H * rng.uniform(0.45, 0.85), W * rng.uniform(0.6, 1.2))
    rot = rng.uniform(-10, 10) if rng.random() < 0.6 else 0.0
    if label is None:
        g = font_twin(dh, rng, rot=rot)
    else:
        path = str(rng.choice(FONTS))
        g = font_mask(str(label), path, dh, rot=rot, bold_px=dh * 0.03 if rng.random() < 0.15 else 0)
    if g.shape[0] > H or g.shape[1] > W:
        s = min(H / g.shape[0], W / g.shape[1]) * 0.95
        g = cv2.resize(g, (max(1, int(g.shape[1] * s)), max(1, int(g.shape[0] * s))), interpolation=cv2.INTER_AREA)
    cx = W / 2 + rng.uniform(-0.5, 0.5) * (W - g.shape[1]) * 0.8
    cy = H / 2 + rng.uniform(-0.5, 0.5) * (H - g.shape[0]) * 0.8
    put(c, g, cx, cy, ink, rng.uniform(0.9, 1.0))
    if rng.random() < 0.5:
        c = cv2.GaussianBlur(c, (0, 0), rng.uniform(0.4, 1.5) * max(1, H / 150))
    c += rng.standard_normal(c.shape, dtype=np.float32) * rng.uniform(0.0, 0.02)
    return to_u8(c), 0.5


SCENE_FUNCS = {"ruled": scene_ruled, "grid": scene_grid, "gradient_shadow": scene_gradient_shadow,
               "small_in_frame": scene_small_in_frame, "whiteboard": scene_whiteboard,
               "board_dark": scene_board_dark, "seven_segment": scene_seven_segment,
               "tight_crop": scene_tight_crop, "fonts": scene_fonts}
COUNTS = {s: (6, 20) for s in SCENES}
COUNTS["tight_crop"] = (10, 20)
COUNTS["fonts"] = (10, 20)


class Ctx:
    pass


def main(argv: list[str] | None = None) -> int:
    global MNIST
    ap = tool_parser("python -m tools.make_photos", __doc__)
    ap.add_argument("--split", choices=list(SPLIT_SEEDS), required=True)
    ap.add_argument("--out", type=Path, default=Path("photos"), help="the split goes to OUT/<split> (default photos)")
    ap.add_argument("--scenes", default=",".join(SCENES), help="a comma-separated subset (default: all)")
    ap.add_argument("--mnist", type=Path, default=None, help="mnist.npz (default: $MNIST_PATH, else data/mnist.npz)")
    args = ap.parse_args(argv)
    unknown = set(args.scenes.split(",")) - set(SCENES)
    if unknown:
        ap.error(f"unknown scene {', '.join(sorted(unknown))}; the scenes are {', '.join(SCENES)}")
    MNIST = str(args.mnist or MNIST)
    if not Path(MNIST).is_file():
        ap.error(f"{MNIST}: MNIST not found; pass --mnist PATH or set MNIST_PATH (dvc repro data fetches it)")
    from pipeline.mnist import DataError, load_arrays

    try:
        load_arrays(MNIST, ("x_train", "y_train", "x_test", "y_test"))
    except DataError as error:
        ap.error(str(error))
    seed = SPLIT_SEEDS[args.split]
    root = os.path.join(args.out, args.split)
    ctx = Ctx()
    ctx.mnist = MnistPool(args.split)
    rows = []
    t0 = time.time()
    for si, scene in enumerate(SCENES):
        if scene not in args.scenes.split(","):
            continue
        ts = time.time()
        ctx.mnist.start_scene(si)
        d = os.path.join(root, scene)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        per, ntw = COUNTS[scene]
        labels = [lab for lab in range(10) for _ in range(per)] + [None] * ntw
        order = np.random.default_rng([seed, si, 999]).permutation(len(labels))
        for k, j in enumerate(order):
            lab = labels[j]
            rng = np.random.default_rng([seed, si, int(j)])
            img, jp = SCENE_FUNCS[scene](ctx, rng, lab)
            path = save(img, os.path.join(d, f"{scene}_{k:03d}"), rng, jpeg_p=jp, force_jpeg=img.size > 3 * 3e6)
            rows.append((os.path.relpath(path, root), scene, "none" if lab is None else str(lab)))
        print(f"{scene}: {len(labels)} pictures, {time.time() - ts:.1f}s", flush=True)
    # merge with existing labels if only some scenes were regenerated
    lp = os.path.join(root, "labels.csv")
    done = {r[1] for r in rows}
    if os.path.exists(lp) and set(args.scenes.split(",")) != set(SCENES):
        with open(lp) as fh:
            old = [tuple(r) for r in csv.reader(fh)][1:]
        rows = [r for r in old if r[1] not in done] + rows
        rows.sort(key=lambda r: (SCENES.index(r[1]), r[0]))
    with open(lp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "scene", "label"])
        w.writerows(rows)
    with open(os.path.join(root, "mnist_test_indices.txt"), "w") as fh:
        fh.write("used " + " ".join(map(str, ctx.mnist.used)) + "\n")
        fh.write("dropped_by_knn_screen " + " ".join(map(str, ctx.mnist.dropped)) + "\n")
    print(f"total {len(rows)} rows, {time.time() - t0:.1f}s; mnist used {len(ctx.mnist.used)}, "
          f"screened out {len(ctx.mnist.dropped)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
