"""Name the digit in each picture: python -m runtime.classify PATH [PATH ...]

Folders are searched recursively. One line per image, in text or JSON. Exit status:
0 if every input was classified, 1 if any failed (or the output could not be written),
2 for a usage error (including a model that cannot be loaded), 130 when interrupted.
"""

from __future__ import annotations

import os
import signal
import sys

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _stop(_signum, _frame) -> None:
    """A stop signal ends the run at once: results printed so far are flushed, the decoding
    workers are killed, one line is written, and the process exits 130.

    Nothing is unwound. Raising KeyboardInterrupt at an arbitrary point instead (as Python's
    default Ctrl-C does) was seen to interrupt a lock's release inside the thread pool
    ("RuntimeError: release unlocked lock") and, rarely, to end the process by SIGINT after the
    line was printed. The CLI writes nothing but stdout, so there is nothing to clean up.
    """
    try:
        sys.stdout.flush()
    except Exception:  # a write this handler interrupted, or a closed pipe: keep what was flushed
        pass
    kill_workers = getattr(sys.modules.get(f"{__package__}.files"), "kill_workers", None)
    if kill_workers is not None:  # else not (fully) imported yet: no worker to stop
        kill_workers()
    try:
        os.write(_STDERR_FD, b"interrupted\n")
    except OSError:  # stderr closed (`2>&-`): the exit code still says it
        pass
    os._exit(EXIT_INTERRUPTED)


def _install_stop_handlers() -> dict:
    """Install `_stop` for every stop signal; returns the handlers it replaced."""
    global _STDERR_FD
    if _STDERR_FD == 2:
        try:  # the real stderr, kept: an engine silences fd 2 while it loads (engines.quiet_stderr)
            _STDERR_FD = os.dup(2)
        except OSError:
            pass
    return {signum: signal.signal(signum, _stop) for signum in (signal.SIGINT, *STOP_SIGNALS)}


_STDERR_FD = 2
if __name__ == "__main__":  # before the heavy imports: a stop at any moment gives one line
    _install_stop_handlers()

import argparse  # noqa: E402
import json  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

from .digits import NUM_LABELS  # noqa: E402
from .engines import ENGINES  # noqa: E402
from .errors import ClassifierError  # noqa: E402
from .files import BATCH  # noqa: E402


def to_json(result) -> dict:
    """A Result as the CLI's JSON object."""
    if not result.ok:
        failed = {"path": result.path, "error": result.error}
        return {**failed, "note": result.note} if result.note else failed
    if result.reading is not None:
        return _reading_json(result)
    out = {"path": result.path, **_prediction_json(result.prediction)}
    if result.note:
        out["note"] = result.note
    return out


def _prediction_json(p, **extra) -> dict:
    """One Prediction's fields in the CLI's JSON (`extra` before its top k)."""
    return {"label": p.label, "probability": round(p.probability, 6), "uncertain": p.uncertain, **extra,
            "top_k": [[label, round(prob, 6)] for label, prob in p.top_k]}


def _reading_json(result) -> dict:
    """A Result of every digit (`--all`) as the CLI's JSON object: the digits as one string, and each one."""
    reading = result.reading
    out = {"path": result.path, "number": reading.text, "uncertain": reading.uncertain,
           "digits": [_prediction_json(p, box=list(box)) for p, box in zip(reading.digits, reading.boxes, strict=True)]}
    if reading.left_out:
        out["left_out"] = reading.left_out
    if reading.small_marks:
        out["small_marks"] = reading.small_marks
    if result.note:
        out["note"] = result.note
    return out


def classify(classifier, paths: list[str], top_k: int, batch: int = BATCH, processes: bool = True):
    """The CLI's stream of JSON-ready dicts (kept for scripts that used it); see Classifier.classify_paths."""
    return (to_json(result) for result in classifier.classify_paths(paths, top_k, batch, processes))


# Control characters in a file name (a newline would split one result over two lines) are
# escaped as in a Python string; other characters, including bytes that are not UTF-8, print as is.
_CONTROL = {code: f"\\x{code:02x}" for code in (*range(32), 127)} | {10: "\\n", 13: "\\r", 9: "\\t"}


def escape_path(path: str) -> str:
    return path.translate(_CONTROL)


def _next(others, before: str, after: str, form: str = "{} {:.1%}") -> str:
    """The labels after the first of a top k (--top-k), or nothing."""
    return f"{before}{', '.join(form.format(label, p) for label, p in others)}{after}" if others else ""


def format_text(result: dict) -> str:
    if "number" in result:  # every digit (--all)
        digits = ", ".join(f"{d['label']}{'?' if d['uncertain'] else ''} {d['probability']:.1%}{_next(d['top_k'][1:], ' [next: ', ']')}"
                           for d in result["digits"])
        line = f"{escape_path(result['path'])}: {result['number']}{'?' if result['uncertain'] else ''} ({digits})"
        if result.get("left_out"):
            line += f"  ({result['left_out']} mark{'s' if result['left_out'] > 1 else ''} left out: not a digit)"
        if result.get("small_marks"):
            marks = result["small_marks"]
            line += f"  ({marks} small mark{'s' if marks > 1 else ''} among the digits left out: a point or a sign?)"
        if result.get("note"):
            line += f"  ({result['note']})"
        return line
    mark = "?" if result.get("uncertain") else ""
    line = f"{escape_path(result['path'])}: {result['label']}{mark} ({result['probability']:.1%})"
    line += _next(result["top_k"][1:], "  next: ", "", "{} ({:.1%})")
    if result.get("note"):  # several digits seen, an animation's first frame...
        line += f"  ({result['note']})"
    return line


