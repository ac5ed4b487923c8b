"""The real-pictures recipe on the accelerator: a Keras 3 layer built from `keras.ops` only.

The host recipe (pipeline/augment.py) runs at about 4,000 images/s per CPU core, while a
steady epoch on an H100 needs about 190,000 images/s. This layer applies the same transforms
inside the compiled train step, so XLA fuses them with the model and nothing waits on the
host. It draws its randomness from a `keras.random.SeedGenerator`, which keeps XLA on under
JAX (Keras' `Random*` preprocessing layers switch it off). It is active only in training:
validation and the saved model never see it.

The bilinear warp reads four neighbours per pixel, as the host does; tests/test_augment.py
checks the whole recipe against the host transforms on the same random draws.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from pipeline.augment import FADE_PLATEAU, FADE_RADII, FADE_STRENGTH
from pipeline.params import Augmentation
from runtime.digits import SIZE

COARSE = 4  # the elastic field's grid, as on the host
BINOMIAL = ((1, 2, 1), (2, 4, 2), (1, 2, 1))


def draw(n: int, recipe: Augmentation, max_shift: int, seed) -> dict:
    """One batch's random parameters, named and distributed as the host recipe draws them."""

    def uniform(spread, shape=(n,)):
        return keras.random.uniform(shape, -spread, spread, seed=seed)

    shift = ops.floor(keras.random.uniform((n, 2), 0, 2 * max_shift + 1, seed=seed)) if max_shift else ops.zeros((n, 2))
    return {
        "angle": uniform(math.radians(recipe.rotation)),
        "scale": 1 + uniform(recipe.scale),
        "aspect": 1 + uniform(recipe.aspect),
        "shear": uniform(recipe.shear),
        "coarse": keras.random.normal((n, COARSE, COARSE, 2), 0, 1, seed=seed) * recipe.elastic,
        "shift": shift - max_shift,  # (dy, dx) in pixels
        "pen": keras.random.uniform((n,), 0, 1, seed=seed),
        "blur": keras.random.uniform((n,), 0, 1, seed=seed),
        "gamma": ops.power(2.0, uniform(recipe.gamma)),
        # Drawn only when asked for, so a recipe without it draws what it drew before.
        **({"fade": keras.random.uniform((n,), 0, 1, seed=seed),
            "fade_centre": keras.random.uniform((n, 2), 4, 24, seed=seed),  # (y, x)
            "fade_radii": ops.stack([keras.random.uniform((n,), *FADE_RADII[0], seed=seed),
                                     keras.random.uniform((n,), *FADE_RADII[1], seed=seed)], -1),
            "fade_angle": keras.random.uniform((n,), 0, math.pi, seed=seed),
            "fade_strength": keras.random.uniform((n,), *FADE_STRENGTH, seed=seed)} if recipe.fade else {}),
    }


def source_coordinates(d: dict) -> tuple:
    """For every output pixel, where to read the input: (x, y), each (n, 28*28)."""
    cos, sin = ops.cos(d["angle"]), ops.sin(d["angle"])
    sx, sy = 1 / (d["scale"] * d["aspect"]), 1 / (d["scale"] / d["aspect"])
    a = (cos * sx, (sin + d["shear"] * cos) * sx, -sin * sy, (cos - d["shear"] * sin) * sy)
    centre = (SIZE - 1) / 2
    grid = ops.arange(SIZE, dtype="float32") - centre
    gy, gx = ops.reshape(ops.repeat(grid, SIZE), (1, -1)), ops.reshape(ops.tile(grid, SIZE), (1, -1))
    gy, gx = gy + d["shift"][:, :1], gx + d["shift"][:, 1:]  # out(p) = in(p + shift), folded into the warp
    x = a[0][:, None] * gx + a[1][:, None] * gy + centre
    y = a[2][:, None] * gx + a[3][:, None] * gy + centre
    field = elastic_field(d["coarse"])
    return x + field[..., 0], y + field[..., 1]


def elastic_field(coarse):
    """(n, 4, 4, 2) random vectors -> (n, 28*28, 2), bilinear with the grid's corners on the image's."""
    axis = ops.linspace(0.0, COARSE - 1.0, SIZE)
    weights = ops.relu(1 - ops.abs(axis[:, None] - ops.arange(COARSE, dtype="float32")[None, :]))  # (28, 4)
    field = ops.einsum("yi,xj,nijc->nyxc", weights, weights, coarse)
    return ops.reshape(field, (-1, SIZE * SIZE, 2))


