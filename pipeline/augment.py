"""The training recipe for real pictures: host-side augmentation of uint8 MNIST batches.

Plain numpy on whole batches (no per-image Python loop, no Keras Random* layers, which turn XLA
off on JAX), seeded by the caller's generator. Each transform is its own function, so each can
be tested alone; `augment` chains them with the probabilities and ranges of `Augmentation`
(`train.augment`, typed in pipeline/params.py).

- affine: rotation, scale, shear and aspect about the image centre, with a smooth elastic
  displacement on top (a coarse random grid, bilinearly upsampled), sampled bilinearly;
- pen width: a 3x3 grey dilation (thicker pen) or erosion (thinner pen);
- blur: a 3x3 binomial blur (a defocused camera, a soft scan);
- gamma: stroke edges harder or softer (printer and scanner response);
- fade: part of the digit washed out by a soft elliptical spot (glare on a whiteboard or a glossy
  page), which the digit finder hands the model as strokes that fade out and come back.
"""

from __future__ import annotations

import numpy as np

from pipeline.params import Augmentation


def affine(images: np.ndarray, rng: np.random.Generator, recipe: Augmentation) -> np.ndarray:
    """Random affine warp plus elastic displacement, bilinear, filled with 0 (no ink)."""
    n = len(images)
    angle = np.deg2rad(rng.uniform(-recipe.rotation, recipe.rotation, n))
    scale = 1 + rng.uniform(-recipe.scale, recipe.scale, n)
    aspect = 1 + rng.uniform(-recipe.aspect, recipe.aspect, n)
    shear = rng.uniform(-recipe.shear, recipe.shear, n)
    coarse = rng.normal(0, recipe.elastic, size=(n, 4, 4, 2)).astype(np.float32) if recipe.elastic else None
    return warp(images, angle, scale, aspect, shear, coarse)


def warp(images: np.ndarray, angle, scale, aspect, shear, coarse: np.ndarray | None) -> np.ndarray:
    """The affine warp for given per-image parameters (radians, factors, tangent; (n, 4, 4, 2) field)."""
    n, h, w = images.shape
    # Output pixel -> source pixel: the inverse of rotate * shear * scale, about the centre.
    cos, sin = np.cos(angle), np.sin(angle)
    sx, sy = 1 / (scale * aspect), 1 / (scale / aspect)
    a = np.stack([np.stack([cos * sx, (sin + shear * cos) * sx], -1),
                  np.stack([-sin * sy, (cos - shear * sin) * sy], -1)], -2)  # (n, 2, 2) on (x, y)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    grid = np.stack([xs - cx, ys - cy], -1).reshape(-1, 2)  # (h*w, 2)
    source = np.einsum("nij,pj->npi", a.astype(np.float32), grid) + np.array([cx, cy], np.float32)
    source = source.reshape(n, h, w, 2)
    if coarse is not None:
        source += _elastic_field(coarse, h, w)
    return _bilinear(images, source[..., 0], source[..., 1])


