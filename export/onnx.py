"""ONNX export: float32 with tf2onnx, and a real int8 model that onnxruntime fuses into QLinear ops.

The int8 route keeps exactly what the QAT model learned, as frozen in the int8 TFLite file:
1. tf2onnx reads the int8 TFLite (`from_tflite`): int8 weights and every activation's
   scale and zero point, as QuantizeLinear/DequantizeLinear pairs. onnxruntime cannot fuse
   that graph (activations stay float around Conv/Relu), so it runs slowly.
2. `strip_qdq` turns it into a float graph whose weights are the dequantized int8 weights,
   and collects every activation's (scale, zero point) by tensor name.
3. onnxruntime's `quantize_static` re-quantizes that float graph in QDQ format with those
   activation parameters imposed through TensorQuantOverrides. Re-quantizing a per-channel
   weight with max-abs scaling is lossless, so the convolution kernels equal the TFLite ones;
   the classifier's per-tensor weight is re-quantized per channel, a slightly finer grid.
   The result fuses into QLinearConv / QLinearMatMul at load time.
Input and output stay float32 (the Q/DQ sit inside the graph), like any onnxruntime QDQ model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from export.atomic import atomic_path
from runtime.digits import INPUT_SHAPE

if TYPE_CHECKING:
    from export.options import ExportOptions

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"


class OnnxExportError(RuntimeError):
    """The ONNX export did not produce the model that was asked for."""


CALIBRATION_BATCH = 64


def calibration_reader(images: np.ndarray):
    """The calibration sample in onnxruntime's form: a CalibrationDataReader of input batches."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = (images[i : i + CALIBRATION_BATCH] for i in range(0, len(images), CALIBRATION_BATCH))

        def get_next(self):
            batch = next(self._batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    return Reader()


def export_float(model, path: Path, options: ExportOptions) -> Path:
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, *INPUT_SHAPE), tf.float32, name=INPUT_NAME),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=options.opset)
    _rename_output(proto, OUTPUT_NAME)
    return save(proto, path, options.metadata)


def export_int8(int8_tflite: Path, path: Path, options: ExportOptions) -> Path:
    """Build the int8 ONNX from the int8 TFLite file (see the module docstring)."""
    import onnx
    import tf2onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    qdq_from_tflite, _ = tf2onnx.convert.from_tflite(str(int8_tflite), opset=options.opset)
    float_graph, overrides = strip_qdq(qdq_from_tflite)

    relu_floor_exact = _mirror_relu_ranges(float_graph, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        float_path, quant_path = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        _save_plain(float_graph, float_path)
        quantize_static(
            str(float_path),
            str(quant_path),
            calibration_reader(options.calibration),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={
                "TensorQuantOverrides": overrides,
                "ActivationSymmetric": False,
                "WeightSymmetric": True,
                "QDQDisableWeightAdjustForInt32Bias": True,
                # A ReLU whose zero point is not the int8 floor must stay explicit to stay exact.
                "QDQKeepRemovableActivations": not relu_floor_exact,
            },
        )
        quantized = onnx.load(str(quant_path))
    _shorten_names(quantized)  # the quantizer's "<name>_quantized/_scale/_zero_point" names add up
    check_int8(quantized)
    return save(quantized, path, options.metadata)


def strip_qdq(model):
    """Remove Q/DQ from a tf2onnx-from-TFLite graph. Returns (float model, TensorQuantOverrides).

    Weights become float initializers holding their dequantized values; activation Q->DQ
    pairs are bypassed. The int8 graph input and output become float32 `image` and
    `probabilities`.
    """
    import onnx

    graph = model.graph
    (old_input,) = graph.input
    (old_output,) = graph.output
    kept, rename, overrides = _drop_qdq_nodes(graph)
    final_output = _follow(rename, old_output.name)
    new_names = {old_input.name: INPUT_NAME, final_output: OUTPUT_NAME}
    used = _rewire(kept, rename, new_names)
    del graph.node[:]
    graph.node.extend(kept)
    live = used | {OUTPUT_NAME}
    _keep_initializers(graph, live)
    _float_io(graph, old_input, old_output)
    overrides = {new_names.get(k, k): v for k, v in overrides.items()}
    overrides = {k: v for k, v in overrides.items() if k in live or k == INPUT_NAME}
    short = _shorten_names(model)
    overrides = {short.get(k, k): v for k, v in overrides.items()}
    onnx.checker.check_model(model)
    return model, overrides


def _drop_qdq_nodes(graph) -> tuple[list, dict[str, str], dict[str, list[dict]]]:
    """Fold weight DequantizeLinear into float initializers and bypass activation Q/DQ.

    Returns the nodes to keep, the renames (a Q/DQ output -> the float tensor it carried) and
    each activation's (scale, zero point) as TensorQuantOverrides entries.
    """
    from onnx import numpy_helper

    inits = {t.name: t for t in graph.initializer}
    overrides: dict[str, list[dict]] = {}
    rename: dict[str, str] = {}
    kept = []

    def qparams(node):
        scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        zero = numpy_helper.to_array(inits[node.input[2]]) if len(node.input) > 2 else np.zeros_like(scale, np.int8)
        return scale, zero

    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:  # a weight or bias
            scale, zero = qparams(node)
            q = numpy_helper.to_array(inits[node.input[0]])
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            shape = [1] * q.ndim
            if scale.size > 1:
                shape[axis] = scale.size
            real = (q.astype(np.float64) - zero.reshape(shape)) * scale.astype(np.float64).reshape(shape)
            graph.initializer.append(numpy_helper.from_array(real.astype(np.float32), node.output[0]))
            # Weights get no override: re-quantizing them symmetrically per channel recovers
            # the TFLite scale (max |w| / 127) and integers exactly.
        elif node.op_type in ("DequantizeLinear", "QuantizeLinear"):
            # An activation: Q and DQ both become the identity on the float tensor they carry.
            # (tf2onnx also moves quantized tensors through shape ops: Q -> Squeeze -> DQ.)
            scale, zero = qparams(node)
            entries = [
                {"scale": np.array(s, dtype=np.float32), "zero_point": np.array(z, dtype=zero.dtype)}
                for s, z in zip(scale.reshape(-1), np.broadcast_to(zero, scale.shape).reshape(-1))
            ]
            overrides.setdefault(node.input[0], entries)
            rename[node.output[0]] = node.input[0]
        else:
            kept.append(node)
    return kept, rename, overrides


def _follow(rename: dict[str, str], name: str) -> str:
    while name in rename:
        name = rename[name]
    return name


def _rewire(nodes: list, rename: dict[str, str], new_names: dict[str, str]) -> set[str]:
    """Point every input past the removed Q/DQ, apply the I/O names; returns the tensors read."""
    used = set()
    for node in nodes:
        for i, name in enumerate(node.input):
            resolved = _follow(rename, name)
            used.add(resolved)
            node.input[i] = new_names.get(resolved, resolved)
        for i, name in enumerate(node.output):
            node.output[i] = new_names.get(name, name)
    return {new_names.get(name, name) for name in used}


def _keep_initializers(graph, live: set[str]) -> None:
    keep = [t for t in graph.initializer if t.name in live]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def _float_io(graph, old_input, old_output) -> None:
    """float32 `image` [N, 28, 28, 1] in, float32 `probabilities` [N, labels] out (10, or 11 with
    "not a digit"), the shapes read from the int8 graph's own input and output."""
    import onnx
    from onnx import helper

    dims = [d.dim_param or d.dim_value for d in old_input.type.tensor_type.shape.dim]
    labels = old_output.type.tensor_type.shape.dim[-1].dim_value or "labels"
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info(INPUT_NAME, onnx.TensorProto.FLOAT, ["N", *dims[1:]]))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT_NAME, onnx.TensorProto.FLOAT, ["N", labels]))
    del graph.value_info[:]


