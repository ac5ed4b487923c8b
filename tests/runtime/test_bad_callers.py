"""What a careless or hostile caller hands the API and the CLI: broken PIL images, things that are
not paths, a picture of two digits through every entry point, numpy settings, a closed stdout, a
usage error, and signal handlers around `main`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runtime import Classifier, InputError
from runtime.classify import _stop, format_text, main, to_json
from runtime.model import Result
from tools.synthetic import draw_digit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.load()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("callers")
    out = {"seven": folder / "seven.png", "two": folder / "two digits.png", "cut": folder / "cut.png"}
    draw_digit(7, 120, 80, (25, 20)).save(out["seven"])
    out["cut"].write_bytes(out["seven"].read_bytes()[:300])
    page = Image.new("L", (400, 200), 255)
    page.paste(draw_digit(3, 150, 110, (20, 20)), (20, 25))
    page.paste(draw_digit(5, 150, 110, (20, 20)), (220, 25))
    page.save(out["two"])
    return out


def test_a_broken_pil_image_is_that_items_error_alone(classifier, files):
    seven = np.asarray(Image.open(files["seven"]).convert("L"))
    good, bad = classifier.predict_batch([seven, Image.open(files["cut"])])
    assert good.ok and good.prediction.label == 7
    assert not bad.ok and bad.error.startswith("item 1: cannot read this PIL image (")
    with pytest.raises(InputError, match="cannot read this PIL image"):
        classifier.predict(Image.open(files["cut"]))
    closed = Image.open(files["seven"])
    closed.load()
    closed.close()
    with pytest.raises(InputError, match=r"image not closed\?$"):
        classifier.predict(closed)


def test_what_is_not_a_path_is_that_items_error_alone(classifier, files):
    contents = Path(files["seven"]).read_bytes()  # an image's bytes, passed where names go
    results = list(classifier.classify_paths([files["seven"], "/tmp/a\0b.png", None, 5, b"", contents]))
    assert [r.ok for r in results] == [True, False, False, False, False, False]
    assert results[1].error == "not a valid path (it holds a NUL byte)"
    assert results[5].path == f"<{len(contents):,} bytes>" and results[5].error == (
        "not a file name (it holds a NUL byte); pass an image's contents to predict or predict_batch, and file names here")
    assert results[2].path == "None" and results[2].error == "not a path (NoneType); pass a file or folder name"
    assert results[3].error == "not a path (int); pass a file or folder name"
    assert results[4].error == "empty path"


def test_one_line_errors_name_the_trouble(classifier, files):
    with pytest.raises(InputError, match="^empty path; pass an image file$"):
        classifier.predict("")
    long = "/tmp/" + "a" * 5000 + ".png"
    with pytest.raises(InputError) as error:
        classifier.predict(long)
    message = str(error.value)
    assert message.endswith(": cannot open (File name too long)") and len(message) < 300
    with pytest.raises(InputError, match="not a valid path"):
        classifier.predict("/tmp/a\0b.png")
    with pytest.raises(InputError, match="^cannot classify an object of type int; pass a path"):
        classifier.predict(5)

    class Named:  # any os.PathLike, as pathlib's paths are
        def __fspath__(self) -> str:
            return str(files["seven"])

    assert classifier.predict(Named()).label == 7
    assert classifier.predict_batch([Named()])[0].path == str(files["seven"])


def test_every_entry_point_says_how_many_digits_it_saw(classifier, files):
    one = classifier.predict(files["two"], top_k=1)
    batch = classifier.predict_batch([files["two"]], top_k=1)[0]
    listed = next(classifier.classify_paths([files["two"]], top_k=1))
    assert one.digits == 2
    assert batch.prediction == one and listed.prediction == one
    assert listed.note == "found 2 digits: the one with the most ink was classified (--all, or Classifier.read, reads every one)"
    assert classifier.predict(files["seven"]).digits == 1


def typed(text: str, font: str = "DejaVuSans") -> Image.Image:
    from PIL import ImageDraw, ImageFont

    face = ImageFont.truetype(f"/usr/share/fonts/truetype/dejavu/{font}.ttf", 90)
    picture = Image.new("L", (int(face.getlength(text)) + 40, 130), 255)
    ImageDraw.Draw(picture).text((20, 10), text, font=face, fill=0)
    return picture


@pytest.mark.parametrize("text", ["73", "2026", "31415"])
def test_a_number_typed_on_one_line_is_its_digits_not_one_mark(classifier, text, tmp_path):
    """Typed close together, a number's digits are one group of strokes, which the model answered
    "not a digit": `predict` answers one of its digits, and says how many there are, on every entry point."""
    path = tmp_path / f"{text}.png"
    typed(text).save(path)
    one = classifier.predict(path, top_k=1)
    assert str(one.label) in text and one.digits == len(text)
    assert classifier.predict_batch([path], top_k=1)[0].prediction == one
    listed = next(classifier.classify_paths([path], top_k=1))
    assert listed.prediction == one and listed.note.startswith(f"found {len(text)} digits: the one with the most ink")
    assert classifier.read(path).text == text


def test_ten_digits_typed_on_one_line_are_not_noise(classifier):
    """Ten digits in one group of strokes are too many pieces for one digit; that group was called
    noise. Its columns are the digits: `predict` answers the one with the most ink, and says ten."""
    from PIL import ImageDraw, ImageFont

    face = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 116)
    # Halved exactly to the working size: from a 2200 px picture the model inputs differed a little
    # between x86-64 and aarch64, and the emulated machine's read lost the 0.
    picture = Image.new("L", (1280, 175), 255)
    ImageDraw.Draw(picture).text((23, 23), "1234567890", font=face, fill=0)
    prediction = classifier.predict(picture)
    assert prediction.digits == 10 and prediction.probability > 0.9


def test_a_row_of_typed_digits_is_not_ruled_paper_for_predict(classifier):
    """The aligned tops and bottoms of ten digits typed on a 612 px line fall on three Hough lines,
    which `predict` cleared as ruled paper, cutting the digits into pairs it answered "not a digit".
    A line needs strokes along most of its length (LINE_COVERAGE), as `read`'s did."""
    from PIL import ImageDraw, ImageFont

    face = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 90)
    picture = Image.new("L", (612, 144), 255)
    ImageDraw.Draw(picture).text((20, 18), "1234567890", font=face, fill=0)
    prediction = classifier.predict(picture)
    assert prediction.digits == 10 and str(prediction.label) in "1234567890"
    assert classifier.read(picture).text == "1234567890"


