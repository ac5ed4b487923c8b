"""Tune the open-set fine-tune's settings on tuning data only, side by side:

    python -m pipeline.scenes --data data/mnist.npz --split tune --out scenes/tune
    python -m tools.open_set_tune --set base= --set e8=epochs=8 --set share10=share=0.1

Each `--set NAME=KEY=VALUE,...` overrides keys of `qat.open_set` (epochs, learning_rate, share).
For each, from the trained float model (models/float.keras), the qat stage's own steps run in
float: the head grows by "not a digit", `learn_non_digits` fine-tunes on digits and non-digits,
and the temperature is fitted on the validation split. With `--qat`, the stage's QAT fine-tune
(`qat.epochs`, `qat.learning_rate`) follows, and the QAT model is judged too, on a row of its own
(the int8 files are converted from it). Each is judged on data that no reported figure uses:

- the train stage's validation split of MNIST (right, and answered "not a digit");
- the validation non-digits (pipeline/negatives.py's validation stream: training fonts and kinds);
- the `tune` split of the camera-like scenes (tools/make_scenes.py): its digits, its pen-drawn
  digits apart, and its non-digits.

The MNIST test set, realworld/ and the scenes' `report` split are for the evaluate stage only:
settings chosen here are then reported there, on pictures they were not chosen on.
"""

from __future__ import annotations

import argparse
import csv
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
from pipeline.params import qat_params, read_params  # noqa: E402
from runtime.digits import NUM_LABELS  # noqa: E402
from runtime.errors import InputError  # noqa: E402
from runtime.normalization import to_model_input  # noqa: E402
from runtime.preprocess import prepare_image  # noqa: E402

TUNABLE = {"epochs": int, "learning_rate": float, "share": float}
COLUMNS = ("MNIST val right", "MNIST val 'not a digit'", "val non-digits rejected", "scene digits right",
           "scene pen digits right", "scene non-digits rejected")


def parse_set(text: str) -> tuple[str, dict]:
    """'NAME=KEY=VALUE,KEY=VALUE' (or 'NAME=' for the params as they are) -> (name, overrides)."""
    name, _, rest = text.partition("=")
    if not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=KEY=VALUE,... (NAME= for no change)")
    overrides = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in TUNABLE:
            raise argparse.ArgumentTypeError(f"{key!r}: not one of {', '.join(TUNABLE)}")
        try:
            overrides[key] = TUNABLE[key](value)
        except ValueError:
            kind = "an integer" if TUNABLE[key] is int else "a number"
            raise argparse.ArgumentTypeError(f"{item!r}: {value!r} is not {kind}") from None
    return name, overrides


def scene_pictures(folder: Path) -> list[tuple[str, int | None, np.ndarray | None]]:
    """(file, label or None for a non-digit, model input or None where the finder saw no digit)."""
    boxes = folder / "boxes.csv"
    if not boxes.is_file():
        raise SystemExit(f"open_set_tune: {boxes} not found; make the tune split first: python -m "
                         f"pipeline.scenes --data data/mnist.npz --split tune --out {folder}")
    out = []
    with boxes.open() as handle:
        for row in csv.DictReader(handle):
            try:
                tensor = prepare_image(folder / row["file"]).tensor
            except InputError:
                tensor = None
            label = None if row["label"] in ("", "none") else int(row["label"])
            out.append((row["file"], label, tensor))
    return out


def judge(model, split, pool, scenes) -> dict[str, float]:
    answer = lambda x: model.predict(x, batch_size=1000, verbose=0).argmax(1)  # noqa: E731
    val = answer(to_model_input(split.x_val))
    rejected = answer(to_model_input(pool.val)) == NUM_LABELS
    seen = [t for _, _, t in scenes if t is not None]
    found = iter(answer(np.stack(seen)) if seen else [])
    scene = [(f, label, NUM_LABELS if t is None else int(next(found))) for f, label, t in scenes]
    digits = [(f, label, a) for f, label, a in scene if label is not None]
    pens = [(f, label, a) for f, label, a in digits if "_pen" in Path(f).name]
    others = [a for _, label, a in scene if label is None]
    share = lambda rows: float(np.mean([a == label for _, label, a in rows])) if rows else float("nan")  # noqa: E731
    return dict(zip(COLUMNS, (float(np.mean(val == split.y_val)), float(np.mean(val == NUM_LABELS)),
                              float(rejected.mean()), share(digits), share(pens),
                              float(np.mean([a == NUM_LABELS for a in others])) if others else float("nan"))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="sets", type=parse_set, action="append", required=True,
                        help="NAME=KEY=VALUE,... over qat.open_set (epochs, learning_rate, share); NAME= as is")
    parser.add_argument("--data", type=Path, default=Path("data/mnist.npz"))
    parser.add_argument("--model", type=Path, default=Path("models/float.keras"))
    parser.add_argument("--scenes", type=Path, default=Path("scenes/tune"), help="the scenes' tune split")
    parser.add_argument("--qat", action="store_true", help="also run the QAT fine-tune and judge its model")
    args = parser.parse_args(argv)
    from pipeline import qat
    from pipeline.legacy_keras import tf_keras

    params = qat_params(read_params())
    split = load_split(args.data, params.train.validation_size, params.train.seed)
    scenes = scene_pictures(args.scenes)
    print(f"open_set_tune: making the non-digits ({params.qat.open_set.negatives:,} training, "
          f"{open_set.VALIDATION_NEGATIVES:,} validation)...", file=sys.stderr)
    pool = open_set.make_negatives(params.qat.open_set, params.qat.seed)
    rows = []
    for name, overrides in args.sets:
        started = time.perf_counter()
        settings = dataclasses.replace(params.qat.open_set, **overrides)
        run = dataclasses.replace(params, qat=dataclasses.replace(params.qat, open_set=settings))
        model, _ = qat.to_tf_keras(args.model, run.model.variant, to_model_input(split.x_test[:8]))
        model = open_set.grow_head(tf_keras, model, run.model.variant, settings.route)
        qat.learn_non_digits(model, run, split, pool)
        qat.calibrate(model, split, settings.route, pool)
        rows.append((name, overrides, judge(model, split, pool, scenes)))
        if args.qat:
            quantized, _ = qat.fine_tune(model, run, split, pool)
            rows.append((f"{name}, after QAT", overrides, judge(quantized, split, pool, scenes)))
        print(f"open_set_tune: {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print("| settings | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    for name, overrides, scores in rows:
        label = ", ".join(f"{k} {v}" for k, v in overrides.items()) or "as in params.yaml"
        print(f"| {name} ({label}) | " + " | ".join(f"{scores[c]:.2%}" for c in COLUMNS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
