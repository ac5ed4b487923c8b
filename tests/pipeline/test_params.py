"""dvc.yaml and params.yaml agree, and bad parameters are refused before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline import params as P

ROOT = Path(__file__).resolve().parents[2]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def flat_keys(tree: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in tree.items():
        name = f"{prefix}{key}"
        keys |= flat_keys(value, name + ".") if isinstance(value, dict) else {name}
    return keys


def declared_params() -> set[str]:
    return {p for stage in DVC["stages"].values() for p in stage.get("params", []) if isinstance(p, str)}


def test_every_declared_param_exists():
    keys = flat_keys(PARAMS)
    sections = set(PARAMS)
    for name in declared_params():
        assert name in keys or name in sections, f"dvc.yaml names {name}, which params.yaml lacks"


def test_every_param_is_read_by_some_stage():
    declared = declared_params()
    for key in flat_keys(PARAMS):
        assert key in declared or key.split(".")[0] in declared, f"params.yaml key {key} is used by no stage"


def test_each_stage_lists_its_own_script():
    for name, stage in DVC["stages"].items():
        assert f"pipeline/{name}.py" in stage["deps"], name
        assert f"python -m pipeline.{name}" in stage["cmd"], name


def test_typed_params_build_from_params_yaml():
    train, qat = P.train_params(PARAMS), P.qat_params(PARAMS)
    assert train.backend is P.Backend(PARAMS["train"]["backend"]) and train.epochs == PARAMS["train"]["epochs"]
    # QAT reads the train stage's split from the typed train params, never from the raw dict.
    assert qat.split == P.Split(train.validation_size, train.seed)
    assert P.export_params(PARAMS).variant.value == PARAMS["model"]["variant"]
    assert P.evaluate_params(PARAMS).int8_min_agreement == PARAMS["evaluate"]["int8_min_agreement"]
    assert P.data_params(PARAMS).url == PARAMS["data"]["url"]
    assert P.validate_all(PARAMS) == ["model", "data", "train", "qat", "export", "evaluate"]


def test_stage_params_match_dataclass_fields():
    import dataclasses

    for section, cls in (("train", P.TrainParams), ("qat", P.QatParams), ("export", P.ExportParams),
                         ("evaluate", P.EvaluateParams), ("data", P.DataParams)):
        fields = {f.name for f in dataclasses.fields(cls)} - {"variant", "split"}
        if section == "qat":
            fields -= {"augment"}  # QAT reuses train.augment
        assert fields == set(PARAMS[section]), section


@pytest.mark.parametrize("section, key, value, message", [
    ("train", "epochs", -1, "train.epochs must be between 1 and 1000, got -1"),
    ("train", "batch_size", 0, "train.batch_size must be between 1 and 65536, got 0"),
    ("train", "backend", "mxnet", "train.backend must be one of auto, jax, tensorflow, torch; got 'mxnet'"),
    ("train", "learning_rate", "fast", "train.learning_rate must be a number"),
    ("train", "epochs", 2.5, "train.epochs must be an integer"),
    ("train", "epochs", True, "train.epochs must be an integer"),
    ("qat", "epochs", 0, "qat.epochs must be between"),
    ("export", "opset", 19, "export.opset must be between 13 and 18"),
    ("model", "variant", "huge", "model.variant must be one of standard, tiny"),
    ("train", "augment", {"rotation": 90}, "train.augment.rotation must be in [0.0, 45.0], got 90"),
    ("train", "augment", {"spin": 1}, "unknown key train.augment.spin"),
    ("train", "augment", [1, 2], "train.augment must be a mapping"),
    ("evaluate", "int8_min_agreement", 2, "evaluate.int8_min_agreement must be in"),
])
def test_bad_values_name_the_key(section, key, value, message):
    bad = yaml.safe_load(yaml.safe_dump(PARAMS))
    bad[section][key] = value
    builder = {"train": P.train_params, "qat": P.qat_params, "export": P.export_params,
               "evaluate": P.evaluate_params, "model": P.train_params}[section]
    with pytest.raises(P.ParamsError, match=message.replace("[", "\\[").replace("(", "\\(")):
        builder(bad)


def test_unknown_and_missing_keys(tmp_path):
    bad = yaml.safe_load(yaml.safe_dump(PARAMS))
    bad["train"]["epochz"] = 3
    with pytest.raises(P.ParamsError, match="unknown key train.epochz"):
        P.train_params(bad)
    del bad["train"]["epochz"], bad["train"]["seed"]
    with pytest.raises(P.ParamsError, match="missing key train.seed"):
        P.train_params(bad)
    broken = tmp_path / "params.yaml"
    broken.write_text("model:\n  variant: tiny\ntrain: [unclosed\n")
    with pytest.raises(P.ParamsError, match=r"params.yaml:4:1: not valid YAML: expected ',' or ']'"):
        P.read_params(broken)


def test_duplicate_keys_are_refused_with_their_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  epochs: 3\n  seed: 1\n  epochs: 4\n")
    with pytest.raises(P.ParamsError, match=r"params.yaml:4:3: not valid YAML: duplicate key 'epochs'"):
        P.read_params(path)


def test_unknown_section_is_refused():
    bad = yaml.safe_load(yaml.safe_dump(PARAMS))
    bad["trian"] = {"epochs": 3}
    with pytest.raises(P.ParamsError, match="unknown section 'trian'"):
        P.validate_all(bad)


VARIANT_HUGE = ("model", "variant", "huge", "model.variant must be one of standard, tiny; got 'huge'")


@pytest.mark.parametrize("stage, section, key, value, message", [
    ("check_params", *VARIANT_HUGE), ("train", *VARIANT_HUGE), ("qat", *VARIANT_HUGE), ("export", *VARIANT_HUGE),
    ("evaluate", "evaluate", "int8_min_agreement", 1.5, "evaluate.int8_min_agreement must be in [0.0, 1.0], got 1.5"),
])
def test_bad_params_are_refused_before_tensorflow_loads(tmp_path, stage, section, key, value, message):
    import subprocess
    import sys

    bad = yaml.safe_load(yaml.safe_dump(PARAMS))
    bad[section][key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(bad))
    code = (f"import sys; from pipeline.{stage} import main\n"
            f"code = main(['--params', {str(path)!r}])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')))\n"
            "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == f"{stage}: error: params.yaml: {message}"
    assert done.stdout.strip() == "[]"


def test_bad_params_stop_a_stage_before_work(tmp_path, capsys):
    from pipeline import train

    bad = yaml.safe_load(yaml.safe_dump(PARAMS))
    bad["train"]["batch_size"] = 0
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(bad))
    out = tmp_path / "model.keras"
    assert train.main(["--params", str(path), "--data", str(tmp_path / "none.npz"), "--model", str(out)]) == 1
    assert "train.batch_size" in capsys.readouterr().err
    assert not out.exists()
