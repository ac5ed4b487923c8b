"""Load a model file with the right engine, vouch for it against its manifest, and predict."""

from __future__ import annotations

import dataclasses

import numbers
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .digits import INPUT_SHAPE, NOT_A_DIGIT, NUM_LABELS, OUTPUT_SIZES
from .engines import ENGINE_BY_SUFFIX, ENGINES, TFLITE_MAGIC, engine_spec
from .errors import (EngineUnavailableError, InputError, ModelIntegrityError, ModelLoadError, NoDigitError,
                     UnverifiedModelWarning)
from .manifest import MANIFEST_NAME, read_manifest, verify
from .preprocess import LEVEL_INK, Prepared, digits_note, mnist_levels, prepare_digits, prepare_image

BUNDLED_DIR = Path(__file__).parent / "models"
ENGINE_BATCH = 256  # the most images one engine call takes (`classify_paths` batches as many)
MAX_THREADS = 256  # an engine's CPU threads; far more than any CPU has (LiteRT crashes at 100,000)
MODEL_INPUT = ", ".join(str(dim) for dim in INPUT_SHAPE)  # "28, 28, 1", for messages


@dataclass(frozen=True, eq=False)
class Prediction:
    """One image's answer. Equal when every field is equal; hashable (its probabilities are read-only)."""

    label: int
    probability: float
    probabilities: np.ndarray = field(repr=False)
    top_k: tuple[tuple[int, float], ...]  # a tuple, as the rest: a Prediction is hashable
    uncertain: bool = False  # the top probability is under the `min_confidence` asked for
    digits: int = 1  # separate digits seen in the picture; the one with the most ink is classified

    def _key(self) -> tuple:
        return (self.label, self.probability, tuple(self.top_k), self.uncertain, self.digits,
                self.probabilities.dtype.str, self.probabilities.tobytes())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Prediction):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __setstate__(self, state: dict) -> None:
        """Unpickled or deep-copied, the probabilities are a new array: read-only again."""
        for name, value in state.items():
            object.__setattr__(self, name, value)
        self.probabilities.setflags(write=False)


@dataclass(frozen=True)
class Reading:
    """Every digit in one picture, left to right: each one's Prediction and box (left, top, right,
    bottom, in the picture's pixels). What the model answers "not a digit" (a letter, a sign
    beside the digits) is left out, and counted in `left_out`."""

    digits: tuple[Prediction, ...]
    boxes: tuple[tuple[int, int, int, int], ...]
    left_out: int = 0
    # marks among the digits too short to be one (a decimal point, a minus, a colon), left out
    # unread: "12.5" reads "125" with small_marks 1, so an app can tell it from a plain 125
    small_marks: int = 0

    @property
    def text(self) -> str:
        """The digits as one string, left to right ("2026")."""
        return "".join(str(prediction.label) for prediction in self.digits)

    @property
    def uncertain(self) -> bool:
        return any(prediction.uncertain for prediction in self.digits)


@dataclass(frozen=True)
class Result:
    """One item's outcome from `classify_paths` or `predict_batch`: a prediction, or the error for that item."""

    path: str
    prediction: Prediction | None = None
    error: str | None = None
    note: str | None = None
    exception: Exception | None = field(default=None, repr=False, compare=False)  # the error, typed
    reading: Reading | None = None  # every digit, from classify_paths(..., every=True)

    @property
    def ok(self) -> bool:
        return self.prediction is not None or self.reading is not None


def _check_container(path: Path, engine: str) -> None:
    """Catch a file of the wrong kind before the engine sees it (engines crash or mislead on those)."""
    with path.open("rb") as handle:
        head = handle.read(8)
    if not head:
        raise ModelLoadError(f"{path}: empty file")
    is_tflite = head[4:8] == TFLITE_MAGIC
    if engine == "onnx" and is_tflite:
        fix = _use("litert") if path.suffix.lower() == ".tflite" else f"rename it to .tflite or {_use('litert')}"
        raise ModelLoadError(f"{path}: is a TFLite file, not ONNX; {fix}")
    suffix = path.suffix.lower()
    if engine == "litert" and not is_tflite:
        raise ModelLoadError(f"{path}: not a TFLite file (no TFL3 identifier){_other_engine(suffix, engine)}")
    if engine == "tflm" and suffix != ".cc" and not is_tflite:
        raise ModelLoadError(f"{path}: not a TFLite file (no TFL3 identifier) nor the .cc source export/tflm.py writes"
                             f"{_other_engine(suffix, engine)}")
    if engine == "c" and suffix != ".c":
        raise ModelLoadError(f"{path}: not a C model (the .c file export/c_int8.py writes, its .h beside it)"
                             f"{_other_engine(suffix, engine)}")


