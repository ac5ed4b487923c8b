"""The MNIST file the data stage writes and the other stages read: its arrays, and the error for a bad one.

A leaf, so that the data stage, which writes the file, does not import the training data code.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")


class DataError(ValueError):
    """The MNIST file is missing, unreadable or not the real data."""


def load_arrays(path: Path | str, keys: tuple[str, ...] = MNIST_KEYS) -> dict[str, np.ndarray]:
    """The named arrays of an .npz file, or a DataError that names the file and what to do."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            if handle.read(4) != b"PK\x03\x04":
                raise DataError(f"{path}: not an .npz file (no zip header); re-create it with `dvc repro data`")
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in keys if key not in npz.files]
            if missing:
                raise DataError(f"{path}: no array {missing[0]!r}; re-create it with `dvc repro data`")
            return {key: npz[key] for key in keys}
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; run `dvc repro data` first") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"{path}: not a readable .npz file ({error}); re-create it with `dvc repro data`") from None
