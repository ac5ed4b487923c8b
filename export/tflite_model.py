"""A frozen description of a TFLite file, read from its flatbuffer: the operators in execution
order with their tensor shapes, the input shape, and the input's and output's quantization.
What the microcontroller writer (export/tflm.py) needs, with no interpreter running."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    name: str  # TFLite builtin name, e.g. CONV_2D
    inputs: tuple[tuple[int, ...], ...]
    outputs: tuple[tuple[int, ...], ...]

    @property
    def resolver_method(self) -> str:
        """CONV_2D -> AddConv2D, FULLY_CONNECTED -> AddFullyConnected (MicroMutableOpResolver's names)."""
        return "Add" + "".join(part if part[0].isdigit() else part.capitalize() for part in self.name.split("_"))


@dataclass(frozen=True)
class TensorQuantization:
    scale: float
    zero_point: int


@dataclass(frozen=True)
class TfliteModel:
    ops: tuple[Op, ...]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_quantization: TensorQuantization | None
    output_quantization: TensorQuantization | None

    @property
    def macs(self) -> int:
        return count_macs(self.ops)


def count_macs(ops) -> int:
    """Multiply-accumulates per inference (batch 1) of the convolutions and dense layers."""
    total = 0
    for op in ops:
        out = op.outputs[0]
        if op.name == "CONV_2D":  # weights [out_c, k_h, k_w, in_c]
            _, k_h, k_w, in_c = op.inputs[1]
            total += math.prod(out[1:]) * k_h * k_w * in_c
        elif op.name == "DEPTHWISE_CONV_2D":  # weights [1, k_h, k_w, out_c]
            total += math.prod(out[1:]) * op.inputs[1][1] * op.inputs[1][2]
        elif op.name == "FULLY_CONNECTED":  # weights [out, in]
            total += math.prod(op.inputs[1])
    return total


def describe(tflite: bytes) -> TfliteModel:
    """Read the model's main graph out of its flatbuffer."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite))
    names = {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
    graph = model.subgraphs[0]

    def shape(index: int) -> tuple[int, ...]:
        return tuple(int(d) for d in graph.tensors[index].shape)

    def quantization(index: int) -> TensorQuantization | None:
        q = graph.tensors[index].quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            return None
        return TensorQuantization(float(q.scale[0]), int(q.zeroPoint[0]))

    ops = []
    for operator in graph.operators:
        code = model.operatorCodes[operator.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        ops.append(Op(names.get(builtin, f"BUILTIN_{builtin}"),
                      tuple(shape(i) for i in operator.inputs if i >= 0),
                      tuple(shape(i) for i in operator.outputs if i >= 0)))
    (first,), (last,) = graph.inputs, graph.outputs
    return TfliteModel(tuple(ops), shape(first), shape(last), quantization(first), quantization(last))
