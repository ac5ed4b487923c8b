"""Outlier exposure for the qat stage: digits and non-digits in one stream, and the two routes.

The train stage learns the ten digits. The qat stage then fine-tunes the float model on digits
plus non-digits (pipeline/negatives.py), as outlier exposure is usually done (Hendrycks et al.
2019 fine-tune a trained classifier), before it fits the temperature and runs QAT on the same
stream. `qat.open_set.route` chooses what a non-digit's target is:

- `class`: an 11th output, "not a digit" (the head grows by one output; the ten digit outputs
  keep their trained weights). The runtime reads that answer as "no digit found".
- `entropic`: ten outputs; a non-digit's target is the flat distribution, 1/10 each (the entropic
  open-set loss of Dhamija et al. 2018, "Reducing Network Agnostophobia"). A non-digit is then
  recognised only by a low top probability, so it needs a threshold.
- `off`: digits only, as before.

Which route the pipeline uses was chosen by measurement: docs/non-digits.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from pipeline import negatives
from pipeline.augment import augment
from pipeline.dataset import prefetch, shift_images
from pipeline.params import Augmentation, OpenSet, OpenSetRoute
from runtime.digits import NUM_LABELS, OPEN_SET_LABELS
from runtime.normalization import to_model_input

VALIDATION_NEGATIVES = 1000
TRAIN_SEED_OFFSET, VALIDATION_SEED_OFFSET, PRINTED_SEED_OFFSET = 101, 202, 303  # from qat.seed: disjoint streams


@dataclass(frozen=True)
class Negatives:
    """Non-digits as uint8 (N, 28, 28) model inputs: a training pool and a validation set; and
    digits printed in the same fonts (with their labels), trained on beside MNIST's."""

    train: np.ndarray
    val: np.ndarray
    printed: np.ndarray
    printed_labels: np.ndarray


def outputs(route: OpenSetRoute) -> int:
    return len(OPEN_SET_LABELS) if route is OpenSetRoute.CLASS else NUM_LABELS


def make_negatives(settings: OpenSet, seed: int) -> Negatives:
    fonts = negatives.train_fonts()
    train, _ = negatives.make(settings.negatives, seed + TRAIN_SEED_OFFSET, fonts)
    val, _ = negatives.make(VALIDATION_NEGATIVES, seed + VALIDATION_SEED_OFFSET, fonts)
    printed, labels = negatives.printed_digits(settings.printed_digits, seed + PRINTED_SEED_OFFSET, fonts)
    return Negatives(train, val, printed, labels)


def targets(labels: np.ndarray, route: OpenSetRoute, negative: bool) -> np.ndarray:
    """Soft targets: a digit's one-hot; a non-digit's "not a digit" one-hot (class) or flat 1/10 (entropic)."""
    width = outputs(route)
    if not negative:
        return np.eye(width, dtype=np.float32)[labels]
    if route is OpenSetRoute.CLASS:
        return np.eye(width, dtype=np.float32)[np.full(len(labels), NUM_LABELS)]
    return np.full((len(labels), width), 1.0 / NUM_LABELS, dtype=np.float32)


def validation(x_val: np.ndarray, y_val: np.ndarray, route: OpenSetRoute, pool: Negatives | None):
    """(model inputs, soft targets) of the validation digits, with the validation non-digits after them."""
    x, y = to_model_input(x_val), targets(y_val, route, negative=False)
    if pool is None or route is OpenSetRoute.OFF:
        return x, y
    return (np.concatenate([x, to_model_input(pool.val)]),
            np.concatenate([y, targets(np.zeros(len(pool.val), np.int64), route, negative=True)]))


def distilled(batches: Iterator, teacher, weight: float) -> Iterator:
    """Knowledge distillation (Hinton et al. 2015) for the float fine-tune: the (images, soft targets)
    batches, each digit's ten targets mixed with the trained 10-class model's probabilities
    (`teacher`: model inputs -> (N, 10)), `weight` of them, where that model gives the digit's label
    at least one half (a printed digit it reads wrong keeps its label). A digit row is one whose ten
    targets hold a one; the non-digits' targets, and "not a digit" (0 for a digit), are never changed."""
    for images, soft in batches:
        digits = soft[:, :NUM_LABELS].max(axis=1) == 1
        if weight and digits.any():
            taught = np.asarray(teacher(images[digits]), np.float32)
            own = soft[digits]
            agrees = (taught * own[:, :NUM_LABELS]).sum(axis=1) >= 0.5
            mixed = own.copy()
            mixed[agrees, :NUM_LABELS] = (1 - weight) * own[agrees, :NUM_LABELS] + weight * taught[agrees]
            soft = soft.copy()
            soft[digits] = mixed
        yield images, soft


