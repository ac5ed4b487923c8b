"""TFLite Micro: the int8 TFLite as C++ source for a microcontroller, with what an app needs.

From the int8 TFLite file this writes `model_int8.cc` (the model bytes as an aligned
`const unsigned char` array and its length) and `model_int8.h`, which declares them and adds:
- the input's and output's scale and zero point, the input shape, and the labels;
- the tensor arena size: measured in TFLite Micro's own allocator (the `tflite-micro`
  package runs TFLM's reference kernels from Python), plus a margin (see `arena_margin`);
- the MACs per inference, which set latency on a Cortex-M far more than file size does;
- `RegisterOps`, filling a `tflite::MicroMutableOpResolver<N>` with exactly the ops the model
  uses, so that an app never misses a registration.

The evaluate stage runs the bytes parsed back out of the `.cc` in TFLite Micro on the whole
test set and compares them with the same model in LiteRT. `tests/export/test_tflm.py` compiles the
generated source with `g++ -std=c++17 -fsyntax-only` against a stub of the TFLM headers
(tests/export/tflm_stub/), and `read_c_array` is the inverse of `c_array` (one spec, two forms).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from export.atomic import write_bytes

if TYPE_CHECKING:
    from export.options import ExportOptions

ARRAY_NAME = "kModelInt8"
NAMESPACE = "edge_digits"
ALIGNMENT = 16  # TFLM wants the flatbuffer 16-byte aligned (flatbuffers' largest scalar, SIMD loads)
ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
ARENA_MARGIN_FRACTION = 0.10


class TflmExportError(RuntimeError):
    """The model cannot be prepared for TFLite Micro (an op it lacks, no arena figure...)."""


@dataclass(frozen=True)
class Op:
    name: str  # TFLite builtin name, e.g. CONV_2D
    inputs: list[tuple[int, ...]]
    outputs: list[tuple[int, ...]]

    @property
    def resolver_method(self) -> str:
        """CONV_2D -> AddConv2D, FULLY_CONNECTED -> AddFullyConnected (MicroMutableOpResolver's names)."""
        return "Add" + "".join(part if part[0].isdigit() else part.capitalize() for part in self.name.split("_"))


def read_ops(tflite: bytes) -> list[Op]:
    """Every operator of the model's main graph, with its tensor shapes, in execution order."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite))
    names = {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
    graph = model.subgraphs[0]

    def shapes(indices) -> list[tuple[int, ...]]:
        return [tuple(int(d) for d in graph.tensors[i].shape) for i in indices if i >= 0]

    ops = []
    for operator in graph.operators:
        code = model.operatorCodes[operator.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        ops.append(Op(names.get(builtin, f"BUILTIN_{builtin}"), shapes(operator.inputs), shapes(operator.outputs)))
    return ops


def count_macs(ops: list[Op]) -> int:
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


def arena_margin(ops: list[Op], measured: int) -> int:
    """Bytes to add to the arena measured with TFLM's reference kernels, and why.

    - Optimized kernels need scratch memory the reference kernels do not: CMSIS-NN's int8
      convolution asks for an im2col buffer of 2 * k_h * k_w * in_c int16 values; only one
      kernel runs at a time, so the largest such buffer counts.
    - Platform differences (alignment, pointer size, per-kernel structs): 10% of the measured
      figure. The host build measured here is 64-bit, so its persistent structs are, if
      anything, larger than a 32-bit Cortex-M's.
    The sum is rounded up to 16 bytes.
    """
    scratch = max((2 * op.inputs[1][1] * op.inputs[1][2] * op.inputs[1][3] * 2 for op in ops if op.name == "CONV_2D"),
                  default=0)
    margin = scratch + math.ceil(measured * ARENA_MARGIN_FRACTION)
    return -(-margin // ALIGNMENT) * ALIGNMENT


@contextlib.contextmanager
def _captured_fd2():
    """Collect what C code writes to file descriptor 2 (TFLM prints its allocations there)."""
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        captured: list[str] = []
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode(errors="replace"))


def tflm_interpreter(tflite: bytes):
    """A TFLite Micro interpreter (reference kernels) for these model bytes."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise TflmExportError("tflite-micro is not installed: pip install tflite-micro (see requirements.lock)") from None
    with _captured_fd2():  # TFLM logs to fd 2 while it prepares the graph
        try:
            return runtime.Interpreter.from_bytes(tflite)
        except RuntimeError as error:
            raise TflmExportError(f"TFLite Micro cannot load the model ({str(error).strip()[:200]})") from None


def measure_arena(interpreter) -> int:
    """Arena bytes TFLM allocated for the model, as `print_allocations` reports them."""
    with _captured_fd2() as captured:
        interpreter.print_allocations()
    match = ARENA_TOTAL.search("".join(captured))
    if not match:
        raise TflmExportError("TFLite Micro did not report an arena size (no 'Arena allocation total' line)")
    return int(match.group(1))


def quantization(detail: dict) -> tuple[float, int]:
    params = detail["quantization_parameters"]
    return float(params["scales"][0]), int(params["zero_points"][0])


def c_array(data: bytes, per_line: int = 12) -> str:
    lines = []
    for start in range(0, len(data), per_line):
        lines.append("    " + ", ".join(f"0x{b:02x}" for b in data[start : start + per_line]) + ",")
    return "\n".join(lines)


def read_c_array(source: str) -> bytes:
    """The model bytes back out of a generated `.cc` (the inverse of `c_array`)."""
    body = source[source.index("{", source.index(ARRAY_NAME)) + 1 : source.index("};", source.index(ARRAY_NAME))]
    return bytes(int(token, 16) for token in re.findall(r"0x[0-9a-fA-F]{2}", body))


def header_name(path: Path) -> Path:
    return path.with_suffix(".h")


def render_header(ops: list[Op], interpreter, measured: int, margin: int, labels: list[str], source: str) -> str:
    in_scale, in_zero = quantization(interpreter.get_input_details(0))
    out_scale, out_zero = quantization(interpreter.get_output_details(0))
    shape = [int(d) for d in interpreter.get_input_details(0)["shape"]]
    methods = sorted({op.resolver_method for op in ops})
    guard = "EDGE_DIGITS_MODEL_INT8_H_"
    label_list = ", ".join(f'"{label}"' for label in labels)
    registrations = "\n".join(f"  TF_LITE_ENSURE_STATUS(resolver.{method}());" for method in methods)
    return f"""// Generated by export/tflm.py from {source}; do not edit. The evaluate stage checks that
// these bytes, run in TFLite Micro, agree with the same model in LiteRT (metrics/evaluate.json).
#ifndef {guard}
#define {guard}

#include <cstddef>
#include <cstdint>

#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

namespace {NAMESPACE} {{

// The int8 model (TFLite flatbuffer), {ALIGNMENT}-byte aligned: pass it to tflite::GetModel().
extern const unsigned char {ARRAY_NAME}[];
extern const unsigned int {ARRAY_NAME}Len;

// Input: int8 [{", ".join(map(str, shape))}] (NHWC), ink intensity in [0, 1] quantized as
// q = round(x / kInputScale) + kInputZeroPoint. Output: int8 [1, {len(labels)}] softmax probabilities,
// p = (q - kOutputZeroPoint) * kOutputScale, one per label.
constexpr int kInputHeight = {shape[1]};
constexpr int kInputWidth = {shape[2]};
constexpr int kInputChannels = {shape[3]};
constexpr float kInputScale = {in_scale!r}f;
constexpr int kInputZeroPoint = {in_zero};
constexpr float kOutputScale = {out_scale!r}f;
constexpr int kOutputZeroPoint = {out_zero};
constexpr int kNumLabels = {len(labels)};
constexpr const char* kLabels[kNumLabels] = {{{label_list}}};

// Tensor arena: {measured} bytes measured with TFLM's reference kernels, plus {margin} bytes of
// margin for optimized kernels' scratch buffers (CMSIS-NN im2col) and platform differences.
constexpr std::size_t kTensorArenaMeasured = {measured};
constexpr std::size_t kTensorArenaSize = {measured + margin};

// Multiply-accumulates per inference: what sets latency on a Cortex-M.
constexpr long kMacsPerInference = {count_macs(ops)}L;

// Exactly the ops this model uses.
constexpr int kNumOps = {len(methods)};
using OpResolver = tflite::MicroMutableOpResolver<kNumOps>;

inline TfLiteStatus RegisterOps(OpResolver& resolver) {{
{registrations}
  return kTfLiteOk;
}}

}}  // namespace {NAMESPACE}

#endif  // {guard}
"""


def render_source(data: bytes, header: str, source: str) -> str:
    return f"""// Generated by export/tflm.py from {source}; do not edit.
#include "{header}"

namespace {NAMESPACE} {{

alignas({ALIGNMENT}) const unsigned char {ARRAY_NAME}[] = {{
{c_array(data)}
}};
const unsigned int {ARRAY_NAME}Len = {len(data)};

}}  // namespace {NAMESPACE}
"""


def export_c_source(int8_tflite: Path, path: Path, options: ExportOptions) -> Path:
    """Write `path` (.cc) and its header beside it from the int8 TFLite file; returns `path`."""
    data = Path(int8_tflite).read_bytes()
    ops = read_ops(data)
    interpreter = tflm_interpreter(data)
    measured = measure_arena(interpreter)
    labels = list(options.metadata.get("labels", [str(d) for d in range(10)]))
    header = header_name(path)
    source_name = Path(int8_tflite).name
    write_bytes(header, render_header(ops, interpreter, measured, arena_margin(ops, measured), labels,
                                      source_name).encode())
    return write_bytes(path, render_source(data, header.name, source_name).encode())


def run_tflm(interpreter, quantized: np.ndarray) -> np.ndarray:
    """int8 (N, 28, 28, 1) inputs -> int8 (N, 10) outputs, one image at a time (TFLM has batch 1)."""
    outputs = np.empty((len(quantized), 10), np.int8)
    for index, image in enumerate(quantized):
        interpreter.set_input(image[None], 0)
        interpreter.invoke()
        outputs[index] = interpreter.get_output(0)[0]
    return outputs
