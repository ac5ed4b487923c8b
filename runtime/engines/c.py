"""Plain-C engine: the `.c` file export/c_int8.py writes, compiled on the host with the system C
compiler and called through ctypes, one image at a time.

The header beside the `.c` (same name, `.h`) gives the shapes and quantization. What runs is the
source a firmware compiles, so its output bytes can be compared with TFLite Micro's.
Compiled libraries are cached by the sha256 of the source, the header and the compiler command,
in a folder of this user's under the system temp folder; each is built in a private temporary
folder and renamed into place, so two processes never see a half-written library.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import re
import shutil
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from . import Quantization
from ..errors import EngineUnavailableError, ModelLoadError

COMPILE_FLAGS = ("-std=c99", "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror")
COMPILE_TIMEOUT_S = 300
FUNCTION = "edge_digits_classify"
DEFINE = re.compile(r"^[ \t]*#define[ \t]+(EDGE_DIGITS_\w+)[ \t]+(.*?)[ \t]*(?:/\*.*)?$", re.MULTILINE)
# One lock per loaded library: two engines on the same file share one dlopen handle, so one arena.
_LIBRARY_LOCKS: dict[Path, threading.Lock] = {}


def read_defines(header: Path) -> dict[str, str]:
    """The header's `#define EDGE_DIGITS_...` values, as written (comments dropped)."""
    try:
        text = header.read_text(errors="replace")
    except OSError as error:
        raise ModelLoadError(f"{header}: cannot read the C model's header ({error.strerror})") from None
    return dict(DEFINE.findall(text))


def _cache_folder() -> Path:
    """This user's cache of compiled models; refused if anyone else could write into it."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    folder = Path(tempfile.gettempdir()) / f"edge_digits_c-{uid if uid is not None else 'user'}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or (uid is not None and info.st_uid != uid) or info.st_mode & 0o022:
        raise ModelLoadError(f"{folder}: the compiled-model cache is not a private folder of this user; remove it")
    return folder


def _check_target(compiler: str) -> None:
    """The compiler must build for the machine this Python runs on (under an emulator it may not)."""
    try:
        target = subprocess.run([compiler, "-dumpmachine"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        target = ""
    machine = platform.machine()
    if not target.startswith(machine):
        raise EngineUnavailableError(f"{compiler} builds for {target or 'an unknown machine'}, not for this {machine} "
                                     "Python: install a native C compiler (apt install gcc)")


def _first_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return next((line for line in lines if "error" in line), lines[0] if lines else "no message")[:300]


def compile_library(compiler: str, path: Path, header: Path) -> Path:
    """The shared library built from `path` and its header, compiled once per content."""
    try:
        source, header_bytes = path.read_bytes(), header.read_bytes()
    except OSError as error:
        raise ModelLoadError(f"{error.filename}: cannot read the C model ({error.strerror})") from None
    key = hashlib.sha256(b"\0".join([platform.machine().encode(), compiler.encode(), " ".join(COMPILE_FLAGS).encode(),
                                     header.name.encode(), source, header_bytes])).hexdigest()
    cache = _cache_folder()
    library = cache / f"{key}.so"
    if library.is_file():
        return library
    with tempfile.TemporaryDirectory(prefix="build-", dir=cache) as build:
        # Compile exactly the bytes hashed: a copy, with the header under the name the source includes.
        (Path(build) / path.name).write_bytes(source)
        (Path(build) / header.name).write_bytes(header_bytes)
        try:
            done = subprocess.run([compiler, *COMPILE_FLAGS, "-o", "model.so", path.name], cwd=build,
                                  capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ModelLoadError(f"{path}: the C compiler took over {COMPILE_TIMEOUT_S} s") from None
        if done.returncode != 0:
            raise ModelLoadError(f"{path}: does not compile ({_first_error(done.stderr + done.stdout)})")
        os.replace(Path(build) / "model.so", library)  # atomic: a concurrent build renames an identical file
    return library


class CEngine:
    """A `.c` model compiled with the system C compiler. Safe to share across threads: the model
    keeps its activations in one static buffer, so calls into one library take turns on a lock
    (engines opened on the same source share the library, and the lock)."""

    name = "c"

    def __init__(self, path: Path, threads: int | None = None) -> None:  # threads: the C runs on one
        compiler = shutil.which("cc")
        if compiler is None:
            raise EngineUnavailableError("no C compiler: apt install gcc (the c engine compiles the model's C source)")
        _check_target(compiler)
        path = Path(path)
        header = path.with_suffix(".h")
        defines = read_defines(header)
        try:
            self.input_shape = (1, *(int(defines[f"EDGE_DIGITS_INPUT_{d}"]) for d in ("HEIGHT", "WIDTH", "CHANNELS")))
            self._input_size, self._labels = int(defines["EDGE_DIGITS_INPUT_SIZE"]), int(defines["EDGE_DIGITS_NUM_LABELS"])
            self.input_quantization, self.output_quantization = (
                Quantization(float(defines[f"EDGE_DIGITS_{role}_SCALE"].rstrip("fF")),
                             int(defines[f"EDGE_DIGITS_{role}_ZERO_POINT"]), np.dtype(np.int8))
                for role in ("INPUT", "OUTPUT"))
        except KeyError as missing:
            raise ModelLoadError(f"{header}: no #define {missing.args[0]}; regenerate it with export/c_int8.py") from None
        except ValueError as error:
            raise ModelLoadError(f"{header}: unreadable #define ({error})") from None
        library_path = compile_library(compiler, path, header)
        try:
            library = ctypes.CDLL(str(library_path))
            self._classify = getattr(library, FUNCTION)
        except (OSError, AttributeError) as error:
            raise ModelLoadError(f"{path}: cannot load the compiled model ({error})") from None
        self._classify.argtypes, self._classify.restype = [ctypes.c_void_p, ctypes.c_void_p], None
        self._library = library  # keeps the library loaded while the function is in use
        self._lock = _LIBRARY_LOCKS.setdefault(library_path, threading.Lock())

    def raw(self, quantized: np.ndarray) -> np.ndarray:
        """int8 (N, 28, 28, 1) -> the model's int8 outputs (N, labels), byte for byte."""
        feed = np.ascontiguousarray(quantized, dtype=np.int8).reshape(len(quantized), self._input_size)
        out = np.empty((len(feed), self._labels), np.int8)
        base_in, base_out = feed.ctypes.data, out.ctypes.data
        with self._lock:
            for index in range(len(feed)):
                self._classify(base_in + index * self._input_size, base_out + index * self._labels)
        return out

    def run(self, x: np.ndarray) -> np.ndarray:
        """float32 (N, 28, 28, 1) -> float32 probabilities (N, labels)."""
        return self.output_quantization.dequantize(self.raw(self.input_quantization.quantize(x)))
