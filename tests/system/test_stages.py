"""The stage runner and the stages not covered elsewhere: evaluate, bundle, the zoo tool, plots,
corrupt inputs, and the shape of the code (imports flow one way; dvc.yaml lists them)."""

from __future__ import annotations

import ast
import dataclasses
import functools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import ROOT, copy_heldout, write_test_params
from export.formats import BY_NAME, FORMATS
from runtime.manifest import sha256_of

STAGES = ["check_params", "data", "train", "qat", "export", "scenes", "evaluate", "bundle", "zoo"]


# --- the shape of the code -------------------------------------------------------------

def imported_modules(path: Path, package: str = "") -> set[str]:
    """Absolute names of what `path` imports; a relative import is resolved against `package`
    (the runtime imports its own modules relatively)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            if base:
                names |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return names


def project_file(module: str) -> Path | None:
    base = ROOT / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def closure(module: str) -> set[Path]:
    """Every project file `module` imports, directly or not (function-level and relative imports included)."""
    seen: set[Path] = set()
    stack = [module]
    while stack:
        name = stack.pop()
        path = project_file(name)
        if path is None or path in seen:
            continue
        seen.add(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        stack += [m for m in imported_modules(path, package) if m.split(".")[0] in ("pipeline", "export", "runtime", "tools")]
    return seen


@pytest.mark.parametrize("layer, forbidden", [("export", {"pipeline", "tools"}),
                                              ("runtime", {"pipeline", "export", "tools"})])
def test_imports_flow_one_way(layer, forbidden):
    for path in sorted((ROOT / layer).rglob("*.py")):
        upward = {m for m in imported_modules(path) if m.split(".")[0] in forbidden}
        assert not upward, f"{path.relative_to(ROOT)} imports {sorted(upward)}"


@pytest.mark.parametrize("package", ["export", "runtime", "pipeline"])
def test_no_import_circle_inside_a_package(package):
    """Every import counts, those under TYPE_CHECKING and inside functions too."""
    modules = {path: {project_file(m) for m in imported_modules(path) if m.split(".")[0] == package} - {None, path}
               for path in (ROOT / package).rglob("*.py")}

    def reaches(start: Path, goal: Path) -> bool:
        seen, stack = set(), list(modules.get(start, ()))
        while stack:
            here = stack.pop()
            if here == goal:
                return True
            if here not in seen:
                seen.add(here)
                stack += modules.get(here, ())
        return False

    circles = sorted(f"{a.relative_to(ROOT)} <-> {b.relative_to(ROOT)}" for a, targets in modules.items()
                     for b in targets if reaches(b, a) and str(a) < str(b))
    assert not circles, circles


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_lists_the_modules_it_imports(stage):
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]["deps"]
    for path in closure(f"pipeline.{stage}"):
        relative = path.relative_to(ROOT).as_posix()
        if path.name == "__init__.py" and not path.read_text().strip().replace('"', "").strip():
            continue
        covered = any(relative == dep or relative.startswith(dep.rstrip("/") + "/") for dep in deps)
        if not covered and path.name == "__init__.py" and path.stat().st_size < 200:
            continue  # a package marker with only a docstring
        assert covered, f"stage {stage} imports {relative}, which dvc.yaml does not list"


@pytest.mark.parametrize("stage", ["check_params", "data", "train", "qat"])
def test_stage_lists_exactly_the_modules_it_imports(stage):
    """No more than it imports, so an edit re-runs only the stages that read the edited code (these
    stages list modules one by one; the test above checks that every stage lists enough)."""
    modules = {p.relative_to(ROOT).as_posix() for p in closure(f"pipeline.{stage}") if p.name != "__init__.py"}
    listed = {dep for dep in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]["deps"]
              if dep.endswith(".py")}
    assert listed == modules, f"dvc.yaml lists {sorted(listed - modules)} and lacks {sorted(modules - listed)}"


def test_every_stage_but_check_params_depends_on_it():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert set(stages) == set(STAGES)
    checked = stages["check_params"]["outs"][0]
    checked = next(iter(checked)) if isinstance(checked, dict) else checked
    for name, stage in stages.items():
        if name != "check_params":
            assert checked in stage["deps"], name





# --- corrupt inputs: one line, exit 1, no traceback --------------------------------------

@pytest.fixture()
def corrupt_project(tmp_path, tiny_pipeline):
    """A project whose data or model files are random bytes."""
    root = tmp_path
    params = write_test_params(root / "params.yaml")
    rng = np.random.default_rng(0)
    for name in ("data/mnist.npz", "models/float.keras", "models/float_tfkeras.h5", "models/qat.h5",
                 "artifacts/manifest.json", *(f"artifacts/{f.filename}" for f in FORMATS)):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(rng.bytes(4096))
    return root, params


def stage_args(stage: str, root: Path, data: Path) -> list[str]:
    models, artifacts = root / "models", root / "artifacts"
    return {
        "train": ["--data", str(data), "--model", str(models / "new.keras"), "--metrics", str(root / "t.json"),
                  "--live-dir", str(root / "live")],
        "qat": ["--data", str(data), "--model", str(models / "float.keras"), "--float-out", str(models / "f.h5"),
                "--qat-out", str(models / "q.h5"), "--metrics", str(root / "q.json")],
        "export": ["--data", str(data), "--float-model", str(models / "float_tfkeras.h5"), "--qat-model",
                   str(models / "qat.h5"), "--out-dir", str(root / "out")],
        "evaluate": ["--data", str(data), "--float-model", str(models / "float_tfkeras.h5"), "--qat-model",
                     str(models / "qat.h5"), "--artifacts", str(artifacts), "--metrics", str(root / "e.json"),
                     "--plots", str(root / "plots"), "--train-live", str(root / "live"),
                     "--figures", str(root / "evaluate.md")],
        "bundle": ["--artifacts", str(artifacts), "--out-dir", str(root / "bundled")],
    }[stage]


@pytest.mark.parametrize("stage", ["train", "qat", "export", "evaluate"])
def test_corrupt_data_is_one_line(corrupt_project, stage, capsys):
    import importlib

    root, params = corrupt_project
    main = importlib.import_module(f"pipeline.{stage}").main
    assert main([*stage_args(stage, root, root / "data" / "mnist.npz"), "--params", str(params)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"{stage}: error: {root / 'data' / 'mnist.npz'}: not an .npz file (no zip header); " \
                      "re-create it with `dvc repro data`"


@pytest.mark.parametrize("stage, culprit", [("qat", "models/float.keras"), ("export", "models/float_tfkeras.h5"),
                                            ("evaluate", "models/float_tfkeras.h5"),
                                            ("bundle", "artifacts/manifest.json")])
def test_corrupt_models_are_one_line(corrupt_project, mnist_sample, stage, culprit, capsys):
    import importlib

    from conftest import FIXTURE

    root, params = corrupt_project
    main = importlib.import_module(f"pipeline.{stage}").main
    assert main([*stage_args(stage, root, FIXTURE), "--params", str(params)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"{stage}: error: {root / culprit}: "), err[-3:]
    assert len(err[-1]) < 400


def test_corrupt_model_file_in_a_real_process_prints_no_traceback(corrupt_project):
    from conftest import FIXTURE

    root, params = corrupt_project
    done = subprocess.run([sys.executable, "-m", "pipeline.qat", *stage_args("qat", root, FIXTURE),
                           "--params", str(params)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"qat: error: {root / 'models' / 'float.keras'}: "
                                                           "not a readable Keras model")


def test_export_refuses_a_model_of_another_variant(tiny_pipeline, tmp_path, capsys):
    from pipeline import export

    params = write_test_params(tmp_path / "params.yaml", model={"variant": "tiny"})
    code = export.main(["--data", str(tiny_pipeline.data), "--params", str(params), "--float-model",
                        str(tiny_pipeline.float_model), "--qat-model", str(tiny_pipeline.qat_model),
                        "--out-dir", str(tmp_path / "out")])
    assert code == 1
    assert "is not the tiny variant" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- evaluate, bundle, zoo, plots ------------------------------------------------------

@pytest.fixture(scope="module")
def evaluated(tiny_pipeline, tmp_path_factory):
    from pipeline import evaluate

    root = tmp_path_factory.mktemp("evaluate")
    # A tenth of the real-world set (10 pictures of each digit, 12 non-digits): every real-world
    # column, without running 1,200 pictures through TFLite Micro and the C in every test run.
    realworld = root / "realworld"
    for label in range(10):
        for picture in sorted((ROOT / "realworld" / "digits" / str(label)).iterdir())[:10]:
            (realworld / "digits" / str(label)).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(picture, realworld / "digits" / str(label) / picture.name)
    (realworld / "nondigits").mkdir()
    for picture in sorted((ROOT / "realworld" / "nondigits").iterdir())[::10]:
        shutil.copyfile(picture, realworld / "nondigits" / picture.name)
    copy_heldout(realworld, every=10)
    # Two camera-like scenes of tools/make_scenes.py, 10 fixture digits and 2 non-digit rings each.
    from PIL import Image
    from tools.make_scenes import render

    scenes = root / "scenes"
    digits = np.load(ROOT / "tests" / "fixtures" / "mnist_sample.npz")
    ring = np.zeros((28, 28), np.float32)
    ring[4:24, 4:24], ring[8:20, 8:20] = 1, 0
    for scene in ("ruled", "tight_crop"):
        rng = np.random.default_rng(0)
        for index, (image, label) in enumerate(zip(digits["x_test"][:10], digits["y_test"][:10])):
            picture, _box = render(scene, image.astype(np.float32) / 255, rng, (320, 240))
            (scenes / scene / str(label)).mkdir(parents=True, exist_ok=True)
            picture.save(scenes / scene / str(label) / f"{index}.png")
        (scenes / scene / "none").mkdir()
        for index in range(2):
            render(scene, ring, rng, (320, 240))[0].save(scenes / scene / "none" / f"{index}.png")
    params = write_test_params(root / "params.yaml", evaluate={
        "latency_runs": 10, "warmup_runs": 1, "throughput_batch": 16, "gates": {
            "int8_min_agreement": 0.9, "int8_max_accuracy_drop": 0.05, "int8_cross_agreement": 0.99}})
    args = ["--data", str(tiny_pipeline.data), "--float-model", str(tiny_pipeline.float_model), "--qat-model",
            str(tiny_pipeline.qat_model), "--artifacts", str(tiny_pipeline.artifacts), "--train-live",
            str(tiny_pipeline.live), "--metrics", str(root / "evaluate.json"), "--plots", str(root / "plots"),
            "--figures", str(root / "evaluate.md"),
            "--realworld", str(realworld), "--scenes", str(scenes), "--params", str(params)]
    code = evaluate.main(args)
    return root, code, args


def test_evaluate_writes_a_row_per_format_and_the_plots(evaluated):
    root, code, _ = evaluated
    assert code == 0
    result = json.loads((root / "evaluate.json").read_text())
    assert result["gate_failures"] == []
    assert set(result["formats"]) == {"keras_float", "keras_qat", *(f.name for f in FORMATS)}
    for fmt in FORMATS:
        row = result["formats"][fmt.name]
        assert row["reference"] == fmt.reference and row["accuracy"] > 0.9 and row["size_bytes"] > 0
        assert ("agreement_with_source" in row) == bool(fmt.derived_from)
    assert result["test_images"] == 1000
    micro = result["formats"]["tflm_int8"]
    # integer kernels on both sides, a few levels apart (tests/export/test_tflm.py): near-ties may flip
    assert micro["reference"] == "tflite_int8" and micro["agreement"] >= 0.99
    assert micro["arena_bytes"] > 1000 and micro["macs"] > 0 and "CONV_2D" in micro["ops"]
    for name, row in result["formats"].items():
        assert 0 <= row["realworld_accuracy"] <= 1 and 0 <= row["ece"] <= 1 and 0 <= row["nondigit_rejection"] <= 1, name
        assert set(row["scenes"]) == {"ruled", "tight_crop"}, name
        for scene in row["scenes"].values():  # a refused digit is wrong, but not wrong with confidence
            assert 0 <= scene["confident_wrong"] <= 1 - scene["accuracy"] + 1e-9 and 0 <= scene["nondigit_rejection"] <= 1
        assert row["scenes_accuracy"] == pytest.approx(np.mean([scene["accuracy"] for scene in row["scenes"].values()]))
        assert 0 <= row["realworld_confident_wrong"] <= 1 - row["realworld_accuracy"] + 1e-9
        # the open-set figures (docs/non-digits.md), on the held-out non-digits, for every format
        assert 0 <= row["heldout_nondigit_rejection"] <= row["heldout_rejection_at_99_recall"] + 1e-9 <= 1 + 1e-9, name
        assert 0 < row["mnist_digit_recall"] <= 1 and 0 <= row["realworld_digit_recall"] <= 1, name
        # answering a digit where the model says "not a digit" can only turn wrong answers right
        assert row["realworld_accuracy"] - 1e-9 <= row["realworld_accuracy_always_digit"] <= 1, name
        assert row["accuracy"] - 1e-9 <= row["mnist_accuracy_always_digit"] <= 1, name
        assert len(row["rejection_curve"]) >= 2 and row["rejection_curve"][0][0] == row["mnist_digit_recall"], name
    assert result["heldout_nondigits"] == len(list((root / "realworld" / "heldout_nondigits").glob("*/*"))) > 0
    assert result["scene_digits"] == 20 and result["scene_nondigits"] == 4
    nondigits = len(list((root / "realworld" / "nondigits").iterdir()))
    assert result["realworld_digits"] == 100 and result["realworld_nondigits"] == nondigits > 0
    for name in ("training_curves.png", "confusion_int8.png", "confusion_realworld.png",
                 "accuracy_vs_size_latency.png", "open_set.png"):
        assert (root / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from pipeline.report import footprint_table, open_set_table, results_table, scenes_table

    figures = (root / "evaluate.md").read_text()
    assert results_table(result) in figures and footprint_table(result) in figures and "`tflm_int8`" in figures
    assert scenes_table(result) in figures and "| `c_int8` |" in scenes_table(result)
    assert open_set_table(result) in figures and "| `c_int8` |" in open_set_table(result)


def test_readme_results_are_the_committed_figures():
    """The README's table is the one the evaluate stage wrote into docs/figures/evaluate.md."""
    from pipeline.report import results_table

    result = json.loads((ROOT / "metrics" / "evaluate.json").read_text())
    table = results_table(result)
    assert table in (ROOT / "README.md").read_text()
    assert table in (ROOT / "docs" / "figures" / "evaluate.md").read_text()