def _other_engine(suffix: str, engine: str) -> str:
    """'; use the NAME engine ...' where the file's suffix names another engine, else ''."""
    other = ENGINE_BY_SUFFIX.get(suffix)
    return f"; {_use(other)}" if other and other != engine else ""


def _use(engine: str) -> str:
    """How to choose `engine`, in the CLI and in the API: the message may reach either."""
    return f'use the {engine} engine (--engine {engine}, or engine="{engine}")'



def open_engine(path: Path | str, engine: str | None = None, threads: int | None = None):
    """Open `path` with `engine` (default: chosen from the suffix). No manifest check."""
    path = Path(path)
    _check_model_path(path)
    _check_count("threads", threads, most=MAX_THREADS, none_means="the engine's default")
    engine = _engine_for(path, engine)
    _check_container(path, engine)
    instance = engine_spec(engine).load_class()(path, threads=None if threads is None else int(threads))
    # A symbolic dimension (-1: [N, H, W, 1] models) is accepted; the model must then run at INPUT_SHAPE.
    if len(instance.input_shape) != 4 or any(
            dim not in (-1, want) for dim, want in zip(instance.input_shape[1:], INPUT_SHAPE)):
        raise ModelLoadError(
            f"{path}: input shape {list(instance.input_shape)} is not a digit model's [N, {MODEL_INPUT}]"
        )
    _check_output(path, instance)
    return instance


def _engine_for(path: Path, engine: str | None) -> str:
    """`engine`, or the one `path`'s suffix names; ModelLoadError for a suffix that names none."""
    if engine is not None:
        return engine
    try:
        return ENGINE_BY_SUFFIX[path.suffix.lower()]
    except KeyError:
        raise ModelLoadError(f"{path}: unknown model type; expected {' or '.join(ENGINE_BY_SUFFIX)}, "
                             "or pass an engine") from None


def _check_model_path(path: Path) -> None:
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a folder; pass the model file in it (a {' or '.join(ENGINE_BY_SUFFIX)} file)")
    if not path.exists():
        raise ModelLoadError(f"{path}: no such model file")
    if not path.is_file():  # a FIFO would block the engine's read
        raise ModelLoadError(f"{path}: not a regular file; pass the model file itself")


def _check_output(path: Path, instance) -> None:
    """A digit model answers [N, 10], or [N, 11] with "not a digit" last; run one blank image to be
    sure (declared shapes can be symbolic)."""
    try:
        out = np.asarray(instance.run(np.zeros((1, *INPUT_SHAPE), np.float32)))
    except Exception as error:  # the engines raise their own untyped errors for a broken graph
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise ModelLoadError(f"{path}: the model cannot run on a [1, {MODEL_INPUT}] image ({detail})") from None
    if out.ndim != 2 or out.shape[0] != 1 or out.shape[1] not in OUTPUT_SIZES:
        raise ModelLoadError(f"{path}: output shape {list(out.shape)} for one image is not a digit model's "
                             f"[N, {NUM_LABELS}] (or [N, {OUTPUT_SIZES[-1]}] with \"{NOT_A_DIGIT}\")")


# Where the pipeline writes a model for an engine that has none bundled.
MADE_FOR = {"c": "the export stage writes artifacts/edge_digits_int8.c, its .h beside it"}


