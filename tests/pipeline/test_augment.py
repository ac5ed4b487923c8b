"""The training recipe for real pictures: shapes, dtypes, ranges, seeding, and that each transform
really changes the image."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import augment as A

RECIPE = A.Augmentation(rotation=12, scale=0.12, shear=0.2, aspect=0.15, elastic=0.8, stroke=0.3, blur=0.15,
                        gamma=0.5, fade=0.5)


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
    lambda x, rng: A.fade(x, rng, 1.0),
    lambda x, rng: A.augment(x, rng, RECIPE),
], ids=["rotation", "scale", "shear", "aspect", "elastic", "pen", "blur", "gamma", "fade", "recipe"])
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


def test_fade_washes_out_ink_under_its_spot_only(digits):
    n = len(digits)
    centre, radii = np.full((n, 2), 14.0), np.tile([[6.0, 3.0]], (n, 1))
    keep = A.fade_weights(centre, radii, np.zeros(n), np.full(n, 0.9), 28)
    assert np.isclose(keep[:, 14, 14], 0.1).all()  # the middle keeps a tenth of its ink
    assert (keep[:, 14, 21] == 1).all() and (keep[:, 18, 14] == 1).all()  # past the radii along and across
    assert (keep[:, 14, 16] < keep[:, 14, 18]).all() and (keep[:, 14, 18] < 1).all()  # a soft edge
    out = A.fade_for(digits, np.arange(n) % 2 == 0, centre, radii, np.zeros(n), np.full(n, 0.9))
    assert (out <= digits).all()  # it takes ink away, never adds any
    assert np.array_equal(out[1::2], digits[1::2])  # the images not chosen are untouched
    assert (out[::2, 14, 14] <= np.rint(digits[::2, 14, 14] * 0.1) + 1).all()


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


def test_refusal_offset_is_the_least_step_that_meets_the_budget():
    from pipeline.open_set import OFFSET_STEP, refusal_offset

    # 100 digits: the "not a digit" output beats the best digit by 0.1 nats on 3 and by 1.0 nat on 2.
    logits = np.zeros((100, 11))
    logits[:, 0] = 5.0
    logits[:, 10] = -5.0
    logits[:3, 10] = 5.1
    logits[3:5, 10] = 6.0
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert refusal_offset(p, 1.0) == (0.0, 0.05)  # no budget: never lowered
    assert refusal_offset(p, 0.05) == (0.0, 0.05)
    offset, share = refusal_offset(p, 0.02)  # the three 0.1-nat refusals go, the two 1-nat ones stay
    assert share == 0.02 and offset == OFFSET_STEP
    offset, share = refusal_offset(p, 0.0)
    assert share == 0.0 and 1.0 - OFFSET_STEP < offset <= 1.0 + OFFSET_STEP


def test_deployed_accuracy_counts_not_a_digit_as_wrong():
    from pipeline.qat import deployed_accuracy

    labels = np.array([3, 3, 5, 7])
    answers = np.array([3, 10, 5, 1])  # right, "not a digit", right, wrong
    assert deployed_accuracy(answers, labels) == 0.5
    assert deployed_accuracy(None, labels[:0]) is None  # no validation split


def test_the_offset_is_taken_off_both_models_and_the_answers_are_the_lowered_models():
    from types import SimpleNamespace

    from pipeline.params import OpenSetRoute
    from pipeline.qat import lower_not_a_digit

    class Bias:  # a Keras variable's numpy() and assign()
        def __init__(self):
            self.value = np.zeros(11)

        def numpy(self):
            return self.value.copy()

        def assign(self, value):
            self.value = np.asarray(value)

    # 4 digits: the "not a digit" logit beats the best digit by 0.1 nats on the second one only.
    logits = np.zeros((4, 11))
    logits[np.arange(4), [3, 3, 5, 7]] = 5.0
    logits[1, 10] = 5.1
    float_layer, qat_layer = SimpleNamespace(bias=Bias()), SimpleNamespace(bias=Bias())

    class Qat:
        def get_layer(self, name):
            assert name == "quant_logits"
            return SimpleNamespace(layer=qat_layer)

        def predict(self, x, batch_size, verbose):
            assert x.shape == (4, 28, 28, 1)
            z = logits + qat_layer.bias.value
            return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)

    float_model = SimpleNamespace(get_layer=lambda name: float_layer)
    split = SimpleNamespace(x_val=np.zeros((4, 28, 28), np.uint8), y_val=np.array([3, 3, 5, 7]))
    settings = SimpleNamespace(route=OpenSetRoute.CLASS, refusal_budget=1.0)
    offset, answers = lower_not_a_digit(float_model, Qat(), split, settings)
    assert offset == 0.0 and answers.tolist() == [3, 10, 5, 7]  # no budget: unchanged
    settings.refusal_budget = 0.0
    offset, answers = lower_not_a_digit(float_model, Qat(), split, settings)
    assert offset == 0.25 and answers.tolist() == [3, 3, 5, 7]
    assert float_layer.bias.value[10] == qat_layer.bias.value[10] == -0.25 and not float_layer.bias.value[:10].any()
    assert lower_not_a_digit(float_model, Qat(), SimpleNamespace(x_val=split.x_val[:0], y_val=split.y_val[:0]),
                             settings) == (0.0, None)


def test_distilled_targets_mix_the_teachers_answers_into_the_digits_it_agrees_with_only():
    from pipeline.open_set import distilled

    eye = np.eye(11, dtype=np.float32)
    targets = np.stack([eye[3], eye[7], eye[10]])  # a 3, a 7, a non-digit
    images = np.zeros((3, 28, 28, 1), np.float32)
    images[:, 0, 0, 0] = [0.0, 1.0, 2.0]  # which row the teacher sees

    def teacher(x):  # sure of the 3 (0.8); reads the 7 as a 1
        answers = {0: np.eye(10)[3] * 0.8 + 0.02, 1: np.eye(10)[1]}
        return np.stack([answers[int(v)] for v in x[:, 0, 0, 0]])

    (seen_images, mixed), = list(distilled(iter([(images, targets)]), teacher, 0.5))
    assert seen_images is images
    expected_three = 0.5 * eye[3][:10] + 0.5 * (np.eye(10)[3] * 0.8 + 0.02)
    assert np.allclose(mixed[0, :10], expected_three) and mixed[0, 10] == 0
    assert np.array_equal(mixed[1], eye[7])  # the teacher disagrees: the label stays
    assert np.array_equal(mixed[2], eye[10])  # a non-digit's target is never touched
    assert np.array_equal(targets[0], eye[3])  # the caller's array is not changed
    (_, untouched), = list(distilled(iter([(images, targets)]), teacher, 0.0))
    assert untouched is targets
    # Ten outputs (the entropic route): a non-digit's target is flat, and is never touched either.
    flat = np.full(10, 0.1, np.float32)
    (_, entropic), = list(distilled(iter([(images[:2], np.stack([eye[3][:10], flat]))]), teacher, 0.5))
    assert np.allclose(entropic[0], expected_three) and np.array_equal(entropic[1], flat)


# --- the same recipe on the accelerator (pipeline/augment_device.py), checked against the host ---

def _host_draws(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "angle": np.deg2rad(rng.uniform(-RECIPE.rotation, RECIPE.rotation, n)).astype(np.float32),
        "scale": (1 + rng.uniform(-RECIPE.scale, RECIPE.scale, n)).astype(np.float32),
        "aspect": (1 + rng.uniform(-RECIPE.aspect, RECIPE.aspect, n)).astype(np.float32),
        "shear": rng.uniform(-RECIPE.shear, RECIPE.shear, n).astype(np.float32),
        "coarse": rng.normal(0, RECIPE.elastic, (n, 4, 4, 2)).astype(np.float32),
        "shift": np.zeros((n, 2), np.float32),
        "pen": rng.random(n).astype(np.float32),
        "blur": rng.random(n).astype(np.float32),
        "gamma": np.exp2(rng.uniform(-RECIPE.gamma, RECIPE.gamma, n)).astype(np.float32),
        "fade": rng.random(n).astype(np.float32),
        "fade_centre": rng.uniform(4, 24, (n, 2)).astype(np.float32),
        "fade_radii": np.stack([rng.uniform(*A.FADE_RADII[0], n), rng.uniform(*A.FADE_RADII[1], n)], -1).astype(np.float32),
        "fade_angle": rng.uniform(0, np.pi, n).astype(np.float32),
        "fade_strength": rng.uniform(*A.FADE_STRENGTH, n).astype(np.float32),
    }


def test_device_recipe_matches_the_host_recipe_on_the_same_draws(digits):
    from keras import ops

    from pipeline import augment_device as D

    d = _host_draws(len(digits))
    host = A.warp(digits, d["angle"], d["scale"], d["aspect"], d["shear"], d["coarse"])
    host = A.pen_width_for(host, d["pen"], RECIPE.stroke)
    host = A.blur_for(host, d["blur"] < RECIPE.blur)
    host = A.gamma_for(host, d["gamma"])
    host = A.fade_for(host, d["fade"] < RECIPE.fade, d["fade_centre"], d["fade_radii"], d["fade_angle"], d["fade_strength"])
    device = ops.convert_to_numpy(D.transform(digits.astype(np.float32) / 255, d, RECIPE)) * 255
    diff = np.abs(device - host.astype(np.float32))
    # the host rounds to uint8 after every step, the device does not: a few levels at most
    assert diff.max() <= 4 and diff.mean() < 0.3, (diff.max(), diff.mean())
    assert (np.abs(device - digits).max(axis=(1, 2)) > 30).mean() > 0.9  # and it did transform


def test_device_shift_is_the_host_shift(digits):
    from keras import ops

    from pipeline import augment_device as D
    from pipeline.dataset import shift_images

    rng = np.random.default_rng(3)
    host = shift_images(digits, rng, 2)
    rng = np.random.default_rng(3)
    dy, dx = rng.integers(0, 5, len(digits)), rng.integers(0, 5, len(digits))
    d = {**_host_draws(len(digits)), "angle": np.zeros(len(digits), np.float32),
         "scale": np.ones(len(digits), np.float32), "aspect": np.ones(len(digits), np.float32),
         "shear": np.zeros(len(digits), np.float32), "coarse": np.zeros((len(digits), 4, 4, 2), np.float32),
         "shift": np.stack([dy - 2, dx - 2], -1).astype(np.float32)}
    device = ops.convert_to_numpy(D.transform(digits.astype(np.float32) / 255, d, A.Augmentation()))
    assert np.array_equal(np.rint(device * 255).astype(np.uint8), host)


def test_device_layer_draws_fresh_seeded_augmentations_and_is_identity_at_inference(digits):
    import keras
    from keras import ops

    from pipeline.augment_device import DeviceAugmentation

    x = (digits.astype(np.float32) / 255)[..., None]
    first, second = DeviceAugmentation(RECIPE, 2, seed=7), DeviceAugmentation(RECIPE, 2, seed=7)
    a = ops.convert_to_numpy(first(x, training=True))
    b = ops.convert_to_numpy(first(x, training=True))
    assert a.shape == x.shape and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert not np.allclose(a, b)  # a new draw every step
    assert np.allclose(ops.convert_to_numpy(second(x, training=True)), a)  # same seed, same pixels
    assert np.array_equal(ops.convert_to_numpy(first(x, training=False)), x)
    model = keras.Sequential([keras.Input((28, 28, 1)), DeviceAugmentation(RECIPE, 2, seed=7)])
    assert np.array_equal(model.predict(x, verbose=0), x)
