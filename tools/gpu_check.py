"""The GPU measurement, as one prepared run: facts about the machine, the train stage's code path
cold, warm and with plain Keras defaults (tools.gpu_bench), the augmentation benchmark
(tools.augment_bench), and the targets checked, all written to OUT/gpu_check.json with the
whole log in OUT/gpu_check.log.

    tools/gpu_check.sh                                  # on the GPU machine (installs the carried wheels)
    JAX_PLATFORMS=cpu python -m tools.gpu_check --small --out /tmp/gpu_check   # rehearsal on a CPU

`--small` trains on the committed MNIST sample for one epoch on the CPU: it proves the script,
not the figures. Every step has a time limit, so that one stuck step cannot eat the device
budget; a step that fails or runs out of time is recorded as such and the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from tools.figures import count, tool_parser

ROOT = Path(__file__).resolve().parents[1]
CPU_RECIPE_ACCURACY = ROOT / "metrics" / "evaluate.json"  # keras_float: the CPU recipe's test accuracy
TARGETS = {  # issue: "Train on a GPU, measured on a real one"
    "float_test_accuracy_min": 0.995,
    "cold_stage_wall_s_max": 20.0,
    "warm_stage_wall_s_max": 8.0,
    "steady_epoch_s_max": 0.3,
    "recipe_cost_of_train_step_max": 0.10,
    "gpu_vs_cpu_recipe_points_max": 0.1,
}


class Log:
    def __init__(self, path: Path) -> None:
        self.file = path.open("a")

    def __call__(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {text}"
        print(line, file=sys.stderr, flush=True)
        self.file.write(line + "\n")
        self.file.flush()


def step(log: Log, name: str, cmd: list[str], timeout: int, env: dict | None = None) -> dict:
    """Run one command with a time limit; its output goes to the log."""
    log(f"{name}: {' '.join(cmd)} (limit {timeout} s)")
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
        status = "ok" if done.returncode == 0 else f"exit {done.returncode}"
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as expired:
        status = f"timed out after {timeout} s"
        output = (expired.stdout or b"").decode(errors="replace") + (expired.stderr or b"").decode(errors="replace")
    seconds = round(time.perf_counter() - start, 1)
    log.file.write(output if output.endswith("\n") or not output else output + "\n")
    log(f"{name}: {status} in {seconds} s")
    return {"status": status, "seconds": seconds}


def facts(log: Log) -> dict:
    found: dict = {"python": sys.version.split()[0]}
    if shutil.which("nvidia-smi"):
        query = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=60)
        found["nvidia_smi"] = query.stdout.strip() or query.stderr.strip()
    probe = subprocess.run([sys.executable, "-c", "import jax, keras, json; print(json.dumps({'jax': jax.__version__, "
                            "'keras': keras.__version__, 'devices': [str(d) for d in jax.devices()]}))"],
                           capture_output=True, text=True, timeout=300, cwd=ROOT)
    if probe.returncode == 0:
        found.update(json.loads(probe.stdout.strip().splitlines()[-1]))
    else:
        found["jax_probe_error"] = (probe.stderr.strip().splitlines() or ["?"])[-1]
    log(f"facts: {json.dumps(found)}")
    return found


def small_inputs(out: Path) -> tuple[Path, Path]:
    """The committed sample and the fixtures' small params (one epoch), for a CPU rehearsal."""
    sys.path.insert(0, str(ROOT))
    from tests.make_fixtures import SAMPLE, write_test_params

    params = write_test_params(out / "params_small.yaml", train={"epochs": 1, "backend": "jax"})
    return SAMPLE, params


def verdict(rows: list[dict], augment: dict | None) -> dict:
    by = {row["config"]: row for row in rows}
    cold, warm = by.get("pipeline cold"), by.get("pipeline warm")
    checks: dict = {}
    if cold:
        checks["float_test_accuracy"] = [cold["test_accuracy"], cold["test_accuracy"] >= TARGETS["float_test_accuracy_min"]]
        checks["cold_stage_wall_s"] = [cold["stage_wall_seconds"], cold["stage_wall_seconds"] <= TARGETS["cold_stage_wall_s_max"]]
        checks["steady_epoch_s"] = [cold["steady_epoch_seconds"], cold["steady_epoch_seconds"] <= TARGETS["steady_epoch_s_max"]]
        if CPU_RECIPE_ACCURACY.exists():
            cpu = json.loads(CPU_RECIPE_ACCURACY.read_text())["formats"]["keras_float"]["accuracy"]
            gap = round((cpu - cold["test_accuracy"]) * 100, 3)
            checks["gpu_points_below_cpu_recipe"] = [gap, gap <= TARGETS["gpu_vs_cpu_recipe_points_max"]]
    if warm:
        checks["warm_stage_wall_s"] = [warm["stage_wall_seconds"], warm["stage_wall_seconds"] <= TARGETS["warm_stage_wall_s_max"]]
    if augment:
        cost = augment["recipe_cost_of_train_step"]
        checks["recipe_cost_of_train_step"] = [cost, cost <= TARGETS["recipe_cost_of_train_step_max"]]
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("python -m tools.gpu_check", __doc__)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_out")))
    parser.add_argument("--data", type=Path, default=ROOT / "gpu_data" / "mnist.npz")
    parser.add_argument("--small", action="store_true", help="CPU rehearsal: the MNIST sample, one epoch")
    parser.add_argument("--bench-limit", type=count(1), default=330, help="seconds for the three training runs")
    parser.add_argument("--augment-limit", type=count(1), default=120, help="seconds for the augmentation benchmark")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    log = Log(args.out / "gpu_check.log")
    started = time.perf_counter()
    report: dict = {"small": args.small, "targets": TARGETS, "facts": facts(log)}

    data, params, device = args.data, ROOT / "params.yaml", "gpu"
    if args.small:
        data, params = small_inputs(args.out)
        device = "cpu"
    if not data.is_file():
        log(f"no data at {data}: carry it (make gpu-prepare copies MNIST to gpu_data/mnist.npz)")
        return 2
    env = {"KERAS_BACKEND": "jax"}
    bench_json, augment_json = args.out / "gpu_bench.json", args.out / "augment_bench.json"
    cmd = [sys.executable, "-m", "tools.gpu_bench", "--data", str(data), "--params", str(params),
           "--device", device, "--json", str(bench_json)]
    report["gpu_bench"] = step(log, "gpu_bench", cmd, args.bench_limit, env)
    augment_cmd = [sys.executable, "-m", "tools.augment_bench", "--json", str(augment_json)]
    if args.small:
        augment_cmd += ["--seconds", "0.5", "--batch", "64"]
    report["augment_bench"] = step(log, "augment_bench", augment_cmd, args.augment_limit, env)
    rows = json.loads(bench_json.read_text()) if bench_json.exists() else []
    augment = json.loads(augment_json.read_text()) if augment_json.exists() else None
    report.update(rows=rows, augment=augment, checks=verdict(rows, augment),
                  total_seconds=round(time.perf_counter() - started, 1))
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    for name, (value, ok) in report["checks"].items():
        log(f"target {name}: {value} {'met' if ok else 'MISSED'}")
    log(f"done in {report['total_seconds']} s: {args.out / 'gpu_check.json'}")
    steps_ok = all(report[s]["status"] == "ok" for s in ("gpu_bench", "augment_bench"))
    return 0 if steps_ok else 1


if __name__ == "__main__":
    sys.exit(main())