def default_model(engine: str | None = None, directory: Path = BUNDLED_DIR) -> Path:
    """The bundled int8 model for `engine`, or for the first installed engine (LiteRT, then onnxruntime)."""
    manifest = read_manifest(directory)
    if manifest is None:
        raise ModelLoadError(f"{directory}: no bundled model; run `dvc repro` or pass --model PATH")
    int8 = {entry.get("engine"): name for name, entry in reversed(manifest["files"].items())
            if entry.get("precision") == "int8"}
    if "tflm" not in int8 and "litert" in int8:  # TFLite Micro runs the bundled int8 TFLite as it is
        int8["tflm"] = int8["litert"]
    choices = [engine_spec(engine)] if engine else [spec for spec in ENGINES.values() if spec.name in int8]
    for spec in choices:
        if spec.name in int8 and spec.installed():
            return directory / int8[spec.name]
    if engine and engine not in int8:
        made = MADE_FOR.get(engine)
        raise ModelLoadError(f"no bundled model runs in {engine} (bundled: {', '.join(int8) or 'none'}); "
                             "pass --model PATH" + (f" ({made})" if made else ""))
    wanted = " or ".join(spec.name for spec in choices)
    install = " or ".join(spec.install for spec in choices)
    raise EngineUnavailableError(f"no usable bundled model for {wanted}: {install}")


