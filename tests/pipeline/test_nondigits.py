"""The held-out non-digit set (tools/make_nondigits.py): alphabets with no digit twin and no training
letter, committed files that the committed script makes, and no overwriting by accident."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tools import make_nondigits

ROOT = Path(__file__).resolve().parents[2]
SET = ROOT / "realworld" / "heldout_nondigits"
NO_FONTS = "DejaVu/Liberation fonts not installed (apt-get install fonts-dejavu-core fonts-liberation)"


def _manifest(folder: Path) -> list[list[str]]:
    with open(folder / "manifest.csv", encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_the_alphabets_hold_no_digit_twin_and_no_training_letter():
    for alphabet in (make_nondigits.LETTERS, make_nondigits.SYMBOLS):
        assert not set(alphabet) & set("olgiszbqOLGISZBQ0123456789"), alphabet
        assert not set(alphabet) & set("abcdefghijklmnABCDEFGHIJKLMN"), alphabet
        assert not any(c.isdigit() for c in alphabet), alphabet
    assert set(make_nondigits.LETTERS) == set("prtuvwxyPRTUVWXY")


def test_the_committed_set_is_the_manifest_s_400_pictures():
    header, *rows = _manifest(SET)
    assert header == ["file", "kind", "content", "font"]
    assert sorted(row[0] for row in rows) == sorted(p.relative_to(SET).as_posix() for p in SET.glob("*/*"))
    counts = {kind: sum(row[1] == kind for row in rows) for kind in make_nondigits.KINDS}
    assert counts == {"letter": 160, "symbol": 80, "shape": 80, "scribble": 80}
    assert {row[0].rsplit(".", 1)[1] for row in rows} == {"png", "jpg"}


def test_the_script_remakes_the_first_committed_pictures_byte_for_byte(tmp_path):
    if not make_nondigits.fonts():
        pytest.skip(NO_FONTS)
    out = tmp_path / "set"
    rows = make_nondigits.make(out, count=12)
    assert {row.kind for row in rows} == set(make_nondigits.KINDS)
    assert _manifest(out) == _manifest(SET)[:13]
    for row in rows:
        assert (out / row.file).read_bytes() == (SET / row.file).read_bytes(), row.file


def test_the_script_refuses_an_existing_folder_without_force(tmp_path):
    out = tmp_path / "set"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(SystemExit) as refused:
        make_nondigits.main(["--out", str(out), "--count", "2"])
    message = str(refused.value)
    assert "exists" in message and "--force" in message and str(out) in message and "\n" not in message
    assert (out / "mine.txt").read_text() == "keep me"
    assert list(tmp_path.iterdir()) == [out]  # no temporary sibling left behind
    if not make_nondigits.fonts():
        pytest.skip(NO_FONTS)
    assert make_nondigits.main(["--out", str(out), "--count", "2", "--force"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        ["manifest.csv", *(row[0] for row in _manifest(SET)[1:3])])
    assert list(tmp_path.iterdir()) == [out]
