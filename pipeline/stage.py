"""The one runner behind every DVC stage: arguments, typed params, signals, one-line errors.

A stage module declares a `Stage` (its arguments, the typed params it reads, the work, and
the project error types it expects) and calls `STAGE.main()`. The runner validates params
before the work imports anything heavy, makes SIGTERM unwind like Ctrl-C so that atomic
writes clean up, and turns the declared errors into `<stage>: error: <one line>` and exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.params import PARAMS_FILE, ParamsError, read_params

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
IMPORTED = time.perf_counter()


def process_started() -> float:
    """When the OS started this process, on the time.perf_counter() clock (to 10 ms), so a stage's wall
    time counts interpreter start-up and imports. Where /proc cannot tell, when this module was imported."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()  # from field 3, after the name
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        age = uptime - int(stat[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start, in ticks since boot
    except (OSError, ValueError, IndexError):
        return IMPORTED
    return time.perf_counter() - age


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so `finally` blocks and atomic writes clean up."""


_received: list[int] = []  # the signals this stage has been sent
_deferred = [False]  # inside a training loop: a signal is raised at the next batch's end (`raise_pending`)


def _on_signal(signum: int, _frame: Any) -> None:
    _received.append(signum)
    if not _deferred[0]:
        raise_pending()


def raise_pending() -> None:
    """Raise the signal this stage was sent (KeyboardInterrupt, or Terminated for SIGTERM), if any. An
    exception raised by the handler itself can be swallowed where the signal lands (inside a garbage
    collector callback, such as JAX's: "Exception ignored in"), or land inside a library's C code and
    break it; training loops call this at every batch's end instead (`deferred_signals`), and the
    runner once more after the work."""
    if _received:
        raise Terminated() if _received[-1] == signal.SIGTERM else KeyboardInterrupt()


@contextlib.contextmanager
def deferred_signals():
    """Within: a signal is recorded, and raised by the next `raise_pending` (the training callbacks')."""
    _deferred[0] = True
    try:
        yield
    finally:
        _deferred[0] = False
    raise_pending()


def install_signal_handlers() -> None:
    """Make SIGTERM unwind the stack (running cleanups) like Ctrl-C does, and record both."""
    _received.clear()
    _deferred[0] = False
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


def one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror and (error.filename2 or error.filename):
        return f"{error.filename2 or error.filename}: {error.strerror}"  # a rename names where it went
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class StageFileError(ValueError):
    """A file that a stage writes, read by another, is not what the stage writes."""


def read_stage_json(path: Path, keys: tuple[str, ...] = (), remedy: str = "run `dvc repro` for it") -> dict:
    """A stage's JSON output: a mapping that holds `keys`; else StageFileError, which names the file and
    `remedy` (every stage reports it in one line)."""
    try:
        loaded = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        raise StageFileError(f"{path}: not the JSON a stage writes ({one_line(error)}); {remedy}") from None
    if not isinstance(loaded, dict):
        raise StageFileError(f"{path}: not the JSON a stage writes (no mapping); {remedy}")
    missing = [key for key in keys if key not in loaded]
    if missing:
        raise StageFileError(f"{path}: not the JSON a stage writes (no {missing[0]!r}); {remedy}")
    return loaded


def first_paragraph(doc: str) -> str:
    """A module docstring's first paragraph, on one line: the stage's --help description."""
    return " ".join(doc.strip().split("\n\n")[0].split())


def check_outputs(args: argparse.Namespace, files: tuple[str, ...], folders: tuple[str, ...]) -> str | None:
    """What is wrong with where the stage will write, before any work: a file named where a folder
    is (or the other way round), or a folder to write in that is a file."""
    for dest, folder in [(dest, False) for dest in files] + [(dest, True) for dest in folders]:
        path = getattr(args, dest, None)
        if path is None:
            continue
        option = "--" + dest.replace("_", "-")
        if not folder and path.is_dir():
            return f"{option} {path}: is a folder; name the file to write"
        if folder and path.exists() and not path.is_dir():
            return f"{option} {path}: is a file; name a folder"
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            return f"{option} {path}: {parent} is a file, not a folder"
        if parent is not None:  # found now, not after hours of training: try it (root ignores permission bits)
            try:
                with tempfile.TemporaryFile(dir=parent):
                    pass
            except OSError as error:
                return f"{option} {path}: cannot write in {parent} ({error.strerror}); choose a folder you can write to"
    return None


@dataclass(frozen=True)
class Stage:
    """`run(args, params)` gets the parsed arguments, with `args.started`: when the stage started on the
    time.perf_counter() clock (the process's start for the command line, `main()` without argv; the
    call's for `main(argv)` from Python)."""

    name: str
    description: str
    run: Callable[[argparse.Namespace, Any], str | None]  # the work; returns the closing line
    params: Callable[[dict], Any] | None = None  # builds the stage's typed params from params.yaml
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    catches: tuple[type[Exception], ...] = field(default=())  # the project errors this stage expects
    outputs: tuple[str, ...] = ()  # the arguments (dests) that name files the stage writes...
    output_folders: tuple[str, ...] = ()  # ...and folders: checked before any work

    def main(self, argv: list[str] | None = None) -> int:
        started = process_started() if argv is None else time.perf_counter()
        parser = argparse.ArgumentParser(prog=f"python -m pipeline.{self.name}", description=self.description)
        self.arguments(parser)
        parser.add_argument("--params", type=Path, default=PARAMS_FILE, help="the parameters file")
        for action in parser._actions:  # --help shows each option's default, the path dvc.yaml passes too
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                action.help = f"{action.help or ''} (default: %(default)s)".strip()
        args = parser.parse_args(argv)
        args.started = started
        wrong = check_outputs(args, self.outputs, self.output_folders)
        if wrong:
            parser.error(wrong)
        install_signal_handlers()
        try:
            params = self.params(read_params(args.params)) if self.params else None
            closing = self.run(args, params)
            raise_pending()  # a signal whose exception was swallowed: the stage did not finish as asked
        except (ParamsError, StageFileError, OSError, *self.catches) as error:
            message = one_line(error)
            if isinstance(error, ParamsError) and args.params != PARAMS_FILE:  # the file given, by its name
                message = message.replace(f"{PARAMS_FILE}: ", f"{args.params}: ", 1)
            print(f"{self.name}: error: {message}", file=sys.stderr)
            return EXIT_FAILED
        except KeyboardInterrupt:
            print(f"{self.name}: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Terminated:
            print(f"{self.name}: terminated", file=sys.stderr)
            return 128 + signal.SIGTERM
        if closing:
            print(f"{self.name}: {closing}")
        return 0
