"""Typed, validated configuration: one frozen dataclass per params.yaml section, and what each stage reads.

Each field declares its check: a range in its metadata (`bounded`), or its type (an enum, a nested
section). One loop, `Section.from_mapping`, applies them all, so a bad params.yaml fails before any
work starts, with a message that names the key. `<Stage>Params` is what a stage reads: its one
section (DataParams, EvaluateParams) or several sections, each whole (TrainParams: model and train),
as the chosen `model.variant` sees them: `variants.<variant>` may change its train and qat keys.
A leaf: it imports no other project module, so reading params makes no stage depend on another's code.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

PARAMS_FILE = Path("params.yaml")


class ParamsError(ValueError):
    """params.yaml is missing, unreadable, or holds an invalid value."""


class Variant(str, Enum):
    """The architectures pipeline/architecture.py builds."""

    STANDARD = "standard"
    TINY = "tiny"  # for a microcontroller: the ten digits
    TINY_OPEN = "tiny_open"  # for a microcontroller that must also answer "not a digit"


class Backend(str, Enum):
    AUTO = "auto"
    JAX = "jax"
    TENSORFLOW = "tensorflow"
    TORCH = "torch"


class DeviceKind(str, Enum):
    AUTO = "auto"
    GPU = "gpu"
    CPU = "cpu"


class DeviceCount(str, Enum):
    ONE = "one"  # the first accelerator (or the CPU)
    ALL = "all"  # data parallel across every visible accelerator (JAX)


class AugmentOn(str, Enum):
    AUTO = "auto"  # device when training on a GPU, host otherwise
    HOST = "host"  # numpy on a background thread (pipeline/augment.py)
    DEVICE = "device"  # keras.ops inside the compiled step (pipeline/augment_device.py)


class OpenSetRoute(str, Enum):
    """How the qat stage teaches the model what is not a digit (docs/non-digits.md)."""

    CLASS = "class"  # an 11th output, "not a digit"
    ENTROPIC = "entropic"  # ten outputs; non-digits trained towards a flat softmax (Dhamija et al. 2018)
    OFF = "off"  # digits only


class MixedPrecision(str, Enum):
    AUTO = "auto"
    ON = "on"
    OFF = "off"


@dataclass(frozen=True)
class Bounds:
    """[low, high] for a number; (low, high] when low_open; no upper bound when high is None."""

    low: float
    high: float | None = None
    low_open: bool = False

    def hold(self, value: float) -> bool:
        above = self.low < value if self.low_open else self.low <= value
        return above and (self.high is None or value <= self.high)

    def describe(self, integer: bool = False) -> str:
        """What a value must be, for a message: 'between 1 and 1000', '>= 0' (integers),
        'in [0.0, 1.0]', 'in (0.0, inf)' (numbers)."""
        if integer:
            return f">= {self.low}" if self.high is None else f"between {self.low} and {self.high}"
        high = "inf)" if self.high is None else f"{float(self.high)}]"
        return f"in {'(' if self.low_open else '['}{float(self.low)}, {high}"


def bounded(low: float, high: float | None = None, *, low_open: bool = False, default: Any = dataclasses.MISSING):
    """A number field that must lie within Bounds(low, high, low_open)."""
    return field(default=default, metadata={"bounds": Bounds(low, high, low_open)})


def prefixed(*prefixes: str, described: str):
    """A string field that must start with one of `prefixes` (`described` says which, for a person)."""
    return field(metadata={"prefixes": prefixes, "described": described})


def _integer(key: str, value: Any, bounds: Bounds) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(f"params.yaml: {key} must be an integer, got {value!r}")
    if not bounds.hold(value):
        raise ParamsError(f"params.yaml: {key} must be {bounds.describe(integer=True)}, got {value}")
    return value


def _number(key: str, value: Any, bounds: Bounds) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamsError(f"params.yaml: {key} must be a number, got {value!r}")
    if not bounds.hold(value):
        raise ParamsError(f"params.yaml: {key} must be {bounds.describe()}, got {value}")
    return float(value)


def _member(key: str, value: Any, enum: type[Enum]) -> Enum:
    # YAML 1.1 (PyYAML, and DVC when `dvc exp run -S` rewrites params.yaml) reads a bare off or on
    # as a boolean: where the choices include it, it means the word.
    if isinstance(value, bool) and ("off" if not value else "on") in {member.value for member in enum}:
        value = "on" if value else "off"
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(member.value for member in enum)
        raise ParamsError(f"params.yaml: {key} must be one of {choices}; got {value!r}") from None


def _text(key: str, value: Any, prefixes: tuple[str, ...], described: str) -> str:
    if not isinstance(value, str) or not value.startswith(prefixes):
        raise ParamsError(f"params.yaml: {key} must be {described}, got {value!r}")
    return value


def _typed(key: str, value: Any, kind: type, metadata: typing.Mapping[str, Any]) -> Any:
    """`value` as a `kind`, checked against the field's metadata, or a ParamsError that names `key`."""
    if issubclass(kind, Enum):
        return _member(key, value, kind)
    if issubclass(kind, Section):
        return kind.from_mapping(key, value)
    if kind is int:
        return _integer(key, value, metadata["bounds"])
    if kind is float:
        return _number(key, value, metadata["bounds"])
    if kind is str:
        return _text(key, value, metadata["prefixes"], metadata["described"])
    raise TypeError(f"{key}: pipeline/params.py has no check for {kind.__name__} fields")


