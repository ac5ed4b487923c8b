"""Print the README's results table from metrics/evaluate.json (the committed run's figures);
the evaluate stage writes the same table into docs/figures/evaluate.md.

    python -m tools.results_table [metrics/evaluate.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.report import results_table


def main(argv: list[str] | None = None) -> int:
    path = Path((argv if argv is not None else sys.argv[1:] or ["metrics/evaluate.json"])[0])
    print(results_table(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
