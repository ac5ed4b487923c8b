"""runtime/: the embeddable package and its CLI. Bundled model, integrity checks, bad input."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tools.synthetic import draw_digit
from runtime import Classifier, InputError, ModelIntegrityError, ModelLoadError, Prediction
from runtime.classify import main
from runtime.model import BUNDLED_DIR, MANIFEST_NAME, open_engine

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("tensorflow", "keras", "tf_keras", "tf2onnx")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pictures")
    out = {}
    for digit in (0, 3, 7):
        path = folder / "digits" / f"d{digit}.png"
        path.parent.mkdir(exist_ok=True)
        draw_digit(digit, 120, 80, (25, 20)).save(path)
        out[f"d{digit}"] = path
    (folder / "digits" / "nested").mkdir()
    draw_digit(4, 64, 40, (10, 10), ink=255, paper=0).save(folder / "digits" / "nested" / "d4.jpg")
    out["blank"] = folder / "blank.png"
    Image.new("L", (100, 100), 255).save(out["blank"])
    out["empty"] = folder / "empty.png"
    out["empty"].write_bytes(b"")
    out["text"] = folder / "notes.png"
    out["text"].write_text("this is not a picture\n")
    out["truncated"] = folder / "truncated.png"
    out["truncated"].write_bytes(out["d7"].read_bytes()[:200])
    out["tiny"] = folder / "tiny.png"
    Image.new("L", (1, 1), 0).save(out["tiny"])
    out["bomb"] = folder / "bomb.png"
    out["bomb"].write_bytes(png_claiming_size(30000, 30000))
    out["no_images"] = folder / "empty_folder"
    out["no_images"].mkdir()
    (out["no_images"] / "readme.txt").write_text("no pictures here")
    return out


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image: a decompression bomb in 100 bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(
        b"IEND", b"")


def test_import_and_cli_never_load_the_training_stack(pictures):
    code = (
        "import sys, runtime, runtime.classify\n"
        "runtime.Classifier.load().predict(sys.argv[1])\n"
        "runtime.classify.main([sys.argv[1], '--json'])\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(pictures["d7"])], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-800:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_public_surface():
    import runtime
    from runtime import errors

    error_types = {name for name, value in vars(errors).items()
                   if isinstance(value, type) and value.__module__ == errors.__name__}
    assert error_types >= {"ClassifierError", "InputError", "UnverifiedModelWarning"}
    assert set(runtime.__all__) >= {"Classifier", "Prediction", "Result", "preprocess_image", *error_types}
    import importlib

    for name in runtime.__all__:
        module = importlib.import_module(runtime._EXPORTS[name], "runtime")
        assert getattr(runtime, name) is getattr(module, name), name
    assert sorted(dir(runtime)) == sorted(runtime.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        runtime.nope  # noqa: B018


@pytest.mark.parametrize("engine", ["litert", "onnx"])
def test_bundled_model_predicts_every_input_kind(pictures, engine):
    classifier = Classifier.load(engine=engine)
    assert classifier.path.parent == BUNDLED_DIR and classifier.manifest_entry["precision"] == "int8"
    path = pictures["d7"]
    image = Image.open(path)
    array = np.asarray(image)
    for single in (path, str(path), path.read_bytes(), image, array):
        prediction = classifier.predict(single, top_k=3)
        assert isinstance(prediction, Prediction) and prediction.label == 7
        assert len(prediction.top_k) == 3 and prediction.top_k[0] == (7, prediction.probability)
        labels = json.loads((BUNDLED_DIR / "manifest.json").read_text())["labels"]  # 11 with "not a digit"
        assert prediction.probabilities.shape == (len(labels),) and abs(prediction.probabilities.sum() - 1) < 0.05
    batch = classifier.predict_batch([pictures["d0"], pictures["d3"], image, path.read_bytes()])
    assert [r.prediction.label for r in batch] == [0, 3, 7, 7]
    assert [r.path for r in batch] == [str(pictures["d0"]), str(pictures["d3"]), "[2]", "[3]"]
    stacked = classifier.predict_batch(np.stack([array, array]))
    assert [r.prediction.label for r in stacked] == [7, 7]


@pytest.mark.parametrize("several", [
    [], ["a.png"], ("a.png",), (name for name in ["a.png"]), {"a.png"},
    np.zeros((2, 28, 28)), np.zeros((1, 28, 28, 1)), np.zeros((28, 28, 2)),
], ids=["empty list", "list", "tuple", "generator", "set", "(N, H, W)", "(N, H, W, C)", "(H, W, 2)"])
def test_predict_takes_one_image_and_names_predict_batch_for_several(several):
    with pytest.raises(InputError, match=r"^predict takes one image, .*; for a batch use predict_batch\(images\)$"):
        Classifier.load().predict(several)


@pytest.mark.parametrize("one", ["a.png", Path("a.png"), b"\x89PNG", bytearray(b"x"), np.zeros((28, 28)),
                                 Image.new("L", (28, 28))],
                         ids=["str", "Path", "bytes", "bytearray", "(H, W)", "PIL image"])
def test_predict_batch_takes_several_and_names_predict_for_one(one):
    with pytest.raises(InputError, match=r"^predict_batch takes .*; for one image use predict\(image\)$"):
        Classifier.load().predict_batch(one)


def test_predict_batch_of_nothing_is_an_empty_list():
    assert Classifier.load().predict_batch([]) == []
    with pytest.raises(InputError, match="^predict_batch takes an iterable of images, got int$"):
        Classifier.load().predict_batch(7)
    with pytest.raises(InputError, match=r"not a mapping \(dict\); pass its values: predict_batch\(images.values\(\)\)$"):
        Classifier.load().predict_batch({"a.png": 1})


def test_int8_input_quantization_is_read_from_the_model():
    from ai_edge_litert.interpreter import Interpreter

    path = BUNDLED_DIR / "model_int8.tflite"
    engine = open_engine(path)
    detail = Interpreter(model_path=str(path)).get_input_details()[0]
    scale, zero_point = detail["quantization"]
    assert engine.input_quantization.scale == pytest.approx(scale)
    assert engine.input_quantization.zero_point == zero_point
    manifest = json.loads((BUNDLED_DIR / MANIFEST_NAME).read_text())
    assert manifest["files"]["model_int8.tflite"]["input"]["zero_point"] == zero_point


@pytest.fixture
def model_copy(tmp_path) -> Path:
    for name in ("model_int8.tflite", "model_int8.onnx", MANIFEST_NAME):
        shutil.copyfile(BUNDLED_DIR / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("name", ["model_int8.tflite", "model_int8.onnx"])
def test_tampered_model_is_refused(model_copy, name):
    path = model_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=f"{name}: sha256 .* does not match the manifest"):
        Classifier.load(path)


@pytest.mark.parametrize("name", ["model_int8.tflite", "model_int8.onnx"])
def test_truncated_model_is_refused_with_or_without_manifest(model_copy, name, capsys):
    path = model_copy / name
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelIntegrityError):
        Classifier.load(path)
    (model_copy / MANIFEST_NAME).unlink()
    with pytest.raises(ModelLoadError, match=str(path).replace(".", r"\.")) as error:
        Classifier.load(path)
    assert "\n" not in str(error.value)


def test_onnx_that_is_really_tflite(model_copy):
    """The file's kind is named first, with a manifest beside it or without: "not listed" would
    send the user to the manifest, where the fix is the name or the engine."""
    fake = model_copy / "renamed.onnx"
    shutil.copyfile(model_copy / "model_int8.tflite", fake)
    with pytest.raises(ModelLoadError, match="renamed.onnx: is a TFLite file, not ONNX"):
        Classifier.load(fake)
    listed = model_copy / "model_int8.onnx"
    with pytest.raises(ModelLoadError, match=r"model_int8.onnx: not a TFLite file \(no TFL3 identifier\); use the onnx engine \(--engine onnx, or engine=\"onnx\"\)$"):
        Classifier.load(listed, engine="litert")
    for other in (model_copy / MANIFEST_NAME, model_copy / "notes.h"):
        other.touch()
        with pytest.raises(ModelLoadError, match=f"{other.name}: unknown model type; expected .tflite or .onnx"):
            Classifier.load(other)
    (model_copy / MANIFEST_NAME).unlink()
    with pytest.raises(ModelLoadError, match="renamed.onnx: is a TFLite file, not ONNX"):
        Classifier.load(fake)


def test_an_engine_without_a_bundled_model_names_where_the_pipeline_writes_one():
    with pytest.raises(ModelLoadError, match=r"no bundled model runs in c .*; pass --model PATH \(the export stage "
                                             r"writes artifacts/edge_digits_int8.c, its .h beside it\)$"):
        Classifier.load(engine="c")


def test_wrong_input_shape_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 32, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32, 32, 3])],
    )
    path = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ModelLoadError, match=r"other.onnx: input shape \[1, 32, 32, 3\] is not a digit model"):
        Classifier.load(path)


def test_explicit_model_without_manifest_loads_with_a_warning(model_copy, capsys):
    from runtime import UnverifiedModelWarning

    (model_copy / MANIFEST_NAME).unlink()
    with pytest.warns(UnverifiedModelWarning, match="not verified"):
        classifier = Classifier.load(model_copy / "model_int8.onnx")
    assert classifier.manifest_entry is None
    assert capsys.readouterr().err == ""  # a library warns; it does not print
    with pytest.raises(ModelIntegrityError):
        Classifier.load(model_copy / "model_int8.onnx", require_manifest=True)
    # The CLI shows it as one of its own lines.
    assert main(["--model", str(model_copy / "model_int8.onnx"), str(model_copy / "none.png")]) == 1
    err = capsys.readouterr().err
    assert f"warning: {model_copy / 'model_int8.onnx'}: no {MANIFEST_NAME} beside it; the model is not verified" in err


def test_cli_text_output(pictures, capsys):
    assert main([str(pictures["d7"])]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"{pictures['d7']}: 7 (") and out.endswith("%)")


def test_cli_json_and_folders(pictures, capsys):
    folder = pictures["d0"].parent
    assert main([str(folder), "--json", "--top-k", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [Path(r["path"]).name for r in rows] == ["d0.png", "d3.png", "d7.png", "d4.jpg"]
    assert [r["label"] for r in rows] == [0, 3, 7, 4]
    assert all(len(r["top_k"]) == 2 and r["top_k"][0][0] == r["label"] for r in rows)
    assert all(isinstance(r["probability"], float) for r in rows)


@pytest.mark.parametrize("key, message", [
    ("blank", "no digit found"),
    ("empty", "empty file (0 bytes)"),
    ("text", "not an image"),
    ("truncated", "corrupt or truncated image"),
    ("tiny", "too small to hold a digit"),
    ("bomb", "too large to decode safely"),
    ("no_images", "folder contains no images"),
])
def test_cli_bad_inputs_fail_alone_with_one_line(pictures, capsys, key, message):
    assert main([str(pictures[key]), str(pictures["d3"])]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == f"{pictures['d3']}: 3 (" + captured.out.strip().split(": 3 (")[1]
    assert captured.err.count("\n") == 1 and message in captured.err and "Traceback" not in captured.err


def test_cli_json_error_objects(pictures, capsys):
    missing = str(pictures["d0"].parent / "missing.png")
    assert main([missing, str(pictures["d0"]), "--json"]) == 1
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first == {"path": missing, "error": "no such file or folder"}
    assert second["label"] == 0


def test_cli_usage_errors_exit_2(pictures, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["--top-k", "0", str(pictures["d0"])])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert main(["--model", str(tmp_path / "nope.onnx"), str(pictures["d0"])]) == 2
    assert "nope.onnx: no such model file" in capsys.readouterr().err


def test_a_file_named_like_an_option_is_named_in_the_usage_error(pictures, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-x.png").write_bytes(pictures["d7"].read_bytes())
    with pytest.raises(SystemExit) as exit_info:
        main(["-x.png"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: '-x.png' is a file, read as an option: put -- before the file names" in err
    with pytest.raises(SystemExit):
        main(["--all", "-x.png"])
    assert "(python -m runtime.classify --all -- -x.png)" in capsys.readouterr().err
    assert main(["--", "-x.png"]) == 0 and capsys.readouterr().out.startswith("-x.png: 7 (")


def test_module_entry_point_runs_as_a_process(pictures):
    result = subprocess.run([sys.executable, "-m", "runtime.classify", str(pictures["d7"]), "--engine", "onnx"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(f"{pictures['d7']}: 7 (")


def test_bundled_int8_onnx_answers_as_the_bundled_int8_tflite(mnist_sample):
    """Both int8 files carry the same scales, so onnxruntime and LiteRT must agree on every picture
    of the committed MNIST sample, on every x86-64 CPU: without VNNI, onnxruntime's default uint8 x
    int8 kernels saturate and changed 7 of these 4,000 answers (runtime/engines/onnx.py)."""
    x = np.concatenate([mnist_sample["x_train"], mnist_sample["x_test"]]).astype(np.float32)[..., None] / 255
    lite = Classifier.load(BUNDLED_DIR / "model_int8.tflite", "litert").probabilities(x)
    onnx = Classifier.load(BUNDLED_DIR / "model_int8.onnx", "onnx").probabilities(x)
    # Where the answer is decisive, a few steps of the 1/256 output grid apart (onnxruntime's
    # classifier is quantized per channel) and the same answer. Nearer a tie the softmax magnifies a
    # step of the logits (by p(1 - p)), so there only the pipeline's gate holds: 99.9% of the answers
    # the same (without VNNI, saturating kernels changed 7 of these 4,000: 99.83%).
    decisive = lite.max(axis=1) > 0.9
    assert decisive.mean() > 0.9
    assert np.abs(lite - onnx)[decisive].max() <= 16 / 256
    assert np.array_equal(lite.argmax(1)[decisive], onnx.argmax(1)[decisive])
    assert (lite.argmax(1) == onnx.argmax(1)).mean() >= 0.999  # evaluate.gates.int8_cross_agreement


@pytest.mark.parametrize("argv0, main_spec, prog", [
    ("/venv/bin/classify-digit", None, "classify-digit"),  # the wheel's console script
    ("-m", "edge_digits.classify", "python -m edge_digits.classify"),  # the wheel, as a module
    ("-m", "runtime.classify", "python -m runtime.classify"),  # a checkout
    ("app.py", "__main__", "python -m runtime.classify"),  # main() called from an app
])
def test_usage_names_the_command_that_was_run(monkeypatch, capsys, argv0, main_spec, prog):
    """`python -m runtime.classify` is no command where only the wheel is installed."""
    import types

    from runtime import classify

    fake_main = types.ModuleType("__main__")
    fake_main.__spec__ = None if main_spec is None else types.SimpleNamespace(name=main_spec)
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    monkeypatch.setattr(sys, "argv", [argv0])
    with pytest.raises(SystemExit):
        classify.parse_args([])
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"{prog}: error: the following arguments are required")
