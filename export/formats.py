"""The one table of export formats. It drives the export stage, the evaluation rows,
the test parametrization and the bundle; nothing indexes into it by position."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Precision(str, Enum):
    FLOAT = "float"
    INT8 = "int8"


class Reference(str, Enum):
    """The Keras model a file is compared with."""

    KERAS_FLOAT = "keras_float"
    KERAS_QAT = "keras_qat"


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    engine: str  # runtime engine name: "litert" | "onnx"
    precision: Precision

    @property
    def filename(self) -> str:
        return f"model_{self.precision.value}{self.suffix}"

    @property
    def reference(self) -> Reference:
        return Reference.KERAS_FLOAT if self.precision is Precision.FLOAT else Reference.KERAS_QAT


FORMATS: tuple[Format, ...] = (
    Format("tflite_float", ".tflite", "litert", Precision.FLOAT),
    Format("tflite_int8", ".tflite", "litert", Precision.INT8),
    Format("onnx_float", ".onnx", "onnx", Precision.FLOAT),
    Format("onnx_int8", ".onnx", "onnx", Precision.INT8),
)

BY_NAME: dict[str, Format] = {fmt.name: fmt for fmt in FORMATS}
MANIFEST_NAME = "manifest.json"
