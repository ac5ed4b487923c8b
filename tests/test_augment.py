"""The training recipe for real pictures: shapes, dtypes, ranges, seeding, and that each transform
really changes the image."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import augment as A

RECIPE = A.Augmentation(rotation=12, scale=0.12, shear=0.2, aspect=0.15, elastic=0.8, stroke=0.3, blur=0.15,
                        gamma=0.5)


@pytest.fixture(scope="module")
def digits(mnist_sample) -> np.ndarray:
    return mnist_sample["x_train"][:64]


@pytest.mark.parametrize("transform", [
    lambda x, rng: A.affine(x, rng, A.Augmentation(rotation=12)),
    lambda x, rng: A.affine(x, rng, A.Augmentation(scale=0.15)),
    lambda x, rng: A.affine(x, rng, A.Augmentation(shear=0.2)),
    lambda x, rng: A.affine(x, rng, A.Augmentation(aspect=0.15)),
    lambda x, rng: A.affine(x, rng, A.Augmentation(elastic=1.0)),
    lambda x, rng: A.pen_width(x, rng, 1.0),
    lambda x, rng: A.blur(x, rng, 1.0),
    lambda x, rng: A.gamma(x, rng, 0.5),
    lambda x, rng: A.augment(x, rng, RECIPE),
], ids=["rotation", "scale", "shear", "aspect", "elastic", "pen", "blur", "gamma", "recipe"])
def test_each_transform_keeps_shape_dtype_range_and_changes_the_image(digits, transform):
    out = transform(digits, np.random.default_rng(0))
    assert out.shape == digits.shape and out.dtype == np.uint8
    assert out.min() >= 0 and out.max() <= 255
    changed = (out != digits).any(axis=(1, 2)).mean()
    assert changed > 0.9, changed
    again = transform(digits, np.random.default_rng(0))
    assert np.array_equal(out, again)  # same seed, same pixels


def test_pen_width_thickens_and_thins(digits):
    rng = np.random.default_rng(0)
    ink = (digits > 127).sum(axis=(1, 2))
    thick = A._neighbours(digits).max(axis=0)
    thin = A._neighbours(digits).min(axis=0)
    assert ((thick > 127).sum(axis=(1, 2)) > ink).all() and ((thin > 127).sum(axis=(1, 2)) < ink).all()
    assert A.pen_width(digits, rng, 0.0) is not digits and np.array_equal(A.pen_width(digits, rng, 0.0), digits)


def test_identity_recipe_returns_the_input(digits):
    assert A.augment(digits, np.random.default_rng(0), A.Augmentation()) is digits
    # an affine warp of nothing is the image itself (bilinear sampling at the pixel centres)
    assert np.array_equal(A.affine(digits, np.random.default_rng(0), A.Augmentation()), digits)


def test_temperature_fit_lowers_the_calibration_error():
    from export.parity import expected_calibration_error
    from pipeline.qat import fit_temperature

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 4000)
    logits = rng.normal(0, 1, (4000, 10))
    logits[np.arange(4000), labels] += 2.0  # right about 75% of the time...
    logits *= 4.0  # ...but far too sure of itself

    def probabilities(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    t = fit_temperature(logits, labels)
    before = expected_calibration_error(probabilities(logits), labels)
    after = expected_calibration_error(probabilities(logits / t), labels)
    assert t > 1.5 and after < before / 3, (t, before, after)
