"""Which open-set route: an 11th "not a digit" output, or the entropic loss? Measured side by side.

    python -m tools.open_set_routes [--digits 20000] [--epochs 1] [--nondigits realworld/heldout_nondigits]

From the trained float model (models/float.keras), each route gets the same outlier-exposure
fine-tune as the qat stage (pipeline/open_set.py, on a subset of the training digits to keep it
short), then the temperature fit on the validation split. Each is then judged, in float, on the
MNIST test set and on held-out non-digits (letters, symbols, shapes and scribbles that training
never draws, through the runtime's own preprocessing):

- at its default rule: `class` rejects when "not a digit" is the top answer; `entropic` when the
  top probability is under 0.6 (`evaluate.min_confidence`);
- at 99% MNIST digit recall (the threshold that keeps 99% of test digits accepted and right).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pipeline import open_set  # noqa: E402
from pipeline.dataset import load_split  # noqa: E402
from pipeline.params import OpenSetRoute, qat_params, read_params  # noqa: E402
from runtime.digits import NUM_LABELS  # noqa: E402
from runtime.errors import InputError  # noqa: E402
from runtime.normalization import to_model_input  # noqa: E402
from runtime.preprocess import prepare_image  # noqa: E402
from tools.figures import count, tool_parser

PICTURES = (".png", ".jpg", ".jpeg")


def held_out(folder: Path) -> tuple[np.ndarray, int, np.ndarray]:
    """The folder's pictures as model inputs, how many the finder already refused, and the kind
    (sub-folder) of each accepted one."""
    tensors, refused, kinds = [], 0, []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in PICTURES):
        try:
            tensors.append(prepare_image(path).tensor)
            kinds.append(path.parent.name)
        except InputError:
            refused += 1
    return np.stack(tensors), refused, np.array(kinds)


def digit_score(p: np.ndarray) -> np.ndarray:
    """How much a picture looks like a digit: its top digit probability."""
    return p[:, :NUM_LABELS].max(axis=1)


def judge(route: OpenSetRoute, p_digits: np.ndarray, labels: np.ndarray, p_none: np.ndarray,
          refused: int, min_confidence: float) -> dict:
    if route is OpenSetRoute.CLASS:
        accept_digits, accept_none = p_digits.argmax(1) < NUM_LABELS, p_none.argmax(1) < NUM_LABELS
    else:
        accept_digits, accept_none = digit_score(p_digits) >= min_confidence, digit_score(p_none) >= min_confidence
    right = (p_digits[:, :NUM_LABELS].argmax(1) == labels)
    total_none = len(p_none) + refused
    scores = digit_score(p_digits)
    ranked = np.sort(scores[right])[::-1]
    threshold = ranked[int(np.ceil(0.99 * len(labels))) - 1]  # 99% of all test digits right and accepted
    return {
        "route": route.value,
        "mnist_accuracy_default": float((accept_digits & right).mean()),
        "non_digit_rejection_default": float((refused + (~accept_none).sum()) / total_none),
        "non_digit_rejection_at_99_recall": float((refused + (digit_score(p_none) < threshold).sum()) / total_none),
    }


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("python -m tools.open_set_routes", __doc__)
    parser.add_argument("--digits", type=count(1), default=20000, help="training digits for the fine-tune")
    parser.add_argument("--epochs", type=count(1), default=1)
    parser.add_argument("--learning-rate", type=float, default=None, help="default: qat.open_set.learning_rate")
    parser.add_argument("--routes", default="class,entropic")
    parser.add_argument("--data", type=Path, default=Path("data/mnist.npz"))
    parser.add_argument("--model", type=Path, default=Path("models/float.keras"))
    parser.add_argument("--nondigits", type=Path, default=Path("realworld/heldout_nondigits"))
    args = parser.parse_args(argv)
    names = [route.value for route in OpenSetRoute if route is not OpenSetRoute.OFF]
    unknown = [name for name in args.routes.split(",") if name not in names]
    if unknown:
        parser.error(f"--routes: {unknown[0]!r} is not a route; choose from {', '.join(names)}")

    from pipeline import qat as stage
    from pipeline.legacy_keras import tf_keras
    from pipeline.mnist import DataError
    from pipeline.params import ParamsError

    try:
        params = qat_params(read_params())
        full = load_split(args.data, params.train.validation_size, params.train.seed)
    except (ParamsError, DataError) as error:
        raise SystemExit(f"open_set_routes: {error}") from None
    split = dataclasses.replace(full, x_train=full.x_train[: args.digits], y_train=full.y_train[: args.digits])
    none, refused, kinds = held_out(args.nondigits)
    print(f"held-out non-digits: {len(none) + refused} ({refused} refused by the finder)", file=sys.stderr)
    rows = []
    for route in (OpenSetRoute(name) for name in args.routes.split(",")):
        started = time.perf_counter()
        settings = dataclasses.replace(params.qat.open_set, route=route, epochs=args.epochs)
        if args.learning_rate:
            settings = dataclasses.replace(settings, learning_rate=args.learning_rate)
        run_params = dataclasses.replace(params, qat=dataclasses.replace(params.qat, open_set=settings))
        model, _ = stage.to_tf_keras(args.model, params.model.variant, to_model_input(split.x_test[:64]))
        pool = open_set.make_negatives(settings, params.qat.seed)
        model = open_set.grow_head(tf_keras, model, params.model.variant, route)
        stage.learn_non_digits(model, run_params, split, pool)
        stage.calibrate(model, split, route, pool)
        p_digits = model.predict(to_model_input(full.x_test), batch_size=1000, verbose=0)
        p_none = model.predict(none, batch_size=1000, verbose=0)
        row = judge(route, p_digits, full.y_test, p_none, refused, 0.6)
        row["seconds"] = round(time.perf_counter() - started)
        accepted = (p_none.argmax(1) < NUM_LABELS) if route is OpenSetRoute.CLASS else digit_score(p_none) >= 0.6
        row["accepted_by_kind"] = {kind: int(accepted[kinds == kind].sum()) for kind in sorted(set(kinds))}
        rows.append(row)
        print(row, file=sys.stderr)
    print(f"{'route':9} {'MNIST right+accepted':>21} {'non-digits rejected':>20} {'rejected at 99% recall':>23}")
    for row in rows:
        print(f"{row['route']:9} {row['mnist_accuracy_default']:21.4f} {row['non_digit_rejection_default']:20.4f} "
              f"{row['non_digit_rejection_at_99_recall']:23.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
