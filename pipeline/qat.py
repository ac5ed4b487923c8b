"""Stage `qat`: move the trained weights into tf_keras, prove the copy exact, teach the model what
is not a digit, then QAT fine-tune.

tfmot supports only Keras 2 (tf_keras), so the same architecture is rebuilt there and the
Keras 3 weights are copied with set_weights(get_weights()). The copy is checked on real
images before any fine-tuning starts. Then, with `qat.open_set` (pipeline/open_set.py), a float
fine-tune on digits and non-digits (outlier exposure), the temperature fit on a validation split
that holds both, and QAT on the same stream. TensorFlow is imported only after params.yaml is valid.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from export.atomic import atomic_path, write_json
from pipeline.architecture import ModelFileError, build_model
from pipeline import open_set
from pipeline.dataset import check_batch_size, load_split, steps_per_epoch
from pipeline.mnist import DataError
from pipeline.negatives import NegativesError
from pipeline.params import OpenSetRoute, QatParams, Variant, qat_params
from pipeline.stage import Stage, first_paragraph
from runtime.normalization import to_model_input

COPY_TOLERANCE = 1e-6  # float32 rounding between two kernels of the same math
COPY_PROBE_IMAGES = 512  # test images on which the tf_keras rebuild must match Keras 3
RANGE_PROBE_IMAGES = 2048  # training images that set the initial activation ranges
ACTIVATION_RANGE_VARS = ("output_min", "output_max", "post_activation_min", "post_activation_max")


class WeightCopyError(RuntimeError):
    """The tf_keras rebuild does not reproduce the Keras 3 model."""


def load_keras3(path: Path):
    from pipeline import legacy_keras  # noqa: F401  (before Keras 3 loads TensorFlow)

    import keras

    if not Path(path).is_file():
        raise ModelFileError(f"{path}: no such model file; run the train stage first (`dvc repro train`)")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises ValueError, zipfile and h5py errors for a bad file
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise ModelFileError(f"{path}: not a readable Keras model ({detail}); re-run the train stage") from None


def to_tf_keras(keras3_path: Path, variant: Variant, probe: np.ndarray):
    """Rebuild the trained Keras 3 model in tf_keras (float32) and check both give the same outputs."""
    from pipeline.legacy_keras import tf_keras  # sets TF_USE_LEGACY_KERAS before Keras 3 loads TensorFlow
    from pipeline.architecture import check_architecture

    import keras

    keras.config.set_dtype_policy("float32")
    trained = load_keras3(keras3_path)
    check_architecture(trained, keras, variant, keras3_path)
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


def calibrate_activation_ranges(qat, float_model, images: np.ndarray) -> dict[str, tuple[float, float]]:
    """Start every activation range at the float model's observed range instead of tfmot's [-6, 6].

    tfmot's moving averages (decay 0.999) need thousands of steps to forget [-6, 6]; a short
    fine-tune would otherwise keep ReLU outputs with a negative range, wasting int8 levels and
    leaving a zero point that is not the ReLU floor.
    """
    from pipeline.legacy_keras import tf_keras

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


def _digits(split, pool) -> tuple[np.ndarray, np.ndarray]:
    """The training digits: MNIST's, and with the non-digits the printed digits (pipeline/negatives.py)."""
    if pool is None or not len(pool.printed):
        return split.x_train, split.y_train
    return np.concatenate([split.x_train, pool.printed]), np.concatenate([split.y_train, pool.printed_labels])


def _batches(params: QatParams, split, pool, shift: int):
    """(endless batches, steps per epoch): every training digit once an epoch, non-digits on top."""
    settings = params.qat
    x, y = _digits(split, pool)
    stream = open_set.mixed_batches(x, y, None if pool is None else pool.train, settings.open_set.route,
                                    settings.batch_size, settings.open_set.share, settings.seed, shift,
                                    params.train.augment)
    return stream, steps_per_epoch(len(x), settings.batch_size)


def _digit_validation(split, route: OpenSetRoute):
    return open_set.validation(split.x_val, split.y_val, route, None) if len(split.x_val) else None


def teach_from(tf_keras, model):
    """A frozen copy of the trained 10-class model, the teacher of `learn_non_digits` (a copy: the
    entropic route fine-tunes the very model it grew from)."""
    teacher = tf_keras.models.clone_model(model)
    teacher.set_weights(model.get_weights())
    teacher.trainable = False
    return teacher


