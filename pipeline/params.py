"""Typed, validated configuration: one frozen dataclass per stage, built from params.yaml.

Every value is checked on construction, so a bad params.yaml fails before any work starts,
with a message that names the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from pipeline.augment import Augmentation
from pipeline.model import Variant

PARAMS_FILE = Path("params.yaml")


class ParamsError(ValueError):
    """params.yaml is missing, unreadable, or holds an invalid value."""


class Backend(str, Enum):
    AUTO = "auto"
    JAX = "jax"
    TENSORFLOW = "tensorflow"
    TORCH = "torch"


class Device(str, Enum):
    AUTO = "auto"
    GPU = "gpu"
    CPU = "cpu"


class Devices(str, Enum):
    ONE = "one"  # the first accelerator (or the CPU)
    ALL = "all"  # data parallel across every visible accelerator (JAX)


class AugmentOn(str, Enum):
    AUTO = "auto"  # device when training on a GPU, host otherwise
    HOST = "host"  # numpy on a background thread (pipeline/augment.py)
    DEVICE = "device"  # keras.ops inside the compiled step (pipeline/augment_device.py)


class MixedPrecision(str, Enum):
    AUTO = "auto"
    ON = "on"
    OFF = "off"


def _check_int(key: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(f"params.yaml: {key} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ParamsError(f"params.yaml: {key} must be {bound}, got {value}")


def _check_float(key: str, value: Any, low: float, high: float, *, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamsError(f"params.yaml: {key} must be a number, got {value!r}")
    if not (low < value if low_open else low <= value) or value > high:
        raise ParamsError(f"params.yaml: {key} must be in {'(' if low_open else '['}{low}, {high}], got {value}")


def _check_enum(key: str, value: Any, enum: type[Enum]) -> Enum:
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(member.value for member in enum)
        raise ParamsError(f"params.yaml: {key} must be one of {choices}; got {value!r}") from None


@dataclass(frozen=True)
class DataParams:
    url: str

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.startswith(("https://", "http://", "file://")):
            raise ParamsError(f"params.yaml: data.url must be an http(s) or file URL, got {self.url!r}")


@dataclass(frozen=True)
class TrainParams:
    variant: Variant
    backend: Backend
    device: Device
    devices: Devices
    seed: int
    epochs: int
    batch_size: int
    learning_rate: float
    label_smoothing: float
    max_shift: int
    validation_size: int
    mixed_precision: MixedPrecision
    augment: Augmentation
    augment_on: AugmentOn

    def __post_init__(self) -> None:
        object.__setattr__(self, "augment", augmentation("train.augment", self.augment))
        object.__setattr__(self, "augment_on", _check_enum("train.augment_on", self.augment_on, AugmentOn))
        object.__setattr__(self, "variant", _check_enum("model.variant", self.variant, Variant))
        object.__setattr__(self, "backend", _check_enum("train.backend", self.backend, Backend))
        object.__setattr__(self, "device", _check_enum("train.device", self.device, Device))
        object.__setattr__(self, "devices", _check_enum("train.devices", self.devices, Devices))
        object.__setattr__(
            self, "mixed_precision", _check_enum("train.mixed_precision", self.mixed_precision, MixedPrecision)
        )
        _check_int("train.seed", self.seed, 0)
        _check_int("train.epochs", self.epochs, 1, 1000)
        _check_int("train.batch_size", self.batch_size, 1, 65536)
        _check_float("train.learning_rate", self.learning_rate, 0.0, 10.0, low_open=True)
        _check_float("train.label_smoothing", self.label_smoothing, 0.0, 0.5)
        _check_int("train.max_shift", self.max_shift, 0, 8)
        _check_int("train.validation_size", self.validation_size, 0, 30000)


AUGMENT_LIMITS = {"rotation": 45.0, "scale": 0.5, "shear": 0.5, "aspect": 0.5, "elastic": 4.0, "stroke": 1.0,
                  "blur": 1.0, "gamma": 2.0}


def augmentation(key: str, value: Any) -> Augmentation:
    """train.augment: a mapping of the recipe's knobs (pipeline/augment.py), each in its range."""
    if isinstance(value, Augmentation):
        return value
    if not isinstance(value, dict):
        raise ParamsError(f"params.yaml: {key} must be a mapping of {', '.join(AUGMENT_LIMITS)}")
    unknown = sorted(set(value) - set(AUGMENT_LIMITS))
    if unknown:
        raise ParamsError(f"params.yaml: unknown key {key}.{unknown[0]}; expected one of {', '.join(AUGMENT_LIMITS)}")
    for name, number in value.items():
        _check_float(f"{key}.{name}", number, 0.0, AUGMENT_LIMITS[name])
    return Augmentation(**{name: float(number) for name, number in value.items()})


