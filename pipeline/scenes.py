"""Stage `scenes`: make the camera-like pictures that the evaluate stage scores per scene.

The `report` split of tools/make_scenes.py (ruled and squared paper, light falling off and soft
shadows, a small digit in a large frame, a whiteboard with glare, chalk on a dark board, seven-segment
displays, tight crops, and a non-digit twin of each scene), which nothing in the runtime was tuned
on: the `tune` split is for that. Deterministic under its seed; written to a staging folder and
moved into place, so an interrupted run leaves the old pictures or none.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from pipeline.mnist import DataError, load_arrays
from pipeline.stage import Stage, first_paragraph


def run(args, _params) -> str:
    from tools.make_scenes import SCENES, make

    args.out = args.out if args.out is not None else Path("scenes") / args.split
    load_arrays(args.data, ("x_test", "y_test"))  # a missing or wrong file says so, in the stage's words
    staging = args.out.with_name(args.out.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        written = make(args.split, staging, mnist=args.data)
    except BaseException:  # stopped (Ctrl-C, SIGTERM) or failed: no half-drawn staging folder is left
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(args.out, ignore_errors=True)
    staging.rename(args.out)
    return f"{len(written)} pictures in {len(SCENES)} scenes, split {args.split}, in {args.out}"


def arguments(parser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/mnist.npz"))
    parser.add_argument("--split", choices=("tune", "report"), default="report")
    parser.add_argument("--out", type=Path, default=None,
                        help="(default: scenes/<split>; the tune split never lands on the report split's folder)")


STAGE = Stage("scenes", first_paragraph(__doc__), run, None, arguments, catches=(DataError,),
              output_folders=("out",))
main = STAGE.main

if __name__ == "__main__":
    sys.exit(main())