def test_always_digit_reads_a_number_as_its_digits_too():
    """The flag makes every answer a digit; whether a group is one digit or a number's digits is still
    the model's own call (it answered one confident, wrong digit for the whole number before)."""
    flagged = Classifier.load(always_digit=True)
    for text, font in (("10", "DejaVuSerif"), ("8080", "DejaVuSans-Bold"), ("2026", "DejaVuSans")):
        prediction = flagged.predict(typed(text, font))
        assert str(prediction.label) in text and prediction.digits == len(text)
        assert prediction.probabilities[-1] == 0  # "not a digit" is never the answer with the flag


def test_mnist_digits_side_by_side_are_read_as_several(classifier, mnist_sample):
    images, labels = mnist_sample["x_test"], mnist_sample["y_test"]
    read = 0
    for start in range(0, 60, 3):
        strip = np.pad(np.hstack([np.pad(image, ((0, 0), (0, 4))) for image in images[start : start + 3]]), 10)
        try:
            prediction = classifier.predict(strip)
        except InputError:
            continue
        read += prediction.digits == 3 and prediction.label in labels[start : start + 3]
    assert read >= 15  # of 20 (none before: the row was one mark, answered "not a digit" or wrongly)


def test_predict_takes_columns_for_digits_only_where_each_stands_apart():
    """The columns of an H in chalk or of a U of segments touch or overlap (read as 4 1 and 6 1 in the
    independent look split); a typed number's stand apart."""
    from runtime.find import Found
    from runtime.preprocess import _apart, prepare_image

    def column(left: int, right: int) -> Found:
        return Found(np.zeros((2, 2), np.float32), (left, 0, right, 10), 1)

    assert _apart([column(20, 30), column(0, 10), column(40, 50)])
    assert not _apart([column(0, 10), column(10, 20)]) and not _apart([column(0, 12), column(10, 20)])
    assert prepare_image(typed("2026")).parts.shape == (4, 28, 28, 1)
    assert prepare_image(typed("7")).parts is None