def _shorten_names(model) -> dict[str, str]:
    """Replace TFLite's long tensor names (a fifth of the file) with short ones; returns the map."""
    graph = model.graph
    keep = {INPUT_NAME, OUTPUT_NAME, ""}
    names: dict[str, str] = {}

    def short(name: str, prefix: str) -> str:
        if name in keep:
            return name
        return names.setdefault(name, f"{prefix}{len(names)}")

    for tensor in graph.initializer:
        tensor.name = short(tensor.name, "w")
    for index, node in enumerate(graph.node):
        node.name = f"{node.op_type.lower()}{index}"
        for i, name in enumerate(node.input):
            node.input[i] = short(name, "t")
        for i, name in enumerate(node.output):
            node.output[i] = short(name, "t")
    return names


def _mirror_relu_ranges(model, overrides: dict[str, list[dict]]) -> bool:
    """Give each Conv output feeding a ReLU the ReLU's range, as TFLite's fused Conv+ReLU has.

    Returns True when every such range starts at the int8 floor (-128), in which case
    onnxruntime may drop the ReLU without changing the result.
    """
    floor_exact = True
    for node in model.graph.node:
        if node.op_type == "Relu" and node.output[0] in overrides:
            overrides[node.input[0]] = overrides[node.output[0]]
            floor_exact &= all(int(entry["zero_point"]) == -128 for entry in overrides[node.output[0]])
    return floor_exact


def check_int8(model) -> None:
    """Raise unless every Conv/Gemm/MatMul weight is an int8 initializer behind a DequantizeLinear."""
    inits = {t.name: t for t in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    problems = []
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        weight = producers.get(node.input[1])
        if weight is None or weight.op_type != "DequantizeLinear" or inits[weight.input[0]].data_type != 3:
            problems.append(node.name or node.op_type)
    if problems:
        raise OnnxExportError(f"int8 ONNX has float weights in: {', '.join(problems)}")


def _rename_output(proto, name: str) -> None:
    old = proto.graph.output[0].name
    for node in proto.graph.node:
        for i, out in enumerate(node.output):
            if out == old:
                node.output[i] = name
    proto.graph.output[0].name = name


def _save_plain(proto, path: Path) -> None:
    import onnx

    onnx.save(proto, str(path))


def save(proto, path: Path, metadata: dict[str, str]) -> Path:
    """Write `proto` atomically with `metadata` as metadata_props (values JSON-encoded if not str)."""
    import json

    import onnx

    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    proto.producer_name = "edge-digits"
    onnx.checker.check_model(proto)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
    return path


def read_metadata(path: Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
