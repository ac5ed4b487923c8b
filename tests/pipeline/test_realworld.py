"""The real-world evaluation set: the committed files are what the committed script makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tools import make_realworld

ROOT = Path(__file__).resolve().parents[2]
SET = ROOT / "realworld"


def test_the_committed_set_is_large_small_and_labelled():
    files = make_realworld.labelled_files(SET)
    assert len(files) >= 1000
    assert {label for _, label in files} == set(range(10))
    assert {path.suffix for path, _ in files} == {".png", ".jpg"}
    total = sum(p.stat().st_size for p in SET.rglob("*") if p.is_file())
    assert total <= 5_000_000, total


@pytest.mark.skipif(not make_realworld.fonts(), reason="DejaVu/Liberation fonts not installed (fonts-dejavu-core, "
                                                       "fonts-liberation)")
def test_the_script_reproduces_the_committed_files(tmp_path):
    made = make_realworld.make(tmp_path, per_digit=12, non_digits=8)
    assert len(made) == 10 * 12 + 8
    for path in made:
        committed = SET / path.relative_to(tmp_path)
        assert committed.is_file(), committed
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(committed))), path


@pytest.mark.skipif(not make_realworld.fonts(), reason="DejaVu/Liberation fonts not installed (fonts-dejavu-core, "
                                                       "fonts-liberation)")
def test_another_seed_makes_a_tuning_split_of_other_pictures(tmp_path, capsys):
    """`--seed N --digits-only` (tools.open_set_tune --realworld-tune): the same kinds, other pictures."""
    assert make_realworld.main(["--out", str(tmp_path), "--seed", "777", "--digits-only", "--per-digit", "2"]) == 0
    assert "wrote 20 files" in capsys.readouterr().out
    made = make_realworld.labelled_files(tmp_path)
    assert len(made) == 20 and not (tmp_path / "nondigits").exists()
    committed = {(p.parent.name, p.stem): p for p, _ in make_realworld.labelled_files(SET)}
    same_kind = 0
    for path, _ in made:  # the same kinds (index 000 a font, 001 the pen)...
        assert path.name[:4] in ("000_", "001_") and ("_pen" in path.name) == path.name.startswith("001_")
        twin = committed.get((path.parent.name, path.stem))
        if twin is not None:  # ...not the same pictures
            same_kind += 1
            mine, theirs = np.asarray(Image.open(path).convert("L")), np.asarray(Image.open(twin).convert("L"))
            assert mine.shape != theirs.shape or not np.array_equal(mine, theirs)
    assert same_kind >= 10
    with pytest.raises(SystemExit):
        make_realworld.main(["--out", str(tmp_path), "--per-digit", "0"])
    assert "expected a whole number >= 1, got '0'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # never over the committed set
        make_realworld.main(["--seed", "777", "--digits-only"])
    assert "is the committed set" in capsys.readouterr().err


def test_scene_scores_count_refusals_as_wrong_and_only_sure_mistakes_as_confident():
    from pipeline.realworld import Scenes, scene_scores

    # Scene "a": 4 digits, one refused by the preprocessing; scene "b": 2 digits; 2 twins in "a".
    x = np.arange(5, dtype=np.float32)[:, None]  # stand-ins: predict() below reads the index
    answers = {0: (3, 0.9), 1: (5, 0.95), 2: (1, 0.4), 3: (7, 0.99), 4: (2, 0.5)}  # (label, probability)
    twins = {0: 0.3, 1: 0.8}

    def predict(batch):
        out = np.zeros((len(batch), 10), np.float32)
        for row, index in enumerate(batch[:, 0].astype(int)):
            label, p = answers[index] if batch.shape[0] == 5 else (0, twins[index])
            out[row, label] = p
        return out

    data = Scenes(names=("a", "b"), x=x, y=np.array([3, 4, 1, 7, 8]), scene=np.array([0, 0, 0, 1, 1]),
                  digits=np.array([4, 2]), x_none=np.arange(2, dtype=np.float32)[:, None],
                  none_scene=np.array([0, 0]), nondigits=np.array([2, 0]))
    scores = scene_scores(predict, data, 0.6)
    assert scores["scenes"]["a"] == {"accuracy": 2 / 4, "confident_wrong": 1 / 4, "nondigit_rejection": 1 / 2}
    assert scores["scenes"]["b"] == {"accuracy": 1 / 2, "confident_wrong": 0.0, "nondigit_rejection": None}
    assert scores["scenes_accuracy"] == 3 / 6 and scores["scenes_confident_wrong"] == 1 / 6
    assert scores["scenes_nondigit_rejection"] == 1 / 2


def test_open_set_scores_count_refusals_and_not_a_digit_as_rejected():
    from pipeline.realworld import RealWorld, open_set_scores

    def rows(*winners):  # one-hot-ish rows of 11: the winner gets 0.9
        out = np.full((len(winners), 11), 0.01, np.float32)
        out[np.arange(len(winners)), winners] = 0.9
        return out

    # 3 held-out non-digits accepted by the finder (one answered "not a digit"), 1 refused by it
    data = RealWorld(x=np.zeros((2, 28, 28, 1), np.float32), y=np.array([1, 2]), refused=1,
                     x_nondigits=np.zeros((0, 28, 28, 1), np.float32), nondigits_refused=0,
                     x_heldout=np.ones((3, 28, 28, 1), np.float32), heldout_refused=1)
    outputs = {0.0: rows(1, 10), 1.0: rows(10, 4, 5)}  # by the pictures' pixel value: digits 0, held-out 1
    outputs[0.0][1, 2] = 0.05  # the digit "not a digit" is given, a 2, comes next: right with always_digit

    def predict(x):
        return outputs[float(x.flat[0])]

    mnist = rows(*([3] * 98), 10, 10)  # 98 of 100 test digits kept
    mnist[98, 3] = 0.05  # one of the two "not a digit" answers gives the right digit next
    scores = open_set_scores(predict, data, mnist, np.full(100, 3))
    assert scores["heldout_nondigit_rejection"] == 2 / 4  # the finder's refusal and "not a digit"
    assert scores["mnist_digit_recall"] == 0.98
    assert scores["realworld_digit_recall"] == 1 / 3  # 3 digit pictures: one refused, one "not a digit"
    assert scores["realworld_accuracy_always_digit"] == 2 / 3  # the refused one is still wrong
    assert scores["mnist_accuracy_always_digit"] == pytest.approx(0.99)  # 98 kept, and one of the two
    assert scores["heldout_rejection_at_99_recall"] >= scores["heldout_nondigit_rejection"]
    assert scores["rejection_curve"][0] == [0.98, 0.5]  # the defaults first
