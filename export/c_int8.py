"""Plain C: the int8 TFLite model as portable C99 source, with no interpreter.

From the int8 TFLite file this writes a `.c` file (weights as `static const` arrays, one
static activation arena, and `edge_digits_classify`) and its header (sizes, quantization,
labels, arena bytes, MACs). The C needs only <stdint.h> and <stddef.h>, allocates nothing
and uses no floating point at run time: every requantization constant is computed here, as TFLite
computes it (`quantize_multiplier`), and the kernels repeat, operation for operation, the
int8 reference kernels that TFLite Micro runs, so every output byte is TFLite Micro's.

The other implementation of the same spec is TFLite Micro itself (export/tflm.py writes the
same model for it); tests/export/test_c_int8.py compares the two byte for byte, and
runtime/engines/c.py compiles this source with the system compiler to run it on the host.

Kernels mirrored (tensorflow/lite/kernels/internal/reference/... as TFLite Micro uses them):
CONV_2D (integer_ops/conv.h ConvPerChannel), MAX_POOL_2D (integer_ops/pooling.h MaxPool),
MEAN (micro/kernels/reduce_common.cc -> reduce.h QuantizedMeanOrSum: TFLite Micro's pip build
takes it for every int8 mean, even one that keeps scale and zero point), FULLY_CONNECTED
(integer_ops/fully_connected.h), SOFTMAX (softmax.h with micro/kernels/softmax_common.cc's
parameters and gemmlowp's fixed-point exp and reciprocal). MultiplyByQuantizedMultiplier is
the double-rounding one: TFLite Micro's pip build is not compiled with TFLITE_SINGLE_ROUNDING
(checked on the 10,000 MNIST test images: single rounding changes output bytes).

A CONV_2D and the MAX_POOL_2D after it run as one loop (`fuse`) that computes each convolution
output where the pooling reads it: the bytes are the same, and the convolution's output, the
largest activation, never takes RAM (docs/figures/evaluate.md sets the arena beside TFLite
Micro's). A CONV_2D with no pooling after it runs in the same loop with a 1x1 window.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from export.atomic import write_bytes
from export.c_kernels import c_pieces
from export.tflite_model import describe

if TYPE_CHECKING:
    from export.options import ExportOptions

FUNCTION = "edge_digits_classify"
SUPPORTED = ("CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX")
SCALED_DIFF_INTEGER_BITS = 5  # softmax's Q5.26 input differences (softmax_common.cc)


class CExportError(RuntimeError):
    """The model cannot be written as plain C (an op or a tensor type the generator lacks)."""


# --- TFLite's quantization arithmetic, done once here so the C has none of it ---------------

def round_half_away(x: float) -> int:
    """TfLiteRound (std::round): halves away from zero, unlike Python's round()."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    multiplier = round_half_away(fraction * (1 << 31))
    if multiplier == 1 << 31:  # the fraction rounded up to 1.0
        multiplier, shift = multiplier // 2, shift + 1
    if shift < -31:  # every bit would be shifted out: TFLite flushes to zero
        return 0, 0
    return multiplier, shift


def quantize_float32(value: float, scale: float, zero_point: int) -> int:
    """TFLite's Quantize for activation bounds: float32 division, then TfLiteRound."""
    return zero_point + round_half_away(float(np.float32(value) / np.float32(scale)))


# --- The flatbuffer, read with TensorFlow's own schema --------------------------------------

@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    type_name: str  # INT8, INT32, FLOAT32...
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    quantized_dimension: int
    data: bytes | None  # constant tensors only

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def scale(self) -> float:
        return self.scales[0]

    @property
    def zero_point(self) -> int:
        return self.zero_points[0]

    def values(self) -> np.ndarray:
        dtype = {"INT8": np.int8, "INT32": np.dtype("<i4")}[self.type_name]
        return np.frombuffer(self.data, dtype=dtype).reshape(self.shape)


@dataclass(frozen=True)
class Operator:
    index: int
    name: str
    inputs: tuple[Tensor | None, ...]  # None where the model leaves an input out (no bias)
    output: Tensor
    options: object  # the schema's *OptionsT object (Conv2DOptionsT, Pool2DOptionsT...)


