"""PNG plots for the evaluate stage (PNG, so `dvc plots show` needs no CDN)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from export.atomic import atomic_path
from export.formats import BY_NAME, Precision
from runtime.digits import LABELS, NOT_A_DIGIT, NUM_LABELS


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    pyplot().close(fig)


def _read_tsv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    value_key = [k for k in rows[0] if k not in ("step", "timestamp")][0]
    return np.array([int(r["step"]) + 1 for r in rows]), np.array([float(r[value_key]) for r in rows])


def training_curves(live_dir: Path, out: Path) -> None:
    """Loss and accuracy per epoch, train and validation, from dvclive's TSV files."""
    plt = pyplot()
    base = live_dir / "plots" / "metrics"
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for axis, metric in zip(axes, ("loss", "accuracy")):
        for name, style in ((metric, "-o"), (f"val_{metric}", "--s")):
            path = base / f"{name}.tsv"
            if path.exists():
                steps, values = _read_tsv(path)
                axis.plot(steps, values, style, label=name, markersize=3)
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    axes[1].set_ylim(0.97, 1.0)
    fig.suptitle("Float training (Keras 3)")
    save(fig, out)


def confusion(predicted: np.ndarray, labels: np.ndarray, out: Path, title: str) -> None:
    """Digits against answers; a model with a "not a digit" output gets a column for it."""
    plt = pyplot()
    columns = NUM_LABELS + int(len(predicted) > 0 and int(predicted.max()) >= NUM_LABELS)
    matrix = np.zeros((NUM_LABELS, columns), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    fig, axis = plt.subplots(figsize=(6.4 + 0.5 * (columns - NUM_LABELS), 5.6))
    image = axis.imshow(off, cmap="Reds")
    for i in range(NUM_LABELS):
        for j in range(columns):
            if matrix[i, j]:
                axis.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                          color="black" if i != j else "tab:blue", weight="bold" if i == j else "normal")
    axis.set_xticks(range(columns), [*LABELS, "none"][:columns])
    axis.set_yticks(range(NUM_LABELS), LABELS)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    errors = int(off.sum())
    axis.set_title(f"{title}\n{errors} errors in {len(labels):,} (colour: errors only)", fontsize=9)
    fig.colorbar(image, ax=axis, fraction=0.046)
    save(fig, out)


def tradeoffs(rows: dict[str, dict], out: Path) -> None:
    """Accuracy against file size and against batch-1 latency, one point per format."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    accuracies = [row["accuracy"] * 100 for row in rows.values()]
    low, high = min(accuracies), max(accuracies)
    for axis, key, label in ((axes[0], "size_bytes", "file size (kB)"),
                             (axes[1], "latency_p50_ms", "batch-1 latency p50 (ms)")):
        for index, (name, row) in enumerate(rows.items()):
            x = row[key] / 1024 if key == "size_bytes" else row[key]
            fmt = BY_NAME.get(name)  # the Keras rows are not files in the table
            marker = "s" if fmt is None else ("o" if fmt.precision is Precision.FLOAT else "D")
            axis.scatter(x, row["accuracy"] * 100, marker=marker, s=60, color=f"C{index}", label=name,
                         alpha=0.85)
        axis.set_xscale("log")
        axis.set_ylim(low - 0.15, high + 0.1)
        axis.set_xlabel(label + ", log scale")
        axis.set_ylabel("test accuracy (%)")
        axis.grid(alpha=0.3, which="both")
    axes[1].legend(loc="lower right", fontsize=8)
    fig.suptitle("Accuracy vs size and latency per format (MNIST test set, 10,000 images)")
    save(fig, out)


def open_set_curve(rows: dict[str, dict], out: Path) -> None:
    """Held-out non-digits rejected against MNIST digits accepted, as the threshold on the top
    digit probability rises, one line per format; the runtime's default marked on each."""
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(7, 4.6))
    for index, (name, row) in enumerate(rows.items()):
        curve = np.array(row["rejection_curve"])
        axis.plot(curve[:, 0] * 100, curve[:, 1] * 100, "-", color=f"C{index}", label=name, alpha=0.8)
        axis.scatter(row["mnist_digit_recall"] * 100, row["heldout_nondigit_rejection"] * 100, color=f"C{index}",
                     marker="o", s=30)
    axis.axvline(99, color="grey", linestyle=":", linewidth=1)
    axis.text(99, 0.02, " 99% recall", color="grey", fontsize=8, va="bottom", transform=axis.get_xaxis_transform())
    axis.set_xlim(100.05, 89.95)  # from every digit kept (left) to 90% of them
    axis.set_xlabel("MNIST test digits accepted (%)")
    axis.set_ylabel("held-out non-digits rejected (%)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower right")
    axis.set_title(f"Non-digits rejected against digits kept (dots: the defaults, \"{NOT_A_DIGIT}\" "
                   "or no digit found)", fontsize=9)
    save(fig, out)
