"""Every digit in a picture, left to right: Classifier.read, classify_paths(every=True) and the
CLI's --all, on pictures of several digits built here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from runtime import Classifier, NoDigitError, find
from runtime.classify import main
from runtime.digits import NUM_LABELS
from runtime.model import _reading, digits_only
from runtime.preprocess import prepare_image
from tools.synthetic import draw_digit

YEAR = (2, 0, 2, 6)


def number_picture(digits, step: int = 115) -> Image.Image:
    """Digits drawn side by side on a light page, left to right."""
    page = Image.new("L", (20 + step * len(digits), 200), 250)
    for index, digit in enumerate(digits):
        page.paste(draw_digit(digit, 110, 80, (15, 15)), (10 + index * step, 40))
    return page


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.load()  # the bundled int8 model


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("numbers")
    out = {"year": folder / "year.png", "seven": folder / "seven.png", "blank": folder / "blank.png",
           "cut": folder / "cut.png", "code": folder / "code.png"}
    number_picture(YEAR).save(out["year"])
    draw_digit(7, 120, 80, (25, 20)).save(out["seven"])
    Image.new("L", (200, 200), 250).save(out["blank"])
    out["cut"].write_bytes(out["year"].read_bytes()[:300])
    number_picture((4, 1, 9)).save(out["code"])
    return out


def test_read_gives_every_digit_left_to_right(classifier, pictures):
    reading = classifier.read(pictures["year"])
    assert reading.text == "2026" and len(reading.digits) == 4 and reading.left_out == 0
    lefts = [box[0] for box in reading.boxes]
    assert lefts == sorted(lefts) and len(set(lefts)) == 4
    for index, (left, top, right, bottom) in enumerate(reading.boxes):  # each box holds its own digit
        assert 10 + index * 115 <= left < right <= 10 + (index + 1) * 115 and 40 <= top < bottom <= 150
    assert classifier.predict(pictures["year"]).digits == 4  # predict still answers one, and says so


def test_reading_one_digit_is_predicting_it(classifier, pictures):
    reading = classifier.read(pictures["seven"])
    assert reading.digits == (classifier.predict(pictures["seven"]),)
    array = np.asarray(Image.open(pictures["year"]))  # and an array reads as its file does
    assert classifier.read(array).text == "2026"


def test_digits_written_close_together_are_read_apart(classifier):
    close = number_picture(YEAR, step=70)  # a few px apart: one group of strokes for the finder
    assert prepare_image(close).digits == 1  # predict takes them for one (broken) digit
    reading = classifier.read(close)
    assert reading.text == "2026" and all(right - left < 70 for left, _, right, _ in reading.boxes)


def test_a_row_of_digits_is_not_taken_for_ruled_lines(classifier):
    """The aligned tops and bottoms of a row of digits fall on straight lines, as ruled paper's do,
    but with gaps between the digits: they stay strokes."""
    page = Image.new("L", (800, 400), 250)
    for index, digit in enumerate((2, 0, 2, 6, 0, 8, 1, 5)):
        page.paste(draw_digit(digit, 100, 80, (10, 10)), (20 + index * 90, 160))
    assert classifier.read(page).text == "20260815"


def test_a_digit_of_two_strokes_side_by_side_stays_one_digit(classifier):
    """A 4 whose bar stops short of its stem is two columns of strokes, as two digits written close
    together would be: the model's answers decide, and the whole reads more surely."""
    four = Image.new("L", (200, 200), 250)
    draw = ImageDraw.Draw(four)
    draw.line([(100, 30), (40, 130), (115, 130)], fill=0, width=12)
    draw.line([(125, 30), (125, 175)], fill=0, width=12)
    assert len(find.find_all_digits(np.asarray(four))[0].parts) == 2  # it might be two digits...
    assert classifier.read(four).text == "4" == str(classifier.predict(four).label)  # ...it is one


def test_a_thin_one_beside_the_digits_is_read(classifier):
    drawn = np.full((200, 360), 250, np.uint8)
    drawn[:, :250] = np.asarray(number_picture((5, 2)))
    drawn[50:140, 280:284] = 0  # a 1 as a hair-thin bar as tall as the digits: under a third of a 5's ink
    found = find.find_all_digits(drawn)
    assert found[-1].box[0] >= 270 and prepare_image(drawn).digits == 2  # counted by its height, not its ink
    assert classifier.read(drawn).text == "521"