def _elastic_field(coarse: np.ndarray, h: int, w: int) -> np.ndarray:
    """A smooth displacement: a 4x4 grid of random vectors, upsampled bilinearly."""
    ys, xs = np.linspace(0, 3, h, dtype=np.float32), np.linspace(0, 3, w, dtype=np.float32)
    y0, x0 = np.minimum(ys.astype(int), 2), np.minimum(xs.astype(int), 2)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = coarse[:, y0][:, :, x0] * (1 - fx) + coarse[:, y0][:, :, x0 + 1] * fx
    bottom = coarse[:, y0 + 1][:, :, x0] * (1 - fx) + coarse[:, y0 + 1][:, :, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _bilinear(images: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    n, h, w = images.shape
    padded = np.pad(images.astype(np.float32), ((0, 0), (1, 1), (1, 1)))
    x, y = np.clip(x + 1, 0, w), np.clip(y + 1, 0, h)  # into the padded frame: outside reads 0
    x0, y0 = np.floor(x).astype(np.int32), np.floor(y).astype(np.int32)
    x1, y1 = np.minimum(x0 + 1, w + 1), np.minimum(y0 + 1, h + 1)
    fx, fy = x - x0, y - y0
    b = np.arange(n)[:, None, None]
    out = (padded[b, y0, x0] * (1 - fx) * (1 - fy) + padded[b, y0, x1] * fx * (1 - fy)
           + padded[b, y1, x0] * (1 - fx) * fy + padded[b, y1, x1] * fx * fy)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _neighbours(images: np.ndarray) -> np.ndarray:
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    h, w = images.shape[1:]
    return np.stack([padded[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)])


def pen_width(images: np.ndarray, rng: np.random.Generator, probability: float) -> np.ndarray:
    """A thicker pen (grey dilation) for some images, a thinner one (erosion) for others."""
    return pen_width_for(images, rng.random(len(images)), probability)


def pen_width_for(images: np.ndarray, choice: np.ndarray, probability: float) -> np.ndarray:
    """Thicker where choice < probability / 2, thinner where it is below probability."""
    thicker, thinner = choice < probability / 2, (choice >= probability / 2) & (choice < probability)
    out = images.copy()
    if thicker.any():
        out[thicker] = _neighbours(images[thicker]).max(axis=0)
    if thinner.any():
        out[thinner] = _neighbours(images[thinner]).min(axis=0)
    return out


def blur(images: np.ndarray, rng: np.random.Generator, probability: float) -> np.ndarray:
    """A 3x3 binomial blur ([1 2 1] x [1 2 1] / 16) for some images."""
    return blur_for(images, rng.random(len(images)) < probability)


def blur_for(images: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    out = images.copy()
    if chosen.any():
        stack = _neighbours(images[chosen]).astype(np.float32)
        kernel = np.array([1, 2, 1, 2, 4, 2, 1, 2, 1], np.float32)[:, None, None, None] / 16
        out[chosen] = np.rint((stack * kernel).sum(axis=0)).astype(np.uint8)
    return out


def gamma(images: np.ndarray, rng: np.random.Generator, spread: float) -> np.ndarray:
    """Intensity ** gamma, gamma = 2 ** U(-spread, spread): harder or softer stroke edges."""
    return gamma_for(images, np.exp2(rng.uniform(-spread, spread, len(images))))


def gamma_for(images: np.ndarray, g: np.ndarray) -> np.ndarray:
    g = np.asarray(g, np.float32)[:, None, None]
    return np.rint(255 * (images.astype(np.float32) / 255) ** g).astype(np.uint8)


FADE_RADII = ((3.0, 10.0), (2.0, 6.0))  # px: the spot's long and short half-axes, (low, high)
FADE_STRENGTH = (0.5, 1.0)  # the share of the ink washed out at the spot's middle
FADE_PLATEAU = 1 / 3  # the spot is full strength out to this share of its radius, then falls off linearly


def fade(images: np.ndarray, rng: np.random.Generator, probability: float) -> np.ndarray:
    """Part of the digit washed out, for some images: a soft elliptical spot anywhere in MNIST's
    20 px box, at a random angle, takes FADE_STRENGTH of the ink at its middle."""
    n = len(images)
    chosen = rng.random(n) < probability
    centre = rng.uniform(4, 24, (n, 2))
    radii = np.stack([rng.uniform(*FADE_RADII[0], n), rng.uniform(*FADE_RADII[1], n)], -1)
    return fade_for(images, chosen, centre, radii, rng.uniform(0, np.pi, n), rng.uniform(*FADE_STRENGTH, n))


def fade_weights(centre: np.ndarray, radii: np.ndarray, angle: np.ndarray, strength: np.ndarray,
                 size: int) -> np.ndarray:
    """(n, size, size) float32: the share of the ink each pixel keeps under each spot (1: all)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    dy = ys[None] - centre[:, 0, None, None].astype(np.float32)
    dx = xs[None] - centre[:, 1, None, None].astype(np.float32)
    cos, sin = np.cos(angle).astype(np.float32)[:, None, None], np.sin(angle).astype(np.float32)[:, None, None]
    along, across = dx * cos + dy * sin, -dx * sin + dy * cos
    distance = np.sqrt((along / radii[:, 0, None, None]) ** 2 + (across / radii[:, 1, None, None]) ** 2)
    spot = np.clip((1 - distance) / (1 - FADE_PLATEAU), 0, 1)
    return (1 - strength.astype(np.float32)[:, None, None] * spot).astype(np.float32)


def fade_for(images: np.ndarray, chosen: np.ndarray, centre: np.ndarray, radii: np.ndarray,
             angle: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """The chosen images under their spots (`fade_weights`); the others as they are."""
    out = images.copy()
    if chosen.any():
        keep = fade_weights(centre[chosen], radii[chosen], angle[chosen], strength[chosen], images.shape[1])
        out[chosen] = np.rint(images[chosen].astype(np.float32) * keep).astype(np.uint8)
    return out


def augment(images: np.ndarray, rng: np.random.Generator, recipe: Augmentation) -> np.ndarray:
    """uint8 (N, 28, 28) -> uint8 (N, 28, 28), every transform of `recipe` applied at random."""
    if not recipe.enabled:
        return images
    out = images
    if recipe.rotation or recipe.scale or recipe.shear or recipe.aspect or recipe.elastic:
        out = affine(out, rng, recipe)
    if recipe.stroke:
        out = pen_width(out, rng, recipe.stroke)
    if recipe.blur:
        out = blur(out, rng, recipe.blur)
    if recipe.gamma:
        out = gamma(out, rng, recipe.gamma)
    if recipe.fade:
        out = fade(out, rng, recipe.fade)
    return out
