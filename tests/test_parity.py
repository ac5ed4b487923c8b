"""Every exported format behaves like the Keras model it came from. Parametrized over the formats
table (the files the runtime opens; the TFLite Micro source has tests/test_tflm.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from export.formats import FORMATS, MANIFEST_NAME, Precision
from export.parity import Gates, ParityError, agreement, check, compare
from runtime.engines import ENGINES
from runtime.model import Classifier
from runtime.timing import latencies_ms

GATES = Gates()
RUNTIME = [f for f in FORMATS if f.engine in ENGINES]
FLOAT = [f for f in RUNTIME if f.precision is Precision.FLOAT]
INT8 = [f for f in RUNTIME if f.precision is Precision.INT8]


def run_format(tiny_pipeline, fmt, x):
    classifier = Classifier.load(tiny_pipeline.artifacts / fmt.filename, fmt.engine)
    return classifier, classifier.probabilities(x)


@pytest.mark.parametrize("fmt", FLOAT, ids=lambda f: f.name)
def test_float_file_matches_float_keras(tiny_pipeline, keras_references, fmt):
    _, probs = run_format(tiny_pipeline, fmt, keras_references["x"])
    result = compare(keras_references["keras_float"], probs, keras_references["y"])
    assert result["max_abs_diff"] <= GATES.float_max_abs_diff
    assert result["agreement"] == 1.0


@pytest.mark.parametrize("fmt", INT8, ids=lambda f: f.name)
def test_int8_file_agrees_with_qat_keras(tiny_pipeline, keras_references, fmt):
    _, probs = run_format(tiny_pipeline, fmt, keras_references["x"])
    result = compare(keras_references["keras_qat"], probs, keras_references["y"])
    assert result["agreement"] >= GATES.int8_min_agreement
    float_accuracy = compare(keras_references["keras_float"], keras_references["keras_float"],
                             keras_references["y"])["accuracy"]
    assert result["accuracy"] >= float_accuracy - 0.01  # 1000 images: 10 images of slack


def test_int8_files_agree_with_each_other(tiny_pipeline, keras_references):
    outputs = [run_format(tiny_pipeline, fmt, keras_references["x"])[1] for fmt in INT8]
    # An exact tie at the top of an int8 output (125/256 for two classes) is a coin flip that
    # argmax settles by class order; the small fixture model has a few. Agreement is judged on
    # the images where every file has one top class, and ties must stay rare.
    ordered = [np.sort(out, axis=1) for out in outputs]
    decisive = np.logical_and.reduce([o[:, -1] > o[:, -2] for o in ordered])
    assert decisive.mean() >= 0.99, decisive.mean()
    assert agreement(*[out[decisive] for out in outputs]) >= GATES.int8_cross_agreement


@pytest.mark.parametrize("fmt", RUNTIME, ids=lambda f: f.name)
def test_latency_parity_with_keras(tiny_pipeline, keras_references, fmt):
    """Side by side in one test: the runtime is several times faster than calling Keras."""
    import tensorflow as tf

    classifier = Classifier.load(tiny_pipeline.artifacts / fmt.filename, fmt.engine, threads=1)
    model = keras_references["models"][fmt.reference]
    x1 = keras_references["x"][:1]
    t1 = tf.constant(x1)
    keras_ms = np.median(latencies_ms(lambda: model(t1, training=False), 100, 10))
    runtime_ms = np.median(latencies_ms(lambda: classifier.probabilities(x1), 300, 30))
    assert keras_ms / runtime_ms >= 5, f"runtime {runtime_ms:.4f} ms vs keras {keras_ms:.4f} ms"


@pytest.mark.parametrize("fmt", INT8, ids=lambda f: f.name)
def test_int8_files_are_really_int8(tiny_pipeline, fmt):
    path = tiny_pipeline.artifacts / fmt.filename
    if fmt.engine == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        kinds = {np.dtype(t["dtype"]) for t in interpreter.get_tensor_details()}
        assert kinds <= {np.dtype(np.int8), np.dtype(np.int32)}, kinds
    else:
        import onnx

        model = onnx.load(str(path))
        weights = [t for t in model.graph.initializer if len(t.dims) == 4]
        assert weights and all(t.data_type == onnx.TensorProto.INT8 for t in weights)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.optimized_model_filepath = str(tiny_pipeline.root / "optimized_int8.onnx")
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        fused = onnx.load(options.optimized_model_filepath)
        ops = {node.op_type for node in fused.graph.node}
        assert "QLinearConv" in ops and "Conv" not in ops, ops


def test_int8_files_are_under_30_percent_of_float(tiny_pipeline):
    for fmt in INT8:
        twin = next(f for f in FLOAT if f.suffix == fmt.suffix)
        ratio = (tiny_pipeline.artifacts / fmt.filename).stat().st_size / (
            tiny_pipeline.artifacts / twin.filename).stat().st_size
        assert ratio <= 0.30, f"{fmt.name} is {ratio:.0%} of {twin.name}"


def test_manifest_describes_every_file(tiny_pipeline):
    from export.manifest import sha256_of

    manifest = json.loads((tiny_pipeline.artifacts / MANIFEST_NAME).read_text())
    assert manifest["labels"] == [str(d) for d in range(10)]
    assert set(manifest["files"]) == {fmt.filename for fmt in FORMATS}
    for fmt in FORMATS:
        entry = manifest["files"][fmt.filename]
        path = tiny_pipeline.artifacts / fmt.filename
        assert entry["sha256"] == sha256_of(path) and entry["size_bytes"] == path.stat().st_size
        assert entry["input"]["shape"] == [1, 28, 28, 1]
        if fmt.name == "tflite_int8":
            assert entry["input"]["dtype"] == "int8"
            assert entry["input"]["scale"] == pytest.approx(1 / 255, rel=1e-3)
    provenance = manifest["provenance"]
    assert {"git_commit", "data", "params", "versions", "training"} <= set(provenance)
    assert provenance["training"]["backend"] == "tensorflow"


@pytest.mark.parametrize("fmt", RUNTIME, ids=lambda f: f.name)
def test_each_file_carries_its_own_metadata(tiny_pipeline, fmt):
    path = tiny_pipeline.artifacts / fmt.filename
    if fmt.engine == "litert":
        from export.tflite import read_metadata

        meta = read_metadata(path.read_bytes())
        labels = meta["labels"]
    else:
        from export.onnx import read_metadata

        meta = read_metadata(path)
        labels = json.loads(meta["labels"])
    assert meta["format"] == fmt.name
    assert labels == [str(d) for d in range(10)]


def test_gate_check_lists_every_failure():
    rows = {f.name: {"max_abs_diff": 0.5, "agreement": 0.9, "accuracy": 0.5} for f in FORMATS}
    with pytest.raises(ParityError) as error:
        check(rows, keras_float_accuracy=0.99, gates=GATES)
    message = str(error.value)
    assert all(f.name in message for f in FORMATS) and "onnx_int8 agrees with tflite_int8, which it is derived from, on unmeasured" in message
