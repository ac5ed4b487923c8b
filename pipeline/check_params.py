"""Stage `check_params`: validate all of params.yaml before any other stage runs.

Every other stage depends on this stage's output, so `dvc repro` stops here on a bad value,
before DVC removes any stage's outputs to re-run it. The output's content does not change
with the values, so a valid edit re-runs only the stages whose params it touches.
"""

from __future__ import annotations

import sys
from pathlib import Path

from export.atomic import write_json
from pipeline.params import validate_all
from pipeline.stage import Stage, first_paragraph


def run(args, sections: list[str]) -> str:
    write_json(args.out, {"valid": True, "sections": sections})
    return f"{args.params}: {', '.join(sections)} valid"


STAGE = Stage(
    "check_params", first_paragraph(__doc__), run, validate_all,
    arguments=lambda parser: parser.add_argument("--out", type=Path, default=Path("metrics/params_check.json")),
    outputs=("out",),
)
main = STAGE.main

if __name__ == "__main__":
    sys.exit(main())