def read_graph(tflite: bytes, source: str) -> tuple[list[Operator], Tensor, Tensor]:
    """The main graph's operators in execution order, and its input and output tensors."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite))
    graph = model.subgraphs[0]
    ops = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}

    def tensor(index: int) -> Tensor | None:
        if index < 0:
            return None
        t = graph.tensors[index]
        q = t.quantization
        has_q = q is not None and q.scale is not None and len(q.scale) > 0
        data = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
        return Tensor(t.name.decode() if isinstance(t.name, bytes) else str(t.name),
                      tuple(int(d) for d in t.shape) if t.shape is not None else (),
                      types.get(t.type, str(t.type)),
                      tuple(float(s) for s in q.scale) if has_q else (),
                      tuple(int(z) for z in q.zeroPoint) if has_q else (),
                      int(q.quantizedDimension) if has_q else 0,
                      None if data is None or len(data) == 0 else bytes(np.asarray(data, np.uint8)))

    operators = []
    for index, op in enumerate(graph.operators):
        code = model.operatorCodes[op.opcodeIndex]
        name = ops.get(max(code.builtinCode, code.deprecatedBuiltinCode), f"BUILTIN_{code.builtinCode}")
        if name == "CUSTOM":
            name = f"CUSTOM {bytes(code.customCode or b'').decode(errors='replace')!r}"
        if name not in SUPPORTED:
            raise CExportError(f"{source}: operator {index} is {name}, which the C export does not implement "
                               f"(supported: {', '.join(SUPPORTED)})")
        operators.append(Operator(index, name, tuple(tensor(i) for i in op.inputs), tensor(op.outputs[0]),
                                  op.builtinOptions))
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise CExportError(f"{source}: expected 1 input and 1 output, got {len(graph.inputs)} and {len(graph.outputs)}")
    return operators, tensor(graph.inputs[0]), tensor(graph.outputs[0])


# --- One C layer per operator ------------------------------------------------------------------

@dataclass
class Layer:
    kernel: str  # the C function, and its parameter struct's name
    name: str  # C identifier of this layer's struct and arrays
    summary: str  # a comment line: op, shapes
    output: Tensor
    fields: dict[str, int | str] = field(default_factory=dict)  # struct initializers (ints, array names)
    arrays: list[tuple[str, str, np.ndarray]] = field(default_factory=list)  # (C type, name, values)

    def array(self, c_type: str, suffix: str, values) -> str:
        name = f"{self.name}_{suffix}"
        self.arrays.append((c_type, name, np.asarray(values).reshape(-1)))
        return name


def activation_range(options, out: Tensor) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: the fused activation as int8 clamp bounds."""
    from tensorflow.lite.python import schema_py_generated as schema

    act, kind = options.fusedActivationFunction, schema.ActivationFunctionType
    bounds = {kind.NONE: (None, None), kind.RELU: (0.0, None), kind.RELU6: (0.0, 6.0), kind.RELU_N1_TO_1: (-1.0, 1.0)}
    if act not in bounds:
        names = {v: k for k, v in vars(kind).items() if not k.startswith("_")}
        raise CExportError(f"fused activation {names.get(act, act)} is not supported (NONE, RELU, RELU6, RELU_N1_TO_1)")
    low, high = bounds[act]
    return (-128 if low is None else max(-128, quantize_float32(low, out.scale, out.zero_point)),
            127 if high is None else min(127, quantize_float32(high, out.scale, out.zero_point)))


def output_size_and_padding(padding: int, stride: int, dilation: int, in_size: int, k: int) -> tuple[int, int]:
    """TFLite's ComputeOutSize and ComputePaddingWithOffset (the reference kernels use no offset)."""
    from tensorflow.lite.python import schema_py_generated as schema

    effective = (k - 1) * dilation + 1
    out = (in_size + stride - 1) // stride if padding == schema.Padding.SAME else (in_size + stride - effective) // stride
    return out, max(0, (out - 1) * stride + effective - in_size) // 2


