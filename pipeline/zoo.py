"""Stage `zoo`: record the evaluated variant in metrics/zoo.json and chart every variant recorded
there against published points (plots/zoo.png; a Markdown table on stdout).

    dvc exp run -S model.variant=tiny       # the zoo stage records tiny's row
    dvc repro                               # and standard's (the default)

`metrics/zoo.json` is a persistent DVC output (it keeps the other variants' rows), so the chart
and the README table cover every variant, whichever one the workspace holds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from export.atomic import write_json
from pipeline.stage import Stage

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


def record(zoo_file: Path = ZOO_FILE, evaluate: Path = Path("metrics/evaluate.json"),
           train: Path = Path("metrics/train.json")) -> dict:
    rows = json.loads(evaluate.read_text())["formats"]
    summary = json.loads(train.read_text())
    entry = {
        "variant": summary["variant"],
        "params": summary["params"],
        "float_accuracy": rows["keras_float"]["accuracy"],
        "qat_accuracy": rows["keras_qat"]["accuracy"],
        **{f"{name}_{key}": rows[name][key] for name in ("tflite_int8", "onnx_int8", "tflite_float", "onnx_float")
           for key in ("accuracy", "size_bytes", "latency_p50_ms")},
    }
    if "tflm_int8" in rows:
        entry.update({"tflm_arena_bytes": rows["tflm_int8"]["arena_bytes"], "macs": rows["tflm_int8"]["macs"],
                      "tflm_agreement": rows["tflm_int8"]["agreement"]})
    zoo = json.loads(zoo_file.read_text()) if zoo_file.exists() else {"variants": {}}
    zoo["variants"][entry["variant"]] = entry
    zoo["references"] = REFERENCES
    write_json(zoo_file, zoo)
    return entry


def table(zoo: dict) -> str:
    lines = [
        "| variant | parameters | MACs | float acc. | int8 TFLite acc. | int8 ONNX acc. | int8 TFLite size | "
        "int8 ONNX size | TFLM arena | int8 TFLite p50 | int8 ONNX p50 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in zoo["variants"].values():
        lines.append(
            f"| {v['variant']} | {v['params']:,} | {_maybe(v.get('macs'), '{:,}')} | {v['float_accuracy']:.2%} | "
            f"{v['tflite_int8_accuracy']:.2%} | {v['onnx_int8_accuracy']:.2%} | "
            f"{v['tflite_int8_size_bytes'] / 1024:.1f} KiB | {v['onnx_int8_size_bytes'] / 1024:.1f} KiB | "
            f"{_maybe(v.get('tflm_arena_bytes'), '{:,} B')} | {v['tflite_int8_latency_p50_ms']:.3f} ms | "
            f"{v['onnx_int8_latency_p50_ms']:.3f} ms |")
    return "\n".join(lines)


def _maybe(value, form: str) -> str:
    return "not measured" if value is None else form.format(value)


def plot(zoo: dict, out: Path) -> None:
    from pipeline.plots import pyplot, save

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.6), sharey=True)
    for axis, key, label in ((axes[0], "size_bytes", "int8 file size (kB)"),
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
            for fmt, marker in (("tflite_int8", "D"), ("onnx_int8", "o")):
                x = v[f"{fmt}_{key}"] / 1024 if key == "size_bytes" else v[f"{fmt}_{key}"]
                axis.scatter(x, v[f"{fmt}_accuracy"] * 100, marker=marker, s=60, color=f"C{index}",
                             label=f"{v['variant']} {fmt}")
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
    axes[1].legend(fontsize=8, loc="lower right")
    fig.suptitle("Model zoo: int8 variants vs published MNIST points (higher and further left is better)")
    save(fig, out)


def run(args, _params) -> str:
    entry = record(args.zoo, args.evaluate, args.train)
    zoo = json.loads(args.zoo.read_text())
    plot(zoo, args.plot)
    print(table(zoo))
    return f"recorded {entry['variant']} in {args.zoo}; {len(zoo['variants'])} variant(s) drawn in {args.plot}"


def arguments(parser) -> None:
    parser.add_argument("--evaluate", type=Path, default=Path("metrics/evaluate.json"))
    parser.add_argument("--train", type=Path, default=Path("metrics/train.json"))
    parser.add_argument("--zoo", type=Path, default=ZOO_FILE)
    parser.add_argument("--plot", type=Path, default=Path("plots/zoo.png"))


STAGE = Stage("zoo", __doc__.splitlines()[0], run, None, arguments, catches=(OSError, KeyError, ValueError))
main = STAGE.main

if __name__ == "__main__":
    sys.exit(main())