class Classifier:
    """A verified model plus the shared preprocessing. `Classifier.load()` uses the bundled default.

    Thread-safe: one Classifier may be shared by any number of threads, with either engine.
    onnxruntime sessions allow concurrent runs; the LiteRT engine gives each thread its own
    interpreter of the same model. A single thread pays nothing for this.
    """

    def __init__(self, path: Path, engine, manifest_entry: dict | None, always_digit: bool = False) -> None:
        self.path = path
        self.engine = engine
        self.manifest_entry = manifest_entry
        self.always_digit = always_digit
        # An MNIST array's levels, as the engine's own input (see `predict`): one table per polarity.
        encode = getattr(engine, "encode", None) if hasattr(engine, "run_encoded") else None
        self._level_feeds = None if encode is None else tuple(encode(ink) for ink in LEVEL_INK)

    @classmethod
    def load(
        cls, path: Path | str | None = None, engine: str | None = None, threads: int | None = None,
        require_manifest: bool | None = None, always_digit: bool = False,
    ) -> Classifier:
        """Open a model; verify its sha256 when a manifest sits beside it.

        The bundled default must have one. An explicit path without a manifest loads with an
        `UnverifiedModelWarning` (set `require_manifest=True` to refuse it instead).

        `always_digit=True` is for pictures known to hold a digit (a meter, a form's digit boxes):
        where the model answers "not a digit", the likeliest digit is the answer instead, and every
        answer's probabilities are the ten digits' shares of what the model gives the digits
        (`probabilities`). A picture in which the finder sees no digit still raises NoDigitError.
        """
        if not isinstance(always_digit, (bool, np.bool_)):
            raise InputError(f"always_digit must be True or False, got {always_digit!r}")
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not (path is None or isinstance(path, (str, os.PathLike))):
            raise InputError(f"path must be a model file's name (str, bytes or os.PathLike), got {type(path).__name__}")
        if not (require_manifest is None or isinstance(require_manifest, (bool, np.bool_))):
            raise InputError(f"require_manifest must be True, False or None, got {require_manifest!r}")
        bundled = path is None
        path = default_model(engine) if bundled else Path(path)
        _check_model_path(path)
        _check_container(path, _engine_for(path, engine))  # a file of no model, or of another engine's, says so
        # before the manifest's "not listed"
        _check_count("threads", threads, most=MAX_THREADS, none_means="the engine's default")
        manifest = read_manifest(path.parent)
        entry = None
        if manifest is not None:
            entry = verify(path, manifest)
        elif bundled or require_manifest:
            raise ModelIntegrityError(f"{path}: no {MANIFEST_NAME} beside it to verify the model against")
        opened = open_engine(path, engine, threads)  # a file that does not load says so, alone
        if manifest is None:
            warnings.warn(f"{path}: no {MANIFEST_NAME} beside it; the model is not verified",
                          UnverifiedModelWarning, stacklevel=2)
        return cls(path, opened, entry, bool(always_digit))

    def __reduce__(self):
        raise TypeError(f"a Classifier holds an open {self.engine.name} engine and cannot be pickled or copied; "
                        f"pass its path ({self.path}) and call Classifier.load where it is needed")

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """float32 (N, 28, 28, 1) model input -> (N, 10) probabilities, or (N, 11) for a model
        with a "not a digit" output (the last). With `always_digit`, that output is 0 and the digits
        share all of the probability, in the model's proportions (a row whose digits the model
        gives nothing at all, as an int8 output can, is left as it is: "not a digit")."""
        return self._rows(batch)[1]

    def _rows(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the model's own rows, the rows answered: with `always_digit`, the digits' shares). Which
        digit of a number to answer is the model's own call (`_choose`), with the flag or without."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if len(batch) <= ENGINE_BATCH:
            raw = self.engine.run(batch)
        else:  # in slices: an engine sized for the whole batch would keep that memory for good
            raw = np.concatenate([self.engine.run(batch[start : start + ENGINE_BATCH])
                                  for start in range(0, len(batch), ENGINE_BATCH)])
        return raw, (digits_only(raw) if self.always_digit else raw)

    def predict(self, image: Any, top_k: int = 3, min_confidence: float = 0.0) -> Prediction:
        """Classify one image: a path, bytes-like, a binary file object, a PIL image, or a numpy
        array (H, W) or (H, W, 1|3|4) of any size and numeric dtype.

        Several images (a list, tuple or other iterable; a 4-D array; a 3-D array whose last axis
        is not 1, 3 or 4) raise InputError naming `predict_batch`, which takes them. A prediction
        whose top probability is under `min_confidence` comes back with `uncertain=True`. A picture
        without a digit raises NoDigitError: the finder sees none, or the model answers "not a digit".
        """
        _check_count("top_k", top_k, most=NUM_LABELS)
        _check_confidence(min_confidence)
        _check_one_image(image)
        if self._level_feeds is not None and isinstance(image, np.ndarray):
            found = mnist_levels(image)  # a uint8 array already in MNIST's form: its levels go straight
            if found is not None:  # to the model's input type, the same input as below to the bit
                levels, light = found
                raw = self.engine.run_encoded(self._level_feeds[light][levels][None, ..., None])
                return to_prediction((digits_only(raw) if self.always_digit else raw)[0], top_k, min_confidence)
        prepared = prepare_image(image)
        row, digits, _note = _choose(*self._rows(_inputs(prepared)), prepared)
        prediction = to_prediction(row, top_k, min_confidence)
        return dataclasses.replace(prediction, digits=digits) if digits > 1 else prediction

    def read(self, image: Any, top_k: int = 3, min_confidence: float = 0.0) -> Reading:
        """Every digit in one image, left to right, as a Reading (`reading.text` is "2026" for a
        year written on a page). Takes what `predict` takes. A picture in which no digit is found,
        or whose every group the model answers "not a digit", raises NoDigitError."""
        _check_count("top_k", top_k, most=NUM_LABELS)
        _check_confidence(min_confidence)
        _check_one_image(image, "read")
        prepared = prepare_digits(image)
        return _reading(*self._rows(prepared.tensors), prepared.boxes, top_k, min_confidence, prepared.parts,
                        prepared.marks, prepared.part_marks)

    def predict_batch(self, items: Iterable[Any], top_k: int = 3, min_confidence: float = 0.0) -> list[Result]:
        """One `Result` per image, in order: a prediction, or the error for that image alone.

        `items` is an iterable of what `predict` takes (a list, a generator...) or an array of
        images stacked on its first axis, (N, H, W) or (N, H, W, C); one image on its own raises
        InputError naming `predict`. A result's `path` is the image's path where it is one, else
        `[index]`; its `error` is the one-line message, starting "item <index>: ".
        """
        _check_count("top_k", top_k, most=NUM_LABELS)
        _check_confidence(min_confidence)
        _check_many_images(items)
        names, images, seen, errors = [], [], {}, {}
        for index, item in enumerate(items):
            names.append(os.fsdecode(item) if isinstance(item, (str, os.PathLike)) else f"[{index}]")
            try:
                prepared = prepare_image(item)
                images.append(_inputs(prepared))
                seen[index] = prepared
            except InputError as error:
                errors[index] = type(error)(f"item {index}: {error}")
                errors[index].note = error.note
        raw, answered = self._rows(np.concatenate(images)) if images else (None, None)
        raws, rows = _per_item(raw, images), _per_item(answered, images)
        return [Result(name, error=str(errors[i]), note=errors[i].note, exception=errors[i]) if i in errors else
                _answer(name, *_choose(next(raws), next(rows), seen[i]), top_k, min_confidence, prefix=f"item {i}: ")
                for i, name in enumerate(names)]

    def classify_paths(self, paths: Iterable[str | Path], top_k: int = 1, batch: int = 256,
                       processes: bool = False, min_confidence: float = 0.0, every: bool = False) -> Iterator[Result]:
        """One Result per image file, in order; folders are searched recursively.

        A file that cannot be classified gets its own `error`; it never costs the other files
        their answers. Memory stays flat for any number of files (batches of `batch`). Decoding
        runs in a thread pool; `processes=True` moves it to worker processes after the first
        batch (faster on many files; the calling script needs an `if __name__ == "__main__":`
        guard, as for any spawned pool: without one, WorkerStartError says so). With `every`, each Result holds a `reading` of every digit
        in its picture, left to right (as `read` gives), and no `prediction`.
        """
        _check_count("top_k", top_k, most=NUM_LABELS)  # checked here, not on the first next()
        _check_confidence(min_confidence)
        _check_count("batch", batch)
        if isinstance(paths, (str, bytes, os.PathLike)):
            paths = [paths]
        elif not isinstance(paths, Iterable):
            raise InputError(f"classify_paths takes a path or an iterable of paths, got {type(paths).__name__}")
        return self._classify_paths(paths, top_k, batch, processes, min_confidence, every)

    def _classify_paths(self, paths: Iterable[str | Path], top_k: int, batch: int, processes: bool,
                        min_confidence: float, every: bool) -> Iterator[Result]:
        from .files import prepared_batches

        for prepared in prepared_batches(paths, batch, processes, every):
            good = [image for _path, image, _error, _note, _digits in prepared if image is not None]
            if every:
                raw, rows = self._rows(np.concatenate(good)) if good else (None, None)
                start = 0
                for path, images, error, note, found in prepared:
                    if images is None:
                        yield Result(path, error=error, note=note)
                        continue
                    boxes, parts, beside, among = found
                    try:
                        reading = _reading(raw[start : start + len(images)], rows[start : start + len(images)], boxes,
                                           top_k, min_confidence, parts, beside, among)
                        yield Result(path, note=note, reading=reading)
                    except NoDigitError as refused:
                        yield Result(path, error=str(refused), note=note, exception=refused)
                    start += len(images)
                continue
            inputs = [_inputs(image) for image in good]
            raw, answered = self._rows(np.concatenate(inputs)) if inputs else (None, None)
            raws, rows = _per_item(raw, inputs), _per_item(answered, inputs)
            for path, image, error, note, _digits in prepared:
                if image is None:
                    yield Result(path, error=error, note=note)
                else:
                    yield _answer(path, *_choose(next(raws), next(rows), image), top_k, min_confidence)


