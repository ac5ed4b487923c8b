"""Stage `data`: fetch MNIST, verify every array by sha256, write data/mnist.npz.

Sources, in order: the file named by $MNIST_PATH, else a local cache of the Keras URL,
else a download of that URL. Content is checked by the sha256 of each array's raw bytes,
so any faithful repackaging of the real data passes and nothing else does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.atomic import atomic_path
from pipeline.mnist import DataError
from pipeline.params import DataParams, data_params
from pipeline.stage import Stage, first_paragraph
from runtime.digits import SIZE

ENV_VAR = "MNIST_PATH"
CACHE_FILE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edge-digits" / "mnist.npz"
DOWNLOAD_TIMEOUT_S = 30


@dataclass(frozen=True)
class ArraySpec:
    shape: tuple[int, ...]
    sha256: str


# From ../shared/data/SOURCE.md: sha256 of each array's raw C-order bytes (uint8).
EXPECTED: dict[str, ArraySpec] = {
    "x_train": ArraySpec((60000, SIZE, SIZE), "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757"),
    "y_train": ArraySpec((60000,), "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"),
    "x_test": ArraySpec((10000, SIZE, SIZE), "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161"),
    "y_test": ArraySpec((10000,), "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"),
}


def load_verified(path: Path | str, expected: dict[str, ArraySpec] = EXPECTED) -> dict[str, np.ndarray]:
    """Load an npz and check keys, shapes, dtype and the sha256 of every array."""
    path = Path(path)
    try:
        with path.open("rb") as handle:  # np.load reads anything else as a pickle, and says so
            if handle.read(4) != b"PK\x03\x04":
                raise DataError(f"{path}: not an .npz file (no zip header); set {ENV_VAR} to a copy of mnist.npz")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files if key in expected}
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; set {ENV_VAR} to a copy of mnist.npz") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(f"{path}: not a readable .npz file ({error}); set {ENV_VAR} to a copy of mnist.npz") from None
    for key, spec in expected.items():
        if key not in arrays:
            raise DataError(f"{path}: missing array {key!r}; expected keys {', '.join(expected)}")
        array = arrays[key]
        if array.dtype != np.uint8 or array.shape != spec.shape:
            raise DataError(
                f"{path}: {key} is {array.dtype}{list(array.shape)}, expected uint8{list(spec.shape)}"
            )
        digest = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
        if digest != spec.sha256:
            raise DataError(f"{path}: {key} content sha256 {digest[:12]}... does not match the real MNIST")
    return arrays


def download(url: str, target: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download `url` to `target` atomically; never leaves a partial file."""
    print(f"data: downloading {url}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_path(target) as tmp:
            with tmp.open("wb") as handle:
                shutil.copyfileobj(response, handle)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise DataError(
            f"cannot download MNIST from {url} ({reason}); with no network, set {ENV_VAR} to a local mnist.npz"
        ) from None
    return target


def fetch(url: str, env: dict[str, str] | None = None, cache: Path = CACHE_FILE) -> dict[str, np.ndarray]:
    """Return the verified MNIST arrays from $MNIST_PATH, the cache, or the network."""
    env = os.environ if env is None else env
    if env.get(ENV_VAR):
        return load_verified(env[ENV_VAR])
    if cache.exists():
        try:
            return load_verified(cache)
        except DataError as error:
            print(f"data: ignoring bad cache ({error})", file=sys.stderr)
            cache.unlink(missing_ok=True)
    download(url, cache)
    try:
        return load_verified(cache)
    except DataError:
        cache.unlink(missing_ok=True)
        raise


def save(arrays: dict[str, np.ndarray], out: Path) -> Path:
    with atomic_path(out) as tmp:
        with tmp.open("wb") as handle:
            np.savez(handle, **{key: arrays[key] for key in EXPECTED})
    return out


def run(args, params: DataParams) -> str:
    arrays = fetch(params.url)
    save(arrays, args.out)
    return f"wrote {args.out} (train {len(arrays['y_train'])}, test {len(arrays['y_test'])}, sha256 verified)"


STAGE = Stage(
    "data", first_paragraph(__doc__), run, data_params,
    arguments=lambda parser: parser.add_argument("--out", type=Path, default=Path("data/mnist.npz")),
    catches=(DataError,), outputs=("out",),
)
main = STAGE.main

if __name__ == "__main__":
    sys.exit(main())
