"""Many image files in, one result per file out, in order, with flat memory.

Folders are walked recursively (symlinked sub-folders are reported, not followed, so a link
loop cannot run forever), only regular files are opened (a FIFO would block), and every file
that cannot be classified gets its own error while the others are still answered. Decoding
runs in a thread pool, or, when asked (the CLI does), in worker processes beyond the first
batch. The workers leave the caller's process group, so a signal sent to the group (Ctrl-C in
a terminal, `systemctl stop`, `docker stop` of a shell entry point) reaches the parent alone,
which tears the pool down: a worker killed by that signal while holding the pool's queue lock
would leave the parent waiting on the lock forever. An interrupt never leaves a process behind.
"""

from __future__ import annotations

import functools
import multiprocessing
import multiprocessing.context
import multiprocessing.pool
import os
import signal
import stat
import sys
import weakref
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import WorkerStartError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".mpo", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".avif",
                  ".heic", ".heif", ".hif", ".pgm", ".ppm", ".pbm", ".pnm"}
# In a folder, macOS's AppleDouble files ("._IMG_0002.JPG": a copied file's metadata, beside it on a
# USB stick or a network share) are not pictures: they are left out, as the files they describe are read.
APPLE_DOUBLE = "._"
BATCH = 256
POOL_CHUNK = 16
BROKEN_LINK = "broken symbolic link (its target does not exist)"


def expand(paths: Iterable[str | os.PathLike]) -> Iterator[tuple[str, str | None]]:
    """Yield (path, error) per input: files as given, folders as their images, recursively."""
    for raw in paths:
        if not isinstance(raw, (str, bytes, os.PathLike)):
            yield repr(raw), f"not a path ({type(raw).__name__}); pass a file or folder name"
            continue
        if isinstance(raw, bytes) and b"\0" in raw:  # no file name holds a NUL: an image's contents, likely
            yield (f"<{len(raw):,} bytes>", "not a file name (it holds a NUL byte); pass an image's contents to "
                   "predict or predict_batch, and file names here")
            continue
        raw = os.fsdecode(raw)  # bytes paths too; names that are not UTF-8 round-trip
        if raw == "":
            yield raw, "empty path"
            continue
        try:
            mode = os.stat(raw).st_mode
        except FileNotFoundError:
            yield raw, BROKEN_LINK if os.path.islink(raw) else "no such file or folder"
            continue
        except PermissionError:
            yield raw, "permission denied"
            continue
        except OSError as error:
            yield raw, f"cannot read ({error.strerror})"
            continue
        except ValueError:  # a NUL byte: no file can have that name
            yield raw, "not a valid path (it holds a NUL byte)"
            continue
        if stat.S_ISDIR(mode):
            yield from _walk(raw)
        elif stat.S_ISREG(mode):
            yield raw, None
        else:
            yield raw, "not a regular file"


def _walk(folder: str) -> Iterator[tuple[str, str | None]]:
    found = False
    unreadable: list[OSError] = []
    for root, dirs, files in os.walk(folder, onerror=unreadable.append):
        while unreadable:  # a sub-folder os.walk could not list
            error = unreadable.pop()
            found = True
            yield error.filename or root, _listing_error(error)
        dirs.sort()
        for name in list(dirs):
            if os.path.islink(os.path.join(root, name)):
                dirs.remove(name)
                found = True
                yield os.path.join(root, name), "symlinked folder not followed; pass it explicitly to classify it"
        for name in sorted(files):
            if Path(name).suffix.lower() not in IMAGE_SUFFIXES or name.startswith(APPLE_DOUBLE):
                continue
            path = os.path.join(root, name)
            found = True
            try:
                error = None if stat.S_ISREG(os.stat(path).st_mode) else "not a regular file"
            except FileNotFoundError:
                error = BROKEN_LINK if os.path.islink(path) else "no such file or folder"
            except OSError as exc:
                error = _listing_error(exc)
            yield path, error
    for error in unreadable:  # the folder itself could not be listed
        found = True
        yield error.filename or folder, _listing_error(error)
    if not found:
        yield folder, "folder contains no images"


def _listing_error(error: OSError) -> str:
    if isinstance(error, PermissionError):
        return "permission denied"
    return f"cannot read ({error.strerror or type(error).__name__})"


def prepare(item: tuple[str, str | None], every: bool = False):
    """(path, error) -> (path, its Prepared (runtime.preprocess) or None, error or None, note or None, digits seen).
    With `every`: (path, (n, 28, 28, 1) images of every digit, left to right, or None, error or
    None, note or None, (their boxes, their parts, the marks left out beside them and among each one's parts: PreparedDigits)). Never raises."""
    from .errors import InputError
    from .preprocess import prepare_digits, prepare_image

    path, error = item
    if error:
        return path, None, error, None, 0
    try:
        if every:
            digits = prepare_digits(path)
            return path, digits.tensors, None, digits.note, (digits.boxes, digits.parts, digits.marks, digits.part_marks)
        prepared = prepare_image(path)
        return path, prepared, None, prepared.note, prepared.digits
    except InputError as exc:
        return path, None, _strip_path(str(exc), path), exc.note, 0
    except Exception as exc:  # never a traceback for one bad file; the others still run
        detail = str(exc).splitlines()[0] if str(exc) else ""
        return path, None, f"cannot read image ({type(exc).__name__}: {detail})", None, 0


