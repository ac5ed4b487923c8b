"""The Markdown tables of figures the stages write into docs/figures/, so that no figure in the
docs or the README is typed by hand. Each file names the stage and the metrics file it came from."""

from __future__ import annotations

from pathlib import Path

from export.atomic import write_bytes

RESULTS_HEADER = (
    "| format | accuracy | agreement with reference | max abs diff | size | p50 batch-1 | p99 batch-1 | "
    "throughput (batch {batch}) | real-world accuracy | ECE MNIST | ECE real-world | non-digits rejected |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
FOOTPRINT_HEADER = ("| file | model data (flash) | source | arena (RAM) | MACs per inference | ops |\n"
                    "|---|---:|---:|---:|---:|---|")
FOOTPRINT_NOTE = ("*Model data* is the .tflite file that `tflm_int8` reads, and the weight arrays of `c_int8`; the code "
                  "that runs them (the interpreter, the kernels and their layer tables) comes on top. "
                  "The arena of `tflm_int8` is what TFLite Micro's allocator reports on the host; that of `c_int8` "
                  "is the static buffer the generator sizes exactly. Neither counts the stack: `make test-mcu` "
                  "measures flash, RAM and instructions on an emulated Cortex-M4 (docs/figures/mcu.md).")


def kib(size_bytes: int) -> str:
    """A file size as the tables and logs print it (KiB, one decimal)."""
    return f"{size_bytes / 1024:.1f} KiB"


def results_table(result: dict) -> str:
    """One line per evaluated file (the Keras references first), from metrics/evaluate.json."""
    lines = [RESULTS_HEADER.format(batch=result.get("throughput_batch", 256))]  # 256: files before it was recorded
    for name, row in result["formats"].items():
        reference = row.get("reference")
        agreement = "(the reference)" if name == "keras_float" else f"{row['agreement']:.2%} vs {reference or 'keras_float'}"
        size = kib(row["size_bytes"]) + (" (.h5)" if name.startswith("keras") else "")
        lines.append(f"| `{name}` | {row['accuracy']:.2%} | {agreement} | {row['max_abs_diff']:.2g} | {size} | "
                     f"{row['latency_p50_ms']:.3f} ms | {row['latency_p99_ms']:.3f} ms | {row['throughput_per_s']:,.0f}/s | "
                     f"{row['realworld_accuracy']:.2%} | {row['ece']:.2%} | {row['realworld_ece']:.2%} | "
                     f"{row['nondigit_rejection']:.0%} |")
    return "\n".join(lines)


def open_set_table(result: dict) -> str:
    """Per format, the held-out non-digits rejected and the digits kept, at the runtime's defaults
    and at 99% MNIST digit recall, from metrics/evaluate.json."""
    rows = {name: row for name, row in result["formats"].items() if "heldout_nondigit_rejection" in row}
    if not rows:
        return ""
    lines = [f"Non-digits: {result['heldout_nondigits']:,} held-out letters, symbols, shapes and scribbles "
             "(`realworld/heldout_nondigits`, tools/make_nondigits.py: letters p-z and symbols that training never "
             f"draws, in fonts it never uses; {result['heldout_refused_by_finder']} refused by the digit finder). "
             "*Defaults*: what `python -m runtime.classify` and `Classifier.predict` do with no flag (no digit found, "
             "or \"not a digit\" as the answer). *At 99% recall*: a threshold on the top digit probability that "
             "keeps 99% of MNIST's test digits. Curves: [plots/open_set.png](../../plots/open_set.png).\n",
             "*Right, always a digit*: the digits answered right with `--always-digit` "
             "(`Classifier.load(always_digit=True)`: the likeliest digit where the model answers \"not a digit\"), "
             "which gives up the rejection: on MNIST's test set, what the digits alone are worth.\n",
             "| format | rejected, defaults | MNIST digits kept | real-world digits kept | rejected at 99% recall "
             "| MNIST right, always a digit | real-world right, always a digit |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, row in rows.items():
        lines.append(f"| `{name}` | {row['heldout_nondigit_rejection']:.1%} | {row['mnist_digit_recall']:.2%} | "
                     f"{row['realworld_digit_recall']:.2%} | {row['heldout_rejection_at_99_recall']:.1%} | "
                     f"{row['mnist_accuracy_always_digit']:.2%} | {row['realworld_accuracy_always_digit']:.2%} |")
    return "\n".join(lines)


def scenes_table(result: dict) -> str:
    """Per format, accuracy in every camera-like scene and the share of pictures answered wrong with
    confidence, from metrics/evaluate.json (empty where the stage ran without scenes)."""
    rows = {name: row for name, row in result["formats"].items() if "scenes" in row}
    if not rows:
        return ""
    names = list(next(iter(rows.values()))["scenes"])
    lines = [f"Camera-like pictures, split `{result['scene_split']}` of `tools/make_scenes.py` "
             f"({result['scene_digits']:,} digits, {result['scene_nondigits']:,} non-digit twins; nothing was "
             "tuned on this split). A refused digit counts as wrong; *wrong, sure*: wrong with a probability of "
             "`evaluate.min_confidence` or more; *twins rejected*: the non-digit twins refused or under it.\n",
             "| format | " + " | ".join(names) + " | all scenes | wrong, sure | twins rejected |",
             "|---|" + "---:|" * (len(names) + 3)]
    for name, row in rows.items():
        cells = " | ".join(f"{row['scenes'][scene]['accuracy']:.1%}" for scene in names)
        lines.append(f"| `{name}` | {cells} | {row['scenes_accuracy']:.2%} | {row['scenes_confident_wrong']:.2%} | "
                     f"{row['scenes_nondigit_rejection']:.0%} |")
    return "\n".join(lines)


def footprint_table(result: dict) -> str:
    """The microcontroller columns of the files that have them (a format row's `footprint`)."""
    lines = [FOOTPRINT_HEADER]
    for name, row in result["formats"].items():
        if "arena_bytes" in row:
            lines.append(f"| `{name}` | {row['size_bytes']:,} B | {row['source_bytes']:,} B | {row['arena_bytes']:,} B | "
                         f"{row['macs']:,} | {', '.join(row['ops'])} |")
    return "\n".join(lines) + "\n\n" + FOOTPRINT_NOTE if len(lines) > 1 else ""


def write(path: Path, title: str, source: str, *tables: str) -> Path:
    """A figures file: a title, where the figures come from, and the tables."""
    body = "\n\n".join(t for t in tables if t)
    text = f"# {title}\n\nWritten by {source}; do not edit.\n\n{body}\n"
    return write_bytes(path, text.encode())