def test_a_sign_and_a_point_are_not_digits_and_lines_read_top_down(classifier):
    page = number_picture((4, 2, 7))
    drawn = np.asarray(page).copy()
    drawn[92:100, 125:165] = 0  # a point-like blot between the 4 and the 2, a fifth of their height
    assert classifier.read(Image.fromarray(drawn)).text == "427"
    two = Image.new("L", (260, 400), 250)
    two.paste(number_picture((1, 2)), (0, 0))
    two.paste(number_picture((3, 4)), (0, 200))
    reading = classifier.read(two)
    assert reading.text == "1234" and reading.boxes[2][1] > reading.boxes[1][3]  # the second line after the first


def test_boxes_are_in_the_pictures_own_pixels_however_it_was_decoded(classifier, tmp_path):
    """A large picture is decoded reduced (JPEG draft, box reduction): the boxes come back in the
    file's own pixels, as for the same picture handed over as a PIL image."""
    big = Image.new("L", (3000, 2000), 250)
    big.paste(number_picture(YEAR).resize((960, 400)), (1900, 1400))
    big.save(tmp_path / "big.png")
    big.save(tmp_path / "big.jpg", quality=92)
    reference = classifier.read(big).boxes
    assert reference[0][0] >= 1900 and reference[-1][2] <= 2860
    for source in (tmp_path / "big.png", tmp_path / "big.jpg", np.asarray(big)):
        reading = classifier.read(source)
        assert reading.text == "2026"
        assert np.abs(np.subtract(reading.boxes, reference)).max() <= 8  # the reduction's rounding


def test_a_long_thin_array_is_a_one_line_error(classifier):
    with pytest.raises(NoDigitError):
        classifier.read(np.full((3000, 3), 255, np.uint8))
    with pytest.raises(NoDigitError):
        classifier.predict(np.full((3000, 3), 255, np.uint8))


def test_marks_the_model_calls_not_a_digit_are_left_out():
    row = np.zeros(NUM_LABELS + 1, np.float32)
    seven, other = row.copy(), row.copy()
    seven[7], other[NUM_LABELS] = 1.0, 1.0
    rows = np.stack([seven, other, seven])
    reading = _reading(rows, rows, [(0, 0, 1, 1), (2, 0, 3, 1), (4, 0, 5, 1)], 3, 0.0)
    assert reading.text == "77" and reading.left_out == 1 and reading.boxes == ((0, 0, 1, 1), (4, 0, 5, 1))
    with pytest.raises(NoDigitError, match="to all 2 marks found"):
        _reading(np.stack([other, other]), np.stack([other, other]), [(0, 0, 1, 1), (2, 0, 3, 1)], 3, 0.0)


def test_always_digit_answers_the_digits_but_the_model_still_leaves_signs_out():
    """--always-digit --all on "7 + 3": the + is still left out (the model's own call), the 7 and the 3
    are answered with the digits' shares; only where the model refuses every mark do those decide."""
    seven, sign, three = (np.zeros(NUM_LABELS + 1, np.float32) for _ in range(3))
    seven[7], three[3] = 0.9, 0.8
    seven[NUM_LABELS], three[NUM_LABELS] = 0.1, 0.2
    sign[4], sign[NUM_LABELS] = 0.3, 0.7  # as a digit, the + would be a 4
    raw = np.stack([seven, sign, three])
    reading = _reading(raw, digits_only(raw), [(0, 0, 1, 1), (2, 0, 3, 1), (4, 0, 5, 1)], 3, 0.0)
    assert reading.text == "73" and reading.left_out == 1
    assert reading.digits[0].probability == pytest.approx(1.0) and reading.digits[1].probability == pytest.approx(1.0)
    only_signs = np.stack([sign, sign])
    assert _reading(only_signs, digits_only(only_signs), [(0, 0, 1, 1), (2, 0, 3, 1)], 3, 0.0).text == "44"


