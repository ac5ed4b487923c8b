"""The one table of export formats. Each row says what the file is, which exporter makes it
and from what, and which runtime engine (runtime/engines/) opens it; the export stage, the
evaluation rows and gates, the manifest, the bundle, the zoo, the plots and the tests all read
its columns. Nothing indexes into it by position or branches on a name.

A new format is a new row here plus one exporter module (tests/system/test_new_format.py adds
one in a temporary table and sees it exported, evaluated, gated and listed by the zoo).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from export import c_int8 as c_export
from export import onnx as onnx_export
from export import tflite as tflite_export
from export import tflm as tflm_export
from export.options import Exporter, ExportOptions, Precision, Reference, Source  # noqa: F401  (the table's column types)
from runtime.manifest import MANIFEST_NAME  # noqa: F401  (re-exported: the manifest's one name)


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    engine: str  # the runtime engine that opens the file (runtime.engines.ENGINES)
    precision: Precision
    exporter: Exporter = field(repr=False)
    source: Source | None = None  # a tf_keras model, or None when derived from another format
    derived_from: str | None = None  # the format whose file this one is converted from
    deployed: bool = False  # the file the project recommends: confusion matrix, zoo
    bundled: bool = False  # copied into runtime/models/ by the bundle stage
    compare_with: str | None = None  # a format whose outputs are this file's reference, not a Keras model
    bit_exact: bool = False  # every output byte must equal compare_with's (gated as max |diff| 0)
    stem: str | None = None  # the file name without suffix; default model_<precision>
    companions: tuple[str, ...] = ()  # other files the exporter writes beside this one
    footprint: Callable[[Path], dict] | None = field(default=None, repr=False)  # extra evaluate columns

    def __post_init__(self) -> None:
        if (self.source is None) == (self.derived_from is None):
            raise ValueError(f"format {self.name}: give exactly one of source and derived_from")
        if self.bit_exact and not self.compare_with:
            raise ValueError(f"format {self.name}: bit_exact needs compare_with (the file it must equal)")

    @property
    def filename(self) -> str:
        return f"{self.stem or 'model_' + self.precision.value}{self.suffix}"

    @property
    def reference(self) -> str:
        """The name of the outputs this file is compared with: a Keras model, or another format."""
        return self.compare_with or self.precision.reference.value


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
           derived_from="tflite_int8", compare_with="tflite_int8", companions=("model_int8.h",),
           footprint=tflm_export.footprint),
    # The same model as plain C99 with no interpreter: every output byte is TFLite Micro's.
    Format("c_int8", ".c", "c", Precision.INT8, c_export.export_c, derived_from="tflite_int8",
           compare_with="tflm_int8", bit_exact=True, stem="edge_digits_int8", companions=("edge_digits_int8.h",),
           footprint=c_export.footprint),
)

BY_NAME: dict[str, Format] = {fmt.name: fmt for fmt in FORMATS}


def dependency_order(formats: tuple[Format, ...] = FORMATS) -> list[Format]:
    """The formats, each after the one it is derived from and the one it is compared with,
    whatever the table's order: the order to export them in, and to evaluate them in."""
    done: list[Format] = []
    pending = list(formats)
    while pending:
        names = {d.name for d in done}
        ready = [f for f in pending if {f.derived_from, f.compare_with} - {None} <= names]
        if not ready:
            unmet = ", ".join(f"{f.name} <- {f.derived_from or f.compare_with}" for f in pending)
            raise ValueError(f"formats table: derived_from or compare_with names no format in the table ({unmet})")
        done.extend(ready)
        pending = [f for f in pending if f not in ready]
    return done