def test_evaluate_gate_failure_is_one_line_and_keeps_the_metrics(evaluated, small_realworld, tmp_path, capsys):
    from pipeline import evaluate

    root, _, args = evaluated
    params = write_test_params(tmp_path / "params.yaml", evaluate={
        "latency_runs": 10, "warmup_runs": 0, "throughput_batch": 16, "gates": {"float_max_abs_diff": 0.0}})
    metrics = tmp_path / "evaluate.json"  # small_realworld: this test is about the gate's message
    args = [*args[: args.index("--metrics")], "--metrics", str(metrics), "--plots", str(tmp_path / "plots"),
            "--figures", str(tmp_path / "evaluate.md"),
            "--realworld", str(small_realworld), "--params", str(params)]
    # one file is enough for the message: the float TFLite, held to max |diff| 0
    stage = dataclasses.replace(evaluate.STAGE, run=functools.partial(evaluate.run, formats=(BY_NAME["tflite_float"],)))
    code = stage.main(args)
    err = capsys.readouterr().err.strip().splitlines()
    if json.loads(metrics.read_text())["formats"]["tflite_float"]["max_abs_diff"] > 0:
        assert code == 1 and err[-1].startswith("evaluate: error: ") and "parity gate(s) failed" in err[-1]
        assert err[-1].count("; ") == 0 and "tflite_float: max_abs_diff" in err[-1]
        # the metrics and the figures page say the run failed, so that neither is taken for a result
        assert json.loads(metrics.read_text())["gate_failures"] == [err[-1].split("failed: ", 1)[1]]
        assert "Parity gates failed" in (tmp_path / "evaluate.md").read_text()
    else:  # float32 rounding happened to agree exactly on this machine: nothing to fail
        assert code == 0 and json.loads(metrics.read_text())["gate_failures"] == []


