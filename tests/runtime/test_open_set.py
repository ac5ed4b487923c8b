"""A model with an 11th output, "not a digit" (qat.open_set.route: class): it loads in both engines,
its "not a digit" answer is `NoDigitError` in the API and "no digit found" in the CLI (text and
JSON), and a digit answer names digits only. A plain 10-class model still loads."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runtime import Classifier
from runtime.classify import main as classify_main
from runtime.digits import NOT_A_DIGIT, OPEN_SET_LABELS
from runtime.errors import NoDigitError

ROOT = Path(__file__).resolve().parents[2]
OPEN_SET = ROOT / "tests" / "fixtures" / "model_open_set"


def constant_onnx(path: Path, winner: int, outputs: int = 11, second: int | None = None) -> Path:
    """A tiny ONNX digit model whose answer is always `winner` (about 94%), whatever the image; with
    `second`, that label comes next (the others share what is left)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    bias = np.zeros(outputs, np.float32)
    bias[winner] = 5.0
    if second is not None:
        bias[second] = 2.0
    nodes = [helper.make_node("Reshape", ["image", "shape"], ["flat"]),
             helper.make_node("MatMul", ["flat", "weights"], ["mixed"]),
             helper.make_node("Add", ["mixed", "bias"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    graph = helper.make_graph(
        nodes, "constant", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 28, 28, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", outputs])],
        [numpy_helper.from_array(np.array([-1, 784], np.int64), "shape"),
         numpy_helper.from_array(np.zeros((784, outputs), np.float32), "weights"),
         numpy_helper.from_array(bias, "bias")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def load(path: Path, **options) -> Classifier:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no manifest beside a test model
        return Classifier.load(path, **options)


@pytest.fixture
def picture(tmp_path, mnist_sample) -> Path:
    path = tmp_path / "seven.png"
    Image.fromarray(255 - mnist_sample["x_test"][0]).save(path)
    return path


def test_not_a_digit_is_no_digit_error_in_the_api(tmp_path, picture):
    classifier = load(constant_onnx(tmp_path / "none.onnx", winner=10))
    with pytest.raises(NoDigitError, match=f'no digit found \\(the model answers "{NOT_A_DIGIT}", 9[0-9.]+%\\)'):
        classifier.predict(picture)
    results = classifier.predict_batch([picture, picture])
    assert [r.ok for r in results] == [False, False]
    assert results[1].error.startswith("item 1: no digit found") and isinstance(results[1].exception, NoDigitError)
    [result] = classifier.classify_paths([picture])
    assert not result.ok and result.error.startswith("no digit found")


def test_a_digit_answer_names_digits_only(tmp_path, picture):
    classifier = load(constant_onnx(tmp_path / "seven.onnx", winner=7))
    prediction = classifier.predict(picture, top_k=10)
    assert prediction.label == 7 and prediction.probabilities.shape == (11,)
    assert [label for label, _ in prediction.top_k] == [7, *range(7), 8, 9]  # ties in label order, never 10
    assert prediction.probabilities.sum() == pytest.approx(1.0)


def test_not_a_digit_is_no_digit_found_in_the_cli(tmp_path, picture, capsys):
    model = constant_onnx(tmp_path / "none.onnx", winner=10)
    assert classify_main([str(picture), "--model", str(model)]) == 1
    err = capsys.readouterr().err
    assert f"{picture}: error: no digit found (the model answers \"{NOT_A_DIGIT}\"" in err
    assert classify_main([str(picture), "--model", str(model), "--json"]) == 1
    line = json.loads(capsys.readouterr().out)
    assert line["path"] == str(picture) and line["error"].startswith("no digit found")


def test_always_digit_answers_the_likeliest_digit(tmp_path, picture, capsys):
    model = constant_onnx(tmp_path / "none.onnx", winner=10, second=7)
    classifier = load(model, always_digit=True)
    prediction = classifier.predict(picture, top_k=2)
    assert prediction.label == 7 and prediction.top_k[1][0] != 10
    assert prediction.probabilities[10] == 0 and prediction.probabilities.sum() == pytest.approx(1.0)
    # the digits keep the model's proportions: e**2 against e**0 for each of the other nine
    assert prediction.probability == pytest.approx(np.e**2 / (np.e**2 + 9), rel=1e-5)
    assert [r.prediction.label for r in classifier.predict_batch([picture, picture])] == [7, 7]
    assert [r.prediction.label for r in classifier.classify_paths([picture])] == [7]
    assert classifier.read(picture).text == "7"
    assert classify_main([str(picture), "--model", str(model), "--always-digit", "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["label"] == 7 and "error" not in line
    with pytest.raises(NoDigitError):  # the default still refuses
        load(model).predict(picture)


def test_always_digit_still_finds_no_digit_in_a_blank_picture(tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    classifier = load(constant_onnx(tmp_path / "none.onnx", winner=10, second=7), always_digit=True)
    with pytest.raises(NoDigitError, match="no digit found"):
        classifier.predict(blank)


def test_always_digit_leaves_a_row_without_digits_refused():
    from runtime.model import digits_only, to_prediction

    rows = np.array([[0.0] * 10 + [1.0], [0.5] + [0.0] * 9 + [0.5]], np.float32)  # an int8 output can say that
    out = digits_only(rows)
    np.testing.assert_array_equal(out[0], rows[0])
    np.testing.assert_array_equal(out[1], [1.0] + [0.0] * 10)
    ten = np.array([[0.25] * 2 + [0.0] * 8], np.float32)  # a 10-class model's rows are left as they are
    assert digits_only(ten) is ten
    with pytest.raises(NoDigitError, match=r'"not a digit", 100.0%, and gives no digit any probability\)'):
        to_prediction(out[0])


def test_always_digit_must_be_a_bool(tmp_path):
    from runtime.errors import InputError

    with pytest.raises(InputError, match="always_digit must be True or False, got 'yes'"):
        load(constant_onnx(tmp_path / "none.onnx", winner=10), always_digit="yes")


def test_a_ten_class_model_still_loads(tmp_path, picture):
    model = constant_onnx(tmp_path / "ten.onnx", winner=3, outputs=10)
    assert load(model).predict(picture).label == 3
    prediction = load(model, always_digit=True).predict(picture)  # nothing to set aside
    assert prediction.label == 3 and prediction.probabilities.shape == (10,)


@pytest.mark.parametrize("outputs", [9, 12])
def test_other_output_widths_are_refused(tmp_path, outputs):
    from runtime.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match=r"output shape \[1, %d\].*\[N, 10\] \(or \[N, 11\]" % outputs):
        load(constant_onnx(tmp_path / "odd.onnx", winner=0, outputs=outputs))


@pytest.mark.parametrize("name", ["model_int8.tflite", "model_int8.onnx"])
def test_the_open_set_fixture_loads_in_both_engines_with_its_labels(name, mnist_sample):
    manifest = json.loads((OPEN_SET / "manifest.json").read_text())
    assert manifest["labels"] == list(OPEN_SET_LABELS)
    assert manifest["files"][name]["output"]["shape"] == [1, 11]
    classifier = Classifier.load(OPEN_SET / name)  # verified against its manifest
    images = mnist_sample["x_test"][:50].astype(np.float32)[..., None] / 255
    probabilities = classifier.probabilities(images)
    assert probabilities.shape == (50, 11)
    assert (probabilities.argmax(1) == mnist_sample["y_test"][:50]).mean() > 0.8