class Section:
    """Base of the frozen dataclasses that mirror a params.yaml mapping, key for key."""

    @classmethod
    def from_mapping(cls, key: str, mapping: Any) -> typing.Self:
        """Validate every value of `mapping` (params.yaml's `key`) by its field, then construct."""
        fields = dataclasses.fields(cls)
        names = [f.name for f in fields]
        if not isinstance(mapping, dict):
            raise ParamsError(f"params.yaml: {key} must be a mapping of {', '.join(names)}")
        unknown = sorted(set(mapping) - set(names), key=str)
        if unknown:
            raise ParamsError(f"params.yaml: unknown key {key}.{unknown[0]}; expected one of {', '.join(names)}")
        required = {f.name for f in fields if f.default is dataclasses.MISSING}
        missing = sorted(required - set(mapping))
        if missing:
            raise ParamsError(f"params.yaml: missing key {key}.{missing[0]}")
        kinds = typing.get_type_hints(cls)
        return cls(**{f.name: _typed(f"{key}.{f.name}", mapping[f.name], kinds[f.name], f.metadata)
                      for f in fields if f.name in mapping})


@dataclass(frozen=True)
class ModelSection(Section):
    """model: the architecture every stage builds or checks."""

    variant: Variant


@dataclass(frozen=True)
class DataParams(Section):
    """data: where the data stage fetches MNIST from."""

    url: str = prefixed("https://", "http://", "file://", described="an http(s) or file URL")


@dataclass(frozen=True)
class Augmentation(Section):
    """train.augment: the recipe for real pictures (pipeline/augment.py); 0 or no key turns a transform off."""

    rotation: float = bounded(0.0, 45.0, default=0.0)  # degrees, +-
    scale: float = bounded(0.0, 0.5, default=0.0)  # +- fraction
    shear: float = bounded(0.0, 0.5, default=0.0)  # +- (tangent)
    aspect: float = bounded(0.0, 0.5, default=0.0)  # +- fraction, width against height
    elastic: float = bounded(0.0, 4.0, default=0.0)  # pixels of smooth displacement (standard deviation)
    stroke: float = bounded(0.0, 1.0, default=0.0)  # probability of a thicker or thinner pen
    blur: float = bounded(0.0, 1.0, default=0.0)  # probability of a blur
    gamma: float = bounded(0.0, 2.0, default=0.0)  # +- log2 range of the intensity gamma
    fade: float = bounded(0.0, 1.0, default=0.0)  # probability of a spot that washes part of the digit out

    @property
    def enabled(self) -> bool:
        return any(getattr(self, f.name) for f in dataclasses.fields(self))


