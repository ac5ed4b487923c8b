"""GPU training benchmark: the train stage's own code path, then plain Keras defaults, same run.

    KERAS_BACKEND=jax python -m tools.gpu_bench --data data/mnist.npz

Prints, for each configuration: stage wall time (imports and XLA compilation included),
steady-state images/s per epoch, and accuracy on the MNIST test set. Needs no TensorFlow
when the backend is JAX. Each configuration runs in its own process so that start-up and
compilation are counted honestly: the pipeline's settings first with an empty JAX compile
cache (cold), then again with the cache the first run filled (warm, as a second `dvc repro`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from pipeline.params import DeviceKind, MixedPrecision, read_params, train_params
from tools.figures import count, tool_parser

CONFIGS = {
    # What `dvc repro` trains: params.yaml's train section as it is (on a GPU: bf16, XLA, the recipe on the device).
    "pipeline": {},
    # Plain Keras defaults for comparison: batch 128, float32.
    "keras_defaults": {"batch_size": 128, "learning_rate_scale": 1.0, "mixed_precision": MixedPrecision.OFF},
}


def run_one(name: str, data: Path, params_path: Path, epochs: int | None, device: str) -> dict:
    started = time.perf_counter()
    from pipeline import train
    from pipeline.stage import process_started

    base = train_params(read_params(params_path))
    config = CONFIGS[name]
    params = replace(base, train=replace(
        base.train,
        batch_size=config.get("batch_size", base.train.batch_size),
        learning_rate=base.train.learning_rate * config.get("learning_rate_scale", 1.0),
        mixed_precision=config.get("mixed_precision", base.train.mixed_precision),
        device=DeviceKind(device),
        epochs=epochs or base.train.epochs,
    ))
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "model.keras"
        summary = train.train(params, data, model_path, live_dir=None, started=process_started())
        import keras
        import numpy as np

        from runtime.normalization import to_model_input

        model = keras.saving.load_model(model_path, compile=False)
        with np.load(data) as npz:
            x, y = to_model_input(npz["x_test"]), npz["y_test"]
        test_accuracy = float((model.predict(x, batch_size=1000, verbose=0).argmax(1) == y).mean())
    summary.update(config=name, test_accuracy=test_accuracy,
                   process_wall_seconds=round(time.perf_counter() - started, 2))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("python -m tools.gpu_bench", __doc__)
    parser.add_argument("--data", type=Path, default=Path("data/mnist.npz"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--epochs", type=count(1), default=None, help="default: train.epochs of --params")
    parser.add_argument("--device", choices=[d.value for d in DeviceKind], default="gpu")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--one", choices=sorted(CONFIGS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for option, path in (("--data", args.data), ("--params", args.params)):
        if not path.is_file():  # said here, not as three children's tracebacks
            parser.error(f"{option} {path}: no such file")
    if args.one:
        print(json.dumps(run_one(args.one, args.data, args.params, args.epochs, args.device)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as caches:
        runs = [("pipeline", "cold", "pipeline"), ("pipeline", "warm", "pipeline"),
                ("keras_defaults", "cold", "keras_defaults")]
        for name, state, cache in runs:
            cmd = [sys.executable, "-m", "tools.gpu_bench", "--one", name, "--data", str(args.data),
                   "--params", str(args.params), "--device", args.device]
            if args.epochs:
                cmd += ["--epochs", str(args.epochs)]
            env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(Path(caches) / cache)}
            print(f"gpu_bench: {name} ({state} compile cache)...", file=sys.stderr, flush=True)
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if out.returncode != 0:
                print(out.stderr[-3000:], file=sys.stderr)
                return out.returncode
            rows.append({**json.loads(out.stdout.strip().splitlines()[-1]), "config": f"{name} {state}"})
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"{'config':<20} {'backend':<10} {'device':<26} {'batch':>5} {'prec':>5} {'stage s':>7} "
          f"{'1st ep s':>8} {'steady ep s':>11} {'img/s':>9} {'test acc':>9}")
    for r in rows:
        print(f"{r['config']:<20} {r['backend']:<10} {r['device_name'][:26]:<26} {r['batch_size']:>5} "
              f"{'bf16' if r['mixed_precision'] else 'fp32':>5} {r['stage_wall_seconds']:>7.1f} "
              f"{r['first_epoch_seconds']:>8.2f} {r['steady_epoch_seconds']:>11.3f} "
              f"{r['steady_images_per_second']:>9,.0f} {r['test_accuracy']:>9.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
