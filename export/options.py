"""What the formats table and the exporters share: the enums of its columns and the options every
exporter takes. A leaf: it imports no other module of export/, so the table (export/formats.py)
can import the exporters and the exporters can import this, with no circle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np


class Reference(str, Enum):
    """The Keras model a file is compared with."""

    KERAS_FLOAT = "keras_float"
    KERAS_QAT = "keras_qat"


class Precision(str, Enum):
    """A file's numbers. FLOAT runs the Keras float graph in float32, so it must match it to
    float rounding; the others approximate a Keras model, and are gated on agreement and
    accuracy (the evaluate.gates `int8_*` thresholds), not on a max |diff|."""

    FLOAT = "float"
    FLOAT16 = "float16"  # float16 weights, float32 arithmetic
    INT8 = "int8"

    @property
    def exact(self) -> bool:
        return self is Precision.FLOAT

    @property
    def reference(self) -> Reference:
        """The Keras model a file of this precision is compared with: QAT's for int8."""
        return Reference.KERAS_QAT if self is Precision.INT8 else Reference.KERAS_FLOAT


class Source(str, Enum):
    """What an exporter converts: one of the two tf_keras models (or, see `Format.derived_from`, a file)."""

    FLOAT_MODEL = "float_model"
    QAT_MODEL = "qat_model"


@dataclass(frozen=True)
class ExportOptions:
    """What every exporter may need besides its source: the stage's settings, shared per run."""

    opset: int
    calibration: np.ndarray  # float32 (N, 28, 28, 1) training images, one seeded sample
    metadata: dict = field(default_factory=dict)  # embedded in the file (labels, normalization...)


Exporter = Callable[[object, Path, ExportOptions], Path]
