"""Many image files in, one result per file out, in order, with flat memory.

Folders are walked recursively (symlinked sub-folders are reported, not followed, so a link
loop cannot run forever), only regular files are opened (a FIFO would block), and every file
that cannot be classified gets its own error while the others are still answered. Decoding
runs in a thread pool, or, when asked (the CLI does), in worker processes beyond the first
batch; those ignore Ctrl-C and the parent tears the pool down, so an interrupt never leaves a
process behind.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import stat
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".pnm"}
BATCH = 256
POOL_CHUNK = 16


def expand(paths: Iterable[str | os.PathLike]) -> Iterator[tuple[str, str | None]]:
    """Yield (path, error) per input: files as given, folders as their images, recursively."""
    for raw in paths:
        raw = os.fspath(raw)
        if raw == "":
            yield raw, "empty path"
            continue
        try:
            mode = os.stat(raw).st_mode
        except FileNotFoundError:
            yield raw, "no such file or folder"
            continue
        except OSError as error:
            yield raw, f"cannot read ({error.strerror})"
            continue
        if stat.S_ISDIR(mode):
            yield from _walk(raw)
        elif stat.S_ISREG(mode):
            yield raw, None
        else:
            yield raw, "not a regular file"


def _walk(folder: str) -> Iterator[tuple[str, str | None]]:
    found = False
    for root, dirs, files in os.walk(folder, onerror=None):
        dirs.sort()
        for name in list(dirs):
            if os.path.islink(os.path.join(root, name)):
                dirs.remove(name)
                found = True
                yield os.path.join(root, name), "symlinked folder not followed; pass it explicitly to classify it"
        for name in sorted(files):
            if Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            path = os.path.join(root, name)
            found = True
            try:
                regular = stat.S_ISREG(os.stat(path).st_mode)
            except OSError:
                regular = False
            yield path, None if regular else "not a regular file"
    if not found:
        yield folder, "folder contains no images"


def prepare(item: tuple[str, str | None]):
    """(path, error) -> (path, 28x28x1 image or None, error or None, note or None). Never raises."""
    from runtime.errors import InputError
    from runtime.preprocess import animation_note, open_image, preprocess_image

    path, error = item
    if error:
        return path, None, error, None
    try:
        image = open_image(path)  # opened once: the note comes from the same decode
        return path, preprocess_image(image), None, animation_note(image)
    except InputError as exc:
        return path, None, _strip_path(str(exc), path), None
    except Exception as exc:  # never a traceback for one bad file; the others still run
        detail = str(exc).splitlines()[0] if str(exc) else ""
        return path, None, f"cannot read image ({type(exc).__name__}: {detail})", None


def _strip_path(message: str, path: str) -> str:
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; workers never print a traceback


def chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _can_spawn() -> bool:
    """Spawned workers re-import the main module: impossible from stdin or `python -c`."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    return path is None or os.path.isfile(path)


def prepared_batches(paths: Iterable[str | os.PathLike], batch: int = BATCH,
                     processes: bool = False) -> Iterator[list[tuple]]:
    """Batches of `prepare` results, in input order, decoded by a pool of one worker per CPU.

    Threads by default: safe in any program. `processes=True` uses worker processes instead
    (faster: preprocessing is partly Python), started after the first batch so that small jobs
    never pay for them; like any spawned pool, that needs the calling script to guard its entry
    point with `if __name__ == "__main__":` (the CLI does).
    """
    workers = max(1, min(8, os.cpu_count() or 1))
    use_processes = processes and workers > 1 and _can_spawn()
    pool = None
    threads = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        for index, chunk in enumerate(chunks(expand(paths), batch)):
            if index == 1 and use_processes:
                pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_ignore_sigint)
            if pool is not None:
                yield pool.map(prepare, chunk, chunksize=POOL_CHUNK)
            elif threads is not None:
                yield list(threads.map(prepare, chunk))
            else:
                yield [prepare(item) for item in chunk]
        if pool is not None:
            pool.close()
            pool.join()
            pool = None
    finally:
        if threads is not None:
            threads.shutdown(wait=True, cancel_futures=True)
        if pool is not None:  # interrupted, or the consumer stopped early: stop the workers now
            pool.terminate()
            pool.join()
