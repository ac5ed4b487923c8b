"""Load a model file with the right engine, vouch for it against its manifest, and predict."""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .engines import ENGINE_BY_SUFFIX, ENGINES, engine_spec
from .errors import EngineUnavailableError, InputError, ModelIntegrityError, ModelLoadError, UnverifiedModelWarning
from .preprocess import SIZE, preprocess_image

BUNDLED_DIR = Path(__file__).parent / "models"
MANIFEST_NAME = "manifest.json"
EXPECTED_INPUT = (SIZE, SIZE, 1)
NUM_LABELS = 10
TFLITE_MAGIC = b"TFL3"


@dataclass(frozen=True, eq=False)
class Prediction:
    """One image's answer. Equal when every field is equal; hashable (its probabilities are read-only)."""

    label: int
    probability: float
    probabilities: np.ndarray = field(repr=False)
    top_k: list[tuple[int, float]]
    uncertain: bool = False  # the top probability is under the `min_confidence` asked for

    def _key(self) -> tuple:
        return (self.label, self.probability, tuple(self.top_k), self.uncertain,
                self.probabilities.dtype.str, self.probabilities.tobytes())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Prediction):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True)
class Result:
    """One file's outcome from `Classifier.classify_paths`: a prediction, or the error for that file."""

    path: str
    prediction: Prediction | None = None
    error: str | None = None
    note: str | None = None
    exception: Exception | None = field(default=None, repr=False, compare=False)  # the error, typed

    @property
    def ok(self) -> bool:
        return self.prediction is not None


def _check_container(path: Path, engine: str) -> None:
    """Catch a file of the wrong kind before the engine sees it (engines crash or mislead on those)."""
    with path.open("rb") as handle:
        head = handle.read(8)
    if not head:
        raise ModelLoadError(f"{path}: empty file")
    is_tflite = head[4:8] == TFLITE_MAGIC
    if engine == "onnx" and is_tflite:
        raise ModelLoadError(f"{path}: is a TFLite file, not ONNX; rename it to .tflite or pass --engine litert")
    if engine == "litert" and not is_tflite:
        raise ModelLoadError(f"{path}: not a TFLite file (no TFL3 identifier)")


def open_engine(path: Path | str, engine: str | None = None, threads: int | None = None):
    """Open `path` with `engine` (default: chosen from the suffix). No manifest check."""
    path = Path(path)
    _check_model_path(path)
    _check_threads(threads)
    if engine is None:
        try:
            engine = ENGINE_BY_SUFFIX[path.suffix.lower()]
        except KeyError:
            raise ModelLoadError(f"{path}: unknown model type; expected .tflite or .onnx, or pass an engine") from None
    _check_container(path, engine)
    instance = engine_spec(engine).load_class()(path, threads=threads)
    # A symbolic dimension (-1: [N, H, W, 1] models) is accepted; the model must then run at 28x28.
    if len(instance.input_shape) != 4 or any(
            dim not in (-1, want) for dim, want in zip(instance.input_shape[1:], EXPECTED_INPUT)):
        raise ModelLoadError(
            f"{path}: input shape {list(instance.input_shape)} is not a digit model's [N, 28, 28, 1]"
        )
    _check_output(path, instance)
    return instance


def _check_model_path(path: Path) -> None:
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a folder; pass the model file in it (a .tflite or .onnx file)")
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such model file")


def _check_threads(threads: Any) -> None:
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise InputError(f"threads must be a whole number >= 1 (or None for the engine's default), got {threads!r}")


def _check_output(path: Path, instance) -> None:
    """A digit model answers [N, 10]; run one blank image to be sure (declared shapes can be symbolic)."""
    try:
        out = np.asarray(instance.run(np.zeros((1, *EXPECTED_INPUT), np.float32)))
    except Exception as error:  # the engines raise their own untyped errors for a broken graph
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise ModelLoadError(f"{path}: the model cannot run on a [1, 28, 28, 1] image ({detail})") from None
    if out.shape != (1, NUM_LABELS):
        raise ModelLoadError(f"{path}: output shape {list(out.shape)} for one image is not a digit model's "
                             f"[N, {NUM_LABELS}]")


def read_manifest(directory: Path) -> dict | None:
    path = directory / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{path}: unreadable manifest ({str(error).splitlines()[0]})") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(isinstance(entry, dict) for entry in files.values()):
        raise ModelLoadError(f"{path}: unreadable manifest (no 'files' mapping of file name to entry); "
                             "re-export it (dvc repro) or reinstall")
    return manifest


