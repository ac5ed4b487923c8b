"""Parity between an exported file and the Keras model it came from, and the gates on it.

A gate check collects every failure, then raises one ParityError that lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from export.formats import FORMATS, Format


class ParityError(ValueError):
    """One or more exported files do not behave like their Keras reference."""


@dataclass(frozen=True)
class Gates:
    """The thresholds every exported file must pass; their values live in params.yaml (evaluate.gates)."""

    float_max_abs_diff: float
    int8_min_agreement: float
    int8_max_accuracy_drop: float
    int8_cross_agreement: float
    min_accuracy: float  # every file's MNIST test accuracy, the float Keras model's too: a training gone wrong stops here


def compare(reference: np.ndarray, probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy, top-1 agreement with the reference, and max |diff| of the probabilities."""
    if reference.shape != probabilities.shape:
        raise ParityError(f"output shape {probabilities.shape} differs from the reference's {reference.shape}")
    predicted = probabilities.argmax(axis=1)
    return {
        "accuracy": float((predicted == labels).mean()),
        "agreement": float((predicted == reference.argmax(axis=1)).mean()),
        "max_abs_diff": float(np.abs(probabilities.astype(np.float64) - reference).max()),
        "ece": expected_calibration_error(probabilities, labels),
    }


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE: the gap between confidence (the top probability) and accuracy, averaged over
    `bins` equal-width confidence bins, weighted by how many answers fall in each."""
    confidence = probabilities.max(axis=1).astype(np.float64)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.sum() * abs(correct[members].mean() - confidence[members].mean())
    return float(total / len(labels))


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a.argmax(axis=1) == b.argmax(axis=1)).mean())


def gate_failures(rows: dict[str, dict], keras_float_accuracy: float, gates: Gates,
                  formats: tuple[Format, ...] = FORMATS) -> list[str]:
    """Every gate failure, as one line each; empty when all pass.

    A format derived from another (its `derived_from` column) must also agree with that
    format's file on `int8_cross_agreement` of the images (`agreement_with_source` in its row).
    """
    failures = []
    if keras_float_accuracy < gates.min_accuracy:
        failures.append(f"keras_float: accuracy {keras_float_accuracy:.4%} < {gates.min_accuracy:.2%} (min_accuracy): "
                        "the training went wrong or stopped short")
    for fmt in formats:
        row = rows.get(fmt.name)
        if row is None:
            failures.append(f"{fmt.name}: missing")
            continue
        if fmt.precision.exact:
            if row["max_abs_diff"] > gates.float_max_abs_diff:
                failures.append(
                    f"{fmt.name}: max_abs_diff {row['max_abs_diff']:.3g} > {gates.float_max_abs_diff:g}"
                )
            if row["agreement"] < 1.0:
                failures.append(f"{fmt.name}: agreement {row['agreement']:.4%} < 100%")
        else:
            if row["agreement"] < gates.int8_min_agreement:
                failures.append(
                    f"{fmt.name}: agreement with {fmt.reference} {row['agreement']:.4%} < {gates.int8_min_agreement:.2%}"
                )
            drop = keras_float_accuracy - row["accuracy"]
            if drop > gates.int8_max_accuracy_drop:
                failures.append(
                    f"{fmt.name}: accuracy {row['accuracy']:.4%} is {drop * 100:.2f} pp below keras_float "
                    f"(allowed {gates.int8_max_accuracy_drop * 100:.2f} pp)"
                )
        if row["accuracy"] < gates.min_accuracy:
            failures.append(f"{fmt.name}: accuracy {row['accuracy']:.4%} < {gates.min_accuracy:.2%} (min_accuracy)")
        if fmt.bit_exact and row["max_abs_diff"] != 0:
            failures.append(f"{fmt.name}: outputs differ from {fmt.compare_with}'s, which they must equal byte for "
                            f"byte (max |diff| {row['max_abs_diff']:.3g})")
        if fmt.derived_from:
            cross = row.get("agreement_with_source")
            if cross is None or cross < gates.int8_cross_agreement:
                shown = "unmeasured" if cross is None else f"{cross:.4%}"
                failures.append(f"{fmt.name} agrees with {fmt.derived_from}, which it is derived from, on {shown} "
                                f"< {gates.int8_cross_agreement:.2%}")
    return failures


def raise_failures(failures: list[str]) -> None:
    """ParityError listing `gate_failures`' lines, on one line; nothing when there are none."""
    if failures:
        raise ParityError(f"{len(failures)} parity gate(s) failed: " + "; ".join(failures))