@dataclass(frozen=True)
class TrainSection(Section):
    """train: how the float model is trained."""

    backend: Backend
    device: DeviceKind
    devices: DeviceCount
    seed: int = bounded(0, 2**32 - 1)
    epochs: int = bounded(1, 1000)
    batch_size: int = bounded(1, 65536)
    learning_rate: float = bounded(0.0, 10.0, low_open=True)
    label_smoothing: float = bounded(0.0, 0.5)
    max_shift: int = bounded(0, 8)
    validation_size: int = bounded(1, 30000)  # the temperature and the gates' figures need one
    mixed_precision: MixedPrecision
    augment_on: AugmentOn
    augment: Augmentation


@dataclass(frozen=True)
class OpenSet(Section):
    """qat.open_set: outlier exposure, a float fine-tune on digits and non-digits before QAT."""

    route: OpenSetRoute
    epochs: int = bounded(0, 1000)
    learning_rate: float = bounded(0.0, 10.0, low_open=True)
    negatives: int = bounded(1, 1_000_000)
    share: float = bounded(0.0, 1.0, low_open=True)
    printed_digits: int = bounded(0, 1_000_000)
    refusal_budget: float = bounded(0.0, 1.0)
    distill: float = bounded(0.0, 1.0, default=0.0)  # weight of the trained 10-class model's answers in the digits' targets


@dataclass(frozen=True)
class QatSection(Section):
    """qat: how the QAT model is fine-tuned."""

    seed: int = bounded(0, 2**32 - 1)
    epochs: int = bounded(1, 1000)
    batch_size: int = bounded(1, 65536)
    learning_rate: float = bounded(0.0, 10.0, low_open=True)
    final_learning_rate_fraction: float = bounded(0.0, 1.0)
    max_shift: int = bounded(0, 8)
    open_set: OpenSet


@dataclass(frozen=True)
class ExportSection(Section):
    """export: how the files are made."""

    opset: int = bounded(13, 18)  # tf2onnx supports opset 18 at most
    calibration_samples: int = bounded(1, 60000)


@dataclass(frozen=True)
class GateThresholds(Section):
    """evaluate.gates: the fields of export.parity.Gates, which every exported file must pass."""

    float_max_abs_diff: float = bounded(0.0, 1.0)
    int8_min_agreement: float = bounded(0.0, 1.0)
    int8_max_accuracy_drop: float = bounded(0.0, 1.0)
    int8_cross_agreement: float = bounded(0.0, 1.0)
    min_accuracy: float = bounded(0.0, 1.0)


@dataclass(frozen=True)
class EvaluateParams(Section):
    """evaluate: what the evaluate stage measures, and the gates it enforces."""

    latency_runs: int = bounded(10, 1_000_000)
    warmup_runs: int = bounded(0, 1_000_000)
    throughput_batch: int = bounded(1, 10000)
    min_confidence: float = bounded(0.0, 1.0)
    gates: GateThresholds


SECTIONS: dict[str, type[Section]] = {"model": ModelSection, "data": DataParams, "train": TrainSection,
                                      "qat": QatSection, "export": ExportSection, "evaluate": EvaluateParams}


@dataclass(frozen=True)
class TrainParams:
    """What the train stage reads: the model and train sections."""

    model: ModelSection
    train: TrainSection


@dataclass(frozen=True)
class QatParams:
    """What the qat stage reads: the model section, the train section (QAT validates on its split, so
    never on images it trains on, and fine-tunes on the same kind of pictures) and the qat section."""

    model: ModelSection
    train: TrainSection
    qat: QatSection