def requantization(layer: Layer, input_scale: float, weights: Tensor, output_scale: float, channels: int) -> None:
    """Per-channel multiplier and shift, from (double)input * (double)filter / (double)output scale."""
    scales = weights.scales if len(weights.scales) == channels else weights.scales[:1] * channels
    pairs = [quantize_multiplier(float(input_scale) * float(s) / float(output_scale)) for s in scales]
    layer.fields["multiplier"] = layer.array("int32_t", "multiplier", [m for m, _ in pairs])
    layer.fields["shift"] = layer.array("int8_t", "shift", [s for _, s in pairs])


def conv2d(op: Operator, name: str) -> Layer:
    x, w, bias = (op.inputs + (None,))[:3]
    out, o = op.output, op.options
    _, in_h, in_w, in_c = x.shape
    out_c, k_h, k_w, w_in_c = w.shape
    if w_in_c != in_c:
        raise CExportError(f"CONV_2D operator {op.index}: grouped convolution ({in_c} input channels, filter {w_in_c})")
    layer = Layer("conv2d", name, f"CONV_2D {shape(x)} -> {shape(out)}", out)
    out_h, pad_h = output_size_and_padding(o.padding, o.strideH, o.dilationHFactor, in_h, k_h)
    out_w, pad_w = output_size_and_padding(o.padding, o.strideW, o.dilationWFactor, in_w, k_w)
    check_shape(op, (1, out_h, out_w, out_c))
    act_min, act_max = activation_range(o, out)
    layer.fields.update(in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, k_h=k_h, k_w=k_w,
                        stride_h=o.strideH, stride_w=o.strideW, dilation_h=o.dilationHFactor,
                        dilation_w=o.dilationWFactor, pad_h=pad_h, pad_w=pad_w, input_offset=-x.zero_point,
                        output_zero_point=out.zero_point, act_min=act_min, act_max=act_max,
                        weights=layer.array("int8_t", "weights", w.values()),
                        bias=layer.array("int32_t", "bias", bias.values()) if bias is not None else "NULL")
    requantization(layer, x.scale, w, out.scale, out_c)
    return layer


def max_pool(op: Operator, name: str) -> Layer:
    (x,), out, o = op.inputs[:1], op.output, op.options
    _, in_h, in_w, channels = x.shape
    if (x.scale, x.zero_point) != (out.scale, out.zero_point):
        raise CExportError(f"MAX_POOL_2D operator {op.index}: input and output quantization differ")
    out_h, pad_h = output_size_and_padding(o.padding, o.strideH, 1, in_h, o.filterHeight)
    out_w, pad_w = output_size_and_padding(o.padding, o.strideW, 1, in_w, o.filterWidth)
    check_shape(op, (1, out_h, out_w, channels))
    act_min, act_max = activation_range(o, out)
    layer = Layer("max_pool", name, f"MAX_POOL_2D {shape(x)} -> {shape(out)}", out)
    layer.fields.update(in_h=in_h, in_w=in_w, channels=channels, out_h=out_h, out_w=out_w, k_h=o.filterHeight,
                        k_w=o.filterWidth, stride_h=o.strideH, stride_w=o.strideW, pad_h=pad_h, pad_w=pad_w,
                        act_min=act_min, act_max=act_max)
    return layer


