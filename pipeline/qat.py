"""Stage `qat`: move the trained weights into tf_keras, prove the copy exact, then QAT fine-tune.

tfmot supports only Keras 2 (tf_keras), so the same architecture is rebuilt there and the
Keras 3 weights are copied with set_weights(get_weights()). The copy is checked on real
images before any fine-tuning starts.
"""

from __future__ import annotations

from pipeline import legacy_keras  # noqa: F401  (must precede every TensorFlow import)

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from pipeline.atomic import atomic_path, install_signal_handlers, write_json  # noqa: E402
from pipeline.dataset import load_split, one_hot, steps_per_epoch, training_batches  # noqa: E402
from pipeline.legacy_keras import tf, tf_keras, tfmot  # noqa: E402
from pipeline.model import Variant, build_model  # noqa: E402
from pipeline.params import ParamsError, QatParams, qat_params, read_params  # noqa: E402
from runtime.normalization import to_model_input  # noqa: E402

COPY_TOLERANCE = 1e-6  # float32 rounding between two kernels of the same math


class WeightCopyError(RuntimeError):
    """The tf_keras rebuild does not reproduce the Keras 3 model."""


def to_tf_keras(keras3_path: Path, variant: Variant, probe: np.ndarray):
    """Rebuild the trained Keras 3 model in tf_keras (float32) and check both give the same outputs."""
    import keras

    keras.config.set_dtype_policy("float32")
    trained = keras.saving.load_model(keras3_path, compile=False)
    reference = build_model(keras, variant)  # float32 even if training ran in mixed precision
    reference.set_weights(trained.get_weights())
    legacy = build_model(tf_keras, variant)
    legacy.set_weights(reference.get_weights())
    expected = np.asarray(reference(probe, training=False))
    actual = legacy(probe, training=False).numpy()
    diff = float(np.max(np.abs(expected - actual)))
    if diff > COPY_TOLERANCE or not np.array_equal(expected.argmax(1), actual.argmax(1)):
        raise WeightCopyError(f"tf_keras rebuild differs from the Keras 3 model: max |diff| {diff:.3g}")
    return legacy, diff


ACTIVATION_RANGE_VARS = ("output_min", "output_max", "post_activation_min", "post_activation_max")


def calibrate_activation_ranges(qat, float_model, images: np.ndarray) -> dict[str, tuple[float, float]]:
    """Start every activation range at the float model's observed range instead of tfmot's [-6, 6].

    tfmot's moving averages (decay 0.999) need thousands of steps to forget [-6, 6]; a short
    fine-tune would otherwise keep ReLU outputs with a negative range, wasting int8 levels and
    leaving a zero point that is not the ReLU floor.
    """
    ranges = {}
    for wrapper in qat.layers:
        variables = {v.name.split("/")[-1].split(":")[0]: v for v in wrapper.weights}
        if not any(name in variables for name in ACTIVATION_RANGE_VARS):
            continue
        probe = tf_keras.Model(float_model.input, float_model.get_layer(wrapper.layer.name).output)
        out = probe.predict(images, batch_size=512, verbose=0)
        low, high = min(0.0, float(out.min())), max(0.0, float(out.max()))
        for prefix in ("output", "post_activation"):
            if f"{prefix}_min" in variables:
                variables[f"{prefix}_min"].assign(low)
                variables[f"{prefix}_max"].assign(high)
        ranges[wrapper.layer.name] = (round(low, 4), round(high, 4))
    return ranges


def fine_tune(float_model, params: QatParams, split) -> tuple:
    """Wrap the float model with tfmot's default 8-bit QAT scheme and fine-tune it."""
    tf_keras.utils.set_random_seed(params.seed)
    tf.config.experimental.enable_op_determinism()  # same seed, same weights, same int8 files
    qat = tfmot.quantization.keras.quantize_model(float_model)
    ranges = calibrate_activation_ranges(qat, float_model, to_model_input(split.x_train[:2048]))
    print(f"qat: initial activation ranges {ranges}", file=sys.stderr)
    steps = steps_per_epoch(len(split.x_train), params.batch_size)
    schedule = tf_keras.optimizers.schedules.CosineDecay(params.learning_rate, steps * params.epochs, alpha=0.05)
    qat.compile(
        optimizer=tf_keras.optimizers.Adam(schedule),
        loss=tf_keras.losses.CategoricalCrossentropy(),
        metrics=["accuracy"],
    )

    class Progress(tf_keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            shown = "  ".join(f"{k} {v:.4f}" for k, v in sorted((logs or {}).items()))
            took = time.perf_counter() - self.start
            print(f"qat: epoch {epoch + 1}/{params.epochs}  {took:.1f}s  {shown}", file=sys.stderr, flush=True)

    validation = (to_model_input(split.x_val), one_hot(split.y_val)) if len(split.x_val) else None
    history = qat.fit(
        training_batches(split.x_train, split.y_train, params.batch_size, params.seed + 1, max_shift=1),
        steps_per_epoch=steps,
        epochs=params.epochs,
        validation_data=validation,
        validation_batch_size=1000,
        callbacks=[Progress()],
        verbose=0,
    )
    return qat, {k: float(v[-1]) for k, v in history.history.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/mnist.npz"))
    parser.add_argument("--model", type=Path, default=Path("models/float.keras"))
    parser.add_argument("--float-out", type=Path, default=Path("models/float_tfkeras.h5"))
    parser.add_argument("--qat-out", type=Path, default=Path("models/qat.h5"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/qat.json"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--validation-size", type=int, default=None, help="override train.validation_size")
    args = parser.parse_args(argv)
    install_signal_handlers()
    started = time.perf_counter()
    try:
        raw = read_params(args.params)
        params = qat_params(raw)
        validation_size = raw["train"]["validation_size"] if args.validation_size is None else args.validation_size
        split = load_split(args.data, validation_size, raw["train"]["seed"])
        probe = to_model_input(split.x_test[:512])
        float_model, copy_diff = to_tf_keras(args.model, params.variant, probe)
        print(f"qat: tf_keras rebuild matches Keras 3 (max |diff| {copy_diff:.2g})", file=sys.stderr)
        with atomic_path(args.float_out) as tmp:
            float_model.save(tmp)
        qat, logs = fine_tune(float_model, params, split)
        with atomic_path(args.qat_out) as tmp:
            qat.save(tmp)
    except (ParamsError, WeightCopyError) as error:
        print(f"qat: error: {error}", file=sys.stderr)
        return 1
    summary = {
        "weight_copy_max_abs_diff": copy_diff,
        "qat_val_accuracy": logs.get("val_accuracy"),
        "qat_train_accuracy": logs.get("accuracy"),
        "epochs": params.epochs,
        "stage_wall_seconds": round(time.perf_counter() - started, 2),
    }
    write_json(args.metrics, summary)
    print("qat: " + json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
