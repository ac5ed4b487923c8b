"""tools/open_set_tune.py: what --set accepts, and the one-line errors for what it does not."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from tools.open_set_tune import cell, parse_set, summarize


def test_a_set_names_overrides_of_the_tunable_keys_with_their_types():
    assert parse_set("base=") == ("base", {})
    assert parse_set("e8=epochs=8,share=0.1") == ("e8", {"epochs": 8, "share": 0.1})
    assert parse_set("slow=learning_rate=3e-4") == ("slow", {"learning_rate": 0.0003})
    assert parse_set("solid=hollow=0") == ("solid", {"hollow": 0.0})
    assert parse_set("t90=twins=0.9") == ("t90", {"twins": 0.9})
    assert parse_set("b5=refusal_budget=0.0005") == ("b5", {"refusal_budget": 0.0005})
    assert parse_set("n36=negatives=36000,hooks=1") == ("n36", {"negatives": 36000, "hooks": 1})
    assert parse_set("kd=distill=0.5") == ("kd", {"distill": 0.5})


def test_without_hooks_the_training_non_digits_leave_out_the_hooked_glyphs_and_the_rest_is_restored():
    from pipeline import negatives
    from tools import open_set_tune

    seen = {}

    def fake(settings, seed):
        seen["letters"], seen["symbols"] = negatives.TRAIN_LETTERS, negatives.TRAIN_SYMBOLS
        return "pool"

    before = negatives.TRAIN_LETTERS, negatives.TRAIN_SYMBOLS, negatives.HOLLOW
    original, open_set_tune.open_set.make_negatives = open_set_tune.open_set.make_negatives, fake
    try:
        assert open_set_tune.make_negatives(None, 1, 0.5, False, hooks=False) == "pool"
    finally:
        open_set_tune.open_set.make_negatives = original
    assert not set(open_set_tune.HOOKED) & set(seen["letters"] + seen["symbols"])
    assert set(seen["letters"]) == set(before[0]) - set(open_set_tune.HOOKED)
    assert (negatives.TRAIN_LETTERS, negatives.TRAIN_SYMBOLS, negatives.HOLLOW) == before


def test_the_real_world_tuning_split_is_judged_by_kind():
    """--realworld-tune: pen digits right and answered "not a digit", font digits right; a picture the
    finder refused reads as "not a digit"."""
    from types import SimpleNamespace

    from tools.open_set_tune import COLUMNS, REALWORLD_COLUMNS, judge

    class Model:  # answers the digit written in the top-left pixel (10: "not a digit")
        def predict(self, x, batch_size=None, verbose=0):
            return np.eye(11)[np.rint(x[:, 0, 0, 0] * 255).astype(int)]

    def tensor(answer):
        t = np.zeros((28, 28, 1), np.float32)
        t[0, 0, 0] = answer / 255
        return t

    split = SimpleNamespace(x_val=np.zeros((4, 28, 28), np.uint8), y_val=np.zeros(4, np.int64))
    pool = SimpleNamespace(val=np.full((2, 28, 28), 10, np.uint8))
    pens = [("pen", 3, tensor(3)), ("pen", 4, tensor(10)), ("pen", 5, None), ("pen", 6, tensor(6)),
            ("font", 7, tensor(7)), ("font", 8, tensor(1))]
    scores = judge(Model(), split, pool, [], realworld=pens)
    assert set(COLUMNS + REALWORLD_COLUMNS) <= set(scores)
    assert scores["MNIST val right"] == 1.0 and scores["val non-digits rejected"] == 1.0
    assert scores[REALWORLD_COLUMNS[0]] == 0.5 and scores[REALWORLD_COLUMNS[1]] == 0.5
    assert scores[REALWORLD_COLUMNS[2]] == 0.5
    assert REALWORLD_COLUMNS[0] not in judge(Model(), split, pool, [])


def test_the_tuning_fonts_are_neither_trained_on_nor_evaluated_on():
    from pipeline import negatives
    from tools import make_nondigits, make_realworld, make_scenes
    from tools.open_set_tune import TUNE_FONT_DIRS

    others = [*negatives.TRAIN_FONT_DIRS, *map(str, make_realworld.FONT_DIRS), *map(str, make_scenes.FONT_DIRS),
              *map(str, make_nondigits.FONT_DIRS)]
    assert not [(tune, other) for tune in TUNE_FONT_DIRS for other in others
                if tune.startswith(other) or other.startswith(tune)]


def test_a_font_digit_is_a_picture_with_ink_in_every_style():
    from tools.open_set_tune import FONT_STYLES, font_digit

    font = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # any face: the drawing is under test
    if not font.is_file():
        pytest.skip("DejaVu not installed (tools/fonts.sh installs it)")
    rng = np.random.default_rng(0)
    for style in FONT_STYLES:
        picture = font_digit(8, font, style, rng)
        assert picture.dtype == np.uint8 and picture.ndim == 2 and min(picture.shape) >= 32
        assert int(picture.max()) - int(picture.min()) > 60, style  # ink against paper


@pytest.mark.parametrize(("text", "says"), [("=epochs=8", "expected NAME="), ("bad", "expected NAME="),
                                            ("x=route=entropic", "not one of"),
                                            ("x=epochs=eight", "is not an integer"),
                                            ("x=twins=-0.1", r"twins must be in \[0.0, 1.0\]"),
                                            ("x=hollow=2", r"hollow must be in \[0.0, 1.0\]"),
                                            ("x=share=0", r"share must be in \(0.0, 1.0\]"),
                                            ("x=refusal_budget=2", r"refusal_budget must be in \[0.0, 1.0\]"),
                                            ("x=learning_rate=-1", "learning_rate must be in"),
                                            ("x=epochs=-3", "epochs must be between 0 and 1000")])
def test_a_bad_set_is_refused_with_what_to_write(text, says):
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        parse_set(text)


def test_judge_scores_the_font_digits_by_style_and_counts_a_refusal_as_wrong():
    from types import SimpleNamespace

    from tools.open_set_tune import FONT_COLUMNS, judge

    class AlwaysSeven:
        def predict(self, x, batch_size=None, verbose=0):
            out = np.zeros((len(x), 11), np.float32)
            out[:, 7] = 1.0
            return out

    split = SimpleNamespace(x_val=np.zeros((4, 28, 28), np.uint8), y_val=np.array([7, 7, 1, 2]))
    pool = SimpleNamespace(val=np.zeros((2, 28, 28), np.uint8))
    tensor = np.zeros((28, 28, 1), np.float32)
    fonts = [("plain", 7, tensor), ("plain", 3, tensor), ("hollow", 7, None), ("hollow", 7, tensor),
             ("blurred", 7, tensor)]
    scores = judge(AlwaysSeven(), split, pool, [], fonts)
    assert scores["MNIST val right"] == 0.5 and scores["val non-digits rejected"] == 0.0
    assert [scores[c] for c in FONT_COLUMNS] == [0.6, 0.5, 1.0]  # all, hollow (one refused), blurred
    assert not set(FONT_COLUMNS) & set(judge(AlwaysSeven(), split, pool, []))
    scenes = [("a_pen.png", 7, tensor), ("b.png", 1, None), ("c.png", None, tensor), ("d.png", None, None)]
    scores = judge(AlwaysSeven(), split, pool, scenes)
    assert (scores["scene digits right"], scores["scene pen digits right"], scores["scene non-digits rejected"]) == (
        0.5, 1.0, 0.5)  # a picture the finder refused reads as "not a digit"
    named = [("whiteboard/7/a.png", 7, tensor), ("whiteboard/1/b.png", 1, tensor), ("ruled/3/c.png", 3, tensor),
             ("whiteboard/none/d.png", None, tensor)]
    scores = judge(AlwaysSeven(), split, pool, named, scene_names=("whiteboard", "ruled"))
    assert (scores["whiteboard digits right"], scores["ruled digits right"]) == (0.5, 0.0)


def test_a_scene_that_the_tune_split_lacks_is_refused_before_any_work(tmp_path, capsys):
    from tools.open_set_tune import main

    for name in ("ruled", "whiteboard"):
        (tmp_path / name).mkdir()
    with pytest.raises(SystemExit):
        main(["--set", "base=", "--scenes", str(tmp_path), "--scene", "whitebord"])
    assert f"--scene whitebord: no such scene in {tmp_path} (its scenes: ruled, whiteboard)" in capsys.readouterr().err


def test_twins_that_the_digit_model_reads_surely_leave_the_pool_and_zero_keeps_all():
    from pipeline.open_set import Negatives
    from tools.open_set_tune import drop_twins

    def predict(x):  # a fake digit model: an image's top digit probability is its first pixel / 255
        top = x[:, 0, 0, 0]
        return np.stack([top, np.zeros_like(top)], axis=1)

    train = np.zeros((6, 28, 28), np.uint8)
    train[:, 0, 0] = [0, 100, 229, 230, 240, 255]  # 229 / 255 < 0.9 <= 230 / 255
    val = np.zeros((3, 28, 28), np.uint8)
    val[:, 0, 0] = [255, 10, 250]
    pool = Negatives(train, val, np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64))
    kept, dropped = drop_twins(pool, predict, 0.9)
    assert dropped == 3 + 2
    assert list(kept.train[:, 0, 0]) == [0, 100, 229] and list(kept.val[:, 0, 0]) == [10]
    assert drop_twins(pool, predict, 0.0) == (pool, 0)


def test_seeds_are_summarized_as_mean_lowest_and_highest():
    runs = [{"a": 0.99, "b": 0.5}, {"a": 0.97, "b": 0.5}, {"a": 0.98, "b": 0.5}]
    summary = summarize(runs, ("a", "b"))
    assert summary["a"] == pytest.approx((0.98, 0.97, 0.99)) and summary["b"] == (0.5, 0.5, 0.5)
    assert cell(*summary["a"]) == "98.00% (97.00%-99.00%)"
    assert cell(*summary["b"]) == "50.00%"  # one run, or no spread: the figure alone, as before
    assert cell(float("nan"), float("nan"), float("nan")) == "nan%"


@pytest.mark.parametrize("text", ["0", "21", "two"])
def test_a_bad_seed_count_is_refused_with_what_to_write(text, capsys):
    from tools.figures import count
    from tools.open_set_tune import main

    assert count(1, 20)("1") == 1 and count(1, 20)("20") == 20
    with pytest.raises(SystemExit):
        main(["--set", "base=", "--seeds", text])
    assert f"argument --seeds: expected a whole number from 1 to 20, got '{text}'" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "said"), [
    (["--data", "{tmp}/none.npz"], "{tmp}/none.npz: no such file; run `dvc repro data` first"),
    (["--model", "{tmp}/none.keras"], "{tmp}/none.keras: no such model file; run the train stage first (`dvc repro train`)"),
    (["--params-missing"], "params.yaml: cannot read (No such file or directory); run from the repository root")])
def test_missing_params_data_or_model_is_one_line_before_any_work(tmp_path, monkeypatch, flags, said):
    from tests.conftest import FIXTURE, write_test_params
    from tools.open_set_tune import main

    monkeypatch.chdir(tmp_path)  # the tool reads params.yaml where it runs: the fixture's (a small validation split)
    if flags != ["--params-missing"]:
        write_test_params(tmp_path / "params.yaml")
    flags = [flag.format(tmp=tmp_path) for flag in flags if flag != "--params-missing"]
    data = [] if "--data" in flags else ["--data", str(FIXTURE)]
    with pytest.raises(SystemExit) as stop:
        main(["--set", "base=", *data, *flags])
    assert str(stop.value) == f"open_set_tune: {said.format(tmp=tmp_path)}"


def test_help_opens_with_the_summary_and_its_example_commands(capsys):
    from tools.open_set_tune import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m tools.open_set_tune")
    assert "side by side:\n\n    python -m pipeline.scenes --data data/mnist.npz --split tune" in out

