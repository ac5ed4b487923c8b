"""Stage `zoo`: record the evaluated variant in metrics/zoo.json and chart every variant recorded
there against published points (plots/zoo.png; a Markdown table on stdout).

    dvc exp run -S model.variant=tiny       # the zoo stage records tiny's row
    dvc exp run -S model.variant=tiny_open  # tiny_open's (a tiny model that answers "not a digit")
    git checkout params.yaml; dvc repro     # and standard's (the default)

`metrics/zoo.json` is a persistent DVC output (it keeps the other variants' rows), so the chart
and the README table cover every variant, whichever one the workspace holds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from export.atomic import write_json
from export.formats import FORMATS, Precision
from pipeline import report
from pipeline.stage import Stage, StageFileError, first_paragraph, read_stage_json

ZOO_FILE = Path("metrics/zoo.json")
# Published points the project measures itself against: int8 size (kB as published) and MNIST
# test accuracy. Figures that were not published are None and drawn as bands, not invented.
REFERENCES = [
    {"name": "tutorial seeds (float Keras)", "accuracy_range": [98.4, 99.25], "size_kb": None,
     "latency_ms": None},
    {"name": "ONNX Model Zoo MNIST-12 int8", "accuracy": 98.9, "size_kb": 11.0, "latency_ms": None},
    # cpldcpu/BitNetMCU: low-bit weights on a 16x16 input, three published model sizes.
    {"name": "BitNetMCU", "accuracy": 98.92, "size_kb": 3.2, "latency_ms": None},
    {"name": "BitNetMCU", "accuracy": 99.06, "size_kb": 5.4, "latency_ms": None},
    {"name": "BitNetMCU", "accuracy": 99.55, "size_kb": 11.0, "latency_ms": None},
]


ZOO_COLUMNS = ("accuracy", "size_bytes", "latency_p50_ms", "agreement", "arena_bytes", "macs")


# The zoo file persists across runs (every variant's row), so `dvc repro` reads it again rather than remaking it.
_ZOO_REMEDY = "delete it, then run the zoo stage for each variant again (dvc exp run -S model.variant=NAME)"


def record(zoo_file: Path = ZOO_FILE, evaluate: Path = Path("metrics/evaluate.json"),
           train: Path = Path("metrics/train.json"), qat: Path | None = None) -> dict:
    """Add (or replace) the evaluated variant's entry: every evaluate row, keras ones included.
    The parameters are the deployed model's (the qat stage's summary, where given: it counts the
    "not a digit" output that the trained model lacks), else the trained model's."""
    rows = read_stage_json(evaluate, ("formats",))["formats"]
    summary = read_stage_json(train, ("variant", "params"))
    params = summary["params"]
    if qat is not None:
        params = read_stage_json(qat).get("params", params)
    entry = {"variant": summary["variant"], "params": params,
             "formats": {name: {key: row[key] for key in ZOO_COLUMNS if key in row} for name, row in rows.items()}}
    zoo = read_stage_json(zoo_file, ("variants",), _ZOO_REMEDY) if zoo_file.exists() else {"variants": {}}
    for name, kept in zoo["variants"].items():
        if name != entry["variant"] and "formats" not in kept:
            raise StageFileError(f"{zoo_file}: variant {name!r} is in an older layout (no 'formats'); re-run it "
                                 f"(dvc exp run -S model.variant={name}) or delete its entry")
    zoo["variants"][entry["variant"]] = entry
    zoo["references"] = REFERENCES
    write_json(zoo_file, zoo)
    return entry