@dataclass(frozen=True)
class ExportParams:
    """What the export stage reads: the model and export sections."""

    model: ModelSection
    export: ExportSection


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise yaml.MarkedYAMLError(problem="a key must be a plain name, not a list or a mapping",
                                           problem_mark=key_node.start_mark)
            if key in seen:
                raise yaml.MarkedYAMLError(problem=f"duplicate key {key!r}; keep only one",
                                           problem_mark=key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 (PyYAML) reads 4e-3, 1e5 and 1.0e5 as strings; YAML 1.2 (ruamel.yaml, which DVC reads
# params.yaml with) reads them as numbers, and so does this loader. The 1.1 forms resolve first.
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def read_params(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        advice = "; run from the repository root" if path == PARAMS_FILE else ""
        raise ParamsError(f"{path}: cannot read ({error.strerror}){advice}") from None
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


VARIANTS = "variants"
VARIANT_SECTIONS = ("train", "qat")  # how a model is trained; what is exported and measured stays one setting


def _merged(base: Any, changes: dict[str, Any], key: str) -> Any:
    """`base` with `changes` laid over it, mapping by mapping; a key `base` lacks is refused by name."""
    if not isinstance(base, dict):
        return changes
    out = dict(base)
    for name, value in changes.items():
        if name not in base:
            raise ParamsError(f"params.yaml: unknown key {key}.{name}; a variant can only change keys that "
                              f"{key.split('.', 2)[-1]} has")
        out[name] = _merged(base[name], value, f"{key}.{name}") if isinstance(value, dict) else value
    return out


def for_variant(params: dict[str, Any]) -> dict[str, Any]:
    """params.yaml as the chosen `model.variant` sees it: its `variants.<variant>` entries laid over
    the sections they name (`variants: {tiny: {train: {epochs: 20}}}` trains tiny for 20 epochs)."""
    table = params.get(VARIANTS)
    if table is None:
        return params
    if not isinstance(table, dict):
        raise ParamsError("params.yaml: variants must be a mapping of variant names to section changes")
    for name, sections in table.items():
        if name not in {v.value for v in Variant}:
            raise ParamsError(f"params.yaml: variants.{name}: no such model.variant; expected one of "
                              f"{', '.join(v.value for v in Variant)}")
        if not isinstance(sections, dict) or not set(sections) <= set(VARIANT_SECTIONS):
            raise ParamsError(f"params.yaml: variants.{name} must map {' or '.join(VARIANT_SECTIONS)} "
                              "to the keys it changes")
        for section, changes in sections.items():
            if not isinstance(changes, dict):
                raise ParamsError(f"params.yaml: variants.{name}.{section} must be a mapping of keys to change")
    model = params.get("model")
    variant = model.get("variant") if isinstance(model, dict) else None
    chosen = (table.get(variant) or {}) if isinstance(variant, str) else {}  # else model.variant's own check says
    out = {key: value for key, value in params.items() if key != VARIANTS}
    for section, changes in chosen.items():
        out[section] = _merged(params.get(section) or {}, changes, f"{VARIANTS}.{variant}.{section}")
    return out


def _section(params: dict[str, Any], name: str) -> Any:
    if params.get(name) is None:
        raise ParamsError(f"params.yaml: missing section {name!r}")
    return SECTIONS[name].from_mapping(name, params[name])


def _sections(params: dict[str, Any], stage: type):
    """A stage's params whose every field is the params.yaml section of the same name, as the
    chosen variant sees it."""
    params = for_variant(params)
    return stage(**{f.name: _section(params, f.name) for f in dataclasses.fields(stage)})


def data_params(params: dict[str, Any]) -> DataParams:
    return _section(for_variant(params), "data")


def train_params(params: dict[str, Any]) -> TrainParams:
    return _sections(params, TrainParams)


def qat_params(params: dict[str, Any]) -> QatParams:
    return _sections(params, QatParams)


def export_params(params: dict[str, Any]) -> ExportParams:
    return _sections(params, ExportParams)


def evaluate_params(params: dict[str, Any]) -> EvaluateParams:
    return _section(for_variant(params), "evaluate")


def validate_all(params: dict[str, Any]) -> list[str]:
    """Build every section, for the chosen variant and for every variant `variants` changes;
    returns the sections checked. Raises ParamsError on the first bad key."""
    unknown = sorted(set(params) - set(SECTIONS) - {VARIANTS})
    if unknown:
        raise ParamsError(f"params.yaml: unknown section {unknown[0]!r}; expected {', '.join(SECTIONS)} "
                          f"(and optionally {VARIANTS})")
    for_variant(params)  # checks the variants table's shape
    for name in SECTIONS:
        _section({key: value for key, value in params.items() if key != VARIANTS}, name)
    for variant in params.get(VARIANTS) or {}:
        as_variant = dict(params, model=dict(params["model"], variant=variant))
        try:
            for name in SECTIONS:
                _section(for_variant(as_variant), name)
        except ParamsError as error:
            raise ParamsError(f"{error} (as variants.{variant} sets it)") from None
    return list(SECTIONS)