def mixed_batches(x: np.ndarray, y: np.ndarray, pool: np.ndarray | None, route: OpenSetRoute, batch_size: int,
                  share: float, seed: int, max_shift: int, recipe: Augmentation | None) -> Iterator:
    """Endless seeded (images, soft targets) batches: `batch_size` augmented digits, as the train
    stage draws them, plus round(share * batch_size) non-digits through the same recipe. Every
    digit is seen once an epoch, exactly as without non-digits; the pool is cycled."""
    extra = 0 if pool is None or route is OpenSetRoute.OFF else max(1, round(share * batch_size))

    def produce():
        epoch, cursor = 0, 0
        order_negatives = np.arange(0)
        while True:
            rng = np.random.default_rng([seed, epoch])
            order = rng.permutation(len(x))
            for start in range(0, len(x) - batch_size + 1, batch_size):
                index = order[start : start + batch_size]
                images = augment(x[index], rng, recipe) if recipe is not None else x[index]
                soft = targets(y[index], route, negative=False)
                if extra:
                    if cursor + extra > len(order_negatives):
                        order_negatives, cursor = rng.permutation(len(pool)), 0
                    picked = pool[order_negatives[cursor : cursor + extra]]
                    cursor += extra
                    picked = augment(picked, rng, recipe) if recipe is not None else picked
                    images = np.concatenate([images, picked])
                    soft = np.concatenate([soft, targets(np.zeros(extra, np.int64), route, negative=True)])
                yield to_model_input(shift_images(images, rng, max_shift)), soft
            epoch += 1

    return prefetch(produce())


def grow_head(keras_module, model, variant, route: OpenSetRoute):
    """The model with outputs(route) outputs: the same model for 10; for 11, every weight copied
    and the "not a digit" output started from zero weights and a bias two nats under the mean
    digit bias (so that it starts rare and the digit answers start unchanged in order)."""
    from pipeline.architecture import build_model, output_size

    width = outputs(route)
    if output_size(model) == width:
        return model
    grown = build_model(keras_module, variant, outputs=width)
    for layer in model.layers:
        weights = layer.get_weights()
        if layer.name == "logits":
            kernel, bias = weights
            weights = [np.concatenate([kernel, np.zeros((kernel.shape[0], 1), kernel.dtype)], axis=1),
                       np.concatenate([bias, [bias.mean() - 2.0]]).astype(bias.dtype)]
        grown.get_layer(layer.name).set_weights(weights)
    return grown


OFFSET_STEP, MAX_OFFSET = 0.25, 16.0  # nats


def refusal_offset(probabilities: np.ndarray, budget: float) -> tuple[float, float]:
    """The least offset (a multiple of OFFSET_STEP nats, at most MAX_OFFSET) that, taken off the
    "not a digit" logit, leaves at most `budget` of these digits' answers "not a digit"; and the
    share it leaves. `probabilities` are a model's (N, 11) answers to digits (the validation split)."""
    log_p = np.log(np.maximum(probabilities.astype(np.float64), np.finfo(np.float64).tiny))
    refusal, best_digit = log_p[:, NUM_LABELS], log_p[:, :NUM_LABELS].max(axis=1)
    share = 1.0
    for offset in np.arange(0.0, MAX_OFFSET + OFFSET_STEP / 2, OFFSET_STEP):
        # argmax picks "not a digit" (the last column) only when it beats every digit outright
        share = float(np.mean(refusal - offset > best_digit))
        if share <= budget:
            return float(offset), share
    return MAX_OFFSET, share


def fit_temperature(logits: np.ndarray, soft_targets: np.ndarray) -> float:
    """The T that minimises the cross-entropy of softmax(logits / T) against the (soft) targets on
    the validation split (a 1-D search, then a finer one)."""

    def loss(t: float) -> float:
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-(soft_targets * log_p).sum(axis=1).mean())

    grid = np.geomspace(0.1, 10.0, 121)
    best = grid[int(np.argmin([loss(t) for t in grid]))]
    fine = np.linspace(best / 1.04, best * 1.04, 41)
    return float(fine[int(np.argmin([loss(t) for t in fine]))])