def digits_only(rows: np.ndarray) -> np.ndarray:
    """Model output rows with "not a digit" -> the same rows, the digits' shares of their own sum and
    0 for "not a digit" (`always_digit`); a row that gives the digits nothing is left as it is, and
    so are the rows of a model with the ten digits only."""
    if rows.shape[1] <= NUM_LABELS:
        return rows
    mass = rows[:, :NUM_LABELS].sum(axis=1)
    some = mass > 0
    rows = rows.copy()
    rows[some, :NUM_LABELS] /= mass[some, None]
    rows[some, NUM_LABELS:] = 0
    return rows


def _check_count(name: str, value: Any, most: int | None = None, none_means: str | None = None) -> None:
    """InputError unless `value` is a whole number (numpy's included, never a bool) from 1 to `most`.
    With `none_means`, None is accepted too, and the message says what it stands for."""
    if value is None and none_means:
        return
    whole = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if whole and value >= 1 and (most is None or value <= most):
        return
    bounds = f"between 1 and {most}" if most is not None else ">= 1"
    bounds += f" (or None for {none_means})" if none_means else ""
    raise InputError(f"{name} must be a whole number {bounds}, got {value!r}")


def _check_confidence(value: Any) -> None:
    """Any real number type (numpy's float32 included) between 0 and 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
        raise InputError(f"min_confidence must be a probability between 0 and 1, got {value!r}")


def _inputs(prepared: Prepared) -> np.ndarray:
    """One picture's model inputs: its digit, then the digits it may instead be (`Prepared.parts`)."""
    return prepared.tensor[None] if prepared.parts is None else np.concatenate([prepared.tensor[None], prepared.parts])


