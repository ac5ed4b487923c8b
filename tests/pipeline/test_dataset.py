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
