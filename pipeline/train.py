"""Stage `train`: train the float CNN with Keras 3 on the best available device.

Writes the model (`.keras`), per-epoch curves through dvclive, and a summary with the
backend, device, wall time, throughput and what decides the bits (CPU features, library
versions). Nothing here imports TensorFlow unless TensorFlow is the chosen backend, so the
stage runs on a JAX-only GPU machine. Every output is replaced whole, only at the end.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.atomic import atomic_dir, atomic_path, write_json
from pipeline import backend as backend_choice
from pipeline import provenance
from pipeline.dataset import Split, check_batch_size, load_split, one_hot, steps_per_epoch, training_batches
from pipeline.mnist import DataError
from pipeline.params import AugmentOn, Backend, DeviceCount, DeviceKind, MixedPrecision, TrainParams, train_params
from pipeline.stage import Stage, first_paragraph

# One-cycle schedule: linear warm-up over the first tenth of the steps from 1/20 of the peak,
# then cosine decay to 1% of the peak.
WARMUP_FRACTION = 0.1
WARMUP_START_FRACTION = 1 / 20
FINAL_FRACTION = 0.01
VALIDATION_BATCH = 1000
# JAX keeps compiled XLA programs here (git- and DVC-ignored), so a second run of the stage on
# the same machine skips most of the compile. JAX_COMPILATION_CACHE_DIR overrides it.
COMPILE_CACHE = Path(".cache/jax")


@dataclass(frozen=True)
class Setup:
    keras: object
    selection: backend_choice.Selection
    mixed: bool
    jit: bool
    replicas: int
    augment_on_device: bool


def set_up(params: TrainParams) -> Setup:
    """Choose backend and device, import Keras 3 on it, set precision, seeds and data parallelism."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any probe imports TensorFlow
    backend_choice.size_cpu_thread_pool()  # before a probe starts JAX's CPU client
    selection = backend_choice.choose(params.train.backend, params.train.device)
    backend_choice.activate(selection)
    if selection.backend is Backend.JAX:
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(COMPILE_CACHE.resolve()))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
    import keras

    on_gpu = selection.device is DeviceKind.GPU
    precision = params.train.mixed_precision
    mixed = precision is MixedPrecision.ON or (precision is MixedPrecision.AUTO and on_gpu)
    keras.config.set_dtype_policy("mixed_bfloat16" if mixed else "float32")
    keras.utils.set_random_seed(params.train.seed)
    if selection.backend.value == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    # XLA on the CPU is slower than TensorFlow's own kernels for these convolutions.
    jit = on_gpu or selection.backend.value == "jax"
    replicas = distribute(keras, params, selection)
    # On a GPU the host's numpy recipe (~4,000 images/s a core) would starve the step; on the CPU
    # a host thread overlaps with TensorFlow's kernels, while the recipe in the graph slows them.
    augment_on = params.train.augment_on
    on_device = augment_on is AugmentOn.DEVICE or (augment_on is AugmentOn.AUTO and on_gpu)
    print(f"train: backend {selection.backend.value}, device {selection.device_name}"
          f"{f' x{replicas} data parallel' if replicas > 1 else ''}, "
          f"{'bf16 mixed' if mixed else 'fp32'}, augmentation on the {'device' if on_device else 'host'}, "
          f"variant {params.model.variant.value}", file=sys.stderr)
    return Setup(keras, selection, mixed, jit, replicas, on_device)


def distribute(keras, params: TrainParams, selection: backend_choice.Selection) -> int:
    """`train.devices: all`: data parallel over every visible device of the chosen kind; returns how many."""
    if params.train.devices is DeviceCount.ONE:
        return 1
    if selection.backend is not Backend.JAX:
        if selection.device is DeviceKind.GPU:
            print(f"train: warning: train.devices: all needs the jax backend; {selection.backend.value} "
                  "trains on one GPU", file=sys.stderr)
        return 1
    devices = keras.distribution.list_devices("gpu" if selection.device is DeviceKind.GPU else "cpu")
    if len(devices) < 2:
        return 1
    if params.train.batch_size % len(devices):
        raise backend_choice.BackendError(
            f"train.batch_size {params.train.batch_size} does not split evenly over {len(devices)} devices; "
            f"use a multiple of {len(devices)} or set train.devices: one")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return len(devices)


def compile_model(keras, model, params: TrainParams, total_steps: int, jit_compile: bool):
    warmup = max(1, int(total_steps * WARMUP_FRACTION))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=params.train.learning_rate * WARMUP_START_FRACTION,
        decay_steps=max(1, total_steps - warmup),
        alpha=FINAL_FRACTION,
        warmup_target=params.train.learning_rate,
        warmup_steps=warmup,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=params.train.label_smoothing),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )


