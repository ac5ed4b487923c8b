"""Print the README's results table from metrics/evaluate.json (the committed run's figures):

    python -m tools.results_table [metrics/evaluate.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HEADER = ("| format | accuracy | agreement with reference | max abs diff | size | p50 batch-1 | p99 batch-1 | "
          "throughput (batch 256) | real-world accuracy | ECE MNIST | ECE real-world | non-digits rejected |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def table(result: dict) -> str:
    lines = [HEADER]
    for name, row in result["formats"].items():
        reference = row.get("reference")
        agreement = "(the reference)" if reference is None and name == "keras_float" else \
            f"{row['agreement']:.2%} vs {reference or 'keras_float'}"
        size = f"{row['size_bytes'] / 1024:.1f} kB" + (" (.h5)" if name.startswith("keras") else "")
        throughput = f"{row['throughput_per_s']:,.0f}/s" if "throughput_per_s" in row else "(batch 1 only)"
        lines.append(f"| `{name}` | {row['accuracy']:.2%} | {agreement} | {row['max_abs_diff']:.2g} | {size} | "
                     f"{row['latency_p50_ms']:.3f} ms | {row['latency_p99_ms']:.3f} ms | {throughput} | "
                     f"{row['realworld_accuracy']:.2%} | {row['ece']:.2%} | {row['realworld_ece']:.2%} | "
                     f"{row['nondigit_rejection']:.0%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    path = Path((argv if argv is not None else sys.argv[1:] or ["metrics/evaluate.json"])[0])
    print(table(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