def mean(op: Operator, name: str) -> Layer:
    x, axis = op.inputs[:2]
    out = op.output
    axes = sorted(int(a) % len(x.shape) for a in axis.values().reshape(-1))
    if len(x.shape) != 4 or axes != [1, 2]:
        raise CExportError(f"MEAN operator {op.index}: only the mean over height and width of a 4-D tensor "
                           f"is supported (axes {axes} of {shape(x)})")
    _, h, w, channels = x.shape
    check_shape(op, (1, 1, 1, channels) if op.options.keepDims else (1, channels))
    layer = Layer("mean", name, f"MEAN {shape(x)} -> {shape(out)} (over height and width)", out)
    # QuantizedMeanOrSum folds 1/count into the multiplier, shifted up by floor(log2(count))
    # (clamped to keep the shift in range) so the division loses as few bits as it can.
    count = h * w
    multiplier, shift = quantize_multiplier(float(x.scale) / float(out.scale))
    fold = min(count.bit_length() - 1, 32, 31 + shift)
    if fold < 0:
        raise CExportError(f"MEAN operator {op.index}: the output scale is too coarse to requantize into")
    layer.fields.update(count=count, channels=channels, input_zero_point=x.zero_point,
                        output_zero_point=out.zero_point, multiplier=(multiplier << fold) // count, shift=shift - fold)
    return layer


def fully_connected(op: Operator, name: str) -> Layer:
    x, w, bias = (op.inputs + (None,))[:3]
    out, o = op.output, op.options
    out_c, depth = w.shape
    if o.weightsFormat != 0 or x.size != depth:
        raise CExportError(f"FULLY_CONNECTED operator {op.index}: only one row of default-format weights "
                           f"is supported (input {shape(x)}, weights {shape(w)})")
    check_shape(op, (1, out_c), (1, 1, 1, out_c))
    act_min, act_max = activation_range(o, out)
    layer = Layer("fully_connected", name, f"FULLY_CONNECTED {shape(x)} -> {shape(out)}", out)
    layer.fields.update(depth=depth, out_c=out_c, input_offset=-x.zero_point, output_zero_point=out.zero_point,
                        act_min=act_min, act_max=act_max, weights=layer.array("int8_t", "weights", w.values()),
                        bias=layer.array("int32_t", "bias", bias.values()) if bias is not None else "NULL")
    requantization(layer, x.scale, w, out.scale, out_c)
    return layer


def softmax(op: Operator, name: str) -> Layer:
    x, out = op.inputs[0], op.output
    if out.zero_point != -128 or np.float32(out.scale) != np.float32(1 / 256):
        raise CExportError(f"SOFTMAX operator {op.index}: int8 output must have zero point -128 and scale 1/256")
    # softmax_common.cc: PreprocessSoftmaxScaling, then CalculateInputRadius for diff_min.
    real = min(float(np.float32(op.options.beta)) * float(x.scale) * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)),
               (1 << 31) - 1.0)
    if not real > 1.0:
        raise CExportError(f"SOFTMAX operator {op.index}: input scale {x.scale} is too small for TFLite's int8 softmax")
    multiplier, left_shift = quantize_multiplier(real)
    radius = math.floor(((1 << SCALED_DIFF_INTEGER_BITS) - 1) * float(1 << (31 - SCALED_DIFF_INTEGER_BITS))
                        / float(1 << left_shift))
    layer = Layer("softmax", name, f"SOFTMAX {shape(x)} -> {shape(out)}", out)
    layer.fields.update(depth=x.shape[-1], input_multiplier=multiplier, input_left_shift=left_shift, diff_min=-radius)
    return layer


BUILDERS = {"CONV_2D": (conv2d, "conv"), "MAX_POOL_2D": (max_pool, "pool"), "MEAN": (mean, "mean"),
            "FULLY_CONNECTED": (fully_connected, "dense"), "SOFTMAX": (softmax, "softmax")}