def fit(setup: Setup, params: TrainParams, split: Split, live_dir: Path | None):
    """Build, compile and fit the model; returns (model, epoch logger, fit seconds)."""
    from pipeline.architecture import build_model
    from pipeline.augment_device import DeviceAugmentation
    from pipeline.progress import epoch_logger
    from runtime.normalization import to_model_input

    keras, settings = setup.keras, params.train
    steps = steps_per_epoch(len(split.x_train), settings.batch_size)
    model = build_model(keras, params.model.variant)
    if setup.augment_on_device:
        # The recipe runs inside the compiled step and the host only shuffles; only `model`,
        # without the augmentation layer, is saved.
        trainer = keras.Sequential([
            keras.Input(model.input_shape[1:]),
            DeviceAugmentation(settings.augment, settings.max_shift, settings.seed, name="augment"),
            model], name="trainer")
        batches = training_batches(split.x_train, split.y_train, settings.batch_size, settings.seed, max_shift=0)
    else:
        trainer = model
        batches = training_batches(split.x_train, split.y_train, settings.batch_size, settings.seed, settings.max_shift,
                                   settings.augment)
    compile_model(keras, trainer, params, steps * settings.epochs, setup.jit)
    logger = epoch_logger(keras, "train", settings.epochs, live_dir)
    validation = (to_model_input(split.x_val), one_hot(split.y_val)) if settings.validation_size else None
    start = time.perf_counter()
    trainer.fit(
        batches,
        steps_per_epoch=steps,
        epochs=settings.epochs,
        validation_data=validation,
        validation_batch_size=VALIDATION_BATCH,
        callbacks=[logger],
        shuffle=False,  # the generator shuffles, seeded
        verbose=0,
    )
    return model, logger, time.perf_counter() - start


def summarize(setup: Setup, params: TrainParams, model, logger, fit_seconds: float, n_train: int,
              started: float) -> dict:
    settings = params.train
    images_per_epoch = steps_per_epoch(n_train, settings.batch_size) * settings.batch_size
    steady = logger.epoch_times[1:] or logger.epoch_times
    final = logger.history[-1]
    return {
        "variant": params.model.variant.value,
        "backend": setup.selection.backend.value,
        "device": setup.selection.device.value,
        "device_name": setup.selection.device_name,
        "cpu_count": os.cpu_count(),
        "mixed_precision": setup.mixed,
        "jit_compile": setup.jit,
        "data_parallel_devices": setup.replicas,
        "augmentation": "device" if setup.augment_on_device else "host",
        "params": int(model.count_params()),
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "fit_seconds": round(fit_seconds, 3),
        "stage_wall_seconds": round(time.perf_counter() - started, 3),
        "first_epoch_seconds": round(logger.epoch_times[0], 3),
        "steady_epoch_seconds": round(float(np.median(steady)), 3),
        "images_per_second": round(images_per_epoch * settings.epochs / fit_seconds, 1),
        "steady_images_per_second": round(images_per_epoch / float(np.median(steady)), 1),
        "val_accuracy": final.get("val_accuracy"),
        "train_accuracy": final.get("accuracy"),
        # What decides the bits: the same code, data and seed give the same weights only on the
        # same CPU features and library versions (see README, Reproducibility).
        "machine": provenance.machine(),
        "versions": provenance.library_versions(),
    }


def train(params: TrainParams, data_path: Path, model_out: Path, live_dir: Path | None,
          metrics_out: Path | None = None, started: float | None = None) -> dict:
    """Train and save the float model; return the summary metrics.

    The curves are written to a temporary folder and swapped in with the model and the
    summary at the end, so an interrupted run leaves the previous run's outputs untouched.
    `started` (time.perf_counter(); default: now) is where the summary's stage wall time begins.
    """
    started = time.perf_counter() if started is None else started
    split = load_split(data_path, params.train.validation_size, params.train.seed)
    check_batch_size(split, params.train.batch_size, "train.batch_size")
    setup = set_up(params)
    with atomic_dir(live_dir) if live_dir else contextlib.nullcontext() as live_tmp:
        model, logger, fit_seconds = fit(setup, params, split, live_tmp)
        summary = summarize(setup, params, model, logger, fit_seconds, len(split.x_train), started)
        with atomic_path(model_out) as tmp:
            model.save(tmp)
        if metrics_out:
            write_json(metrics_out, summary)
    return summary


def run(args, params: TrainParams) -> str:
    summary = train(params, args.data, args.model, args.live_dir, args.metrics, args.started)
    return (f"{summary['variant']} on {summary['backend']}/{summary['device_name']}: "
            f"val_accuracy {summary['val_accuracy']:.4f}, {summary['stage_wall_seconds']:.0f} s; wrote {args.model}")


def arguments(parser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/mnist.npz"))
    parser.add_argument("--model", type=Path, default=Path("models/float.keras"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/train.json"))
    parser.add_argument("--live-dir", type=Path, default=Path("metrics/train"))


STAGE = Stage("train", first_paragraph(__doc__), run, train_params, arguments,
              catches=(DataError, backend_choice.BackendError), outputs=("model", "metrics"),
              output_folders=("live_dir",))
main = STAGE.main

if __name__ == "__main__":
    sys.exit(main())
