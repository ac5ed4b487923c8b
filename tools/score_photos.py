"""The bundled model on a split of tools/make_photos.py, per scene: python -m tools.score_photos DIR

    python -m tools.make_photos --split judge --out photos
    python -m tools.score_photos photos/judge [--engine litert|onnx] [--fails FILE] [--figures PATH]

Every picture goes through `Classifier.predict`, as the CLI reads it with its defaults. For each
scene: the digit pictures answered right, wrong, and refused ("no digit found"), and those answered
wrong with a probability of 0.6 or more; the seven camera scenes together; and the share of the
non-digit twins rejected (refused, or answered under 0.6). `--fails FILE` lists every digit picture
not answered right; `--figures PATH` also writes what is printed as a Markdown page.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

CAMERA = ("ruled", "grid", "gradient_shadow", "small_in_frame", "whiteboard", "board_dark", "seven_segment")
ORDER = (*CAMERA, "tight_crop", "fonts")
SURE = 0.6  # an answer this probable or more is a confident one (evaluate.min_confidence)


def answers(folder: Path, engine: str | None) -> list[tuple[dict, int | None, float]]:
    """(labels.csv row, the answer or None where refused, its probability) for every picture."""
    from runtime import Classifier
    from runtime.errors import InputError

    labels = folder / "labels.csv"
    if not labels.is_file():
        split = folder.name if folder.name in ("look", "judge") else "judge"
        raise SystemExit(f"score_photos: {labels} not found; make a split first: python -m tools.make_photos "
                         f"--split {split} --out {folder.parent if folder.name == split else folder}")
    classifier = Classifier.load(engine=engine)
    out = []
    with labels.open() as handle:
        for row in csv.DictReader(handle):
            try:
                prediction = classifier.predict(folder / row["file"])
                out.append((row, prediction.label, prediction.probability))
            except InputError:
                out.append((row, None, 0.0))
    return out


def table(results: list[tuple[dict, int | None, float]]) -> tuple[list[str], list[str]]:
    """(the printed lines, the digit pictures not answered right: 'file label answer probability')."""
    stats: dict[str, dict[str, int]] = {}
    fails = []
    for row, answer, probability in results:
        s = stats.setdefault(row["scene"], dict.fromkeys(("n", "right", "wrong", "refused", "sure", "twins", "rejected"), 0))
        if row["label"] == "none":
            s["twins"] += 1
            s["rejected"] += answer is None or probability < SURE
            continue
        label = int(row["label"])
        s["n"] += 1
        s["right"] += answer == label
        s["refused"] += answer is None
        s["wrong"] += answer is not None and answer != label
        s["sure"] += answer is not None and answer != label and probability >= SURE
        if answer != label:
            fails.append(f"{row['file']} {label} {'refused' if answer is None else answer} {probability:.3f}")

    def pct(part: int, whole: int) -> str:
        return f"{100 * part / whole:.1f}%" if whole else "-"

    lines = [f"{'scene':<16} {'digits':>6} {'right':>7} {'wrong':>7} {'refused':>8} {'wrong, sure':>12} "
             f"{'twins':>6} {'rejected':>9}"]
    for scene in [*ORDER, *sorted(set(stats) - set(ORDER))]:
        if scene in stats:
            s = stats[scene]
            lines.append(f"{scene:<16} {s['n']:>6} {pct(s['right'], s['n']):>7} {pct(s['wrong'], s['n']):>7} "
                         f"{pct(s['refused'], s['n']):>8} {pct(s['sure'], s['n']):>12} {s['twins']:>6} "
                         f"{pct(s['rejected'], s['twins']):>9}")
    total = {k: sum(stats[c][k] for c in CAMERA if c in stats) for k in ("n", "right", "sure")}
    twins = {k: sum(s[k] for s in stats.values()) for k in ("twins", "rejected")}
    lines += [f"the {sum(c in stats for c in CAMERA)} camera scenes: {pct(total['right'], total['n'])} right, "
              f"{pct(total['sure'], total['n'])} wrong and sure ({total['n']} digits); non-digit twins rejected: "
              f"{pct(twins['rejected'], twins['twins'])} ({twins['twins']})"]
    return lines, fails


def main(argv: list[str] | None = None) -> int:
    from tools.figures import command_line, figures_path, write_figures, tool_parser

    parser = tool_parser("python -m tools.score_photos", __doc__)
    parser.add_argument("folder", type=Path, help="a split made by tools.make_photos (e.g. photos/judge)")
    parser.add_argument("--engine", choices=("litert", "onnx"), default=None, help="default: the runtime's")
    parser.add_argument("--fails", type=Path, metavar="FILE", help="write the digit pictures not answered right here")
    parser.add_argument("--figures", type=Path, metavar="PATH", help="also write what is printed as a Markdown page")
    args = parser.parse_args(argv)
    figures = figures_path(parser, args.figures)
    figures_path(parser, args.fails, "--fails")  # before the scoring, not after it
    lines, fails = table(answers(args.folder, args.engine))
    print("\n".join(lines))
    if args.fails:
        args.fails.write_text("".join(f"{line}\n" for line in fails))
    if figures:
        write_figures(figures, "The bundled model on an independent split of camera-like pictures",
                      command_line(parser.prog, argv),
                      f"Split `{args.folder.name}` of `tools/make_photos.py`, through `Classifier.predict` with "
                      "its defaults. *wrong, sure*: a wrong answer with a probability of 0.6 or more; *rejected*: "
                      "a non-digit twin refused or answered under 0.6.", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
