"""Stage `evaluate`: run every exported file through the runtime on all 10,000 test images,
compare it with its Keras reference, time it, plot it, and enforce the parity gates."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from export.atomic import write_json
from export.formats import BY_NAME, FORMATS, Reference
from export.parity import Gates, ParityError, agreement, check, compare
from pipeline import realworld
from pipeline.dataset import MNIST_KEYS, DataError, load_arrays
from pipeline.model import ModelFileError
from pipeline.params import EvaluateParams, evaluate_params
from pipeline.stage import Stage
from export.tflm import TflmExportError
from runtime.engines import ENGINES
from runtime.errors import ClassifierError
from runtime.normalization import to_model_input
from runtime.timing import latencies_ms, summary, throughput

KERAS_PREDICT_RUNS, KERAS_PREDICT_WARMUP = 30, 5  # model.predict costs ~50 ms a call
INFERENCE_CHUNK = 1000
TFLM_LATENCY_RUNS = 50  # TFLM's reference kernels take about 3 ms an image


def keras_row(model, path: Path, x: np.ndarray, y: np.ndarray, reference: np.ndarray | None,
              params: EvaluateParams) -> tuple[dict, np.ndarray]:
    from pipeline.legacy_keras import tf

    probs = model.predict(x, batch_size=INFERENCE_CHUNK, verbose=0)
    row = compare(probs if reference is None else reference, probs, y)
    one = tf.constant(x[:1])
    direct = latencies_ms(lambda: model(one, training=False), params.latency_runs, params.warmup_runs)
    predict = latencies_ms(lambda: model.predict(x[:1], verbose=0), KERAS_PREDICT_RUNS, KERAS_PREDICT_WARMUP)
    big = tf.constant(x[: params.throughput_batch])
    row.update(summary(direct))
    row.update({
        "predict_latency_p50_ms": round(float(np.percentile(predict, 50)), 4),
        "predict_latency_p99_ms": round(float(np.percentile(predict, 99)), 4),
        "throughput_per_s": throughput(lambda: model(big, training=False), params.throughput_batch),
        "size_bytes": path.stat().st_size,
    })
    return row, probs, lambda xs: model.predict(xs, batch_size=INFERENCE_CHUNK, verbose=0)


def runtime_row(path: Path, engine: str, x: np.ndarray, y: np.ndarray, reference: np.ndarray,
                params: EvaluateParams) -> tuple[dict, np.ndarray]:
    from runtime.model import Classifier

    classifier = Classifier.load(path, engine)  # runtime defaults; verified against artifacts/manifest.json
    probs = np.concatenate([classifier.probabilities(x[i : i + INFERENCE_CHUNK])
                            for i in range(0, len(x), INFERENCE_CHUNK)])
    row = compare(reference, probs, y)
    one = x[:1]
    row.update(summary(latencies_ms(lambda: classifier.probabilities(one), params.latency_runs, params.warmup_runs)))
    big = x[: params.throughput_batch]
    row["throughput_per_s"] = throughput(lambda: classifier.probabilities(big), params.throughput_batch)
    row["size_bytes"] = path.stat().st_size
    return row, probs, classifier.probabilities


def tflm_row(path: Path, x: np.ndarray, y: np.ndarray, reference: np.ndarray, params: EvaluateParams,
             source: Path) -> tuple[dict, np.ndarray]:
    """Run the model bytes parsed back out of the generated C source in TFLite Micro."""
    from export import tflm
    from runtime.engines import Quantization

    data = tflm.read_c_array(path.read_text())
    if data != source.read_bytes():
        raise ParityError(f"{path}: the C array's bytes differ from {source.name}")
    interpreter = tflm.tflm_interpreter(data)
    (in_scale, in_zero), (out_scale, out_zero) = (tflm.quantization(interpreter.get_input_details(0)),
                                                  tflm.quantization(interpreter.get_output_details(0)))
    quantize = Quantization(in_scale, in_zero, np.dtype(np.int8)).quantize
    dequantize = Quantization(out_scale, out_zero, np.dtype(np.int8)).dequantize

    def predict(xs: np.ndarray) -> np.ndarray:
        return dequantize(tflm.run_tflm(interpreter, quantize(xs)))

    quantized = quantize(x)
    probs = predict(x)
    row = compare(reference, probs, y)
    one = quantized[:1]
    row.update(summary(latencies_ms(lambda: tflm.run_tflm(interpreter, one), TFLM_LATENCY_RUNS, 2)))
    ops = tflm.read_ops(data)
    row.update({
        "arena_bytes": tflm.measure_arena(interpreter),
        "size_bytes": len(data),  # flash: the model bytes (the .cc source is text)
        "source_bytes": path.stat().st_size,
        "macs": tflm.count_macs(ops),
        "ops": sorted({op.name for op in ops}),
    })
    return row, probs, predict


def evaluate(args, params: EvaluateParams):
    """Every row of metrics/evaluate.json, plus each row's probabilities and the labels."""
    arrays = load_arrays(args.data, MNIST_KEYS)
    from pipeline.legacy_keras import load_float, load_qat  # TensorFlow, once the data is known good

    x, y = to_model_input(arrays["x_test"]), arrays["y_test"].astype(np.int64)
    float_model, qat_model = load_float(args.float_model), load_qat(args.qat_model)
    rows: dict[str, dict] = {}
    outputs: dict[str, np.ndarray] = {}
    predictors = {}
    rows["keras_float"], outputs[Reference.KERAS_FLOAT.value], predictors["keras_float"] = keras_row(
        float_model, args.float_model, x, y, None, params)
    rows["keras_qat"], outputs[Reference.KERAS_QAT.value], predictors["keras_qat"] = keras_row(
        qat_model, args.qat_model, x, y, outputs["keras_float"], params)
    print(f"evaluate: keras_float {rows['keras_float']['accuracy']:.4%}  keras_qat {rows['keras_qat']['accuracy']:.4%}",
          file=sys.stderr)
    for fmt in evaluation_order():
        path, reference = args.artifacts / fmt.filename, outputs[fmt.reference]
        if fmt.engine in ENGINES:
            row, outputs[fmt.name], predictors[fmt.name] = runtime_row(path, fmt.engine, x, y, reference, params)
        else:  # TFLite Micro: not a runtime engine (it needs the pipeline's packages)
            row, outputs[fmt.name], predictors[fmt.name] = tflm_row(
                path, x, y, reference, params, args.artifacts / BY_NAME[fmt.derived_from].filename)
        row["reference"] = fmt.reference
        if fmt.derived_from:
            row["agreement_with_source"] = agreement(outputs[fmt.name], outputs[fmt.derived_from])
        row["speedup_vs_keras_call"] = round(rows["keras_float"]["latency_p50_ms"] / row["latency_p50_ms"], 1)
        rows[fmt.name] = row
        print(f"evaluate: {fmt.name:<13} acc {row['accuracy']:.4%}  agree {row['agreement']:.4%}  "
              f"max|diff| {row['max_abs_diff']:.2g}  p50 {row['latency_p50_ms']:.4f} ms  "
              f"{row['size_bytes'] / 1024:.1f} kB", file=sys.stderr, flush=True)
    real = realworld.load(args.realworld)
    for name, predict in predictors.items():
        rows[name].update(realworld.scores(predict, real, params.min_confidence))
        print(f"evaluate: {name:<13} real-world {rows[name]['realworld_accuracy']:.2%}  "
              f"ECE MNIST {rows[name]['ece']:.2%} real-world {rows[name]['realworld_ece']:.2%}  "
              f"non-digits rejected {rows[name]['nondigit_rejection']:.0%}", file=sys.stderr, flush=True)
    deployed = next(fmt.name for fmt in FORMATS if fmt.deployed)
    outputs["realworld_deployed"] = predictors[deployed](real.x)
    result = {"formats": rows, "test_images": int(len(y)), "realworld_digits": real.digits,
              "realworld_refused": real.refused, "realworld_nondigits": real.nondigits}
    return result, outputs, y, real


