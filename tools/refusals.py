"""Which digits the "not a digit" output costs, and what they look like to it:

    python -m tools.refusals [--model runtime/models/model_int8.tflite] [--split test|val]
                             [--out docs/figures/refusals.png]

Runs the model on MNIST's test digits (or, with `--split val`, the train stage's validation
split), as the evaluate stage does (the arrays, no finder), and takes those answered "not a
digit". Beside each one, the training non-digits nearest to it (Euclidean distance between the
28x28 model inputs; pipeline/negatives.py's training stream, as the qat stage draws it from
qat.seed). The sheet's rows: the digit (its label, the digit the model would answer without the
11th output, and the probability of "not a digit"), then its neighbours (their kind, or for a
letter or a symbol the glyph drawn). It prints the same as text.

The test split shows what the open-set step costs the reported figure; choose settings on what
`--split val` shows and on tools/open_set_tune.py's columns, never on the test split.
"""

from __future__ import annotations

import io
import itertools
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from runtime.digits import NUM_LABELS
from tools.figures import count, figures_path, tool_parser

TILE = 56  # px per 28x28 input on the sheet (twice its size)
CAPTION = 14  # px of text under each tile
SPLITS = {"test": "test", "val": "validation"}
# Captions name glyphs beyond Latin (∫, λ, Ж): DejaVu has them (fonts-dejavu-core), Pillow's own font does not.
CAPTION_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def refused(probabilities: np.ndarray) -> np.ndarray:
    """Indices of the rows answered "not a digit" (the 11th output is the largest)."""
    if probabilities.shape[1] <= NUM_LABELS:
        return np.zeros(0, np.int64)
    return np.flatnonzero(probabilities.argmax(axis=1) >= NUM_LABELS)