def table(zoo: dict) -> str:
    """One line per variant and file, in the order the evaluate stage measured them."""
    lines = ["| variant | parameters | file | accuracy | size | p50 latency | MACs | arena (RAM) |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for v in zoo["variants"].values():
        for name, row in v["formats"].items():
            lines.append(f"| {v['variant']} | {v['params']:,} | {name} | {row['accuracy']:.2%} | "
                         f"{report.kib(row['size_bytes'])} | {row['latency_p50_ms']:.3f} ms | "
                         f"{_maybe(row.get('macs'), '{:,}')} | {_maybe(row.get('arena_bytes'), '{:,} B')} |")
    return "\n".join(lines)


def _maybe(value, form: str) -> str:
    return "" if value is None else form.format(value)


def plotted(formats=FORMATS) -> list[str]:
    """The files drawn per variant: the deployed one, and the int8 ones the runtime bundles."""
    return [f.name for f in formats if f.deployed or (f.bundled and f.precision is Precision.INT8)]


def plot(zoo: dict, out: Path, formats=FORMATS) -> None:
    from pipeline.plots import pyplot, save

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.6), sharey=True)
    for axis, key, label in ((axes[0], "size_bytes", "file size (kB)"),
                             (axes[1], "latency_p50_ms", "batch-1 latency p50 on 2 CPU cores (ms)")):
        for reference in REFERENCES:
            if "accuracy_range" in reference:
                low, high = reference["accuracy_range"]
                axis.axhspan(low, high, color="0.85", zorder=0)
                axis.text(0.98, low + 0.03, reference["name"] + f" {low}-{high}%\n(size, latency not published)",
                          transform=axis.get_yaxis_transform(), fontsize=7, va="bottom", ha="right")
            elif key == "size_bytes" and reference["size_kb"]:
                axis.scatter(reference["size_kb"], reference["accuracy"], marker="x", s=70, color="black")
                axis.annotate(f"{reference['name']}\n{reference['size_kb']:g} kB, {reference['accuracy']}%",
                              (reference["size_kb"], reference["accuracy"]), textcoords="offset points",
                              xytext=(4, 8), fontsize=7)
        for index, v in enumerate(zoo["variants"].values()):
            for name, marker in zip((n for n in plotted(formats) if n in v["formats"]), "Do^sv<>p"):
                row = v["formats"][name]
                x = row[key] / 1024 if key == "size_bytes" else row[key]
                axis.scatter(x, row["accuracy"] * 100, marker=marker, s=60, color=f"C{index}",
                             label=f"{v['variant']} {name}")
        if key == "size_bytes":
            axis.set_xscale("log")
            axis.set_xticks([3, 5, 10, 20, 50, 100])
            axis.xaxis.set_major_formatter(plt.matplotlib.ticker.FormatStrFormatter("%g"))
            axis.xaxis.set_minor_formatter(plt.matplotlib.ticker.NullFormatter())
            label += ", log scale"
        else:
            axis.set_xlim(left=0)
        axis.set_xlabel(label)
        axis.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("MNIST test accuracy (%)")
    axes[0].set_ylim(98.2, 99.8)
    axes[1].legend(fontsize=8, loc="center left")  # clear of the points and of the band's label
    fig.suptitle("Model zoo: int8 variants vs published MNIST points (higher and further left is better)")
    save(fig, out)


def run(args, _params, formats=FORMATS) -> str:
    entry = record(args.zoo, args.evaluate, args.train, args.qat)
    zoo = json.loads(args.zoo.read_text())
    plot(zoo, args.plot, formats)
    print(table(zoo))
    report.write(args.figures, "Model zoo: every variant recorded",
                 f"the zoo stage (`dvc repro zoo`, and `dvc exp run -S model.variant=NAME` for tiny and tiny_open) from `{args.zoo}`",
                 table(zoo))
    return f"recorded {entry['variant']} in {args.zoo}; {len(zoo['variants'])} variant(s) drawn in {args.plot}"


def arguments(parser) -> None:
    parser.add_argument("--evaluate", type=Path, default=Path("metrics/evaluate.json"))
    parser.add_argument("--train", type=Path, default=Path("metrics/train.json"))
    parser.add_argument("--qat", type=Path, default=Path("metrics/qat.json"),
                        help="the qat stage's summary: the deployed model's parameter count")
    parser.add_argument("--zoo", type=Path, default=ZOO_FILE)
    parser.add_argument("--plot", type=Path, default=Path("plots/zoo.png"))
    parser.add_argument("--figures", type=Path, default=Path("docs/figures/zoo.md"))


STAGE = Stage("zoo", first_paragraph(__doc__), run, None, arguments, catches=(OSError, KeyError, ValueError),
              outputs=("zoo", "plot", "figures"))
main = STAGE.main

if __name__ == "__main__":
    sys.exit(main())
