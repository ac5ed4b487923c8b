"""Training data shared by the train and QAT stages: the seeded split and host-side augmentation.

Host augmentation is plain numpy (pipeline/augment.py, then a random translation) on a background
thread, so it works the same under every Keras backend and never switches off XLA compilation the
way Keras' Random* layers do. On a GPU the train stage moves the same recipe into the compiled
step instead (pipeline/augment_device.py) and asks this module only for shuffled batches.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.augment import augment
from pipeline.mnist import MNIST_KEYS, DataError, load_arrays
from pipeline.params import Augmentation
from runtime.digits import NUM_LABELS
from runtime.normalization import to_model_input


@dataclass(frozen=True)
class Split:
    """The arrays of one seeded split: train and validation from MNIST's training set, and its test set."""

    x_train: np.ndarray  # uint8 (N, 28, 28)
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_split(path: Path | str, validation_size: int, seed: int) -> Split:
    """Carve a seeded validation set out of the training set; the test set stays untouched."""
    arrays = load_arrays(path)
    x, y, x_test, y_test = (arrays[k] for k in MNIST_KEYS)
    if len(x) <= validation_size:
        raise DataError(f"{path}: {len(x)} training images cannot spare {validation_size} for validation")
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = order[:validation_size], order[validation_size:]
    return Split(x[train], y[train], x[val], y[val], x_test, y_test)


def check_batch_size(split: Split, batch_size: int, key: str) -> None:
    """A batch must fit in the training images (every batch is full: a larger one would never come)."""
    if batch_size > len(split.x_train):
        raise DataError(f"{key} {batch_size} is larger than the {len(split.x_train)} training images left after "
                        f"validation; lower {key}")


def shift_images(images: np.ndarray, rng: np.random.Generator, max_shift: int) -> np.ndarray:
    """Translate each uint8 image by up to `max_shift` pixels in x and y, filling with 0."""
    if max_shift == 0:
        return images
    n, height, width = images.shape
    padded = np.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    dy = rng.integers(0, 2 * max_shift + 1, size=n)
    dx = rng.integers(0, 2 * max_shift + 1, size=n)
    rows = dy[:, None] + np.arange(height)[None, :]
    cols = dx[:, None] + np.arange(width)[None, :]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def one_hot(labels: np.ndarray, outputs: int = NUM_LABELS) -> np.ndarray:
    return np.eye(outputs, dtype=np.float32)[labels]


def training_batches(
    x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, max_shift: int, recipe: Augmentation | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless seeded stream of augmented (images, one-hot labels) batches, reshuffled every epoch.

    The last partial batch of each epoch is dropped so every step has the same shape
    (one XLA compilation). Batches are prepared one step ahead on a background thread.
    """

    def produce() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        epoch = 0
        while True:
            rng = np.random.default_rng([seed, epoch])
            order = rng.permutation(len(x))
            for start in range(0, len(x) - batch_size + 1, batch_size):
                index = order[start : start + batch_size]
                images = augment(x[index], rng, recipe) if recipe is not None else x[index]
                yield to_model_input(shift_images(images, rng, max_shift)), one_hot(y[index])
            epoch += 1

    return prefetch(produce())


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(source: Iterator, depth: int = 4) -> Iterator:
    """`source`'s items, made `depth` ahead on a background thread. An error there is raised here,
    in the consumer, rather than leaving it waiting for an item that never comes."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)

    def fill() -> None:
        try:
            for item in source:
                buffer.put(item)
        except BaseException as error:  # noqa: BLE001  (handed to the consumer, which raises it)
            buffer.put(_Failed(error))

    threading.Thread(target=fill, daemon=True).start()
    while True:
        item = buffer.get()
        if isinstance(item, _Failed):
            raise item.error
        yield item


def steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, n // batch_size)
