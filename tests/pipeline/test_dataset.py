"""pipeline/dataset.py: the shifts of the training recipe."""

from __future__ import annotations

import numpy as np


def test_shift_images_moves_pixels_within_the_bound():
    from pipeline.dataset import shift_images

    images = np.zeros((200, 28, 28), np.uint8)
    images[:, 14, 14] = 255
    assert shift_images(images, np.random.default_rng(0), 0) is images
    shifted = shift_images(images, np.random.default_rng(0), 2)
    assert shifted.shape == images.shape and shifted.dtype == np.uint8
    rows, cols = np.nonzero(shifted.reshape(200, -1) == 255)[1] // 28, np.nonzero(shifted.reshape(200, -1))[1] % 28
    assert set(np.unique(rows)) == {12, 13, 14, 15, 16} and set(np.unique(cols)) == {12, 13, 14, 15, 16}
    again = shift_images(images, np.random.default_rng(0), 2)
    assert np.array_equal(shifted, again)


def test_a_batch_larger_than_the_training_images_is_refused_not_waited_for():
    """Every batch is full, so a batch larger than the training set would never come: the stage hung."""
    import pytest

    from pipeline.dataset import Split, check_batch_size
    from pipeline.mnist import DataError

    images = np.zeros((100, 28, 28), np.uint8)
    labels = np.zeros(100, np.int64)
    split = Split(images, labels, images[:10], labels[:10], images[:10], labels[:10])
    check_batch_size(split, 100, "train.batch_size")  # exactly one batch an epoch
    with pytest.raises(DataError, match=r"train\.batch_size 101 is larger than the 100 training images"):
        check_batch_size(split, 101, "train.batch_size")
