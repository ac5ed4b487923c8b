"""The one table of export formats. Each row says what the file is, which exporter makes it
and from what; the export stage, the evaluation rows and gates, the bundle, the plots and the
tests all read its columns. Nothing indexes into it by position or branches on a name.

A new format is a new row here plus one exporter module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from export import onnx as onnx_export
from export import tflite as tflite_export
from export import tflm as tflm_export
from export.options import Exporter, ExportOptions, Precision, Reference, Source  # noqa: F401  (the table's column types)
from runtime.model import MANIFEST_NAME  # noqa: F401  (re-exported: the manifest's one name)


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    engine: str  # runtime engine name (runtime.engines.ENGINES)
    precision: Precision
    exporter: Exporter = field(repr=False)
    source: Source | None = None  # a tf_keras model, or None when derived from another format
    derived_from: str | None = None  # the format whose file this one is converted from
    deployed: bool = False  # the file the project recommends: confusion matrix, zoo
    bundled: bool = False  # copied into runtime/models/ by the bundle stage
    compare_with: str | None = None  # a format whose outputs are this file's reference, not a Keras model
    companions: tuple[str, ...] = ()  # other files the exporter writes beside this one

    def __post_init__(self) -> None:
        if (self.source is None) == (self.derived_from is None):
            raise ValueError(f"format {self.name}: give exactly one of source and derived_from")

    @property
    def filename(self) -> str:
        return f"model_{self.precision.value}{self.suffix}"

    @property
    def reference(self) -> str:
        """The name of the outputs this file is compared with: a Keras model, or another format."""
        if self.compare_with:
            return self.compare_with
        return (Reference.KERAS_FLOAT if self.precision is Precision.FLOAT else Reference.KERAS_QAT).value


FORMATS: tuple[Format, ...] = (
    Format("tflite_float", ".tflite", "litert", Precision.FLOAT, tflite_export.export_float,
           source=Source.FLOAT_MODEL),
    Format("tflite_int8", ".tflite", "litert", Precision.INT8, tflite_export.export_int8,
           source=Source.QAT_MODEL, deployed=True, bundled=True),
    Format("onnx_float", ".onnx", "onnx", Precision.FLOAT, onnx_export.export_float,
           source=Source.FLOAT_MODEL, bundled=True),
    Format("onnx_int8", ".onnx", "onnx", Precision.INT8, onnx_export.export_int8,
           derived_from="tflite_int8", bundled=True),
    # The same int8 bytes as C++ source for microcontrollers, run in TFLite Micro by the evaluate stage.
    Format("tflm_int8", ".cc", "tflm", Precision.INT8, tflm_export.export_c_source,
           derived_from="tflite_int8", compare_with="tflite_int8", companions=("model_int8.h",)),
)

BY_NAME: dict[str, Format] = {fmt.name: fmt for fmt in FORMATS}


def export_order(formats: tuple[Format, ...] = FORMATS) -> list[Format]:
    """The formats, each after the one it is derived from, whatever the table's order."""
    done: list[Format] = []
    pending = list(formats)
    while pending:
        ready = [f for f in pending if f.derived_from is None or f.derived_from in {d.name for d in done}]
        if not ready:
            names = ", ".join(f"{f.name} <- {f.derived_from}" for f in pending)
            raise ValueError(f"formats table: derived_from names no exported format ({names})")
        done.extend(ready)
        pending = [f for f in pending if f not in ready]
    return done
