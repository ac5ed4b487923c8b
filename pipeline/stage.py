"""The one runner behind every DVC stage: arguments, typed params, signals, one-line errors.

A stage module declares a `Stage` (its arguments, the typed params it reads, the work, and
the project error types it expects) and calls `STAGE.main()`. The runner validates params
before the work imports anything heavy, makes SIGTERM unwind like Ctrl-C so that atomic
writes clean up, and turns the declared errors into `<stage>: error: <one line>` and exit 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.params import PARAMS_FILE, ParamsError, read_params

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so `finally` blocks and atomic writes clean up."""


def _raise_terminated(signum: int, _frame: Any) -> None:
    raise Terminated()


def install_signal_handlers() -> None:
    """Make SIGTERM unwind the stack (running cleanups) like Ctrl-C does."""
    signal.signal(signal.SIGTERM, _raise_terminated)


def one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@dataclass(frozen=True)
class Stage:
    name: str
    description: str
    run: Callable[[argparse.Namespace, Any], str | None]  # the work; returns the closing line
    params: Callable[[dict], Any] | None = None  # builds the stage's typed params from params.yaml
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    catches: tuple[type[Exception], ...] = field(default=())  # the project errors this stage expects

    def main(self, argv: list[str] | None = None) -> int:
        parser = argparse.ArgumentParser(prog=f"python -m pipeline.{self.name}", description=self.description)
        self.arguments(parser)
        parser.add_argument("--params", type=Path, default=PARAMS_FILE, help="default: params.yaml")
        args = parser.parse_args(argv)
        install_signal_handlers()
        try:
            params = self.params(read_params(args.params)) if self.params else None
            closing = self.run(args, params)
        except (ParamsError, *self.catches) as error:
            print(f"{self.name}: error: {one_line(error)}", file=sys.stderr)
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
