"""The data stage accepts the real MNIST content and nothing else, with errors that say what to do."""

from __future__ import annotations

import hashlib
import urllib.error

import numpy as np
import pytest

from pipeline import data
from pipeline.data import ArraySpec, DataError, fetch, load_verified, save


def spec_of(arrays: dict[str, np.ndarray]) -> dict[str, ArraySpec]:
    return {k: ArraySpec(v.shape, hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest())
            for k, v in arrays.items()}


@pytest.fixture
def sample_file(tmp_path, mnist_sample):
    path = tmp_path / "sample.npz"
    np.savez_compressed(path, **mnist_sample)
    return path


def test_real_content_passes_whatever_the_packaging(tmp_path, mnist_sample, sample_file):
    repacked = tmp_path / "repacked.npz"
    np.savez(repacked, **mnist_sample)  # uncompressed: different bytes, same arrays
    expected = spec_of(mnist_sample)
    for path in (sample_file, repacked):
        arrays = load_verified(path, expected)
        assert arrays["x_train"].shape == mnist_sample["x_train"].shape


def test_wrong_hash_is_refused_with_a_clear_error(tmp_path, mnist_sample):
    tampered = dict(mnist_sample)
    tampered["x_test"] = mnist_sample["x_test"].copy()
    tampered["x_test"][0, 0, 0] ^= 1
    path = tmp_path / "tampered.npz"
    np.savez(path, **tampered)
    with pytest.raises(DataError, match=r"x_test content sha256 .* does not match the real MNIST"):
        load_verified(path, spec_of(mnist_sample))


def test_real_hashes_refuse_the_sample(sample_file):
    with pytest.raises(DataError, match="x_train is uint8\\[3000, 28, 28\\], expected uint8\\[60000, 28, 28\\]"):
        load_verified(sample_file)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("y_test"), "missing array 'y_test'"),
    (lambda a: a.update(x_train=a["x_train"].astype(np.float32)), "x_train is float32"),
    (lambda a: a.update(y_train=a["y_train"][:10]), "y_train is uint8\\[10\\]"),
])
def test_wrong_keys_shapes_or_dtypes(tmp_path, mnist_sample, change, message):
    arrays = dict(mnist_sample)
    expected = spec_of(mnist_sample)
    change(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message):
        load_verified(path, expected)


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04truncated"])
def test_corrupt_files_give_one_line_errors(tmp_path, content):
    path = tmp_path / "corrupt.npz"
    path.write_bytes(content)
    with pytest.raises(DataError) as error:
        load_verified(path)
    assert "MNIST_PATH" in str(error.value) and "\n" not in str(error.value)


def test_missing_file_and_no_network_says_to_set_mnist_path(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    cache = tmp_path / "cache" / "mnist.npz"
    with pytest.raises(DataError, match="set MNIST_PATH"):
        fetch("https://example.invalid/mnist.npz", env={}, cache=cache)
    assert not cache.exists()
    assert not cache.parent.exists() or list(cache.parent.iterdir()) == []


def test_mnist_path_that_does_not_exist(tmp_path):
    with pytest.raises(DataError, match="no such file; set MNIST_PATH"):
        fetch("https://example.invalid/x", env={"MNIST_PATH": str(tmp_path / "nope.npz")}, cache=tmp_path / "c")


def test_failed_download_leaves_no_partial_file(tmp_path, monkeypatch):
    class Broken:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, *args):
            raise TimeoutError("read timed out")

    monkeypatch.setattr(data.urllib.request, "urlopen", lambda *a, **k: Broken())
    target = tmp_path / "dl" / "mnist.npz"
    with pytest.raises(DataError, match="cannot download"):
        data.download("https://example.invalid/mnist.npz", target)
    assert list(target.parent.iterdir()) == []


def test_save_is_atomic_and_round_trips(tmp_path, mnist_sample):
    out = save(mnist_sample, tmp_path / "out" / "mnist.npz")
    assert load_verified(out, spec_of(mnist_sample))["y_test"].tolist() == mnist_sample["y_test"].tolist()
    assert [p.name for p in out.parent.iterdir()] == ["mnist.npz"]


def test_stage_exits_1_with_a_message_and_writes_nothing(tmp_path, monkeypatch, capsys, sample_file):
    monkeypatch.setenv("MNIST_PATH", str(sample_file))
    out = tmp_path / "data" / "mnist.npz"
    assert data.main(["--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("data: error:") and "expected uint8[60000, 28, 28]" in err and err.count("\n") == 1
    assert not out.exists()
