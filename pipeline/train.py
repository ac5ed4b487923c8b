"""Stage `train`: train the float CNN with Keras 3 on the best available device.

Writes the model (`.keras`), per-epoch curves through dvclive, and a summary with the
backend, device, wall time and throughput. Nothing here imports TensorFlow unless
TensorFlow is the chosen backend, so the stage runs on a JAX-only GPU machine.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # stage wall time includes imports and compilation

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from pipeline import backend as backend_choice  # noqa: E402
from pipeline.atomic import atomic_path, install_signal_handlers, write_json  # noqa: E402
from pipeline.dataset import load_split, one_hot, steps_per_epoch, training_batches  # noqa: E402
from pipeline.params import Device, MixedPrecision, ParamsError, TrainParams, read_params, train_params  # noqa: E402


class EpochLogger:
    """Keras callback factory: per-epoch metrics to dvclive (if installed) and to stderr."""

    @staticmethod
    def create(keras, live_dir: Path | None, total_epochs: int):
        try:
            from dvclive import Live
        except ImportError:  # the GPU box carries only keras; curves still go to stderr
            Live = None

        class _Logger(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.live = Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=False) if Live and live_dir else None
                self.epoch_times: list[float] = []
                self.history: list[dict[str, float]] = []

            def on_epoch_begin(self, epoch, logs=None):
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                seconds = time.perf_counter() - self._start
                self.epoch_times.append(seconds)
                logs = {k: float(v) for k, v in (logs or {}).items()}
                self.history.append(logs)
                shown = "  ".join(f"{k} {v:.4f}" for k, v in sorted(logs.items()) if k != "learning_rate")
                print(f"train: epoch {epoch + 1}/{total_epochs}  {seconds:.1f}s  {shown}", file=sys.stderr, flush=True)
                if self.live:
                    for name, value in logs.items():
                        self.live.log_metric(name, value, plot=True)
                    self.live.log_metric("epoch_seconds", seconds, plot=True)
                    self.live.next_step()

            def on_train_end(self, logs=None):
                if self.live:
                    self.live.end()

        return _Logger()


def seed_everything(keras, selection: backend_choice.Selection, seed: int) -> None:
    keras.utils.set_random_seed(seed)
    if selection.backend.value == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def compile_model(keras, model, params: TrainParams, total_steps: int, jit_compile: bool):
    warmup = max(1, total_steps // 10)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=params.learning_rate / 20,
        decay_steps=total_steps - warmup,
        alpha=0.01,
        warmup_target=params.learning_rate,
        warmup_steps=warmup,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=params.label_smoothing),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )


def train(params: TrainParams, data_path: Path, model_out: Path, live_dir: Path | None) -> dict:
    """Train and save the float model; return the summary metrics."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any probe imports TensorFlow
    selection = backend_choice.choose(params.backend, params.device)
    backend_choice.activate(selection)
    import keras

    from pipeline.model import build_model

    on_gpu = selection.device is Device.GPU
    mixed = params.mixed_precision is MixedPrecision.ON or (params.mixed_precision is MixedPrecision.AUTO and on_gpu)
    keras.config.set_dtype_policy("mixed_bfloat16" if mixed else "float32")
    seed_everything(keras, selection, params.seed)
    print(
        f"train: backend {selection.backend.value}, device {selection.device_name}, "
        f"{'bf16 mixed' if mixed else 'fp32'}, variant {params.variant.value}",
        file=sys.stderr,
    )

    split = load_split(data_path, params.validation_size, params.seed)
    steps = steps_per_epoch(len(split.x_train), params.batch_size)
    model = build_model(keras, params.variant)
    # XLA on the CPU is slower than TensorFlow's own kernels for these convolutions.
    jit = on_gpu or selection.backend.value == "jax"
    compile_model(keras, model, params, steps * params.epochs, jit)
    logger = EpochLogger.create(keras, live_dir, params.epochs)
    validation = None
    if params.validation_size:
        from runtime.normalization import to_model_input

        validation = (to_model_input(split.x_val), one_hot(split.y_val))
    fit_start = time.perf_counter()
    model.fit(
        training_batches(split.x_train, split.y_train, params.batch_size, params.seed, params.max_shift),
        steps_per_epoch=steps,
        epochs=params.epochs,
        validation_data=validation,
        validation_batch_size=1000,
        callbacks=[logger],
        shuffle=False,  # the generator shuffles, seeded
        verbose=0,
    )
    fit_seconds = time.perf_counter() - fit_start
    with atomic_path(model_out) as tmp:
        model.save(tmp)

    images_per_epoch = steps * params.batch_size
    steady = logger.epoch_times[1:] or logger.epoch_times
    final = logger.history[-1]
    return {
        "variant": params.variant.value,
        "backend": selection.backend.value,
        "device": selection.device.value,
        "device_name": selection.device_name,
        "cpu_count": os.cpu_count(),
        "mixed_precision": mixed,
        "jit_compile": jit,
        "params": int(model.count_params()),
        "epochs": params.epochs,
        "batch_size": params.batch_size,
        "fit_seconds": round(fit_seconds, 3),
        "stage_wall_seconds": round(time.perf_counter() - STARTED, 3),
        "first_epoch_seconds": round(logger.epoch_times[0], 3),
        "steady_epoch_seconds": round(float(np.median(steady)), 3),
        "images_per_second": round(images_per_epoch * params.epochs / fit_seconds, 1),
        "steady_images_per_second": round(images_per_epoch / float(np.median(steady)), 1),
        "val_accuracy": final.get("val_accuracy"),
        "train_accuracy": final.get("accuracy"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/mnist.npz"))
    parser.add_argument("--model", type=Path, default=Path("models/float.keras"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/train.json"))
    parser.add_argument("--live-dir", type=Path, default=Path("metrics/train"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    install_signal_handlers()
    try:
        params = train_params(read_params(args.params))
        summary = train(params, args.data, args.model, args.live_dir)
    except (ParamsError, backend_choice.BackendError) as error:
        print(f"train: error: {error}", file=sys.stderr)
        return 1
    write_json(args.metrics, summary)
    print("train: " + json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