def evaluation_order() -> list:
    """The formats, each after the one it is compared with."""
    ordered = [fmt for fmt in FORMATS if not fmt.compare_with]
    return ordered + [fmt for fmt in FORMATS if fmt.compare_with]


def draw(args, result: dict, outputs: dict[str, np.ndarray], y: np.ndarray, real) -> None:
    from pipeline import plots

    for fmt in (f for f in FORMATS if f.deployed):
        plots.confusion(outputs[fmt.name].argmax(1), y, args.plots / f"confusion_{fmt.precision.value}.png",
                        f"{fmt.name} (deployed) on the MNIST test set")
        plots.confusion(outputs["realworld_deployed"].argmax(1), real.y, args.plots / "confusion_realworld.png",
                        f"{fmt.name} (deployed) on the real-world set ({real.refused} of {real.digits} "
                        "pictures refused as no digit, not shown)")
    plots.tradeoffs(result["formats"], args.plots / "accuracy_vs_size_latency.png")
    plots.training_curves(args.train_live, args.plots / "training_curves.png")


def run(args, params: EvaluateParams) -> str:
    result, outputs, y, real = evaluate(args, params)
    draw(args, result, outputs, y, real)
    write_json(args.metrics, result)  # written even when a gate fails, so the failure can be inspected
    gates = Gates(params.float_max_abs_diff, params.int8_min_agreement, params.int8_max_accuracy_drop,
                  params.int8_cross_agreement)
    check(result["formats"], result["formats"]["keras_float"]["accuracy"], gates)
    return "all parity gates passed; " + json.dumps({k: v["accuracy"] for k, v in result["formats"].items()})


def arguments(parser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/mnist.npz"))
    parser.add_argument("--float-model", type=Path, default=Path("models/float_tfkeras.h5"))
    parser.add_argument("--qat-model", type=Path, default=Path("models/qat.h5"))
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--train-live", type=Path, default=Path("metrics/train"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/evaluate.json"))
    parser.add_argument("--plots", type=Path, default=Path("plots"))
    parser.add_argument("--realworld", type=Path, default=Path("realworld"))


STAGE = Stage("evaluate", __doc__.splitlines()[0], run, evaluate_params, arguments,
              catches=(DataError, ModelFileError, ClassifierError, ParityError, TflmExportError, FileNotFoundError))
main = STAGE.main

if __name__ == "__main__":
    sys.exit(main())