def verify(path: Path, manifest: dict) -> dict:
    """Raise ModelIntegrityError unless `path`'s sha256 and size match its manifest entry."""
    entry = manifest["files"].get(path.name)
    if entry is None:
        raise ModelIntegrityError(f"{path}: not listed in {path.parent / MANIFEST_NAME}")
    size = path.stat().st_size
    if size != entry.get("size_bytes"):
        raise ModelIntegrityError(
            f"{path}: {size:,} bytes, but the manifest says {entry.get('size_bytes')}; "
            "the file was modified or truncated: re-export it (dvc repro) or reinstall"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != entry.get("sha256"):
        raise ModelIntegrityError(
            f"{path}: sha256 {digest[:12]}... does not match the manifest's {str(entry.get('sha256'))[:12]}...; "
            "the file was modified or truncated: re-export it (dvc repro) or reinstall"
        )
    return entry


def default_model(engine: str | None = None, directory: Path = BUNDLED_DIR) -> Path:
    """The bundled int8 model for `engine`, or for the first installed engine (LiteRT, then onnxruntime)."""
    manifest = read_manifest(directory)
    if manifest is None:
        raise ModelLoadError(f"{directory}: no bundled model; run `dvc repro` or pass --model PATH")
    choices = [engine_spec(engine)] if engine else list(ENGINES.values())
    for spec in choices:
        for name, entry in manifest["files"].items():
            if entry.get("engine") == spec.name and entry.get("precision") == "int8" and spec.installed():
                return directory / name
    wanted = " or ".join(spec.name for spec in choices)
    install = " or ".join(spec.pip for spec in choices)
    raise EngineUnavailableError(f"no usable bundled model for {wanted}: pip install {install}")


class Classifier:
    """A verified model plus the shared preprocessing. `Classifier.load()` uses the bundled default.

    Thread-safe: one Classifier may be shared by any number of threads, with either engine.
    onnxruntime sessions allow concurrent runs; the LiteRT engine gives each thread its own
    interpreter of the same model. A single thread pays nothing for this.
    """

    def __init__(self, path: Path, engine, manifest_entry: dict | None) -> None:
        self.path = path
        self.engine = engine
        self.manifest_entry = manifest_entry

    @classmethod
    def load(
        cls, path: Path | str | None = None, engine: str | None = None, threads: int | None = None,
        require_manifest: bool | None = None,
    ) -> Classifier:
        """Open a model; verify its sha256 when a manifest sits beside it.

        The bundled default must have one. An explicit path without a manifest loads with an
        `UnverifiedModelWarning` (set `require_manifest=True` to refuse it instead).
        """
        bundled = path is None
        path = default_model(engine) if bundled else Path(path)
        _check_model_path(path)
        _check_threads(threads)
        manifest = read_manifest(path.parent)
        entry = None
        if manifest is not None:
            entry = verify(path, manifest)
        elif bundled or require_manifest:
            raise ModelIntegrityError(f"{path}: no {MANIFEST_NAME} beside it to verify the model against")
        else:
            warnings.warn(f"{path}: no {MANIFEST_NAME} beside it; the model is not verified",
                          UnverifiedModelWarning, stacklevel=2)
        return cls(path, open_engine(path, engine, threads), entry)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """float32 (N, 28, 28, 1) model input -> (N, 10) probabilities."""
        return self.engine.run(np.ascontiguousarray(batch, dtype=np.float32))

    def predict(self, inputs: Any, top_k: int = 3, min_confidence: float = 0.0) -> Prediction | list[Prediction]:
        """Classify one image or a batch (list/tuple, or an (N, H, W) array).

        An image is a path, bytes, a PIL image or a numpy array of any size. A prediction whose
        top probability is under `min_confidence` comes back with `uncertain=True`. In a batch,
        the first item that cannot be classified raises its error, naming its index; use
        `predict_batch` for one result per item, good and bad.
        """
        _check_top_k(top_k)
        _check_confidence(min_confidence)
        single, items = _as_items(inputs)
        if not items:
            raise InputError("nothing to classify: empty batch")
        if single:
            return to_prediction(self.probabilities(preprocess_image(items[0])[None])[0], top_k, min_confidence)
        results = self.predict_batch(items, top_k, min_confidence)
        failed = next((r for r in results if not r.ok), None)
        if failed is not None:
            raise failed.exception
        return [r.prediction for r in results]

    def predict_batch(self, items: Iterable[Any], top_k: int = 3, min_confidence: float = 0.0) -> list[Result]:
        """One `Result` per item, in order: a prediction, or the error for that item alone.

        Items are what `predict` takes for one image. A result's `path` names the item: the
        file's path for a path, else `[index]`; its `error` is the one-line message.
        """
        _check_top_k(top_k)
        _check_confidence(min_confidence)
        names, images, errors = [], [], {}
        for index, item in enumerate(items):
            names.append(os.fsdecode(item) if isinstance(item, (str, bytes, Path)) else f"[{index}]")
            try:
                images.append(preprocess_image(item))
            except InputError as error:
                errors[index] = type(error)(f"item {index}: {error}")
        rows = iter(self.probabilities(np.stack(images)) if images else [])
        return [Result(name, error=str(errors[i]), exception=errors[i]) if i in errors else
                Result(name, prediction=to_prediction(next(rows), top_k, min_confidence))
                for i, name in enumerate(names)]

    def classify_paths(self, paths: Iterable[str | Path], top_k: int = 1, batch: int = 256,
                       processes: bool = False, min_confidence: float = 0.0) -> Iterator[Result]:
        """One Result per image file, in order; folders are searched recursively.

        A file that cannot be classified gets its own `error`; it never costs the other files
        their answers. Memory stays flat for any number of files (batches of `batch`). Decoding
        runs in a thread pool; `processes=True` moves it to worker processes after the first
        batch (faster on many files; the calling script needs an `if __name__ == "__main__":`
        guard, as for any spawned pool).
        """
        from .files import prepared_batches

        _check_top_k(top_k)
        _check_confidence(min_confidence)
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise InputError(f"batch must be a whole number >= 1, got {batch!r}")
        if isinstance(paths, (str, bytes, os.PathLike)):
            paths = [paths]
        for prepared in prepared_batches(paths, batch, processes):
            good = [image for _path, image, _error, _note in prepared if image is not None]
            rows = iter(self.probabilities(np.stack(good)) if good else [])
            for path, image, error, note in prepared:
                if image is None:
                    yield Result(path, error=error)
                else:
                    yield Result(path, prediction=to_prediction(next(rows), top_k, min_confidence), note=note)


def _check_confidence(value: Any) -> None:
    """Any real number type (numpy's float32 included) between 0 and 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
        raise InputError(f"min_confidence must be a probability between 0 and 1, got {value!r}")


def _check_top_k(top_k: Any) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= NUM_LABELS:
        raise InputError(f"top_k must be a whole number between 1 and {NUM_LABELS}, got {top_k!r}")


def to_prediction(probabilities: np.ndarray, top_k: int = 3, min_confidence: float = 0.0) -> Prediction:
    probabilities = np.array(probabilities)  # a private, read-only copy: a Prediction is hashable
    probabilities.setflags(write=False)
    order = np.argsort(-probabilities, kind="stable")[: min(top_k, len(probabilities))]
    top = float(probabilities[order[0]])
    return Prediction(
        label=int(order[0]),
        probability=top,
        probabilities=probabilities,
        top_k=[(int(i), float(probabilities[i])) for i in order],
        uncertain=top < min_confidence,
    )


SINGLE_SOURCES = (str, bytes, bytearray, memoryview, Path)


def _as_items(inputs: Any) -> tuple[bool, list]:
    """(is one image, the items). One image: a path, bytes-like, a file object, a PIL image, or an
    array (H, W) / (H, W, 1|3|4). A batch: a list or tuple, or an array (N, H, W) / (N, H, W, C)."""
    if isinstance(inputs, (list, tuple)):
        return False, list(inputs)
    if isinstance(inputs, np.ndarray):
        if inputs.ndim == 4 or (inputs.ndim == 3 and inputs.shape[-1] > 4):
            return False, list(inputs)
        if inputs.ndim == 3 and inputs.shape[-1] == 2:
            raise InputError(f"array of shape {inputs.shape} is ambiguous: pass one image as (H, W) or "
                             "(H, W, 1|3|4), or a batch as (N, H, W) or (N, H, W, C)")
        return True, [inputs]
    if isinstance(inputs, SINGLE_SOURCES) or hasattr(inputs, "read") or hasattr(inputs, "getpixel"):
        return True, [inputs]
    if isinstance(inputs, Iterable):
        return False, list(inputs)
    return True, [inputs]
