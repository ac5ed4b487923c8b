"""What the benchmarks share: their command-line checks, and the Markdown page each one writes
of what it printed (docs/figures/bench.md, bench_app.md), naming the command that made it."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path


def figures_path(parser: argparse.ArgumentParser, path: Path | None, option: str = "--figures") -> Path | None:
    """--figures PATH (or `option`): refused at once (before minutes of timing) if it cannot be written there,
    or if it is something other than a plain file (a device, a link), which the page would replace."""
    if path is not None and (path.is_symlink() or (path.exists() and not path.is_file() and not path.is_dir())):
        parser.error(f"{option} {path}: not a plain file; give the path of a Markdown page")
    if path is not None and (path.is_dir() or not path.parent.is_dir()):
        parser.error(f"{option} {path}: " + ("is a folder" if path.is_dir() else f"no such folder {path.parent}"))
    if path is not None and not os.access(path.parent, os.W_OK):
        parser.error(f"{option} {path}: cannot write in {path.parent}")
    return path


def write_figures(path: Path, title: str, command: str, facts: str, lines: list[str]) -> None:
    """A Markdown page of what a benchmark printed, written all at once (a temporary sibling, then
    a rename), so an interrupted run leaves the previous page or the new one, never half of one."""
    from export.atomic import write_bytes

    block = "\n".join(lines)
    text = f"# {title}\n\nWritten by `{command}`; do not edit.\n\n{facts}\n\n```\n{block}\n```\n"
    try:
        write_bytes(path, text.encode())
    except OSError as error:  # what was measured is printed above; the page alone is lost
        raise SystemExit(f"{path}: cannot write the page ({error.strerror}); the figures are printed above") from None


def run_tool(main) -> None:
    """`sys.exit(main())`, where Ctrl-C (or SIGINT) ends the tool with "interrupted" and 130, as the
    runtime's CLI does, not with a traceback; a page is written all at once, so none is half-written."""
    try:
        code = main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)


def command_line(prog: str, argv: list[str] | None) -> str:
    return " ".join([prog, shlex.join(sys.argv[1:] if argv is None else argv)]).strip()


def tool_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """An argument parser whose --help opens with the docstring's first paragraph, and, where that
    ends in a colon, the example commands it introduces, laid out as written."""
    paragraphs = doc.strip().split("\n\n")
    summary = "\n\n".join(paragraphs[:2] if paragraphs[0].rstrip().endswith(":") else paragraphs[:1])
    # No abbreviations: `--model FILE` would be taken for `--models` and refused as "no such folder".
    return argparse.ArgumentParser(prog=prog, description=summary, formatter_class=argparse.RawDescriptionHelpFormatter,
                                   allow_abbrev=False)


def seconds(text: str) -> float:
    """argparse type: a duration in seconds, more than 0 and finite."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def count(low: int, high: int | None = None):
    """argparse type: a whole number >= low (and <= high, if given), refused in one line otherwise."""
    wanted = f">= {low}" if high is None else f"from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected a whole number {wanted}, got {text!r}")
        return value

    return parse