def _prog() -> str:
    """The command as it was run, for usage and errors: `python -m runtime.classify` in a checkout,
    `python -m edge_digits.classify` or `classify-digit` from the wheel (where `runtime` is no module)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name.endswith(".classify"):
        return f"python -m {spec.name}"
    command = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return command if command.startswith("classify-digit") else f"python -m {__package__}.classify"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=_prog(), description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument("--model", type=_model_path, help="a .tflite or .onnx model, the .cc of a TFLite Micro build, or the .c of the plain C "
                        "build (default: the bundled int8 model)")
    parser.add_argument("--engine", choices=list(ENGINES), help="default: from the suffix")
    parser.add_argument("--top-k", type=int, default=1, metavar="K", help="also report the K best labels")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--all", action="store_true",
                        help="read every digit in a picture, left to right, as one number (a year, a meter reading)")
    parser.add_argument("--min-confidence", type=float, default=0.0, metavar="P",
                        help="mark answers whose probability is under P (0-1) as uncertain: '7? (41.0%%)' in text, "
                             '"uncertain": true in JSON')
    parser.add_argument("--always-digit", action="store_true",
                        help='for pictures known to hold a digit: answer the likeliest digit where the model answers '
                             '"not a digit" (a blank or noisy picture is still "no digit found")')
    parser.add_argument("--batch-size", type=int, default=BATCH, help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else list(argv)
    # A file whose name starts with "-" reads as an option: name it, and the way to pass it.
    at = next((i for i, arg in enumerate(argv) if arg.startswith("-") and arg != "--" and os.path.isfile(arg)), None)
    hint = ""
    if at is not None:
        rest = argv[at:]
        fixed = (" ".join([*argv[:at], "--", *rest]) if not any(arg.startswith("-") and not os.path.isfile(arg) for arg in rest)
                 else f"[options] -- {' '.join(arg for arg in rest if os.path.isfile(arg))}")
        hint = f"{argv[at]!r} is a file, read as an option: put -- before the file names (python -m runtime.classify {fixed})"
    # One line, not argparse's usage block; where a file read as an option, that comes first.
    parser.error = lambda message: _usage_error(parser, f"{hint} ({message})" if hint else message)
    args = parser.parse_args(argv)
    if not 1 <= args.top_k <= NUM_LABELS:
        parser.error(f"--top-k must be between 1 and {NUM_LABELS}, got {args.top_k}")
    if args.batch_size < 1:
        parser.error("--batch-size must be >= 1")
    if not 0.0 <= args.min_confidence <= 1.0:
        parser.error(f"--min-confidence must be between 0 and 1, got {args.min_confidence}")
    if any(path == "" for path in args.paths):
        parser.error("an empty PATH was given (to classify the current folder, pass '.')")
    return args


def _model_path(text: str) -> Path:
    if not text.strip():  # Path("") is ".", the current folder: say what was given
        raise argparse.ArgumentTypeError("an empty model path was given; pass a .tflite, .onnx or .cc file")
    return Path(text)


def _usage_error(parser: argparse.ArgumentParser, message: str) -> None:
    """A usage error in one line, pointing to --help; exit 2, as argparse's own."""
    parser.exit(EXIT_USAGE, f"{parser.prog}: error: {message} (see --help)\n")


def _reconfigure_streams() -> None:
    """File names that are not valid UTF-8 are printed as their original bytes, never an error."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")


def _silence_stdout() -> None:
    """After a failed write, stop Python from failing again when it flushes stdout at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as the CLI's other lines: `warning: <message>` on stderr, no source location."""
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None, *, keep_stop_handlers: bool = False) -> int:
    """The CLI. Called from Python, it puts the caller's signal handlers back when it returns; the
    command itself keeps its own (`keep_stop_handlers`) until the process exits, so a stop signal
    in the last moments still ends it with "interrupted" and 130, never with the default action."""
    args = parse_args(argv)
    if sys.stdout is None:  # started with stdout closed (`>&-`): the results would go nowhere
        if sys.stderr is not None:
            print("error: standard output is closed; redirect the results to a file or a pipe", file=sys.stderr)
        return EXIT_USAGE
    if sys.stderr is None:  # started with stderr closed (`2>&-`): print(file=None) would write errors to stdout
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    _reconfigure_streams()
    # Ctrl-C, a supervisor's stop (SIGTERM) and a closed terminal (SIGHUP) all end the run at once.
    previous = _install_stop_handlers()
    try:
        with warnings.catch_warnings():  # restores the caller's warning display afterwards
            warnings.showwarning = _show_warning
            return _run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if not keep_stop_handlers:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def cli() -> None:
    """The `classify-digit` command and `python -m runtime.classify`."""
    sys.exit(main(keep_stop_handlers=True))


def _run(args: argparse.Namespace) -> int:
    from .model import Classifier

    try:
        classifier = Classifier.load(args.model, args.engine, always_digit=args.always_digit)
    except ClassifierError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    failed = 0
    try:
        for result in classifier.classify_paths(args.paths, args.top_k, args.batch_size, processes=True,
                                                min_confidence=args.min_confidence, every=args.all):
            line = to_json(result)
            if not result.ok:
                failed += 1
                if args.json:
                    print(json.dumps(line))
                else:
                    note = f"  ({result.note})" if result.note else ""  # a photo left on its side...
                    print(f"{escape_path(result.path)}: error: {result.error}{note}", file=sys.stderr)
            else:
                print(json.dumps(line) if args.json else format_text(line))
        sys.stdout.flush()
    except BrokenPipeError:  # `classify ... | head` is fine
        _silence_stdout()
        return EXIT_FAILED if failed else 0
    except OSError as error:  # stdout on a full disk, a closed terminal...
        _silence_stdout()
        print(f"error: cannot write the results ({error.strerror or error})", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if failed else 0


if __name__ == "__main__":
    cli()
