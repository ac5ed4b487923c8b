"""Killing a stage mid-way leaves no partial output, and the next run redoes only what is needed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import FIXTURE, ROOT, write_test_params

PYTHON_DIR = str(Path(sys.executable).parent)


def start(cmd: list[str], cwd: Path, env: dict | None = None) -> subprocess.Popen:
    """Start `cmd` in a session of its own. A suite run as a background job (`make test &`, nohup)
    has SIGINT ignored, and an ignored signal stays ignored across exec: the stage would never see
    the Ctrl-C under test. So the default comes back first (Python's handler for this process)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, **(env or {})})


def wait_for(process: subprocess.Popen, marker: str, timeout: float = 240) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            return "".join(seen)
        if time.monotonic() > deadline:
            break
    process.kill()
    raise AssertionError(f"never saw {marker!r}:\n" + "".join(seen[-20:]))


def project_copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    for item in ("pipeline", "export", "runtime", "dvc.yaml"):
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(source, project / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(source, project / item)
    write_test_params(project / "params.yaml", train={"epochs": 30})
    (project / "data").mkdir()
    # 1,300 of the sample's training images (300 of them for validation): short epochs
    with np.load(FIXTURE) as npz:
        np.savez(project / "data" / "mnist.npz", x_train=npz["x_train"][:1300], y_train=npz["y_train"][:1300],
                 x_test=npz["x_test"][:200], y_test=npz["y_test"][:200])
    return project


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_killed_train_stage_leaves_every_output_as_it_was(tmp_path, signum):
    project = project_copy(tmp_path)
    previous_curves = project / "metrics" / "train" / "plots" / "metrics"
    previous_curves.mkdir(parents=True)
    (previous_curves / "loss.tsv").write_text("step\tloss\n0\t0.5\n1\t0.3\n")
    (project / "metrics" / "train" / "metrics.json").write_text('{"step": 1}')
    before = snapshot(project / "metrics")
    process = start([sys.executable, "-m", "pipeline.train"], project)
    wait_for(process, "epoch 2/")  # dvclive has logged a step by now
    os.killpg(process.pid, signum)
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    models = project / "models"
    assert not models.exists() or list(models.iterdir()) == [], list(models.iterdir())
    assert snapshot(project / "metrics") == before  # dvclive's curves and metrics untouched
    assert sorted(p.name for p in (project / "metrics").iterdir()) == ["train"]  # no temporary left behind
    assert "Traceback" not in output, output[-2000:]
    assert output.strip().splitlines()[-1] in ("train: interrupted", "train: terminated")


def test_dvc_repro_after_an_interrupt_redoes_only_the_stage(tmp_path):
    project = project_copy(tmp_path)
    env = {"PATH": f"{PYTHON_DIR}:{os.environ['PATH']}"}
    dvc = [sys.executable, "-m", "dvc"]
    git_commit = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "-q", "-m", "init"]
    for cmd in (["git", "init", "-q"], [*dvc, "init", "-q"], [*dvc, "config", "core.analytics", "false"],
                ["git", "add", "-A"], git_commit):
        subprocess.run(cmd, cwd=project, check=True, env={**os.environ, **env}, capture_output=True)
    subprocess.run([*dvc, "repro", "--single-item", "check_params"], cwd=project, check=True,
                   env={**os.environ, **env}, capture_output=True)
    process = start([*dvc, "repro", "--single-item", "train"], project, env)
    wait_for(process, "epoch 1/")
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=60)
    assert process.returncode != 0
    assert not (project / "models" / "float.keras").exists()
    lock = yaml.safe_load((project / "dvc.lock").read_text()) if (project / "dvc.lock").exists() else {}
    assert "train" not in lock.get("stages", {})

    params = project / "params.yaml"
    params.write_text(params.read_text().replace("epochs: 30", "epochs: 2"))
    done = subprocess.run([*dvc, "repro", "--single-item", "train"], cwd=project, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (project / "models" / "float.keras").stat().st_size > 0
    again = subprocess.run([*dvc, "repro", "--single-item", "train"], cwd=project, capture_output=True, text=True,
                           env={**os.environ, **env}, timeout=300)
    assert again.returncode == 0 and "didn't change, skipping" in again.stdout, again.stdout[-1000:]

    # An invalid value is refused by check_params before DVC removes train's outputs.
    model_bytes = (project / "models" / "float.keras").read_bytes()
    metrics = snapshot(project / "metrics")
    params.write_text(params.read_text().replace("epochs: 2", "epochs: -1"))
    refused = subprocess.run([*dvc, "repro", "--single-item", "check_params", "train"], cwd=project,
                             capture_output=True, text=True, env={**os.environ, **env}, timeout=300)
    assert refused.returncode != 0
    assert "train.epochs must be between 1 and 1000, got -1" in refused.stdout + refused.stderr
    assert (project / "models" / "float.keras").read_bytes() == model_bytes
    assert {k: v for k, v in snapshot(project / "metrics").items() if k != "params_check.json"} == {
        k: v for k, v in metrics.items() if k != "params_check.json"}