def warp(images, x, y):
    """Bilinear sampling of (n, 28, 28) at (x, y), reading 0 outside (the host's padded frame)."""
    frame = SIZE + 2
    padded = ops.reshape(ops.pad(images, ((0, 0), (1, 1), (1, 1))), (-1, frame * frame))
    x, y = ops.clip(x + 1, 0, SIZE + 1), ops.clip(y + 1, 0, SIZE + 1)
    x0, y0 = ops.floor(x), ops.floor(y)
    fx, fy = x - x0, y - y0
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    x1, y1 = ops.minimum(x0 + 1, SIZE + 1), ops.minimum(y0 + 1, SIZE + 1)

    def at(row, col):
        return ops.take_along_axis(padded, row * frame + col, axis=1)

    out = ((at(y0, x0) * (1 - fx) + at(y0, x1) * fx) * (1 - fy)
           + (at(y1, x0) * (1 - fx) + at(y1, x1) * fx) * fy)
    return ops.reshape(out, (-1, SIZE, SIZE))


def _pool3(images, reduce_max: bool):
    padded = ops.pad(images, ((0, 0), (1, 1), (1, 1)))  # zeros outside, as on the host
    signed = padded if reduce_max else -padded
    pooled = ops.max_pool(signed[..., None], 3, strides=1, padding="valid")[..., 0]
    return pooled if reduce_max else -pooled


def transform(images, d: dict, recipe: Augmentation):
    """float (n, 28, 28) in [0, 1] -> the same, with every transform of `recipe` applied per `d`."""
    x, y = source_coordinates(d)
    out = warp(images, x, y)
    if recipe.stroke:
        thicker = (d["pen"] < recipe.stroke / 2)[:, None, None]
        thinner = ((d["pen"] >= recipe.stroke / 2) & (d["pen"] < recipe.stroke))[:, None, None]
        out = ops.where(thicker, _pool3(out, True), ops.where(thinner, _pool3(out, False), out))
    if recipe.blur:
        kernel = ops.convert_to_tensor(BINOMIAL, dtype="float32")[:, :, None, None] / 16
        blurred = ops.conv(out[..., None], kernel, padding="same")[..., 0]
        out = ops.where((d["blur"] < recipe.blur)[:, None, None], blurred, out)
    if recipe.gamma:
        out = ops.power(ops.clip(out, 0, 1), d["gamma"][:, None, None])
    if recipe.fade:
        out = ops.where((d["fade"] < recipe.fade)[:, None, None], out * fade_weights(d), out)
    return ops.clip(out, 0, 1)


def fade_weights(d: dict):
    """(n, 28, 28): the share of the ink each pixel keeps under its image's spot (augment.fade_weights)."""
    grid = ops.arange(SIZE, dtype="float32")
    dy = grid[None, :, None] - d["fade_centre"][:, 0, None, None]
    dx = grid[None, None, :] - d["fade_centre"][:, 1, None, None]
    cos, sin = ops.cos(d["fade_angle"])[:, None, None], ops.sin(d["fade_angle"])[:, None, None]
    along, across = dx * cos + dy * sin, -dx * sin + dy * cos
    distance = ops.sqrt((along / d["fade_radii"][:, 0, None, None]) ** 2 + (across / d["fade_radii"][:, 1, None, None]) ** 2)
    spot = ops.clip((1 - distance) / (1 - FADE_PLATEAU), 0, 1)
    return 1 - d["fade_strength"][:, None, None] * spot


class DeviceAugmentation(keras.layers.Layer):
    """The recipe plus a random translation of up to `max_shift` pixels, on (N, 28, 28, 1) in [0, 1]."""

    def __init__(self, recipe: Augmentation, max_shift: int, seed: int, **kwargs):
        super().__init__(dtype="float32", **kwargs)  # sampling stays in fp32 under mixed bf16
        self.recipe, self.max_shift = recipe, max_shift
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training:
            return images
        flat = ops.cast(images[..., 0], "float32")
        d = draw(ops.shape(flat)[0], self.recipe, self.max_shift, self.seed_generator)
        return transform(flat, d, self.recipe)[..., None]

    def compute_output_shape(self, input_shape):
        return input_shape
