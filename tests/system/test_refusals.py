"""tools/refusals.py: the digits answered "not a digit", their nearest training non-digits, the sheet."""

from __future__ import annotations

import numpy as np
import pytest

from tools.refusals import TILE, nearest, refused, sheet


def test_refused_rows_are_those_whose_largest_output_is_not_a_digit():
    rows = np.array([[0.9] + [0.01] * 9 + [0.0], [0.1] + [0.0] * 9 + [0.9], [0.3] + [0.0] * 9 + [0.3]])
    assert refused(rows).tolist() == [1]  # a tie goes to the digit, as argmax does
    assert refused(np.eye(10)).size == 0  # a ten-digit model refuses nothing


def test_nearest_finds_each_digit_among_the_pool_nearest_first():
    rng = np.random.default_rng(0)
    pool = rng.integers(0, 256, (50, 28, 28)).astype(np.uint8)
    digits = pool[[7, 31]].copy()
    digits[0, 0, 0] ^= 1  # one level off: still nearest to its own
    found, distances = nearest(digits, pool, 3)
    assert found.shape == (2, 3) and found[:, 0].tolist() == [7, 31]
    assert distances[0, 0] == pytest.approx(1.0) and distances[1, 0] == pytest.approx(0.0, abs=1e-3)
    assert (np.diff(distances, axis=1) >= 0).all()
    flat = pool.reshape(50, -1).astype(np.float64)
    exact = np.sqrt(((flat - digits[1].reshape(-1)) ** 2).sum(axis=1))
    assert found[1].tolist() == np.argsort(exact, kind="stable")[:3].tolist()


def test_the_sheet_has_a_tile_and_a_caption_per_picture():
    ink = np.zeros((28, 28), np.uint8)
    ink[4:24, 12:16] = 255
    image = sheet([[(ink, "1>1 0.90"), (ink, "∫")], [(ink, "7>7 0.70")]])
    assert image.size[0] == 2 * TILE and image.size[1] > 2 * TILE
    pixels = np.asarray(image)
    assert pixels[TILE // 2, TILE // 2] == 0 and pixels[2, 2] == 255  # dark ink on white
    assert (pixels[TILE:TILE + 10, :TILE] < 128).any()  # the caption under the first tile


@pytest.mark.parametrize("out, said", [("docs", "--out docs: is a folder"), ("/no/such/x.png", "no such folder"),
                                       ("sheet.jpg", "the sheet is a PNG")])
def test_an_output_it_cannot_write_is_refused_in_one_line_before_the_work(out, said, capsys):
    from tools.refusals import main

    with pytest.raises(SystemExit) as raised:
        main(["--out", out, "--data", "/no/such/mnist.npz"])  # the data would fail later: the out fails first
    assert raised.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert said in err[-1]


def test_end_to_end_the_pictures_the_model_refuses_are_drawn_beside_their_neighbours(tmp_path, capsys):
    """Non-digits posing as MNIST's test digits: the bundled model refuses most of them, and each
    refused one gets a row of the sheet."""
    from PIL import Image

    from pipeline import negatives
    from tools.refusals import CAPTION, main

    try:
        fonts = negatives.train_fonts()[::6]
    except negatives.NegativesError:
        pytest.skip(f"training fonts not installed (apt-get install {negatives.APT_FONTS})")
    images, _ = negatives.make(12, seed=3, fonts=fonts)
    data = tmp_path / "mnist.npz"
    np.savez(data, x_test=images, y_test=np.zeros(12, np.int64))
    out = tmp_path / "sheet.png"
    assert main(["--data", str(data), "--negatives", "30", "--neighbours", "2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    refused_count = int(printed[0].split()[0])
    assert printed[0].endswith("of 12 MNIST test digits answered 'not a digit'") and refused_count >= 1
    assert sum(line.startswith("test #") for line in printed) == refused_count
    with Image.open(out) as sheet_image:
        assert sheet_image.size == (3 * TILE, refused_count * (TILE + CAPTION))