def nearest(digits: np.ndarray, pool: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For each uint8 (28, 28) digit, the `k` nearest of `pool` (N, 28, 28): (indices, distances),
    nearest first; distances in levels (0-255) over the 784 pixels."""
    flat = pool.reshape(len(pool), -1).astype(np.float64)  # float32 would lose a level of difference to rounding
    norms = (flat * flat).sum(axis=1)
    found, distances = [], []
    for digit in digits.reshape(len(digits), -1).astype(np.float64):
        squared = np.maximum(norms - 2 * flat @ digit + digit @ digit, 0)
        order = np.argsort(squared, kind="stable")[:k]
        found.append(order)
        distances.append(np.sqrt(squared[order]))
    return np.array(found, np.int64).reshape(len(digits), k), np.array(distances).reshape(len(digits), k)


def sheet(rows: list[list[tuple[np.ndarray, str]]]) -> Image.Image:
    """Rows of (uint8 28x28 model input, caption) -> one picture, dark ink on white."""
    width = max((len(row) for row in rows), default=1)
    image = Image.new("L", (width * TILE, max(1, len(rows)) * (TILE + CAPTION)), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(CAPTION_FONT), 10) if CAPTION_FONT.is_file() else ImageFont.load_default()
    for r, row in enumerate(rows):
        for c, (tile, caption) in enumerate(row):
            x, y = c * TILE, r * (TILE + CAPTION)
            image.paste(Image.fromarray(255 - tile).resize((TILE, TILE), Image.NEAREST), (x, y))
            draw.text((x + 2, y + TILE), caption[:9], fill=0, font=font)
        if row:
            draw.line([(TILE - 1, r * (TILE + CAPTION)), (TILE - 1, (r + 1) * (TILE + CAPTION) - 1)], fill=128)
    return image


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("python -m tools.refusals", __doc__)
    parser.add_argument("--model", type=Path, default=None, help="default: the bundled int8 model")
    parser.add_argument("--engine", default=None,
                        help="litert, onnx, tflm or c, as runtime.classify's (default: by the model's suffix)")
    parser.add_argument("--data", type=Path, default=Path("data/mnist.npz"),
                        help="MNIST as the data stage writes it (default: data/mnist.npz)")
    parser.add_argument("--split", choices=("test", "val"), default="test",
                        help="MNIST's test set, or the train stage's validation split (for tuning)")
    parser.add_argument("--negatives", type=count(1, 1_000_000), default=None,
                        help="training non-digits to search (default: qat.open_set.negatives in params.yaml)")
    parser.add_argument("--neighbours", type=count(1, 20), default=6,
                        help="nearest training non-digits drawn beside each digit (default: 6)")
    parser.add_argument("--out", type=Path, default=None, help="write the sheet here (PNG)")
    args = parser.parse_args(argv)
    figures_path(parser, args.out, "--out")  # a folder, or one in no folder: refused before the work
    if args.out is not None and args.out.suffix.lower() != ".png":
        parser.error(f"--out {args.out}: the sheet is a PNG; name it .png")

    from export.atomic import write_bytes
    from pipeline import negatives, open_set
    from pipeline.dataset import load_split
    from pipeline.mnist import DataError, load_arrays
    from pipeline.params import ParamsError, qat_params, read_params
    from runtime.errors import InputError
    from runtime.model import Classifier
    from runtime.normalization import to_model_input

    try:
        params = qat_params(read_params())
        if args.split == "test":
            arrays = load_arrays(args.data, ("x_test", "y_test"))
            x_digits, y_digits = arrays["x_test"], arrays["y_test"]
        else:
            split = load_split(args.data, params.train.validation_size, params.train.seed)
            x_digits, y_digits = split.x_val, split.y_val
        classifier = Classifier.load(args.model, engine=args.engine)
    except (ParamsError, DataError, InputError, OSError) as error:
        raise SystemExit(f"refusals: {error}") from None
    probabilities = np.concatenate([classifier.probabilities(to_model_input(x_digits[i : i + 1000]))
                                    for i in range(0, len(x_digits), 1000)])
    rows = refused(probabilities)
    print(f"{len(rows)} of {len(x_digits):,} MNIST {SPLITS[args.split]} digits answered 'not a digit'")
    if not len(rows):
        return 0
    wanted = args.negatives or params.qat.open_set.negatives
    print(f"drawing {wanted:,} training non-digits (pipeline/negatives.py, seed "
          f"{params.qat.seed + open_set.TRAIN_SEED_OFFSET})...", file=sys.stderr)
    try:
        fonts = negatives.train_fonts()
    except negatives.NegativesError as error:
        raise SystemExit(f"refusals: {error}") from None
    drawn = negatives.generate(params.qat.seed + open_set.TRAIN_SEED_OFFSET, fonts, described=True)
    pool, kinds, texts = zip(*itertools.islice(drawn, wanted))  # the first `wanted`, as negatives.make takes them
    found, distances = nearest(x_digits[rows], np.stack(pool), args.neighbours)
    tally, picture = Counter(), []
    for row, near, far in zip(rows, found, distances):
        digits = probabilities[row, :-1]
        line = [(x_digits[row], f"{y_digits[row]}>{int(digits.argmax())} {probabilities[row, -1]:.2f}")]
        names = []
        for index, distance in zip(near, far):
            name = texts[index] or kinds[index]
            names.append(f"{name} ({distance:.0f})")
            line.append((pool[index], name))
            tally[name] += 1
        picture.append(line)
        print(f"{args.split} #{row}: a {y_digits[row]} (without 'not a digit': {int(digits.argmax())}), "
              f"'not a digit' {probabilities[row, -1]:.2f}; nearest: {', '.join(names)}")
    print("nearest non-digits, most often: " + ", ".join(f"{name} {n}" for name, n in tally.most_common(10)))
    if args.out:
        encoded = io.BytesIO()
        sheet(picture).save(encoded, format="PNG")
        try:
            write_bytes(args.out, encoded.getvalue())  # all at once: the old sheet or the new, never half
        except OSError as error:
            raise SystemExit(f"refusals: cannot write {args.out} ({error.strerror or error})") from None
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
