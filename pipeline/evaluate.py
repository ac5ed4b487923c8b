"""Stage `evaluate`: run every exported file through the runtime on all 10,000 test images,
compare it with its Keras reference, time it, plot it, and enforce the parity gates."""

from __future__ import annotations

from pipeline import legacy_keras  # noqa: F401  (must precede every TensorFlow import)

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from export.formats import FORMATS, Precision, Reference  # noqa: E402
from export.parity import Gates, ParityError, agreement, check, compare  # noqa: E402
from pipeline import plots  # noqa: E402
from pipeline.atomic import install_signal_handlers, write_json  # noqa: E402
from pipeline.legacy_keras import load_float, load_qat, tf  # noqa: E402
from pipeline.params import EvaluateParams, ParamsError, evaluate_params, read_params  # noqa: E402
from runtime.model import Classifier  # noqa: E402
from runtime.normalization import to_model_input  # noqa: E402
from runtime.timing import latencies_ms, summary, throughput  # noqa: E402


def keras_row(model, path: Path, x: np.ndarray, y: np.ndarray, reference: np.ndarray | None,
              params: EvaluateParams) -> tuple[dict, np.ndarray]:
    probs = model.predict(x, batch_size=1000, verbose=0)
    row = compare(probs if reference is None else reference, probs, y)
    one = tf.constant(x[:1])
    direct = latencies_ms(lambda: model(one, training=False), params.latency_runs, params.warmup_runs)
    predict = latencies_ms(lambda: model.predict(x[:1], verbose=0), 30, 5)  # ~50 ms a call
    big = tf.constant(x[: params.throughput_batch])
    row.update(summary(direct))
    row.update({
        "predict_latency_p50_ms": round(float(np.percentile(predict, 50)), 4),
        "predict_latency_p99_ms": round(float(np.percentile(predict, 99)), 4),
        "throughput_per_s": throughput(lambda: model(big, training=False), params.throughput_batch),
        "size_bytes": path.stat().st_size,
    })
    return row, probs


def runtime_row(path: Path, engine: str, x: np.ndarray, y: np.ndarray, reference: np.ndarray,
                params: EvaluateParams) -> tuple[dict, np.ndarray]:
    classifier = Classifier.load(path, engine)  # runtime defaults; verified against artifacts/manifest.json
    probs = np.concatenate([classifier.probabilities(x[i : i + 1000]) for i in range(0, len(x), 1000)])
    row = compare(reference, probs, y)
    one = x[:1]
    row.update(summary(latencies_ms(lambda: classifier.probabilities(one), params.latency_runs, params.warmup_runs)))
    big = x[: params.throughput_batch]
    row["throughput_per_s"] = throughput(lambda: classifier.probabilities(big), params.throughput_batch)
    row["size_bytes"] = path.stat().st_size
    return row, probs


def evaluate(args, params: EvaluateParams) -> tuple[dict, list[str]]:
    with np.load(args.data, allow_pickle=False) as npz:
        x, y = to_model_input(npz["x_test"]), npz["y_test"].astype(np.int64)
    float_model, qat_model = load_float(args.float_model), load_qat(args.qat_model)
    rows: dict[str, dict] = {}
    references: dict[str, np.ndarray] = {}
    rows["keras_float"], references[Reference.KERAS_FLOAT.value] = keras_row(
        float_model, args.float_model, x, y, None, params)
    rows["keras_qat"], references[Reference.KERAS_QAT.value] = keras_row(
        qat_model, args.qat_model, x, y, references["keras_float"], params)
    print(f"evaluate: keras_float {rows['keras_float']['accuracy']:.4%}  keras_qat {rows['keras_qat']['accuracy']:.4%}",
          file=sys.stderr)
    outputs = {}
    for fmt in FORMATS:
        row, outputs[fmt.name] = runtime_row(
            args.artifacts / fmt.filename, fmt.engine, x, y, references[fmt.reference.value], params)
        row["reference"] = fmt.reference.value
        row["speedup_vs_keras_call"] = round(
            rows["keras_float"]["latency_p50_ms"] / row["latency_p50_ms"], 1)
        rows[fmt.name] = row
        print(f"evaluate: {fmt.name:<13} acc {row['accuracy']:.4%}  agree {row['agreement']:.4%}  "
              f"max|diff| {row['max_abs_diff']:.2g}  p50 {row['latency_p50_ms']:.4f} ms  "
              f"{row['size_bytes'] / 1024:.1f} kB", file=sys.stderr, flush=True)
    int8 = [fmt.name for fmt in FORMATS if fmt.precision is Precision.INT8]
    cross = agreement(outputs[int8[0]], outputs[int8[1]]) if len(int8) == 2 else None
    gates = Gates(params.float_max_abs_diff, params.int8_min_agreement, params.int8_max_accuracy_drop,
                  params.int8_cross_agreement)
    result = {"formats": rows, "int8_cross_agreement": cross, "test_images": int(len(y))}
    plots.confusion(outputs["tflite_int8"].argmax(1), y, args.plots / "confusion_int8.png",
                    "tflite_int8 (deployed) on the MNIST test set")
    plots.tradeoffs(rows, args.plots / "accuracy_vs_size_latency.png")
    plots.training_curves(args.train_live, args.plots / "training_curves.png")
    try:
        check(rows, rows["keras_float"]["accuracy"], gates, cross)
        failures = []
    except ParityError as error:
        failures = [str(error)]
    return result, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/mnist.npz"))
    parser.add_argument("--float-model", type=Path, default=Path("models/float_tfkeras.h5"))
    parser.add_argument("--qat-model", type=Path, default=Path("models/qat.h5"))
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--train-live", type=Path, default=Path("metrics/train"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/evaluate.json"))
    parser.add_argument("--plots", type=Path, default=Path("plots"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    install_signal_handlers()
    try:
        params = evaluate_params(read_params(args.params))
    except ParamsError as error:
        print(f"evaluate: error: {error}", file=sys.stderr)
        return 1
    result, failures = evaluate(args, params)
    write_json(args.metrics, result)
    if failures:
        print(f"evaluate: GATE FAILED: {failures[0]}", file=sys.stderr)
        return 1
    print("evaluate: all parity gates passed; " + json.dumps(
        {k: v["accuracy"] for k, v in result["formats"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