def test_bundle_copies_the_bundled_formats_and_refuses_a_tampered_one(tiny_pipeline, tmp_path, capsys):
    from pipeline import bundle

    out = tmp_path / "bundled"
    assert bundle.main(["--artifacts", str(tiny_pipeline.artifacts), "--out-dir", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == set(bundle.BUNDLED)
    for name in bundle.BUNDLED:
        assert (out / name).read_bytes() == (tiny_pipeline.artifacts / name).read_bytes()

    tampered = tmp_path / "artifacts"
    shutil.copytree(tiny_pipeline.artifacts, tampered)
    victim = tampered / bundle.BUNDLED[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    assert bundle.main(["--artifacts", str(tampered), "--out-dir", str(tmp_path / "again")]) == 1
    assert "does not match the manifest" in capsys.readouterr().err
    assert not (tmp_path / "again" / "manifest.json").exists()

    # A newer export whose last file is broken leaves the bundle there as it was, every file its manifest's.
    newer = tmp_path / "newer"
    shutil.copytree(tiny_pipeline.artifacts, newer)
    listing = json.loads((newer / "manifest.json").read_text())
    for name in bundle.BUNDLED[:-1]:  # the others "re-exported": new bytes, listed in the new manifest
        (newer / name).write_bytes((newer / name).read_bytes() + b"\0")
        listing["files"][name].update(size_bytes=(newer / name).stat().st_size, sha256=sha256_of(newer / name))
    (newer / "manifest.json").write_text(json.dumps(listing))
    with open(newer / bundle.BUNDLED[-1], "ab") as last:
        last.write(b"\0")
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    assert bundle.main(["--artifacts", str(newer), "--out-dir", str(out)]) == 1
    assert "the manifest says" in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before  # no temporary left either


def test_zoo_stage_records_a_variant_and_keeps_the_others(evaluated, tiny_pipeline, tmp_path, capsys):
    from pipeline import zoo

    root, _, _ = evaluated
    zoo_file = tmp_path / "zoo.json"
    plain = tmp_path / "qat_plain.json"  # a qat summary without a count: the train stage's stands
    plain.write_text(json.dumps({"outputs": 10}))
    args = ["--evaluate", str(root / "evaluate.json"), "--train", str(tiny_pipeline.train_metrics),
            "--zoo", str(zoo_file), "--plot", str(tmp_path / "zoo.png"), "--figures", str(tmp_path / "zoo.md"),
            "--qat", str(plain)]
    old_layout = json.dumps({"variants": {"tiny": {"variant": "tiny", "params": 1}}})
    zoo_file.write_text(old_layout)
    assert zoo.main(args) == 1  # an entry without per-file rows cannot be drawn: say so, change nothing
    assert "variant 'tiny' is in an older layout" in capsys.readouterr().err
    assert zoo_file.read_text() == old_layout
    tiny_row = {"variant": "tiny", "params": 1, "formats": {
        name: {"accuracy": 0.99, "size_bytes": 1000, "latency_p50_ms": 0.1} for name in zoo.plotted()}}
    zoo_file.write_text(json.dumps({"variants": {"tiny": tiny_row}}))
    assert zoo.main(args) == 0
    result = json.loads((root / "evaluate.json").read_text())["formats"]
    saved = json.loads(zoo_file.read_text())
    assert list(saved["variants"]) == ["tiny", "standard"] and saved["variants"]["tiny"] == tiny_row
    assert saved["variants"]["standard"]["params"] == json.loads(tiny_pipeline.train_metrics.read_text())["params"]
    qat_summary = tmp_path / "qat.json"
    qat_summary.write_text(json.dumps({"outputs": 11, "params": 12345}))  # the grown head counts
    assert zoo.main([*args, "--qat", str(qat_summary)]) == 0
    assert json.loads(zoo_file.read_text())["variants"]["standard"]["params"] == 12345
    capsys.readouterr()
    assert zoo.main(args) == 0
    saved = json.loads(zoo_file.read_text())
    standard = saved["variants"]["standard"]["formats"]
    assert set(standard) == set(result)  # every evaluated file, and the two Keras references
    assert standard["tflite_int8"]["accuracy"] == result["tflite_int8"]["accuracy"]
    assert standard["tflm_int8"]["arena_bytes"] == result["tflm_int8"]["arena_bytes"] and standard["tflm_int8"]["macs"] > 0
    table = capsys.readouterr().out
    assert sum(line.startswith("| standard |") for line in table.splitlines()) == len(result)
    assert sum(line.startswith("| tiny |") for line in table.splitlines()) == len(tiny_row["formats"])
    assert {r["name"] for r in saved["references"]} >= {"BitNetMCU", "ONNX Model Zoo MNIST-12 int8"}
    assert (tmp_path / "zoo.png").read_bytes()[:4] == b"\x89PNG"
    assert zoo.table(saved) in table and zoo.table(saved) in (tmp_path / "zoo.md").read_text()


def test_runtime_bench_prints_a_row_per_bundled_model():
    done = subprocess.run([sys.executable, "-m", "tools.bench", "--runs", "50", "--json"], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-1000:]
    report = json.loads(done.stdout)
    assert {row["model"] for row in report["models"]} == {"model_int8.tflite", "model_int8.onnx", "model_float.onnx"}
    for row in report["models"]:
        assert 0 < row["latency_p50_ms"] <= row["latency_p99_ms"] and row["throughput_per_s"] > 0


def test_the_results_table_tool_prints_the_table_and_refuses_what_it_cannot_read(tmp_path, capsys):
    from pipeline.report import results_table
    from tools.results_table import main as table_main

    assert table_main([]) == 0
    assert capsys.readouterr().out.strip() == results_table(json.loads((ROOT / "metrics" / "evaluate.json").read_text()))
    assert table_main([str(tmp_path / "none.json")]) == 1
    assert capsys.readouterr().err.strip().endswith("none.json: no such file; run the pipeline first (make pipeline)")
    (tmp_path / "bad.json").write_text("{}")
    assert table_main([str(tmp_path / "bad.json")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not the evaluate stage's metrics" in err
    with pytest.raises(SystemExit) as exit_info:
        table_main(["--help"])
    assert exit_info.value.code == 0


def test_evaluate_names_a_missing_picture_set_before_it_measures_anything(tmp_path, capsys, monkeypatch):
    from pipeline import evaluate, legacy_keras
    from tests.conftest import FIXTURE

    def measured(*_args, **_kwargs):
        raise AssertionError("a model was loaded before the picture sets were checked")

    monkeypatch.setattr(legacy_keras, "load_float", measured)
    assert evaluate.main(["--data", str(FIXTURE), "--realworld", str(tmp_path / "none"),
                          "--metrics", str(tmp_path / "e.json"), "--figures", str(tmp_path / "e.md"),
                          "--plots", str(tmp_path / "plots")]) == 1
    assert capsys.readouterr().err == (f"evaluate: error: {tmp_path / 'none' / 'digits'}: no pictures; "
                                       "run `python -m tools.make_realworld`\n")
    assert not (tmp_path / "e.json").exists()


def test_a_signal_in_a_training_loop_waits_for_the_batch_end_and_a_swallowed_one_is_raised_again():
    """A signal's exception raised by the handler can land inside a library's C code or be swallowed by
    a garbage-collector callback (JAX's): Ctrl-C then went unheard and the stage trained on."""
    import os
    import signal
    import time

    from pipeline import stage

    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        stage.install_signal_handlers()
        reached = False
        with pytest.raises(stage.Terminated):
            with stage.deferred_signals():  # a training loop: the handler only records it
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                reached = True
        assert reached  # raised where the loop let it, not inside it
        stage.install_signal_handlers()
        try:  # the handler's own exception swallowed where it landed
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        except KeyboardInterrupt:
            pass
        with pytest.raises(KeyboardInterrupt):
            stage.raise_pending()  # what the training callbacks and the runner call
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGINT, saved[1])
        stage._received.clear()


@pytest.mark.parametrize("zoo_text, evaluate_text, message", [
    ("[]", None, "zoo.json: not the JSON a stage writes (no mapping); delete it"),
    ('{"formats": {}}', None, "zoo.json: not the JSON a stage writes (no 'variants'); delete it"),  # a traceback before
    ("{oops", None, "delete it, then run the zoo stage for each variant again"),  # dvc repro cannot remake it
    (None, "{}", "evaluate.json: not the JSON a stage writes (no 'formats')"),  # "zoo: error: 'formats'" before
])
def test_zoo_says_which_file_is_wrong_and_what_to_do(tmp_path, zoo_text, evaluate_text, message):
    from pipeline import zoo

    zoo_file, evaluate = tmp_path / "zoo.json", ROOT / "metrics" / "evaluate.json"
    if zoo_text is not None:
        zoo_file.write_text(zoo_text)
    if evaluate_text is not None:
        evaluate = tmp_path / "evaluate.json"
        evaluate.write_text(evaluate_text)
    with pytest.raises(ValueError, match=re.escape(message)):
        zoo.record(zoo_file, evaluate, ROOT / "metrics" / "train.json")


@pytest.mark.parametrize("text, problem", [("{oops", "Expecting property name"), ("[1, 2]", "no mapping")])
def test_export_refuses_a_broken_train_summary_before_it_exports(tmp_path, capsys, text, problem):
    from pipeline import export

    summary = tmp_path / "train.json"
    summary.write_text(text)
    out = tmp_path / "artifacts"
    assert export.main(["--train-metrics", str(summary), "--out-dir", str(out)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"export: error: {summary}: not the JSON a stage writes (")
    assert problem in error and error.endswith("run the train stage again, or pass --train-metrics")
    assert not out.exists() or not any(out.iterdir())
