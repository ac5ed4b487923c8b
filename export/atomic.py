"""All-or-nothing file output: write to a temporary sibling, then rename over the target.

A killed process therefore leaves either the previous file (or folder) or the complete new
one, never a half-written one. It lives in `export/` so that the pipeline stages and the
exporters share it while imports still flow one way: pipeline -> export -> runtime.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success rename it to `target`."""
    target = Path(target)
    with _named(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; outputs get the usual mode
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield an empty temporary folder beside `target`; on success it replaces `target` whole.

    The swap is two renames (old aside, new in), so a kill between them can leave the new
    folder beside a `.old` one, never a mix of old and new files inside `target`.
    """
    target = Path(target)
    with _named(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    aside = target.with_name(f".{target.name}.old")
    try:
        yield tmp
        shutil.rmtree(aside, ignore_errors=True)
        if target.exists():
            os.replace(target, aside)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def _named(target: Path) -> Iterator[None]:
    """An OSError from making the temporary sibling names the target the caller asked for, not the
    temporary name it never chose."""
    try:
        yield
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(target)) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(target: Path | str, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_json(target: Path | str, obj: Any) -> Path:
    return write_bytes(target, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())
