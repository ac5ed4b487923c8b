"""Name the digit in each picture: python -m runtime.classify PATH [PATH ...]

Folders are searched recursively. One line per image, in text or JSON. Exit status:
0 if every input was classified, 1 if any failed, 2 for a usage error (including a model
that cannot be loaded).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from runtime.engines import ENGINE_BY_SUFFIX
from runtime.errors import InputError, ClassifierError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".pnm"}
BATCH = 256


def expand(paths: list[str]) -> Iterator[tuple[str, str | None]]:
    """Yield (path, error) per input: files as given, folders as their images, recursively."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = False
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                        found = True
                        yield str(Path(root) / name), None
            if not found:
                yield raw, "folder contains no images"
        elif path.exists():
            yield raw, None
        else:
            yield raw, "no such file or folder"


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _prepare(item: tuple[str, str | None]):
    from runtime.preprocess import preprocess_image

    path, error = item
    if error:
        return path, None, error
    try:
        return path, preprocess_image(path), None
    except InputError as exc:
        return path, None, _strip_path(str(exc), path)
    except Exception as exc:  # never a traceback for one bad file; the others still run
        return path, None, f"cannot read image ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"


def _strip_path(message: str, path: str) -> str:
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def classify(classifier, paths: list[str], top_k: int, batch: int = BATCH) -> Iterator[dict]:
    """Stream results in input order, in batches of `batch`: memory stays flat for any folder size.

    Decoding and preprocessing are Python-heavy, so beyond the first batch they move to a
    pool of worker processes (one per CPU); small jobs never pay for starting it.
    """
    import numpy as np

    from runtime.model import to_prediction

    workers = max(1, min(8, os.cpu_count() or 1))
    processes = None
    try:
        with ThreadPoolExecutor(max_workers=workers) as threads:
            for index, chunk in enumerate(_chunks(expand(paths), batch)):
                if index == 1 and workers > 1:
                    processes = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
                pool = processes or threads
                prepared = list(pool.map(_prepare, chunk, chunksize=16 if processes else 1))
                good = [p for p in prepared if p[1] is not None]
                probabilities = iter(classifier.probabilities(np.stack([p[1] for p in good])) if good else [])
                for path, _image, error in prepared:
                    if error:
                        yield {"path": path, "error": error}
                        continue
                    prediction = to_prediction(next(probabilities), top_k)
                    yield {
                        "path": path,
                        "label": prediction.label,
                        "probability": round(prediction.probability, 6),
                        "top_k": [[label, round(p, 6)] for label, p in prediction.top_k],
                    }
    finally:
        if processes is not None:
            processes.shutdown(cancel_futures=True)


def format_text(result: dict) -> str:
    line = f"{result['path']}: {result['label']} ({result['probability']:.1%})"
    others = result["top_k"][1:]
    if others:
        line += "  next: " + ", ".join(f"{label} ({p:.1%})" for label, p in others)
    return line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m runtime.classify", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument("--model", type=Path, help="a .tflite or .onnx model (default: the bundled int8 model)")
    parser.add_argument("--engine", choices=sorted(set(ENGINE_BY_SUFFIX.values())), help="default: from the suffix")
    parser.add_argument("--top-k", type=int, default=1, metavar="K", help="also report the K best labels")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--batch-size", type=int, default=BATCH, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.top_k <= 10:
        parser.error(f"--top-k must be between 1 and 10, got {args.top_k}")
    if args.batch_size < 1:
        parser.error("--batch-size must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from runtime.model import Classifier

    try:
        classifier = Classifier.load(args.model, args.engine)
    except ClassifierError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = 0
    try:
        for result in classify(classifier, args.paths, args.top_k, args.batch_size):
            if "error" in result:
                failed += 1
                if args.json:
                    print(json.dumps(result), flush=False)
                else:
                    print(f"{result['path']}: error: {result['error']}", file=sys.stderr)
            else:
                print(json.dumps(result) if args.json else format_text(result))
    except BrokenPipeError:  # `classify ... | head` is fine
        sys.stderr.close()
        return 1 if failed else 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