def learn_non_digits(float_model, params: QatParams, split, pool, teacher=None) -> dict:
    """Outlier exposure: fine-tune the float model on digits plus non-digits (the train stage's
    recipe on both), before the temperature fit. With a `teacher` (the trained 10-class model) and
    `qat.open_set.distill`, the digits' targets are partly its answers (`open_set.distilled`): the
    fine-tune then keeps more of what the trained model knew of the digits (docs/non-digits.md).
    Returns the last epoch's logs."""
    from pipeline.legacy_keras import tf, tf_keras
    from pipeline.progress import epoch_logger

    settings = params.qat.open_set
    tf_keras.utils.set_random_seed(params.qat.seed)
    tf.config.experimental.enable_op_determinism()
    batches, steps = _batches(params, split, pool, params.train.max_shift)
    if teacher is not None and settings.distill:
        batches = open_set.distilled(batches, teacher.predict_on_batch, settings.distill)
    schedule = tf_keras.optimizers.schedules.CosineDecay(settings.learning_rate, steps * settings.epochs,
                                                         alpha=params.qat.final_learning_rate_fraction)
    float_model.compile(optimizer=tf_keras.optimizers.Adam(schedule),
                        loss=tf_keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
    logger = epoch_logger(tf_keras, "open set", settings.epochs)
    float_model.fit(batches, steps_per_epoch=steps,
                    epochs=settings.epochs, validation_data=_digit_validation(split, settings.route),
                    validation_batch_size=1000, callbacks=[logger], verbose=0)
    return logger.history[-1]


def fine_tune(float_model, params: QatParams, split, pool=None) -> tuple:
    """Wrap the float model with tfmot's default 8-bit QAT scheme and fine-tune it, with the train
    stage's recipe (the same kind of pictures, and the same non-digits) and the qat section's schedule."""
    from pipeline.legacy_keras import tf, tf_keras, tfmot
    from pipeline.progress import epoch_logger

    settings = params.qat
    tf_keras.utils.set_random_seed(settings.seed)
    tf.config.experimental.enable_op_determinism()  # same seed, same weights, same int8 files
    qat = tfmot.quantization.keras.quantize_model(float_model)
    ranges = calibrate_activation_ranges(qat, float_model, to_model_input(split.x_train[:RANGE_PROBE_IMAGES]))
    print(f"qat: initial activation ranges {ranges}", file=sys.stderr)
    batches, steps = _batches(params, split, pool, settings.max_shift)
    schedule = tf_keras.optimizers.schedules.CosineDecay(
        settings.learning_rate, steps * settings.epochs, alpha=settings.final_learning_rate_fraction)
    qat.compile(
        optimizer=tf_keras.optimizers.Adam(schedule),
        loss=tf_keras.losses.CategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    logger = epoch_logger(tf_keras, "qat", settings.epochs)
    qat.fit(
        batches,
        steps_per_epoch=steps,
        epochs=settings.epochs,
        validation_data=_digit_validation(split, settings.open_set.route),
        validation_batch_size=1000,
        callbacks=[logger],
        verbose=0,
    )
    return qat, logger.history[-1]


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T that minimises the validation NLL of softmax(logits / T) against integer labels."""
    return open_set.fit_temperature(logits, np.eye(logits.shape[1])[labels])


def calibrate(float_model, split, route: OpenSetRoute = OpenSetRoute.OFF, pool=None) -> float:
    """Fit a temperature on the validation split (never the test set), its non-digits included,
    and fold 1/T into the logits layer, so that the float model's probabilities, and those of
    every file made from it, are calibrated (training used label smoothing, which leaves them
    under-confident)."""
    from pipeline.legacy_keras import tf_keras

    if not len(split.x_val):
        return 1.0
    x, soft = open_set.validation(split.x_val, split.y_val, route, pool)
    layer = float_model.get_layer("logits")
    logits = tf_keras.Model(float_model.input, layer.output).predict(x, batch_size=1000, verbose=0)
    temperature = open_set.fit_temperature(logits.astype(np.float64), soft.astype(np.float64))
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel / temperature, bias / temperature])
    return temperature


def lower_not_a_digit(float_model, qat, split, settings) -> tuple[float, np.ndarray | None]:
    """Fit `refusal_budget` on the validation digits (never the test set): take the least offset
    off the "not a digit" logit of the QAT model, and of the float model it came from, that leaves
    at most that share of the validation digits answered "not a digit" (the int8 files are
    converted from the QAT model). A small model that must refuse non-digits otherwise refuses more
    digits; the offset trades some of its non-digit rejection back (docs/variants.md). Returns the
    offset (nats of the calibrated logits; 0: unchanged, and always without the class route) and the
    QAT model's answers (argmax) to the validation digits after it (None without a validation split)."""
    if not len(split.x_val):
        return 0.0, None
    predict = lambda: qat.predict(to_model_input(split.x_val), batch_size=1000, verbose=0)  # noqa: E731
    probabilities = predict()
    offset = 0.0
    if settings.route is OpenSetRoute.CLASS:
        offset, _ = open_set.refusal_offset(probabilities, settings.refusal_budget)
    if offset:
        for layer in (float_model.get_layer("logits"), qat.get_layer("quant_logits").layer):
            bias = layer.bias.numpy()
            bias[open_set.NUM_LABELS] -= offset
            layer.bias.assign(bias)
        probabilities = predict()
    return offset, probabilities.argmax(axis=1)


def deployed_accuracy(answers: np.ndarray | None, labels: np.ndarray) -> float | None:
    """Share of the validation digits answered right by the QAT model, as the int8 files are
    converted from it (after the offset; "not a digit" counts as wrong)."""
    return None if answers is None else round(float(np.mean(answers == labels)), 4)


def rejection(model, pool, route: OpenSetRoute, min_confidence: float = 0.6) -> float | None:
    """Share of the validation non-digits answered "not a digit" (class) or under `min_confidence`."""
    if pool is None or route is OpenSetRoute.OFF:
        return None
    p = model.predict(to_model_input(pool.val), batch_size=1000, verbose=0)
    rejected = p.argmax(1) == open_set.NUM_LABELS if route is OpenSetRoute.CLASS else p.max(1) < min_confidence
    return round(float(rejected.mean()), 4)


def run(args, params: QatParams) -> str:
    from pipeline.legacy_keras import tf_keras

    # The train stage's split: QAT never validates on images the float model was trained on
    split = load_split(args.data, params.train.validation_size, params.train.seed)
    check_batch_size(split, params.qat.batch_size, "qat.batch_size")
    probe = to_model_input(split.x_test[:COPY_PROBE_IMAGES])
    float_model, copy_diff = to_tf_keras(args.model, params.model.variant, probe)
    print(f"qat: tf_keras rebuild matches Keras 3 (max |diff| {copy_diff:.2g})", file=sys.stderr)
    settings = params.qat.open_set
    pool, open_logs = None, {}
    if settings.route is not OpenSetRoute.OFF:
        pool = open_set.make_negatives(settings, params.qat.seed)
        print(f"qat: {len(pool.train):,} training and {len(pool.val):,} validation non-digits, and "
              f"{len(pool.printed):,} printed digits (pipeline/negatives.py); route {settings.route.value}",
              file=sys.stderr)
        teacher = teach_from(tf_keras, float_model) if settings.epochs and settings.distill else None
        float_model = open_set.grow_head(tf_keras, float_model, params.model.variant, settings.route)
        if settings.epochs:
            if teacher is not None:
                print(f"qat: the digits' targets are {settings.distill:g} the trained model's answers "
                      f"(qat.open_set.distill)", file=sys.stderr)
            open_logs = learn_non_digits(float_model, params, split, pool, teacher)
    temperature = calibrate(float_model, split, settings.route, pool)
    print(f"qat: temperature {temperature:.3f} fitted on the validation split, folded into the logits layer",
          file=sys.stderr)
    qat, logs = fine_tune(float_model, params, split, pool)
    offset, answers = lower_not_a_digit(float_model, qat, split, settings)
    refused = (None if answers is None or settings.route is not OpenSetRoute.CLASS
               else float(np.mean(answers == open_set.NUM_LABELS)))
    if offset:
        print(f"qat: the \"not a digit\" logit lowered by {offset:g} nats: {refused:.2%} of the validation "
              f"digits answered \"not a digit\" (refusal_budget {settings.refusal_budget:g})", file=sys.stderr)
    float_rejection = rejection(float_model, pool, settings.route)
    with atomic_path(args.float_out) as tmp:
        float_model.save(tmp)
    with atomic_path(args.qat_out) as tmp:
        qat.save(tmp)
    summary = {
        "weight_copy_max_abs_diff": copy_diff,
        "open_set_route": settings.route.value,
        "outputs": open_set.outputs(settings.route),
        "params": int(float_model.count_params()),  # the deployed model's, "not a digit" output included
        "negatives": 0 if pool is None else len(pool.train),
        "printed_digits": 0 if pool is None else len(pool.printed),
        "distill": settings.distill if open_logs else 0.0,  # the teacher's weight in the digits' targets
        "open_set_val_accuracy": open_logs.get("val_accuracy"),
        "temperature": temperature,
        "not_a_digit_offset": offset,
        "qat_val_digits_refused": refused,
        "float_val_non_digit_rejection": float_rejection,
        "qat_val_non_digit_rejection": rejection(qat, pool, settings.route),
        "qat_val_accuracy": logs.get("val_accuracy"),  # QAT's last epoch, before the offset
        "deployed_val_accuracy": deployed_accuracy(answers, split.y_val),
        "qat_train_accuracy": logs.get("accuracy"),
        "epochs": params.qat.epochs,
        "stage_wall_seconds": round(time.perf_counter() - args.started, 2),
    }
    write_json(args.metrics, summary)
    return f"val_accuracy {summary['qat_val_accuracy']:.4f}; wrote {args.float_out} and {args.qat_out}"


def arguments(parser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/mnist.npz"))
    parser.add_argument("--model", type=Path, default=Path("models/float.keras"))
    parser.add_argument("--float-out", type=Path, default=Path("models/float_tfkeras.h5"))
    parser.add_argument("--qat-out", type=Path, default=Path("models/qat.h5"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/qat.json"))


STAGE = Stage("qat", first_paragraph(__doc__), run, qat_params, arguments,
              catches=(DataError, ModelFileError, WeightCopyError, NegativesError),
              outputs=("float_out", "qat_out", "metrics"))
main = STAGE.main

if __name__ == "__main__":
    sys.exit(main())
