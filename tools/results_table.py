"""Print the README's results table from metrics/evaluate.json (the committed run's figures);
the evaluate stage writes the same table into docs/figures/evaluate.md.

    python -m tools.results_table [metrics/evaluate.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.report import results_table
from tools.figures import tool_parser


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("python -m tools.results_table", __doc__)
    parser.add_argument("metrics", nargs="?", type=Path, default=Path("metrics/evaluate.json"),
                        help="the evaluate stage's metrics (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        metrics = json.loads(args.metrics.read_text())
        table = results_table(metrics)
    except FileNotFoundError:
        print(f"results_table: error: {args.metrics}: no such file; run the pipeline first (make pipeline)",
              file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"results_table: error: {args.metrics}: not the evaluate stage's metrics ({type(error).__name__}: "
              f"{str(error).splitlines()[0] if str(error) else ''})", file=sys.stderr)
        return 1
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