def test_a_numpy_threshold_still_gives_json(classifier, files):
    prediction = classifier.predict(files["seven"], min_confidence=np.float32(0.5))
    assert type(prediction.uncertain) is bool
    assert json.loads(json.dumps(to_json(Result("x", prediction=prediction))))["uncertain"] is False


def test_the_text_output_carries_the_note(files, capsys):
    assert main([str(files["two"])]) == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith("(found 2 digits: the one with the most ink was classified (--all, or Classifier.read, reads every one))")
    assert format_text({"path": "a.png", "label": 3, "probability": 0.5, "top_k": [[3, 0.5]]}) == "a.png: 3 (50.0%)"


def test_a_usage_error_is_one_line(files, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--top-k", "0", str(files["seven"])])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("--top-k must be between 1 and 10, got 0 (see --help)\n")
    with pytest.raises(SystemExit):
        main(["--top-k", "many", str(files["seven"])])
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", "", str(files["seven"])])
    assert exit_info.value.code == 2
    assert "argument --model: an empty model path was given; pass a .tflite, .onnx or .cc file" in capsys.readouterr().err


def test_a_closed_stdout_is_a_one_line_error(files):
    done = subprocess.run(f"{sys.executable} -m runtime.classify '{files['seven']}' >&-", shell=True, cwd=ROOT,
                          capture_output=False, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: standard output is closed; redirect the results to a file or a pipe"


def test_a_closed_stderr_keeps_errors_out_of_the_results(files, tmp_path):
    """With `2>&-` the results on stdout stay results; the exit code says a file failed."""
    missing = tmp_path / "missing.png"
    done = subprocess.run(f"{sys.executable} -m runtime.classify '{files['seven']}' '{missing}' 2>&-", shell=True,
                          cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [f"{files['seven']}: 7 ({done.stdout.split('(')[1].split(')')[0]})"]


def test_main_puts_the_callers_handlers_back_and_the_command_keeps_its_own(files, capsys):
    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {signum: signal.getsignal(signum) for signum in stops}
    assert main([str(files["seven"])]) == 0
    assert {signum: signal.getsignal(signum) for signum in stops} == before
    try:
        assert main([str(files["seven"])], keep_stop_handlers=True) == 0
        assert all(signal.getsignal(signum) is _stop for signum in stops)
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    capsys.readouterr()


def test_model_path_errors_say_what_is_wrong(tmp_path, capsys):
    import os
    import shutil
    import warnings

    from runtime import ModelLoadError
    from runtime.model import BUNDLED_DIR

    fifo = tmp_path / "model.tflite"
    os.mkfifo(fifo)
    with pytest.raises(ModelLoadError, match="model.tflite: not a regular file; pass the model file itself$"):
        Classifier.load(fifo)
    copy = tmp_path / "copy" / "model.tflite"
    copy.parent.mkdir()
    shutil.copy(BUNDLED_DIR / "model_int8.tflite", copy)
    with pytest.raises(ModelLoadError, match="is a TFLite file, not ONNX; use the litert engine \(--engine litert, or engine=\"litert\"\)$"):
        Classifier.load(copy, "onnx")
    renamed = tmp_path / "copy" / "model.onnx"
    shutil.copy(copy, renamed)
    with pytest.raises(ModelLoadError, match="not ONNX; rename it to .tflite or use the litert engine \(--engine litert, or engine=\"litert\"\)$"):
        Classifier.load(renamed)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model at all")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not verified" warning before the load error
        with pytest.raises(ModelLoadError):
            Classifier.load(broken)
    assert main(["--model", str(broken), str(copy)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_microcontroller_engines_refuse_a_file_of_another_kind_in_one_line(tmp_path, files, capsys):
    import importlib.util
    import shutil
    import warnings

    from runtime import ModelLoadError
    from runtime.model import BUNDLED_DIR

    onnx = tmp_path / "model.onnx"
    shutil.copy(BUNDLED_DIR / "model_int8.onnx", onnx)
    cut = tmp_path / "cut.tflite"
    cut.write_bytes((BUNDLED_DIR / "model_int8.tflite").read_bytes()[:30000])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # these copies have no manifest
        with pytest.raises(ModelLoadError, match=r"model.onnx: not a C model \(the .c file .*; use the onnx engine \(--engine onnx, or engine=\"onnx\"\)$"):
            Classifier.load(onnx, "c")
        if importlib.util.find_spec("tflite_micro") is None:
            return
        with pytest.raises(ModelLoadError, match=r"model.onnx: not a TFLite file .*; use the onnx engine \(--engine onnx, or engine=\"onnx\"\)$"):
            Classifier.load(onnx, "tflm")
        with pytest.raises(ModelLoadError, match=r"cut.tflite: .*\(the model bytes are truncated or corrupt\)$"):
            Classifier.load(cut, "tflm")
    assert main(["--model", str(onnx), "--engine", "tflm", str(files["seven"])]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    # The bundled int8 TFLite is what TFLite Micro runs when no model is named.
    bundled = Classifier.load(engine="tflm")
    assert bundled.path == BUNDLED_DIR / "model_int8.tflite" and bundled.engine.name == "tflm"
    assert bundled.predict(files["seven"]).label == 7


def test_a_spent_or_closed_file_object_is_named_as_such(classifier, files):
    handle = open(files["seven"], "rb")
    handle.read()
    with pytest.raises(InputError, match=r"seven.png: file object gave no bytes \(.*seek\(0\) first\)$"):
        classifier.predict(handle)
    handle.seek(0)
    assert classifier.predict(handle).label == 7
    handle.close()
    with pytest.raises(InputError, match="seven.png: file object is closed; pass an open one, or the path$"):
        classifier.predict(handle)


def test_binary_streams_of_every_kind_and_their_failures_are_named_rightly():
    """A member of a zip (mode "r") or a gzip stream (mode an int) is binary, and read; a stream whose
    read fails, an async one, an unnamed temporary file at its end and a stream read from its middle
    each get a message that says what happened, not that the picture is corrupt."""
    import gzip
    import io
    import tempfile
    import zipfile

    from tools.synthetic import draw_digit

    buffer = io.BytesIO()
    draw_digit(3, 100, 60, (20, 20)).save(buffer, "PNG")
    png = buffer.getvalue()
    classifier = Classifier.load()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as writer:
        writer.writestr("x.png", png)
    assert classifier.predict(zipfile.ZipFile(archive).open("x.png")).label == 3
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb") as writer:
        writer.write(png)
    packed.seek(0)
    assert classifier.predict(gzip.GzipFile(fileobj=packed)).label == 3

    class Broken(io.RawIOBase):
        def readable(self):
            return True

        def read(self, size=-1):
            raise ConnectionResetError("client went away")

    class Upload:
        name = "upload.png"

        async def read(self):
            return png

    spooled = tempfile.SpooledTemporaryFile()
    spooled.write(png)  # not rewound
    middle = io.BytesIO(png)
    middle.seek(10)
    for source, message in (
        (Broken(), "<file object>: cannot read the file object (ConnectionResetError: client went away)"),
        (Upload(), "upload.png: the file object's read() is asynchronous; await it, and pass the bytes"),
        (spooled, "<file object>: file object gave no bytes (an empty file, or one already read to its end: "
                  "seek(0) first)"),
        (middle, "<file object>: not an image (or an unsupported format); it was read from position 10: "
                 "seek(0) first?"),
    ):
        with pytest.raises(InputError) as error:
            classifier.predict(source)
        assert str(error.value) == message


def test_a_grey_and_alpha_array_is_told_how_to_pass_it():
    grey = np.full((28, 28), 255, np.uint8)
    with pytest.raises(InputError, match=r"not shape \(28, 28, 2\): for grey with alpha pass \(H, W, 4\) or a PIL "
                                         r"image in mode 'LA'; for a batch use predict_batch\(images\)$"):
        Classifier.load().predict(np.dstack([grey, grey]))


def test_one_colour_picture_passed_to_predict_batch_is_refused_not_read_as_rows():
    """An (H, W, 3) array used to be H pictures of W x 3 pixels, some answered with made-up digits."""
    from tools.synthetic import draw_digit

    colour = np.asarray(draw_digit(7, 120, 80, (20, 20)).convert("RGB"))
    with pytest.raises(InputError, match=r"^predict_batch takes images stacked as .*not one colour image of shape "
                                         r"\(120, 120, 3\); for one image use predict\(image\)"):
        Classifier.load().predict_batch(colour)
    assert Classifier.load().predict(colour).label == 7
    grey_columns = np.zeros((5, 20, 3), np.uint8)[..., None]  # (N, H, W, 1): still a batch
    assert len(Classifier.load().predict_batch(grey_columns)) == 5
