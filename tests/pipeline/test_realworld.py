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
