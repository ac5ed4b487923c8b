"""dvc.yaml and params.yaml agree, and bad parameters are refused before any work starts."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from pipeline import params as P

ROOT = Path(__file__).resolve().parents[2]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def flat_keys(tree: dict, prefix: str = "") -> set[str]:
    """Every dotted key, of a mapping (such as train.augment) as well as of a value."""
    keys = set()
    for key, value in tree.items():
        name = f"{prefix}{key}"
        keys |= {name, *flat_keys(value, name + ".")} if isinstance(value, dict) else {name}
    return keys


def declared_params() -> set[str]:
    return {p for stage in DVC["stages"].values() for p in stage.get("params", []) if isinstance(p, str)}


def test_every_declared_param_exists():
    keys = flat_keys(PARAMS)
    for name in declared_params():
        assert name in keys, f"dvc.yaml names {name}, which params.yaml lacks"


def test_every_param_is_read_by_some_stage():
    declared = declared_params()
    for key in flat_keys(PARAMS):
        parts = key.split(".")
        read = any(".".join(parts[:n]) in declared for n in range(1, len(parts) + 1))
        assert read, f"params.yaml key {key} is used by no stage"


def test_each_stage_lists_its_own_script():
    for name, stage in DVC["stages"].items():
        assert f"pipeline/{name}.py" in stage["deps"], name
        assert f"python -m pipeline.{name}" in stage["cmd"], name


def with_value(params: dict, key: str, value) -> dict:
    """A deep copy of `params` with the dotted `key` set to `value`."""
    copy = yaml.safe_load(yaml.safe_dump(params))
    *parents, last = key.split(".")
    mapping = copy
    for parent in parents:
        mapping = mapping[parent]
    mapping[last] = value
    return copy


def test_typed_params_build_from_params_yaml():
    train, qat = P.train_params(PARAMS), P.qat_params(PARAMS)
    assert train.train.backend is P.Backend(PARAMS["train"]["backend"])
    assert train.train.epochs == PARAMS["train"]["epochs"]
    assert train.train.augment.rotation == PARAMS["train"]["augment"]["rotation"]
    # QAT reads the train section itself (its split and its recipe), never a copy of some of its keys.
    assert qat.train == train.train and qat.model == train.model
    assert qat.qat.epochs == PARAMS["qat"]["epochs"]
    export = P.export_params(PARAMS)
    assert (export.model.variant.value, export.export.opset) == (PARAMS["model"]["variant"], PARAMS["export"]["opset"])
    assert P.evaluate_params(PARAMS).gates.int8_min_agreement == PARAMS["evaluate"]["gates"]["int8_min_agreement"]
    assert P.data_params(PARAMS).url == PARAMS["data"]["url"]
    assert P.validate_all(PARAMS) == ["model", "data", "train", "qat", "export", "evaluate"]


def test_each_section_dataclass_holds_exactly_its_own_keys():
    nested = {"train.augment": P.Augmentation, "evaluate.gates": P.GateThresholds}
    for name, cls in [*P.SECTIONS.items(), *nested.items()]:
        section = PARAMS
        for part in name.split("."):
            section = section[part]
        assert [f.name for f in dataclasses.fields(cls)] == list(section), name


def test_gate_thresholds_build_export_parity_gates():
    """The expression pipeline/evaluate.py uses: evaluate.gates maps onto Gates field for field."""
    from export.parity import Gates

    gates = P.evaluate_params(PARAMS).gates
    assert Gates(**dataclasses.asdict(gates)) == Gates(**PARAMS["evaluate"]["gates"])
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(Gates))  # one place for the values


def test_params_is_a_leaf():
    """params.py imports no other pipeline/ or export/ module (of runtime/, only digits.py), so that a stage
    reading its params depends on no model, recipe or exporter code."""
    modules = set()
    for node in ast.walk(ast.parse((ROOT / "pipeline" / "params.py").read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "pipeline/params.py has a relative import"
            modules |= {node.module} if node.module != "runtime" else {f"runtime.{a.name}" for a in node.names}
    project = {m for m in modules if m.split(".")[0] in ("pipeline", "export", "runtime")} - {"runtime.digits"}
    assert not project, f"pipeline/params.py imports {sorted(project)}"


@pytest.mark.parametrize("key, value, message", [
    ("train.epochs", -1, "train.epochs must be between 1 and 1000, got -1"),
    ("train.batch_size", 0, "train.batch_size must be between 1 and 65536, got 0"),
    ("train.backend", "mxnet", "train.backend must be one of auto, jax, tensorflow, torch; got 'mxnet'"),
    ("train.learning_rate", "fast", "train.learning_rate must be a number"),
    ("train.learning_rate", 0, "train.learning_rate must be in (0.0, 10.0], got 0"),
    ("train.epochs", 2.5, "train.epochs must be an integer"),
    ("train.epochs", True, "train.epochs must be an integer"),
    ("train.seed", -1, "train.seed must be between 0 and 4294967295, got -1"),
    ("train.seed", 2**32, "train.seed must be between 0 and 4294967295, got 4294967296"),  # Keras refuses it late
    ("train.validation_size", 0, "train.validation_size must be between 1 and 30000, got 0"),
    ("model.variant", ["standard"], "model.variant must be one of standard, tiny, tiny_open"),  # unhashable
    ("qat.epochs", 0, "qat.epochs must be between"),
    ("export.opset", 19, "export.opset must be between 13 and 18"),
    ("model.variant", "huge", "model.variant must be one of standard, tiny, tiny_open"),
    ("train.augment", {"rotation": 90}, "train.augment.rotation must be in [0.0, 45.0], got 90"),
    ("train.augment", {"spin": 1}, "unknown key train.augment.spin"),
    ("train.augment", [1, 2], "train.augment must be a mapping"),
    ("evaluate.gates.int8_min_agreement", 2, "evaluate.gates.int8_min_agreement must be in [0.0, 1.0], got 2"),
    ("evaluate.gates", 0.99, "evaluate.gates must be a mapping of float_max_abs_diff, int8_min_agreement"),
    ("evaluate.latency_runs", 9, "evaluate.latency_runs must be between 10 and 1000000, got 9"),
    ("data.url", "ftp://example.org/mnist.npz", "data.url must be an http(s) or file URL, got 'ftp://"),
])
def test_bad_values_name_the_key(key, value, message):
    bad = with_value(PARAMS, key, value)
    builder = {"train": P.train_params, "qat": P.qat_params, "export": P.export_params,
               "evaluate": P.evaluate_params, "model": P.train_params, "data": P.data_params}[key.split(".")[0]]
    with pytest.raises(P.ParamsError, match=re.escape(message)):
        builder(bad)


def test_a_key_that_is_a_list_is_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("model:\n  ? [a, b]\n  : 1\n")
    with pytest.raises(P.ParamsError, match="a key must be a plain name"):
        P.read_params(path)


def test_bare_off_and_on_mean_the_words():
    """YAML 1.1 reads a bare off or on as a boolean (and `dvc exp run -S` writes them bare)."""
    written = yaml.safe_load("qat:\n  open_set: {route: off}\ntrain:\n  mixed_precision: on\n")
    assert written["qat"]["open_set"]["route"] is False and written["train"]["mixed_precision"] is True
    params = with_value(PARAMS, "qat.open_set", {**PARAMS["qat"]["open_set"], "route": False})
    assert P.qat_params(params).qat.open_set.route is P.OpenSetRoute.OFF
    assert P.train_params(with_value(PARAMS, "train.mixed_precision", True)).train.mixed_precision is P.MixedPrecision.ON
    with pytest.raises(P.ParamsError, match=re.escape("qat.open_set.route must be one of class, entropic, off; got True")):
        P.qat_params(with_value(PARAMS, "qat.open_set", {**PARAMS["qat"]["open_set"], "route": True}))


def test_a_partial_recipe_leaves_the_rest_off():
    train = P.train_params(with_value(PARAMS, "train.augment", {"rotation": 5})).train
    assert train.augment == P.Augmentation(rotation=5.0) and train.augment.enabled
    assert not P.Augmentation().enabled


def test_unknown_and_missing_keys(tmp_path):
    bad = yaml.safe_load(yaml.safe_dump(PARAMS))
    bad["train"]["epochz"] = 3
    with pytest.raises(P.ParamsError, match="unknown key train.epochz"):
        P.train_params(bad)
    del bad["train"]["epochz"], bad["train"]["seed"]
    with pytest.raises(P.ParamsError, match="missing key train.seed"):
        P.train_params(bad)
    without_gate = yaml.safe_load(yaml.safe_dump(PARAMS))
    del without_gate["evaluate"]["gates"]["int8_cross_agreement"]
    with pytest.raises(P.ParamsError, match="missing key evaluate.gates.int8_cross_agreement"):
        P.evaluate_params(without_gate)
    without_qat = {name: section for name, section in PARAMS.items() if name != "qat"}
    with pytest.raises(P.ParamsError, match="missing section 'qat'"):
        P.qat_params(without_qat)
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


VARIANT_HUGE = ("model.variant", "huge", "model.variant must be one of standard, tiny, tiny_open; got 'huge'")


@pytest.mark.parametrize("stage, key, value, message", [
    ("check_params", *VARIANT_HUGE), ("train", *VARIANT_HUGE), ("qat", *VARIANT_HUGE), ("export", *VARIANT_HUGE),
    ("evaluate", "evaluate.gates.int8_min_agreement", 1.5,
     "evaluate.gates.int8_min_agreement must be in [0.0, 1.0], got 1.5"),
])
def test_bad_params_are_refused_before_tensorflow_loads(tmp_path, stage, key, value, message):
    import subprocess
    import sys

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(with_value(PARAMS, key, value)))
    code = (f"import sys; from pipeline.{stage} import main\n"
            f"code = main(['--params', {str(path)!r}])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')))\n"
            "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == f"{stage}: error: {path}: {message}"  # the file given, by its name
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


TINY_CHANGES = {"tiny": {"train": {"epochs": 7, "augment": {"elastic": 0.0}}, "qat": {"epochs": 3}}}


def test_a_variant_changes_only_its_own_training():
    params = with_value(PARAMS, "variants", TINY_CHANGES)
    standard = P.qat_params(with_value(params, "model.variant", "standard"))
    tiny = P.qat_params(with_value(params, "model.variant", "tiny"))
    assert (standard.train.epochs, standard.qat.epochs) == (PARAMS["train"]["epochs"], PARAMS["qat"]["epochs"])
    assert standard.train.augment.elastic == PARAMS["train"]["augment"]["elastic"]
    assert (tiny.train.epochs, tiny.qat.epochs, tiny.train.augment.elastic) == (7, 3, 0.0)
    assert tiny.train.augment.rotation == standard.train.augment.rotation  # a key it does not name stays
    assert P.train_params(with_value(params, "model.variant", "tiny")).train == tiny.train
    assert P.validate_all(params) == list(P.SECTIONS)


@pytest.mark.parametrize("changes, message", [
    ({"huge": {}}, "variants.huge: no such model.variant; expected one of standard, tiny, tiny_open"),
    ({"tiny": {"export": {"opset": 13}}}, "variants.tiny must map train or qat to the keys it changes"),
    ({"tiny": {"train": {"epoch": 3}}}, "unknown key variants.tiny.train.epoch; a variant can only change keys "
                                         "that train has"),
    ({"tiny": {"train": {"augment": {"spin": 3}}}}, "unknown key variants.tiny.train.augment.spin"),
    ({"tiny": {"train": {"epochs": 0}}}, "train.epochs must be between 1 and 1000, got 0 (as variants.tiny sets it)"),
    ({"tiny": {"train": 20}}, "variants.tiny.train must be a mapping of keys to change"),
    ([20], "variants must be a mapping of variant names to section changes"),
])
def test_bad_variant_changes_are_refused_by_name(changes, message):
    with pytest.raises(P.ParamsError, match=re.escape(f"params.yaml: {message}")):
        P.validate_all(with_value(PARAMS, "variants", changes))


def test_exponents_without_a_dot_are_numbers(tmp_path):
    """YAML 1.1 reads 4e-3 as a string; DVC (YAML 1.2) reads it as a number, and so does read_params."""
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(PARAMS).replace("learning_rate: 0.004", "learning_rate: 4e-3", 1))
    assert yaml.safe_load(path.read_text())["train"]["learning_rate"] == "4e-3"  # what PyYAML alone reads
    read = P.read_params(path)
    assert read["train"]["learning_rate"] == 0.004
    assert P.train_params(read).train.learning_rate == 0.004
    path.write_text("a: 1e5\nb: 1.0e-4\nc: -2E+3\nd: e5\ne: 12\n")
    assert P.read_params(path) == {"a": 1e5, "b": 1e-4, "c": -2000.0, "d": "e5", "e": 12}


def test_a_latency_run_count_past_the_bound_is_refused():
    with pytest.raises(P.ParamsError, match="evaluate.latency_runs must be between 10 and 1000000, got 1000000000"):
        P.evaluate_params(with_value(PARAMS, "evaluate.latency_runs", 10**9))