def test_predict_takes_the_columns_as_read_does():
    """A number typed close together that the model answers as one unsure digit (a "73" read as a 3
    at 54%) is its columns, when each of them is answered more surely, in `predict` as in `read`."""
    from runtime.model import _choose
    from runtime.preprocess import Prepared

    def row(label, p):
        out = np.zeros(NUM_LABELS + 1, np.float32)
        out[label], out[NUM_LABELS] = p, 1 - p
        return out

    rows = np.stack([row(3, 0.54), row(7, 0.99), row(3, 0.98)])
    prepared = Prepared(np.zeros((28, 28, 1), np.float32), 1, None, np.zeros((2, 28, 28, 1), np.float32))
    chosen, digits, _ = _choose(rows, rows, prepared)
    assert digits == 2 and int(chosen.argmax()) == 7
    assert _reading(rows, rows, [(0, 0, 4, 1), (0, 0, 2, 1), (2, 0, 4, 1)], 3, 0.0, [(1, 2)]).text == "73"
    sure = np.stack([row(4, 0.99), row(1, 0.98), row(7, 0.97)])  # a 4 of separate strokes stays a 4
    assert _choose(sure, sure, prepared)[1] == 1 and int(_choose(sure, sure, prepared)[0].argmax()) == 4


def typed_number(text: str, size: int = 100) -> Image.Image:
    from PIL import ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", size)
    page = Image.new("L", (80 + int(ImageDraw.Draw(Image.new("L", (1, 1))).textlength(text, font=font)), 160), 255)
    ImageDraw.Draw(page).text((40, 20), text, font=font, fill=0)
    return page


@pytest.mark.parametrize("text, number, marks", [("12.5", "125", 1), ("3.14", "314", 1), ("10:45", "1045", 2),
                                                 ("7-3", "73", 1), ("2026", "2026", 0)])
def test_a_point_or_sign_left_out_among_the_digits_is_counted(classifier, text, number, marks, tmp_path):
    """A decimal point, a minus or a colon is too short to be a digit and is left out of the number;
    the Reading counts it (`small_marks`), so "12.5" read as "125" can be told from a plain 125, in the
    API, in classify_paths' worker path and in the CLI's text and JSON."""
    path = tmp_path / "number.png"
    typed_number(text).save(path)
    reading = classifier.read(path)
    assert reading.text == number and reading.small_marks == marks
    listed = next(classifier.classify_paths([path], every=True)).reading
    assert (listed.text, listed.boxes, listed.small_marks) == (reading.text, reading.boxes, reading.small_marks)


def test_the_cli_says_a_point_was_left_out(tmp_path, capsys):
    path = tmp_path / "meter.png"
    typed_number("12.5").save(path)
    assert main([str(path), "--all", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["number"] == "125" and row["small_marks"] == 1
    assert main([str(path), "--all"]) == 0
    assert "(1 small mark among the digits left out: a point or a sign?)" in capsys.readouterr().out


def test_classify_paths_reads_every_file_alone(classifier, pictures):
    names = ["year", "blank", "seven", "cut", "code"]
    results = list(classifier.classify_paths([pictures[name] for name in names], batch=2, every=True))
    assert [result.ok for result in results] == [True, False, True, False, True]
    assert [result.reading.text for result in results if result.ok] == ["2026", "7", "419"]
    assert "no digit found" in results[1].error and "corrupt or truncated" in results[3].error
    assert all(result.prediction is None for result in results)


def test_the_cli_reads_a_number_with_all(pictures, capsys):
    assert main(["--all", "--json", str(pictures["year"]), str(pictures["blank"])]) == 1  # the blank page failed
    year, blank = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert year["number"] == "2026" and [digit["label"] for digit in year["digits"]] == list(YEAR)
    assert all(len(digit["box"]) == 4 for digit in year["digits"]) and "error" in blank
    assert main(["--all", str(pictures["code"])]) == 0
    assert capsys.readouterr().out.startswith(f"{pictures['code']}: 419 (4 ")
    assert main(["--all", "--top-k", "2", str(pictures["code"])]) == 0  # each digit's runner-up, as without --all
    assert capsys.readouterr().out.count("[next: ") == 3


def test_the_cli_reads_every_digit_in_worker_processes_too(pictures, tmp_path):
    """Past the first batch the CLI decodes in worker processes: --all goes there too."""
    for index in range(5):
        (tmp_path / f"year_{index}.png").write_bytes(pictures["year"].read_bytes())
    done = subprocess.run([sys.executable, "-m", "runtime.classify", "--all", "--batch-size", "2", str(tmp_path)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 5 and all(": 2026 (" in line for line in lines)
