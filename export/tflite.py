"""TFLite export: float32, and full-integer int8 from the QAT model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from export.atomic import write_bytes

if TYPE_CHECKING:
    from export.options import ExportOptions

METADATA_NAME = "edge_digits"


class TfliteExportError(RuntimeError):
    """The converter produced a file that is not what was asked for."""


def _converter(model):
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model)


def representative_dataset(images: np.ndarray):
    """The calibration sample in TFLite's form: a callable yielding [one-image batch] lists."""

    def generate() -> Iterator[list[np.ndarray]]:
        for image in images:
            yield [image[None]]

    return generate


def export_float(model, path: Path, options: ExportOptions) -> Path:
    converter = _converter(model)
    return write_bytes(path, add_metadata(converter.convert(), options.metadata))


def export_int8(qat_model, path: Path, options: ExportOptions) -> Path:
    """Full-integer conversion: int8 weights, int8 activations, int8 input and output.

    The QAT model carries its own ranges; the representative data only covers ops that
    QAT left without a range (none for this architecture), and is required by the converter
    for int8 I/O.
    """
    import tensorflow as tf

    converter = _converter(qat_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]  # without it the file stays float
    converter.representative_dataset = representative_dataset(options.calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    data = converter.convert()
    check_full_integer(data)
    return write_bytes(path, add_metadata(data, options.metadata))


def check_full_integer(data: bytes) -> None:
    """Raise unless every tensor that ops compute on is int8/int32 (biases) -- no float op left."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data)
    floats = [
        t["name"] for t in interpreter.get_tensor_details() if t["dtype"] in (np.float32, np.float16) and t["name"]
    ]
    if floats:
        raise TfliteExportError(f"int8 TFLite still has float tensors: {', '.join(floats[:5])}")


def add_metadata(data: bytes, metadata: dict) -> bytes:
    """Embed `metadata` (JSON) in the flatbuffer's metadata table under METADATA_NAME.

    Tensor names are shortened on the way: the converter's names (every fused op's path,
    joined by ';') are a sixth of a small int8 file and nothing at run time reads them.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    for subgraph in model.subgraphs:
        inputs, outputs = set(subgraph.inputs), set(subgraph.outputs)
        for index, tensor in enumerate(subgraph.tensors):
            tag = "input" if index in inputs else "output" if index in outputs else f"t{index}"
            tensor.name = tag.encode()
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(metadata, sort_keys=True).encode(), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def read_metadata(data: bytes) -> dict:
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    for entry in model.metadata or []:
        name = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
        if name == METADATA_NAME:
            return json.loads(bytes(model.buffers[entry.buffer].data).decode())
    raise KeyError(f"no {METADATA_NAME} metadata in the TFLite model")
