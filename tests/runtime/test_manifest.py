"""runtime/manifest.py: the one definition of manifest.json, read back from the committed files."""

from __future__ import annotations

import json

import pytest

from runtime.digits import INPUT_SHAPE, OUTPUT_SIZES, labels_for
from runtime.errors import EngineUnavailableError, ModelIntegrityError
from runtime.manifest import MANIFEST_NAME, SCHEMA_VERSION, compose, file_entry, read_manifest, verify
from runtime.model import BUNDLED_DIR, open_engine
from tests.conftest import ROOT

ARTIFACTS = ROOT / "artifacts"
COMMITTED = [
    pytest.param(BUNDLED_DIR, id="runtime/models"),
    pytest.param(ROOT / "tests" / "fixtures" / "model" / "artifacts", id="fixture artifacts"),
    pytest.param(ROOT / "tests" / "fixtures" / "model_open_set", id="open-set fixture"),
    pytest.param(ARTIFACTS, id="artifacts", marks=pytest.mark.skipif(
        not (ARTIFACTS / MANIFEST_NAME).exists(), reason="no artifacts/ here: dvc pull or dvc repro makes it")),
]


@pytest.mark.parametrize("directory", COMMITTED)
def test_the_committed_manifest_is_rebuilt_exactly_from_its_files(directory):
    committed = read_manifest(directory)
    files = {}
    for name, entry in committed["files"].items():
        try:
            engine = open_engine(directory / name, entry["engine"])
        except EngineUnavailableError:  # not here (TFLite Micro or a native C compiler): the file it was made from
            engine = open_engine(directory / "model_int8.tflite")
        files[name] = file_entry(directory / name, engine, format_name=entry["format"], engine_name=entry["engine"],
                                 precision=entry["precision"], reference=entry["reference"],
                                 companions=entry.get("companions", ()))
    common = {key: committed[key] for key in ("variant", "labels", "normalization")}
    rebuilt = compose(common, files, committed["provenance"])
    assert json.dumps(rebuilt, indent=2) == json.dumps(committed, indent=2)
    # the labels name every output: the ten digits, and "not a digit" for an open-set model
    width = next(iter(committed["files"].values()))["output"]["shape"][-1]
    assert rebuilt["schema_version"] == SCHEMA_VERSION and rebuilt["labels"] == list(labels_for(width))


def test_specs_state_the_digit_shapes():
    manifest = read_manifest(BUNDLED_DIR)
    entry = manifest["files"]["model_int8.tflite"]
    assert entry["input"]["shape"] == [1, *INPUT_SHAPE] and entry["output"]["shape"] == [1, len(manifest["labels"])]
    assert len(manifest["labels"]) in OUTPUT_SIZES


def test_verify_names_the_file_that_is_not_listed(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"files": {}}))
    (tmp_path / "other.onnx").write_bytes(b"x")
    with pytest.raises(ModelIntegrityError, match=f"other.onnx: not listed in .*{MANIFEST_NAME}"):
        verify(tmp_path / "other.onnx", read_manifest(tmp_path))