def _per_item(rows: np.ndarray | None, inputs: list[np.ndarray]) -> Iterator[np.ndarray]:
    """The model's rows for a batch of pictures' inputs -> each picture's own rows, in turn."""
    start = 0
    for item in inputs:
        yield rows[start : start + len(item)]
        start += len(item)


def _refuses(row: np.ndarray) -> bool:
    return len(row) > NUM_LABELS and int(np.argmax(row)) >= NUM_LABELS


def _apart_digits(whole: np.ndarray, pieces: np.ndarray) -> bool:
    """Whether a group of strokes is the digits its columns are rather than one digit, from the model's
    own rows for the whole and for each column: none of them "not a digit", and the whole "not a
    digit" or each of them answered more surely than the whole (web/src/app.js: choose)."""
    if not len(pieces) or any(_refuses(row) for row in pieces):
        return False
    return _refuses(whole) or float(pieces[:, :NUM_LABELS].max(axis=1).min()) > float(whole[:NUM_LABELS].max())


def _choose(raw: np.ndarray, rows: np.ndarray, prepared: Prepared) -> tuple[np.ndarray, int, str | None]:
    """One picture's model rows (its digit, then its parts; the model's own, and those to answer)
    -> (the row to answer, the digits seen, the note). A group of strokes that may be several digits
    written close together (a number typed on one line) is read as those digits, the one with the
    most ink answered, as `read` reads them (`_apart_digits`): otherwise the whole is the digit (a 4
    whose bar stops short of its stem is one 4)."""
    if prepared.parts is None or not _apart_digits(raw[0], raw[1:]):
        return rows[0], prepared.digits, prepared.note
    count = prepared.digits - 1 + len(raw) - 1
    return rows[1], count, digits_note(prepared.read_note, count)


def _answer(path: str, row: np.ndarray, digits: int, note: str | None, top_k: int, min_confidence: float,
            prefix: str = "") -> Result:
    """One Result from a model output row, as `predict` would answer it (`digits` seen in the picture)."""
    try:
        prediction = to_prediction(row, top_k, min_confidence)
        if digits > 1:
            prediction = dataclasses.replace(prediction, digits=digits)
        return Result(path, prediction=prediction, note=note)
    except NoDigitError as error:
        error = NoDigitError(f"{prefix}{error}")
        return Result(path, error=str(error), note=note, exception=error)


def _reading(raw: np.ndarray, rows: np.ndarray, boxes, top_k: int, min_confidence: float, parts=(),
             beside: int = 0, part_marks: tuple[int, ...] = ()) -> Reading:
    """A Reading from one picture's model output rows (the model's own, and those to answer: see
    `Classifier._rows`): one per digit found, left to right, and then the rows of `parts`
    (PreparedDigits). A digit that may instead be several written close together is read as those
    when the model answers each of them more surely than the whole (or answers the whole "not a
    digit"), and none of them "not a digit". Which marks are digits is the model's own call, with
    `always_digit` or without (a sign between digits is left out either way), unless it refuses them all.
    `beside` and `part_marks` (PreparedDigits' `marks` and `part_marks`): the marks too short to be a
    digit beside the digits, and among each digit's parts, which count where those parts are read
    (`Reading.small_marks`)."""
    slots = [[i] for i in range(len(parts) if parts else len(raw))]
    small = beside
    for slot, indices, short in zip(slots, parts, part_marks or [0] * len(parts), strict=False):
        if indices and _apart_digits(raw[slot[0]], raw[list(indices)]):
            slot[:] = indices
            small += short  # the marks between the digits taken apart
    digits, kept, refusals = [], [], []
    order = [index for slot in slots for index in slot]
    # Where the model refuses every mark, the rows answered decide (always_digit's: as for one picture).
    judged = rows if all(_refuses(raw[index]) for index in order) else raw
    for index in order:
        try:
            to_prediction(judged[index], 1)  # "not a digit" raises NoDigitError: the mark is left out
            digits.append(to_prediction(rows[index], top_k, min_confidence))
            kept.append(tuple(int(v) for v in boxes[index]))
        except NoDigitError as error:
            refusals.append(error)
    if not digits:
        raise refusals[0] if len(refusals) == 1 else NoDigitError(
            f"no digit found (the model answers \"{NOT_A_DIGIT}\" to all {len(refusals)} marks found)")
    return Reading(tuple(digits), tuple(kept), len(refusals), small)


