"""Tune the open-set fine-tune's settings on tuning data only, side by side:

    python -m pipeline.scenes --data data/mnist.npz --split tune --out scenes/tune
    python -m tools.open_set_tune --set base= --set e8=epochs=8 --set share10=share=0.1

Each `--set NAME=KEY=VALUE,...` overrides keys of `qat.open_set` (epochs, learning_rate, share,
negatives, distill, and refusal_budget, which only the `--qat` row feels: the stage applies it after
QAT), or `hollow`, the share of glyphs drawn
hollow (pipeline/negatives.py's `HOLLOW`), `hooks` (1: the
glyphs of `HOOKED` are left out of the training non-digits), `boxes` (1: outlined
rectangles standing upright, taller than wide, are drawn among the shapes: `UPRIGHT_BOXES`), or `twins`: drop the
non-digits (training and validation) that the trained digit model reads as a digit with at least this
probability (`drop_twins`; the pipeline has no such step).
For each, from the trained float model (models/float.keras), the qat stage's own steps run in
float: the head grows by "not a digit", `learn_non_digits` fine-tunes on digits and non-digits,
and the temperature is fitted on the validation split. With `--qat`, the stage's QAT fine-tune
(`qat.epochs`, `qat.learning_rate`) follows, and the QAT model is judged too, on a row of its own
(the int8 files are converted from it). Each is judged on data that no reported figure uses:

- the train stage's validation split of MNIST (right, and answered "not a digit");
- the validation non-digits (pipeline/negatives.py's validation stream: training fonts and kinds);
- the `tune` split of the camera-like scenes (tools/make_scenes.py): its digits, its pen-drawn
  digits apart, and its non-digits; with `--scene NAME` (repeatable), one scene's digits apart too;
- with `--realworld-tune DIR`, a tuning split of the real-world set's kinds: the same generator as
  realworld/ (pen strokes and DejaVu/Liberation type), another seed (`python -m tools.make_realworld
  --seed 777 --digits-only --out DIR`): pen digits right and answered "not a digit", font digits right;
- digits typeset in fonts that neither the training nor any evaluation set draws (`TUNE_FONT_DIRS`:
  Fira Code, Ecolier, Dancing Script, Kaushan Script; `apt-get install TUNE_FONT_PACKAGES`),
  plain, hollow (outline only) and blurred, both polarities; skipped, with a note, where those
  fonts are missing.

Two runs of one setting differ by more than many settings do (docs/non-digits.md), so `--seeds N`
runs each setting N times (qat.seed, qat.seed + 1, ...: the fine-tune's batches and the new head)
and prints each column's mean with its lowest and highest value.

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

from pipeline import negatives, open_set  # noqa: E402
from pipeline.dataset import load_split  # noqa: E402
from pipeline.params import Bounds, OpenSet, ParamsError, qat_params, read_params  # noqa: E402
from tools.figures import count, tool_parser  # noqa: E402
from runtime.digits import NUM_LABELS  # noqa: E402
from runtime.errors import InputError  # noqa: E402
from runtime.normalization import to_model_input  # noqa: E402
from runtime.preprocess import prepare_image  # noqa: E402

TUNABLE = {"epochs": int, "learning_rate": float, "share": float, "negatives": int, "refusal_budget": float,
           "distill": float, "hollow": float, "twins": float, "boxes": int, "hooks": int}
# Each key's allowed values: qat.open_set's own bounds, and a share or a probability for the others.
RANGES = {**{f.name: f.metadata["bounds"] for f in dataclasses.fields(OpenSet) if f.name in TUNABLE},
          "hollow": Bounds(0.0, 1.0), "twins": Bounds(0.0, 1.0), "boxes": Bounds(0, 1),
          "hooks": Bounds(0, 1)}
# `hooks=1` leaves these out of the training letters and symbols: single strokes with a hook or a tail,
# which some people's 1 looks like (the nearest training non-digits of the MNIST test 1s that the
# model answers "not a digit"). Every row is judged on the validation non-digits with them.
HOOKED = "jJ∫"
COLUMNS = ("MNIST val right", "MNIST val 'not a digit'", "val non-digits rejected", "scene digits right",
           "scene pen digits right", "scene non-digits rejected")
FONT_COLUMNS = ("font digits right", "hollow font digits right", "blurred font digits right")
REALWORLD_COLUMNS = ("tune pen digits right", "tune pen digits 'not a digit'", "tune font digits right")
TUNE_FONT_DIRS = ("/usr/share/fonts/truetype/firacode", "/usr/share/fonts/truetype/ecolier-court",
                  "/usr/share/fonts/opentype/dancingscript", "/usr/share/fonts/opentype/kaushanscript")
TUNE_FONT_PACKAGES = "fonts-firacode fonts-ecolier-court fonts-dancingscript fonts-kaushanscript"
FONT_STYLES = ("plain", "hollow", "blurred")


def parse_set(text: str) -> tuple[str, dict]:
    """'NAME=KEY=VALUE,KEY=VALUE' (or 'NAME=' for the params as they are) -> (name, overrides)."""
    name, equals, rest = text.partition("=")
    if not name or not equals:
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
        bounds = RANGES[key]
        if not bounds.hold(overrides[key]):
            wanted = bounds.describe(integer=TUNABLE[key] is int)
            raise argparse.ArgumentTypeError(f"{item!r}: {key} must be {wanted}")
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


def tune_fonts() -> list[Path]:
    return sorted(p for d in TUNE_FONT_DIRS if Path(d).is_dir() for p in Path(d).iterdir()
                  if p.suffix in (".ttf", ".otf"))


def font_digit(digit: int, font: Path, style: str, rng: np.random.Generator) -> np.ndarray:
    """One typeset digit as a user's picture: 32-160 px canvas, rotated up to 10 degrees, any
    polarity; `hollow` draws the glyph's outline only, `blurred` softens it by 1.5-3.5% of the side."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    side = int(rng.choice([32, 48, 64, 96, 128, 160]))
    size = int(side * rng.uniform(0.55, 0.8))
    face = ImageFont.truetype(str(font), size)
    big = Image.new("L", (side * 2, side * 2), 0)
    draw = ImageDraw.Draw(big)
    if style == "hollow":
        draw.text((side // 2, side // 3), str(digit), font=face, fill=0, stroke_width=max(1, size // 18), stroke_fill=255)
    else:
        draw.text((side // 2, side // 3), str(digit), font=face, fill=255)
    glyph = big.rotate(float(rng.uniform(-10, 10)), resample=Image.BILINEAR)
    glyph = glyph.crop(glyph.getbbox() or (0, 0, 1, 1))
    canvas = Image.new("L", (max(side, glyph.width + 4), max(side, glyph.height + 4)), 0)
    canvas.paste(glyph, ((canvas.width - glyph.width) // 2 + int(rng.integers(-2, 3)),
                         (canvas.height - glyph.height) // 2 + int(rng.integers(-2, 3))))
    if style == "blurred":
        canvas = canvas.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.015, 0.035)) * side))
    paper, ink = rng.uniform(170, 250), rng.uniform(10, 90)
    if rng.random() < 0.3:
        paper, ink = 255 - paper, 255 - ink
    return np.clip(np.rint(paper + (ink - paper) * np.asarray(canvas, np.float32) / 255), 0, 255).astype(np.uint8)


def font_digits(per_style: int = 20, seed: int = 77) -> list[tuple[str, int, np.ndarray | None]]:
    """(style, label, model input or None where the finder saw no digit) for `per_style` digits
    (0-9 in turn) per font and style; [] where the tuning fonts are not installed."""
    rng = np.random.default_rng(seed)
    out = []
    for font in tune_fonts():
        for style in FONT_STYLES:
            for k in range(per_style):
                try:
                    tensor = prepare_image(font_digit(k % 10, font, style, rng)).tensor
                except InputError:
                    tensor = None
                out.append((style, k % 10, tensor))
    return out


def make_negatives(settings, seed: int, hollow: float, boxes: bool, hooks: bool = True):
    """The qat stage's non-digits (and printed digits), with `hollow` of the glyphs drawn hollow,
    outlined rectangles standing upright among the shapes where `boxes`, and without the `HOOKED`
    glyphs where not `hooks`."""
    defaults = negatives.HOLLOW, negatives.UPRIGHT_BOXES, negatives.TRAIN_LETTERS, negatives.TRAIN_SYMBOLS
    negatives.HOLLOW, negatives.UPRIGHT_BOXES = hollow, boxes
    if not hooks:
        negatives.TRAIN_LETTERS = "".join(c for c in negatives.TRAIN_LETTERS if c not in HOOKED)
        negatives.TRAIN_SYMBOLS = "".join(c for c in negatives.TRAIN_SYMBOLS if c not in HOOKED)
    try:
        return open_set.make_negatives(settings, seed)
    finally:
        negatives.HOLLOW, negatives.UPRIGHT_BOXES, negatives.TRAIN_LETTERS, negatives.TRAIN_SYMBOLS = defaults


def drop_twins(pool, predict, threshold: float) -> tuple:
    """The pool without the non-digits (training and validation) that the trained digit model,
    `predict` (model inputs -> digit probabilities), reads as a digit with `threshold` or more
    (0: keep all), and how many were dropped. A rendered letter or a scribble can look like a digit
    (an italic capital gamma is a 7); taught that such a shape is "not a digit", a model may refuse
    the handwritten digits that look like it."""
    if not threshold:
        return pool, 0
    keep = [predict(to_model_input(images)).max(axis=1) < threshold for images in (pool.train, pool.val)]
    dropped = sum(int((~k).sum()) for k in keep)
    return dataclasses.replace(pool, train=pool.train[keep[0]], val=pool.val[keep[1]]), dropped


def _answered(answer, rows: list[tuple]) -> list[tuple]:
    """(name, label, tensor or None) rows -> (name, label, answer): one model call for the rows the
    finder kept; a refused picture reads as "not a digit"."""
    seen = [t for _, _, t in rows if t is not None]
    found = iter(answer(np.stack(seen)) if seen else [])
    return [(name, label, NUM_LABELS if t is None else int(next(found))) for name, label, t in rows]


def realworld_pictures(folder: Path) -> list[tuple[str, int, np.ndarray | None]]:
    """(kind, label, model input or None) for a tuning split of tools/make_realworld.py's digits."""
    from tools.make_realworld import labelled_files

    files = labelled_files(folder)
    if not files:
        raise SystemExit(f"open_set_tune: no digit pictures in {folder}/digits; make them first: python -m "
                         f"tools.make_realworld --seed 777 --digits-only --out {folder}")
    out = []
    for path, label in files:
        try:
            tensor = prepare_image(path).tensor
        except InputError:
            tensor = None
        out.append(("pen" if "_pen" in path.name else "font", label, tensor))
    return out


def judge(model, split, pool, scenes, fonts=(), realworld=(), scene_names=()) -> dict[str, float]:
    answer = lambda x: model.predict(x, batch_size=1000, verbose=0).argmax(1)  # noqa: E731
    val = answer(to_model_input(split.x_val))
    rejected = answer(to_model_input(pool.val)) == NUM_LABELS
    scene = _answered(answer, scenes)
    digits = [(f, label, a) for f, label, a in scene if label is not None]
    pens = [(f, label, a) for f, label, a in digits if "_pen" in Path(f).name]
    others = [a for _, label, a in scene if label is None]
    share = lambda rows: float(np.mean([a == label for _, label, a in rows])) if rows else float("nan")  # noqa: E731
    scores = dict(zip(COLUMNS, (float(np.mean(val == split.y_val)), float(np.mean(val == NUM_LABELS)),
                                float(rejected.mean()), share(digits), share(pens),
                                float(np.mean([a == NUM_LABELS for a in others])) if others else float("nan"))))
    for name in scene_names:
        scores[f"{name} digits right"] = share([row for row in digits if Path(row[0]).parts[0] == name])
    if fonts:
        typed = _answered(answer, list(fonts))
        for column, styles in zip(FONT_COLUMNS, (FONT_STYLES, ("hollow",), ("blurred",))):
            scores[column] = share([row for row in typed if row[0] in styles])
    if realworld:
        drawn = _answered(answer, list(realworld))
        pen_rows = [row for row in drawn if row[0] == "pen"]
        refused = float(np.mean([a == NUM_LABELS for _, _, a in pen_rows])) if pen_rows else float("nan")
        scores.update(zip(REALWORLD_COLUMNS, (share(pen_rows), refused,
                                              share([row for row in drawn if row[0] == "font"]))))
    return scores


def summarize(runs: list[dict[str, float]], columns) -> dict[str, tuple[float, float, float]]:
    """Scores of one setting's runs (one per seed) -> per column (mean, lowest, highest)."""
    return {c: (float(np.mean([r[c] for r in runs])), min(r[c] for r in runs), max(r[c] for r in runs))
            for c in columns}


def cell(mean: float, low: float, high: float) -> str:
    """'99.30%', or with a spread over seeds '99.30% (99.22-99.38)'."""
    return f"{mean:.2%}" if low == high or not np.isfinite(mean) else f"{mean:.2%} ({low:.2%}-{high:.2%})"


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("python -m tools.open_set_tune", __doc__)
    parser.add_argument("--set", dest="sets", type=parse_set, action="append", required=True,
                        help="NAME=KEY=VALUE,... over qat.open_set (epochs, learning_rate, share, negatives, "
                        "refusal_budget, distill), twins, hollow (negatives.HOLLOW), boxes or hooks; NAME= as is")
    parser.add_argument("--data", type=Path, default=Path("data/mnist.npz"))
    parser.add_argument("--model", type=Path, default=Path("models/float.keras"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"),
                        help="the parameters file (default: params.yaml): a copy with another train.augment "
                        "fine-tunes with that recipe, as the qat stage would")
    parser.add_argument("--scenes", type=Path, default=Path("scenes/tune"), help="the scenes' tune split")
    parser.add_argument("--qat", action="store_true", help="also run the QAT fine-tune and judge its model")
    parser.add_argument("--realworld-tune", type=Path, default=None,
                        help="a tuning split of the real-world set's kinds (python -m tools.make_realworld --seed 777 "
                             "--digits-only --out DIR): its pen and font digits are judged too")
    parser.add_argument("--scene", dest="scene_names", action="append", default=[], metavar="NAME",
                        help="a column of this scene's digits right too (a folder of the tune split: whiteboard, "
                        "seven_segment...); repeat it for more")
    parser.add_argument("--seeds", type=count(1, 20), default=1,
                        help="run each setting this many times, qat.seed, qat.seed + 1, ... (the fine-tune's "
                        "batches and the new head; the non-digits stay the same), and print the mean and the "
                        "lowest and highest of each column: two runs differ by more than many settings do")
    args = parser.parse_args(argv)
    missing = [name for name in args.scene_names if args.scenes.is_dir() and not (args.scenes / name).is_dir()]
    if missing:
        parser.error(f"--scene {missing[0]}: no such scene in {args.scenes} (its scenes: "
                     f"{', '.join(sorted(p.name for p in args.scenes.iterdir() if p.is_dir()))})")
    from pipeline import qat
    from pipeline.architecture import ModelFileError
    from pipeline.legacy_keras import tf_keras
    from pipeline.mnist import DataError

    try:  # params.yaml, the data and the float model, checked before minutes of work
        params = qat_params(read_params(args.params))
        split = load_split(args.data, params.train.validation_size, params.train.seed)
        qat.to_tf_keras(args.model, params.model.variant, to_model_input(split.x_test[:8]))
    except (ParamsError, DataError, ModelFileError) as error:
        raise SystemExit(f"open_set_tune: {error}") from None
    scenes = scene_pictures(args.scenes)
    fonts = font_digits()
    if not fonts:
        print(f"open_set_tune: note: the tuning fonts are missing, so no font columns (apt-get install "
              f"{TUNE_FONT_PACKAGES})", file=sys.stderr)
    realworld = realworld_pictures(args.realworld_tune) if args.realworld_tune else []
    columns = (COLUMNS + tuple(f"{name} digits right" for name in args.scene_names)
               + (FONT_COLUMNS if fonts else ()) + (REALWORLD_COLUMNS if realworld else ()))
    pools = {}  # by the hollow share and the upright boxes: the non-digits are drawn again only where they differ
    rows = []
    for name, overrides in args.sets:
        started = time.perf_counter()
        settings = dataclasses.replace(params.qat.open_set, **{k: v for k, v in overrides.items()
                                                               if k not in ("hollow", "twins", "boxes", "hooks")})
        kind = (overrides.get("hollow", negatives.HOLLOW), bool(overrides.get("boxes", negatives.UPRIGHT_BOXES)),
                not overrides.get("hooks", 0), settings.negatives)
        # The validation non-digits every row is judged on: hooked glyphs drawn, as many training ones as
        # params.yaml says (the validation stream is the same whatever the training count).
        judged = kind[:2] + (True, params.qat.open_set.negatives)
        for wanted in dict.fromkeys((kind, judged)):
            if wanted not in pools:
                print(f"open_set_tune: making the non-digits ({wanted[3]:,} training, "
                      f"{open_set.VALIDATION_NEGATIVES:,} validation; hollow share {wanted[0]}, upright boxes "
                      f"{'drawn' if wanted[1] else 'not drawn'}, {HOOKED} {'drawn' if wanted[2] else 'left out'})...",
                      file=sys.stderr)
                pools[wanted] = make_negatives(dataclasses.replace(settings, negatives=wanted[3]), params.qat.seed,
                                               *wanted[:3])
        floats, quantized_runs = [], []
        for k in range(args.seeds):
            run = dataclasses.replace(params, qat=dataclasses.replace(params.qat, open_set=settings,
                                                                      seed=params.qat.seed + k))
            model, _ = qat.to_tf_keras(args.model, run.model.variant, to_model_input(split.x_test[:8]))
            # Trained on without the twins; judged on the whole validation pool, like every other row.
            pool, twins = drop_twins(pools[kind], lambda x: model.predict(x, batch_size=1000, verbose=0),
                                     overrides.get("twins", 0.0))
            if twins and not k:
                print(f"open_set_tune: {name}: {twins:,} non-digits dropped as digits' twins", file=sys.stderr)
            teacher = qat.teach_from(tf_keras, model) if settings.distill else None  # as the stage does
            model = open_set.grow_head(tf_keras, model, run.model.variant, settings.route)
            qat.learn_non_digits(model, run, split, pool, teacher)
            qat.calibrate(model, split, settings.route, pool)
            floats.append(judge(model, split, pools[judged], scenes, fonts, realworld, args.scene_names))
            if args.qat:
                quantized, _ = qat.fine_tune(model, run, split, pool)
                qat.lower_not_a_digit(model, quantized, split, settings)  # refusal_budget, as the stage does
                quantized_runs.append(judge(quantized, split, pools[judged], scenes, fonts, realworld,
                                            args.scene_names))
            if args.seeds > 1:
                print(f"open_set_tune: {name}, seed {run.qat.seed}: done", file=sys.stderr)
        rows.append((name, overrides, summarize(floats, columns)))
        if args.qat:
            rows.append((f"{name}, after QAT", overrides, summarize(quantized_runs, columns)))
        print(f"open_set_tune: {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.seeds > 1:
        print(f"Each cell: the mean of {args.seeds} runs (qat.seed {params.qat.seed} to "
              f"{params.qat.seed + args.seeds - 1}), and the lowest and the highest.\n")
    print("| settings | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, overrides, scores in rows:
        label = ", ".join(f"{k} {v}" for k, v in overrides.items()) or "as in params.yaml"
        print(f"| {name} ({label}) | " + " | ".join(cell(*scores[c]) for c in columns) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