@dataclass(frozen=True)
class QatParams:
    variant: Variant
    split: Split  # the train stage's split, so QAT never validates on images it trains on
    augment: Augmentation  # the train stage's recipe: QAT fine-tunes on the same kind of pictures
    seed: int
    epochs: int
    batch_size: int
    learning_rate: float
    final_learning_rate_fraction: float
    max_shift: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "variant", _check_enum("model.variant", self.variant, Variant))
        _check_int("qat.seed", self.seed, 0)
        _check_int("qat.epochs", self.epochs, 1, 1000)
        _check_int("qat.batch_size", self.batch_size, 1, 65536)
        _check_float("qat.learning_rate", self.learning_rate, 0.0, 10.0, low_open=True)
        _check_float("qat.final_learning_rate_fraction", self.final_learning_rate_fraction, 0.0, 1.0)
        _check_int("qat.max_shift", self.max_shift, 0, 8)


@dataclass(frozen=True)
class Split:
    """How the training set is split into train and validation (train.seed, train.validation_size)."""

    validation_size: int
    seed: int


@dataclass(frozen=True)
class ExportParams:
    variant: Variant
    opset: int
    calibration_samples: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "variant", _check_enum("model.variant", self.variant, Variant))
        _check_int("export.opset", self.opset, 13, 18)  # tf2onnx supports opset 18 at most
        _check_int("export.calibration_samples", self.calibration_samples, 1, 60000)


@dataclass(frozen=True)
class EvaluateParams:
    latency_runs: int
    warmup_runs: int
    throughput_batch: int
    float_max_abs_diff: float
    int8_min_agreement: float
    int8_max_accuracy_drop: float
    int8_cross_agreement: float
    min_confidence: float

    def __post_init__(self) -> None:
        _check_float("evaluate.min_confidence", self.min_confidence, 0.0, 1.0)
        _check_int("evaluate.latency_runs", self.latency_runs, 10)
        _check_int("evaluate.warmup_runs", self.warmup_runs, 0)
        _check_int("evaluate.throughput_batch", self.throughput_batch, 1, 10000)
        _check_float("evaluate.float_max_abs_diff", self.float_max_abs_diff, 0.0, 1.0)
        _check_float("evaluate.int8_min_agreement", self.int8_min_agreement, 0.0, 1.0)
        _check_float("evaluate.int8_max_accuracy_drop", self.int8_max_accuracy_drop, 0.0, 1.0)
        _check_float("evaluate.int8_cross_agreement", self.int8_cross_agreement, 0.0, 1.0)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.MarkedYAMLError(problem=f"duplicate key {key!r}; keep only one",
                                           problem_mark=key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_params(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ParamsError(f"{path}: cannot read ({error.strerror}); run from the repository root") from None
    except UnicodeDecodeError:
        raise ParamsError(f"{path}: not a text file") from None
    try:
        loaded = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ParamsError(f"{where}: not valid YAML: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(loaded, dict):
        raise ParamsError(f"{path}: expected a mapping of stage sections")
    return loaded


def _section(params: dict[str, Any], name: str, cls: type, extra: dict[str, Any] | None = None):
    section = params.get(name)
    if not isinstance(section, dict):
        raise ParamsError(f"params.yaml: missing section {name!r}")
    fields = {f.name for f in dataclasses.fields(cls)} - set(extra or {})
    unknown = sorted(set(section) - fields)
    if unknown:
        raise ParamsError(f"params.yaml: unknown key {name}.{unknown[0]}; expected one of {', '.join(sorted(fields))}")
    missing = sorted(fields - set(section))
    if missing:
        raise ParamsError(f"params.yaml: missing key {name}.{missing[0]}")
    return cls(**section, **(extra or {}))


def _variant(params: dict[str, Any]) -> Any:
    model = params.get("model")
    if not isinstance(model, dict) or "variant" not in model:
        raise ParamsError("params.yaml: missing key model.variant")
    return model["variant"]


def data_params(params: dict[str, Any]) -> DataParams:
    return _section(params, "data", DataParams)


def train_params(params: dict[str, Any]) -> TrainParams:
    return _section(params, "train", TrainParams, {"variant": _variant(params)})


def qat_params(params: dict[str, Any]) -> QatParams:
    train = train_params(params)  # the split must be valid and identical to train's
    return _section(params, "qat", QatParams, {
        "variant": _variant(params), "split": Split(train.validation_size, train.seed), "augment": train.augment})


def export_params(params: dict[str, Any]) -> ExportParams:
    return _section(params, "export", ExportParams, {"variant": _variant(params)})


def validate_all(params: dict[str, Any]) -> list[str]:
    """Build every stage's params; returns the sections checked. Raises ParamsError on the first bad key."""
    builders = {"data": data_params, "train": train_params, "qat": qat_params, "export": export_params,
                "evaluate": evaluate_params}
    for build in builders.values():
        build(params)
    unknown = sorted(set(params) - set(builders) - {"model"})
    if unknown:
        raise ParamsError(f"params.yaml: unknown section {unknown[0]!r}; expected {', '.join(['model', *builders])}")
    return ["model", *builders]


def evaluate_params(params: dict[str, Any]) -> EvaluateParams:
    return _section(params, "evaluate", EvaluateParams)