def to_prediction(probabilities: np.ndarray, top_k: int = 3, min_confidence: float = 0.0) -> Prediction:
    """One model output row -> Prediction. A row of 11 whose top answer is the last, "not a digit",
    raises NoDigitError; otherwise the answer and its top k are digits (the row is kept whole, so
    the probabilities still sum to 1, up to an int8 output's step of 1/256)."""
    probabilities = np.array(probabilities)  # a private, read-only copy: a Prediction is hashable
    probabilities.setflags(write=False)
    values = probabilities.tolist()  # Python floats: eleven of them sort faster than NumPy calls them
    if len(values) > NUM_LABELS and max(range(len(values)), key=values.__getitem__) >= NUM_LABELS:
        # (an int8 output can give the digits nothing: then even `always_digit` has none to answer)
        nothing = "" if any(values[:NUM_LABELS]) else ", and gives no digit any probability"
        raise NoDigitError(f"no digit found (the model answers \"{NOT_A_DIGIT}\", "
                           f"{values[NUM_LABELS]:.1%}{nothing})")
    # The digits by probability, highest first, ties in digit order (a stable sort, as argsort's).
    order = sorted(range(NUM_LABELS), key=values.__getitem__, reverse=True)[: min(top_k, NUM_LABELS)]
    top = values[order[0]]
    return Prediction(
        label=order[0],
        probability=top,
        probabilities=probabilities,
        top_k=tuple((i, values[i]) for i in order),
        uncertain=bool(top < min_confidence),  # a plain bool for a numpy min_confidence too (JSON)
    )


def _is_one_image(item: Any) -> bool:
    """A source that is one image whatever its type's other traits (bytes and file objects iterate)."""
    return isinstance(item, (str, bytes, bytearray, memoryview, os.PathLike, Image.Image)) or hasattr(item, "read")


def _check_one_image(image: Any, name: str = "predict") -> None:
    """`predict`'s (and `read`'s) rule: one image in; several get an error naming `predict_batch`."""
    if isinstance(image, np.ndarray):
        if image.ndim == 3 and image.shape[-1] == 2:  # grey and alpha, or a stack of images 2 px wide
            raise InputError(f"{name} takes one image, an array (H, W) or (H, W, 1|3|4), not shape {image.shape}: "
                             "for grey with alpha pass (H, W, 4) or a PIL image in mode 'LA'; for a batch use "
                             "predict_batch(images)")
        if image.ndim == 4 or (image.ndim == 3 and image.shape[-1] not in (1, 3, 4)):
            raise InputError(f"{name} takes one image, an array (H, W) or (H, W, 1|3|4), not shape {image.shape}; "
                             "for a batch use predict_batch(images)")
    elif isinstance(image, Iterable) and not _is_one_image(image):
        raise InputError(f"{name} takes one image, not several ({type(image).__name__}); "
                         "for a batch use predict_batch(images)")


def _check_many_images(items: Any) -> None:
    """`predict_batch`'s rule: an iterable of images in; one image gets an error naming `predict`."""
    if isinstance(items, np.ndarray):
        if items.ndim < 3:
            hint = "; for one image use predict(image)" if items.ndim == 2 else ""
            raise InputError(f"predict_batch takes images stacked as (N, H, W) or (N, H, W, C), not an array of "
                             f"shape {items.shape}{hint}")
        if items.ndim == 3 and items.shape[-1] in (3, 4):  # one colour picture, not N grey ones 3 or 4 px wide
            raise InputError(f"predict_batch takes images stacked as (N, H, W) or (N, H, W, C), not one colour image "
                             f"of shape {items.shape}; for one image use predict(image) (grey images 3 or 4 px wide: "
                             "stack them as (N, H, W, 1))")
    elif _is_one_image(items):
        raise InputError(f"predict_batch takes an iterable of images, not one ({type(items).__name__}); "
                         "for one image use predict(image)")
    elif isinstance(items, Mapping):  # iterating one would classify its keys
        raise InputError(f"predict_batch takes an iterable of images, not a mapping ({type(items).__name__}); "
                         "pass its values: predict_batch(images.values())")
    elif not isinstance(items, Iterable):
        raise InputError(f"predict_batch takes an iterable of images, got {type(items).__name__}")