CONSTANT_INPUTS = {"CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2), "MEAN": (1,)}
CONSTANT_TYPES = {1: "INT8", 2: "INT32"}  # weights, bias (MEAN's axis is checked as INT32 below)


def shape(t: Tensor) -> str:
    return "x".join(map(str, t.shape))


def check_shape(op: Operator, *expected: tuple[int, ...]) -> None:
    if op.output.shape not in expected:
        raise CExportError(f"{op.name} operator {op.index}: output shape {shape(op.output)}, expected "
                           f"{' or '.join('x'.join(map(str, e)) for e in expected)}")


def check_types(op: Operator) -> None:
    """Activations int8 with one scale; weights int8 symmetric, bias int32; no float anywhere."""
    constants = CONSTANT_INPUTS.get(op.name, ())
    for position, t in [*enumerate(op.inputs), (-1, op.output)]:
        if t is None:
            continue
        expected = ("INT32" if op.name == "MEAN" else CONSTANT_TYPES[position]) if position in constants else "INT8"
        if t.type_name != expected:
            raise CExportError(f"{op.name} operator {op.index}: tensor {t.name!r} is {t.type_name}, expected "
                               f"{expected}; the C export takes a fully int8 model (export the int8 TFLite)")
        if (position in constants) != (t.data is not None):
            raise CExportError(f"{op.name} operator {op.index}: tensor {t.name!r} must "
                               f"{'be a constant' if position in constants else 'not be a constant'}")
        if t.type_name == "INT8" and (not t.scales or min(t.scales) <= 0):
            raise CExportError(f"{op.name} operator {op.index}: int8 tensor {t.name!r} has no positive scale")
        if t.type_name == "INT8" and position not in constants and len(t.scales) != 1:
            raise CExportError(f"{op.name} operator {op.index}: activation {t.name!r} is quantized per channel")
        if position == 1 and op.name != "MEAN" and (any(t.zero_points) or t.quantized_dimension != 0):
            raise CExportError(f"{op.name} operator {op.index}: weights {t.name!r} must be symmetric, per output channel")
    if op.output.shape[:1] != (1,) or op.inputs[0].shape[:1] != (1,):
        raise CExportError(f"{op.name} operator {op.index}: batch size must be 1 ({shape(op.inputs[0])})")


def build_layers(tflite: bytes, source: str) -> tuple[list[Layer], Tensor, Tensor]:
    operators, graph_input, graph_output = read_graph(tflite, source)
    if graph_input.type_name != "INT8" or graph_output.type_name != "INT8":
        raise CExportError(f"{source}: input is {graph_input.type_name} and output {graph_output.type_name}; "
                           "the C export takes a fully int8 model (export the int8 TFLite)")
    layers, previous = [], graph_input
    for op in operators:
        if op.inputs[0].name != previous.name:
            raise CExportError(f"{source}: operator {op.index} ({op.name}) does not take the previous operator's "
                               "output; the C export supports a chain of operators only")
        try:
            check_types(op)
            build, prefix = BUILDERS[op.name]
            layers.append(build(op, f"{prefix}{op.index}"))
        except CExportError as error:
            raise CExportError(f"{source}: {error}") from None
        previous = op.output
    if previous.name != graph_output.name:
        raise CExportError(f"{source}: the last operator's output is not the model's output")
    return fuse(layers), graph_input, graph_output


POOL_FIELDS = ("out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w", "pad_h", "pad_w", "act_min", "act_max")


def fuse(layers: list[Layer]) -> list[Layer]:
    """Each CONV_2D and the MAX_POOL_2D after it become one `conv2d_pool` layer, which computes
    the convolution's outputs where the pooling needs them: the same bytes, and the
    convolution's output (a CNN's largest activation, at full resolution) never takes RAM, as in
    TinyEngine and Edge Impulse's EON compiler. A CONV_2D alone gets a 1x1 window (the identity),
    so one convolution loop serves both."""
    fused, index = [], 0
    while index < len(layers):
        layer = layers[index]
        pool = layers[index + 1] if index + 1 < len(layers) else None
        if layer.kernel != "conv2d":
            fused.append(layer)
            index += 1
            continue
        fields = {f"conv.{key}": value for key, value in layer.fields.items()}
        if pool is not None and pool.kernel == "max_pool":
            fields.update({key: pool.fields[key] for key in POOL_FIELDS})
            fused.append(Layer("conv2d_pool", f"{layer.name}_{pool.name}",
                               f"{layer.summary} + {pool.summary} (fused: the convolution's output is not stored)",
                               pool.output, fields, layer.arrays))
            index += 2
        else:
            fields.update(out_h=layer.fields["out_h"], out_w=layer.fields["out_w"], k_h=1, k_w=1, stride_h=1,
                          stride_w=1, pad_h=0, pad_w=0, act_min=-128, act_max=127)
            fused.append(Layer("conv2d_pool", layer.name, layer.summary, layer.output, fields, layer.arrays))
            index += 1
    return fused


# --- Memory: one arena, each activation written at the end its input does not occupy -----------

def arena_bytes(layers: list[Layer]) -> int:
    """Layer i reads its input from one end of the arena and writes its output at the other end,
    so the arena must hold the largest pair of consecutive activations (the model's own input
    and output live in the caller's arrays and count as 0; a fused convolution's own output is
    never stored)."""
    sizes = [0] + [layer.output.size for layer in layers[:-1]] + [0]
    return max(a + b for a, b in zip(sizes, sizes[1:]))


def buffers(layers: list[Layer], arena: int) -> list[tuple[str, str]]:
    """(input, output) C expressions per layer: even layers write at the arena's start, odd at its end."""
    places, previous = [], "input"
    for index, layer in enumerate(layers):
        if index == len(layers) - 1:
            target = "output"
        else:
            target = "arena" if index % 2 == 0 else f"arena + {arena - layer.output.size}"
        places.append((previous, target))
        previous = target
    return places


# --- The C text ---------------------------------------------------------------------------------

def c_array(c_type: str, name: str, values: np.ndarray, per_line: int = 16) -> str:
    rows = [", ".join(str(int(v)) for v in values[i : i + per_line]) for i in range(0, len(values), per_line)]
    return f"static const {c_type} {name}[{len(values)}] = {{\n    " + ",\n    ".join(rows) + "\n};\n"


def c_struct(layer: Layer) -> str:
    fields = [f".{key} = {value}" for key, value in layer.fields.items()]
    lines, line = [], "   "
    for item in fields:
        if len(line) + len(item) > 100:
            lines.append(line.rstrip())
            line = "   "
        line += f" {item},"
    lines.append(line.rstrip(","))
    return f"/* {layer.summary} */\nstatic const struct {layer.kernel} {layer.name} = {{\n" + "\n".join(lines) + "\n};\n"


def render_source(layers: list[Layer], arena: int, header: str, source: str) -> str:
    data = "\n".join(c_array(*array) for layer in layers for array in layer.arrays)
    structs = "\n".join(c_struct(layer) for layer in layers)
    calls = "\n".join(f"    {layer.kernel}(&{layer.name}, {src}, {dst});"
                      for layer, (src, dst) in zip(layers, buffers(layers, arena)))
    return f"""/* Generated by export/c_int8.py from {source}; do not edit.
   The int8 model in plain C99: integer arithmetic only, no heap, no interpreter. Its output
   bytes are TFLite Micro's (tests/export/test_c_int8.py checks every one). */
#include <stddef.h>
#include <stdint.h>

#include "{header}"
{c_pieces({layer.kernel for layer in layers})}
/* Weights, biases and per-channel requantization (multiplier, shift), as TFLite computes them. */
{data}
{structs}
/* Activations. Each layer (a convolution and the max-pool after it are one) reads its input at
   one end of this arena and writes its output at the other end, so the arena holds the largest
   pair of consecutive activations:
   {" + ".join(f"{layer.output.size}" for layer in layers[:-1])} bytes in turn, {arena} bytes at most.
   One buffer: edge_digits_classify is not reentrant. */
static int8_t arena[EDGE_DIGITS_ARENA_BYTES];

void {FUNCTION}(const int8_t input[EDGE_DIGITS_INPUT_SIZE], int8_t output[EDGE_DIGITS_NUM_LABELS]) {{
{calls}
}}
"""


def c_string(text: str) -> str:
    return '"' + re.sub(r'(["\\])', r"\\\1", text).replace("\n", "\\n") + '"'


def render_header(graph_input: Tensor, graph_output: Tensor, labels: list[str], arena: int, parameters: int,
                  macs: int, source: str) -> str:
    _, height, width, channels = graph_input.shape
    if len(labels) != graph_output.size:
        raise CExportError(f"{source}: {len(labels)} labels for {graph_output.size} outputs")
    guard = "EDGE_DIGITS_C_INT8_H_"
    return f"""/* Generated by export/c_int8.py from {source}; do not edit.

   The digit classifier as plain C99 (see the .c file beside this header). Usage:
     1. quantize the 28x28 image, ink intensity x in [0, 1], row by row:
        q = lrintf(x / EDGE_DIGITS_INPUT_SCALE) + EDGE_DIGITS_INPUT_ZERO_POINT, clamped to [-128, 127]
        (to nearest, halves to even, as the runtime quantizes);
     2. call edge_digits_classify(q, out);
     3. the answer is the argmax of out, a label of EDGE_DIGITS_LABELS; its probability is
        (out[i] - EDGE_DIGITS_OUTPUT_ZERO_POINT) * EDGE_DIGITS_OUTPUT_SCALE.
   edge_digits_classify keeps its activations in one static buffer: call it from one thread
   at a time. */
#ifndef {guard}
#define {guard}

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define EDGE_DIGITS_INPUT_HEIGHT {height}  /* input rows */
#define EDGE_DIGITS_INPUT_WIDTH {width}  /* input columns */
#define EDGE_DIGITS_INPUT_CHANNELS {channels}  /* values per pixel */
#define EDGE_DIGITS_INPUT_SIZE {graph_input.size}  /* int8 values in, height * width * channels (NHWC) */
#define EDGE_DIGITS_NUM_LABELS {graph_output.size}  /* int8 values out, one per label */
#define EDGE_DIGITS_INPUT_SCALE {graph_input.scale!r}f  /* x = (q - zero point) * scale */
#define EDGE_DIGITS_INPUT_ZERO_POINT {graph_input.zero_point}  /* the q of x = 0 */
#define EDGE_DIGITS_OUTPUT_SCALE {graph_output.scale!r}f  /* p = (q - zero point) * scale */
#define EDGE_DIGITS_OUTPUT_ZERO_POINT {graph_output.zero_point}  /* the q of p = 0 */
#define EDGE_DIGITS_LABELS {{{", ".join(c_string(label) for label in labels)}}}  /* label of each output */
#define EDGE_DIGITS_ARENA_BYTES {arena}  /* static RAM for activations (the largest consecutive pair) */
#define EDGE_DIGITS_PARAMETER_BYTES {parameters}  /* static const weights, biases, requantization */
#define EDGE_DIGITS_MACS {macs}L  /* multiply-accumulates per inference */

/* Classify one image: input and output as above. */
void edge_digits_classify(const int8_t input[EDGE_DIGITS_INPUT_SIZE], int8_t output[EDGE_DIGITS_NUM_LABELS]);

#ifdef __cplusplus
}}
#endif

#endif  /* {guard} */
"""


def export_c(int8_tflite: Path, path: Path, options: ExportOptions) -> Path:
    """Write `path` (.c) and its header beside it from the int8 TFLite file; returns `path`."""
    data, source = Path(int8_tflite).read_bytes(), Path(int8_tflite).name
    layers, graph_input, graph_output = build_layers(data, source)
    arena = arena_bytes(layers)
    parameters = sum(values.size * (4 if c_type == "int32_t" else 1)
                     for layer in layers for c_type, _, values in layer.arrays)
    header = Path(path).with_suffix(".h")
    header_text = render_header(graph_input, graph_output, list(options.metadata["labels"]), arena, parameters,
                                describe(data).macs, source)
    source_text = render_source(layers, arena, header.name, source)
    write_bytes(header, header_text.encode())
    return write_bytes(path, source_text.encode())


def footprint(path: Path) -> dict:
    """What a firmware build of this `.c` costs, in the columns of TFLM's evaluate row: the
    static const data (flash), the source's size, the arena (RAM), the MACs and the ops."""
    from runtime.engines.c import read_defines

    defines, source = read_defines(Path(path).with_suffix(".h")), Path(path).read_text()
    ops = sorted(set(re.findall(r"(?:^/\* | \+ )([A-Z0-9_]+) [0-9x]+ -> ", source, re.MULTILINE)))
    return {"size_bytes": int(defines["EDGE_DIGITS_PARAMETER_BYTES"]), "source_bytes": Path(path).stat().st_size,
            "arena_bytes": int(defines["EDGE_DIGITS_ARENA_BYTES"]), "macs": int(defines["EDGE_DIGITS_MACS"].rstrip("L")),
            "ops": ops}
