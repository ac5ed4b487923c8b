"""The independent camera-like set (tools/make_photos.py) and its scoring (tools/score_photos.py):
seeded pictures, splits that share no MNIST digit, and the per-scene table."""

from __future__ import annotations

import numpy as np
import pytest

from tools import make_photos, score_photos

SCENES = [scene for scene in make_photos.SCENES if scene != "small_in_frame"]  # its frames reach 12 MP: drawn once


@pytest.fixture(scope="module")
def ctx(mnist_sample, tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "mnist.npz"
    np.savez(path, **mnist_sample)
    saved = make_photos.MNIST
    make_photos.MNIST = str(path)
    context = make_photos.Ctx()
    context.mnist = make_photos.MnistPool("look")
    context.mnist.slot = 0  # the fixture's 1,000 test digits hold no 40 per label per scene
    yield context
    make_photos.MNIST = saved


def _draw(ctx, scene: str, seed: int, label):
    ctx.mnist.start_scene(0)
    image, _jpeg_share = make_photos.SCENE_FUNCS[scene](ctx, np.random.default_rng([seed, 1]), label)
    return image


@pytest.mark.parametrize(("scene", "label"), [(scene, 3) for scene in SCENES] + [("ruled", None), ("fonts", None)])
def test_each_scene_is_drawn_the_same_under_a_seed(ctx, scene, label):
    first, again, other = _draw(ctx, scene, 7, label), _draw(ctx, scene, 7, label), _draw(ctx, scene, 8, label)
    assert first.dtype == np.uint8 and first.ndim == 3 and first.shape[2] == 3
    assert np.array_equal(first, again)
    assert first.shape != other.shape or not np.array_equal(first, other)


def test_a_small_digit_in_a_large_frame_is_a_photo(ctx):
    image = _draw(ctx, "small_in_frame", 3, 5)
    assert image.dtype == np.uint8 and min(image.shape[:2]) >= 480


def test_the_splits_share_no_mnist_digit(ctx):
    look, judge = make_photos.MnistPool("look"), make_photos.MnistPool("judge")
    for label in range(10):
        assert look.pool[label] and judge.pool[label]
        assert not set(look.pool[label]) & set(judge.pool[label])
        assert all(ctx.mnist.y[i] == label for i in look.pool[label])


def test_the_score_table_counts_right_wrong_refused_and_sure():
    rows = [({"file": f"ruled/{i}.png", "scene": "ruled", "label": label}, answer, probability)
            for i, (label, answer, probability) in enumerate([
                ("3", 3, 0.99),  # right
                ("3", 5, 0.95),  # wrong, and sure
                ("4", 1, 0.40),  # wrong, unsure
                ("7", None, 0.0),  # refused
                ("none", None, 0.0),  # a twin refused
                ("none", 2, 0.55),  # a twin answered under 0.6: rejected
                ("none", 2, 0.75),  # a twin taken for a digit
            ])]
    lines, fails = score_photos.table(rows)
    assert lines[1].split() == ["ruled", "4", "25.0%", "50.0%", "25.0%", "25.0%", "3", "66.7%"]
    assert "25.0% right, 25.0% wrong and sure (4 digits)" in lines[-1] and "66.7% (3)" in lines[-1]
    assert fails == ["ruled/1.png 3 5 0.950", "ruled/2.png 4 1 0.400", "ruled/3.png 7 refused 0.000"]