def _strip_path(message: str, path: str) -> str:
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def _leave_process_group(parent: int) -> None:
    """Pool worker start-up: signals to the caller's group reach the parent only (see the module
    docstring); the parent stops the workers itself. Ctrl-C is ignored in case the worker is
    signalled directly, so that it never prints a traceback. `parent` is the pid of the process
    that started the pool."""
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this worker when the process that started it ends. A parent that
    stops at once (the CLI on a stop signal) cannot reach a worker it was still starting, and a
    worker killed while holding the task queue's lock would leave the others waiting on it forever.

    `parent` comes from the parent itself, not from `os.getppid()` here: a worker whose parent
    ended while the worker was still starting has already been re-parented (to init or a
    subreaper), and asking the kernel to follow that new parent would leave it waiting on the
    task queue for ever, holding the queue's other end open itself."""
    if os.getppid() != parent:  # the parent ended while this worker was starting
        os._exit(1)
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent ended before the request was made
        os._exit(1)


class _QuietSpawnProcess(multiprocessing.context.SpawnProcess):
    """A spawned worker whose stderr is /dev/null from its first instruction: a stop signal that
    reaches it in the milliseconds before it leaves the caller's process group, or a parent that
    stops before handing it its task, would make it print a traceback of its own start-up.
    Workers report everything through their results, so nothing is lost."""

    def start(self) -> None:
        from .engines import quiet_stderr

        with quiet_stderr():  # the child inherits fd 2 as it is while it is started
            super().start()
        _WORKERS.add(self)


class _QuietSpawnContext(multiprocessing.context.SpawnContext):
    """One pool's context: it makes the pool's workers, and counts them (`started`), so that a pool
    whose workers keep dying at start-up is told from the pools of other threads' jobs."""

    def __init__(self) -> None:
        super().__init__()
        self.started = 0
        self.Process = self._process  # what the pool calls for each worker it starts, or restarts

    def _process(self, *args, **kwargs) -> _QuietSpawnProcess:
        self.started += 1
        return _QuietSpawnProcess(*args, **kwargs)


_WORKERS: weakref.WeakSet = weakref.WeakSet()  # every decoding worker started, for `kill_workers`
RESTARTS = 2  # a pool that has started this many workers per place has workers that die at start-up
WAIT_S = 0.5  # how often a wait for a batch checks for that
UNGUARDED = ("decoding worker processes keep failing to start: a script that calls classify_paths(processes=True) "
             "must guard its entry point with `if __name__ == \"__main__\":` (each worker runs the script again), "
             "or pass processes=False")


def _start_pool(workers: int):
    """(a pool of `workers` spawned decoding workers, its context, which counts the workers it starts)."""
    from .engines import quiet_stderr

    context = _QuietSpawnContext()
    # The pool's resource tracker starts here too: with /dev/null as its stderr, a parent that
    # ends at once (`kill_workers`, then `os._exit`) leaves no "leaked semaphore" warning behind.
    with quiet_stderr():
        pool = multiprocessing.pool.Pool(workers, initializer=_leave_process_group, initargs=(os.getpid(),),
                                         context=context)
    return pool, context


def kill_workers() -> None:
    """Kill every decoding worker still running (SIGKILL), for a program that must stop at once,
    as the CLI does on a stop signal. Safe from a signal handler: it takes no lock of the pool's.
    A worker not yet reaped cannot have had its pid reused, so no other process is signalled."""
    for worker in list(_WORKERS):
        if worker.exitcode is None:
            try:
                os.kill(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _pool_map(pool, context: _QuietSpawnContext, work, chunk: list, most_started: int) -> list:
    """`pool.map`, which would wait for ever on workers that die as they start (the pool starts
    new ones): WorkerStartError once the pool has started `most_started` workers in all."""
    pending = pool.map_async(work, chunk, chunksize=POOL_CHUNK)
    while not pending.ready():
        pending.wait(WAIT_S)
        if not pending.ready() and context.started > most_started:
            raise WorkerStartError(UNGUARDED)
    return pending.get()


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
                     processes: bool = False, every: bool = False) -> Iterator[list[tuple]]:
    """Batches of `prepare` results, in input order, decoded by a pool of one worker per CPU.

    Threads by default: safe in any program. `processes=True` uses worker processes instead
    (faster: preprocessing is partly Python), started after the first batch so that small jobs
    never pay for them; like any spawned pool, that needs the calling script to guard its entry
    point with `if __name__ == "__main__":` (the CLI does). `every`: every digit of each
    picture (`prepare`).
    """
    if processes and getattr(multiprocessing.current_process(), "_inheriting", False):
        # A spawned worker running the caller's unguarded script again: stop here, not after a batch.
        raise WorkerStartError(UNGUARDED)
    work = functools.partial(prepare, every=every) if every else prepare
    workers = max(1, min(8, os.cpu_count() or 1))
    use_processes = processes and workers > 1 and _can_spawn()
    pool = None
    threads = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        for index, chunk in enumerate(chunks(expand(paths), batch)):
            if index == 1 and use_processes:
                pool, context = _start_pool(workers)
            if pool is not None:
                yield _pool_map(pool, context, work, chunk, (1 + RESTARTS) * workers)
            elif threads is not None:
                yield list(threads.map(work, chunk))
            else:
                yield [work(item) for item in chunk]
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
