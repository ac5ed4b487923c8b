"""Every exported format behaves like the Keras model it came from: the formats table's files
as converted on this machine (the `converted` fixture) from the committed fixture models.

These tests assert what conversion guarantees, with tolerances justified where they are set,
never the pipeline's production gates (those run in the evaluate stage on 10,000 images of the
real model). A top-1 answer can only flip between two outputs that differ by at most `tol` per
class when the reference's top two are within `2 * tol`; so every test checks both halves: the
outputs stay within `tol`, and the answers agree on every image whose margin is wider than that.
The TFLite Micro source has tests/export/test_tflm.py.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from export.formats import FORMATS, MANIFEST_NAME, Precision
from export.parity import Gates, ParityError, gate_failures, raise_failures
from runtime.engines.onnx import X64_QUANT_PRECISION
from runtime.model import Classifier

RUNTIME = [f for f in FORMATS if not f.compare_with]  # compared with a Keras model (TFLM: test_tflm.py)
FLOAT = [f for f in RUNTIME if f.precision is Precision.FLOAT]
INT8 = [f for f in RUNTIME if f.precision is Precision.INT8]
LEVEL = 1 / 256  # one step of the int8 softmax output (scale 1/256)

# Float files run the same float32 graph as Keras, with other kernels and summation orders:
# they differ by float32 rounding (about 1e-6 here). The production gate's 1e-4 bounds it.
FLOAT_TOL = 1e-4
# QAT simulates the int8 grid in float, rounding once per layer; the int8 kernels requantize in
# integers. Each of the 6 layers can round one step the other way, and a step in a late layer
# moves the softmax by a few levels (5 seen on this fixture). 12 levels bound it with room.
QAT_TOL = 12 * LEVEL
# The int8 ONNX carries the TFLite's scales, but onnxruntime re-quantizes the classifier per
# channel (a finer grid than TFLite's per-tensor one, see export/onnx.py): a few levels apart
# (7 seen on this fixture). The same 12 levels bound it.
CROSS_TOL = 12 * LEVEL


def margin(probabilities: np.ndarray) -> np.ndarray:
    top = np.sort(probabilities, axis=1)
    return top[:, -1] - top[:, -2]


def assert_within(reference: np.ndarray, probabilities: np.ndarray, tol: float) -> None:
    """Outputs within `tol` of the reference, and the same answer wherever the reference is decisive."""
    diff = np.abs(probabilities.astype(np.float64) - reference.astype(np.float64)).max(axis=1)
    assert diff.max() <= tol, f"max |diff| {diff.max():.3g} > {tol:.3g} (image {int(diff.argmax())})"
    decisive = margin(reference) > 2 * tol
    flipped = np.flatnonzero(decisive & (probabilities.argmax(1) != reference.argmax(1)))
    assert flipped.size == 0, f"answers differ on decisive images {flipped.tolist()}"
    assert decisive.mean() > 0.9, decisive.mean()  # the check covers nearly every image


def run_format(artifacts, fmt, x):
    return Classifier.load(artifacts / fmt.filename, fmt.engine).probabilities(x)


@pytest.mark.parametrize("fmt", FLOAT, ids=lambda f: f.name)
def test_float_file_matches_float_keras(converted, keras_references, fmt):
    probs = run_format(converted, fmt, keras_references["x"])
    assert_within(keras_references["keras_float"], probs, FLOAT_TOL)


@pytest.mark.parametrize("fmt", INT8, ids=lambda f: f.name)
def test_int8_file_agrees_with_qat_keras(converted, keras_references, fmt):
    probs = run_format(converted, fmt, keras_references["x"])
    assert_within(keras_references["keras_qat"], probs, QAT_TOL)
    # int8 costs the model little: within 1 point of the float model (10 of these 1,000 images)
    y = keras_references["y"]
    float_accuracy = (keras_references["keras_float"].argmax(1) == y).mean()
    assert (probs.argmax(1) == y).mean() >= float_accuracy - 0.01


def test_int8_files_agree_with_each_other(converted, keras_references):
    lite, onnx = (run_format(converted, fmt, keras_references["x"]) for fmt in INT8)
    assert_within(lite, onnx, CROSS_TOL)


@pytest.mark.parametrize("fmt", INT8, ids=lambda f: f.name)
def test_int8_files_are_really_int8(converted, tmp_path, fmt):
    path = converted / fmt.filename
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
        options.optimized_model_filepath = str(tmp_path / "optimized_int8.onnx")
        options.add_session_config_entry(X64_QUANT_PRECISION, "1")  # as the runtime's sessions
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        fused = onnx.load(options.optimized_model_filepath)
        ops = {node.op_type for node in fused.graph.node}
        assert "QLinearConv" in ops and "Conv" not in ops, ops


def test_int8_files_are_under_30_percent_of_float(converted):
    for fmt in INT8:
        twin = next(f for f in FLOAT if f.suffix == fmt.suffix)
        ratio = (converted / fmt.filename).stat().st_size / (
            converted / twin.filename).stat().st_size
        assert ratio <= 0.30, f"{fmt.name} is {ratio:.0%} of {twin.name}"


def test_manifest_describes_every_file(converted):
    from runtime.manifest import sha256_of

    manifest = json.loads((converted / MANIFEST_NAME).read_text())
    assert manifest["labels"] == [str(d) for d in range(10)]
    assert set(manifest["files"]) == {fmt.filename for fmt in FORMATS}
    for fmt in FORMATS:
        entry = manifest["files"][fmt.filename]
        path = converted / fmt.filename
        assert entry["sha256"] == sha256_of(path) and entry["size_bytes"] == path.stat().st_size
        assert entry["input"]["shape"] == [1, 28, 28, 1]
        if fmt.name == "tflite_int8":
            assert entry["input"]["dtype"] == "int8"
            assert entry["input"]["scale"] == pytest.approx(1 / 255, rel=1e-3)
    provenance = manifest["provenance"]
    assert {"git_commit", "data", "params", "versions", "training"} <= set(provenance)
    assert provenance["training"]["backend"] == "tensorflow"


@pytest.mark.parametrize("fmt", RUNTIME, ids=lambda f: f.name)
def test_each_file_carries_its_own_metadata(converted, fmt):
    path = converted / fmt.filename
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
        raise_failures(gate_failures(rows, keras_float_accuracy=0.99,
                                     gates=Gates(float_max_abs_diff=1e-4, int8_min_agreement=0.998,
                                                 int8_max_accuracy_drop=0.002, int8_cross_agreement=0.999,
                                                 min_accuracy=0.5)))
    message = str(error.value)
    assert all(f.name in message for f in FORMATS) and "onnx_int8 agrees with tflite_int8, which it is derived from, on unmeasured" in message


def test_expected_calibration_error():
    from export.parity import expected_calibration_error

    labels = np.array([0, 1, 1, 0])
    confident_and_right = np.array([[0.99, 0.01], [0.01, 0.99], [0.02, 0.98], [0.97, 0.03]])
    assert expected_calibration_error(confident_and_right, labels) == pytest.approx(1 - 0.9825)
    half_right_but_sure = np.array([[0.99, 0.01], [0.99, 0.01], [0.02, 0.98], [0.03, 0.97]])
    assert expected_calibration_error(half_right_but_sure, labels) == pytest.approx(0.4825)


def test_a_model_under_the_accuracy_floor_fails_however_well_its_files_agree():
    """The other gates compare files with each other: a 13% model whose files all agree passed them."""
    rows = {f.name: {"max_abs_diff": 0.0, "agreement": 1.0, "accuracy": 0.134, "agreement_with_source": 1.0}
            for f in FORMATS}
    gates = Gates(float_max_abs_diff=1e-4, int8_min_agreement=0.998, int8_max_accuracy_drop=0.002,
                  int8_cross_agreement=0.999, min_accuracy=0.98)
    failures = gate_failures(rows, 0.134, gates)
    assert failures[0].startswith("keras_float: accuracy 13.4000% < 98.00% (min_accuracy)")
    assert len(failures) == 1 + len(FORMATS)  # and every file, each on its own line
    assert gate_failures(rows, 0.134, dataclasses.replace(gates, min_accuracy=0.1)) == []
    # the floor is one gate more: an int8 file under it is still held to its agreement
    int8 = next(f.name for f in FORMATS if not f.precision.exact)
    rows[int8]["agreement"] = 0.5
    failures = gate_failures(rows, 0.134, gates)
    assert any(line.startswith(f"{int8}: agreement with") for line in failures)
    assert any(line.startswith(f"{int8}: accuracy 13.4000%") for line in failures)
