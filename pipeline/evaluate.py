"""Stage `evaluate`: run every exported file through the runtime on all 10,000 test images,
compare it with its Keras reference, time it, plot it, and enforce the parity gates."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from export.atomic import write_json
from export.formats import FORMATS, Format, Reference, dependency_order
from export.parity import Gates, ParityError, agreement, compare, gate_failures, raise_failures
from export.tflm import TflmExportError
from pipeline import realworld, report
from pipeline.dataset import MNIST_KEYS, DataError, load_arrays
from pipeline.architecture import ModelFileError
from pipeline.params import EvaluateParams, evaluate_params
from pipeline.stage import Stage, first_paragraph
from runtime.errors import ClassifierError
from runtime.normalization import to_model_input
from runtime.timing import latencies_ms, summary, throughput

INFERENCE_CHUNK = 1000


def measure(engine, path: Path, x: np.ndarray, y: np.ndarray, reference: np.ndarray | None,
            params: EvaluateParams) -> tuple[dict, np.ndarray]:
    """One row of metrics/evaluate.json for any `Engine`, and its probabilities on `x`.

    Accuracy, agreement and max |diff| against `reference` (itself when None), calibration,
    batch-1 latency, throughput and the file's size.
    """
    probs = np.concatenate([engine.run(x[i : i + INFERENCE_CHUNK]) for i in range(0, len(x), INFERENCE_CHUNK)])
    row = compare(probs if reference is None else reference, probs, y)
    one, big = x[:1], x[: params.throughput_batch]
    row.update(summary(latencies_ms(lambda: engine.run(one), params.latency_runs, params.warmup_runs)))
    row["throughput_per_s"] = throughput(lambda: engine.run(big), params.throughput_batch)
    row["size_bytes"] = path.stat().st_size
    return row, probs


def evaluate(args, params: EvaluateParams, formats: tuple[Format, ...] = FORMATS):
    """Every row of metrics/evaluate.json, plus each row's probabilities and the labels."""
    arrays = load_arrays(args.data, MNIST_KEYS)
    # The picture sets first: one that is missing says so before minutes of measuring.
    real = realworld.load(args.realworld)
    scenes = realworld.load_scenes(args.scenes) if args.scenes is not None else None
    from pipeline.keras_engine import KerasEngine
    from pipeline.legacy_keras import load_float, load_qat  # TensorFlow, once the data is known good
    from runtime.model import Classifier

    x, y = to_model_input(arrays["x_test"]), arrays["y_test"].astype(np.int64)
    engines = {Reference.KERAS_FLOAT.value: (KerasEngine(load_float(args.float_model)), args.float_model),
               Reference.KERAS_QAT.value: (KerasEngine(load_qat(args.qat_model)), args.qat_model)}
    rows: dict[str, dict] = {}
    outputs: dict[str, np.ndarray] = {}
    for name, (engine, path) in engines.items():
        reference = None if name == Reference.KERAS_FLOAT.value else outputs[Reference.KERAS_FLOAT.value]
        rows[name], outputs[name] = measure(engine, path, x, y, reference, params)
        rows[name].update(engine.predict_latency(x))
    print(f"evaluate: keras_float {rows['keras_float']['accuracy']:.4%}  keras_qat {rows['keras_qat']['accuracy']:.4%}",
          file=sys.stderr)
    for fmt in dependency_order(formats):
        path = args.artifacts / fmt.filename
        engine = Classifier.load(path, fmt.engine).engine  # verified against artifacts/manifest.json
        engines[fmt.name] = (engine, path)
        row, outputs[fmt.name] = measure(engine, path, x, y, outputs[fmt.reference], params)
        if fmt.footprint:
            row.update(fmt.footprint(path))
        row["reference"] = fmt.reference
        if fmt.derived_from:
            row["agreement_with_source"] = agreement(outputs[fmt.name], outputs[fmt.derived_from])
        row["speedup_vs_keras_call"] = round(rows["keras_float"]["latency_p50_ms"] / row["latency_p50_ms"], 1)
        rows[fmt.name] = row
        print(f"evaluate: {fmt.name:<13} acc {row['accuracy']:.4%}  agree {row['agreement']:.4%}  "
              f"max|diff| {row['max_abs_diff']:.2g}  p50 {row['latency_p50_ms']:.4f} ms  "
              f"{report.kib(row['size_bytes'])}", file=sys.stderr, flush=True)
    for name, (engine, _path) in engines.items():
        rows[name].update(realworld.scores(engine.run, real, params.min_confidence))
        print(f"evaluate: {name:<13} real-world {rows[name]['realworld_accuracy']:.2%}  "
              f"ECE MNIST {rows[name]['ece']:.2%} real-world {rows[name]['realworld_ece']:.2%}  "
              f"non-digits rejected {rows[name]['nondigit_rejection']:.0%}", file=sys.stderr, flush=True)
    for name, (engine, _path) in engines.items():
        rows[name].update(realworld.open_set_scores(engine.run, real, outputs[name], y))
        print(f"evaluate: {name:<13} held-out non-digits rejected {rows[name]['heldout_nondigit_rejection']:.1%} "
              f"(digit recall MNIST {rows[name]['mnist_digit_recall']:.2%}, real-world "
              f"{rows[name]['realworld_digit_recall']:.2%}); at 99% recall "
              f"{rows[name]['heldout_rejection_at_99_recall']:.1%}; real-world right with always_digit "
              f"{rows[name]['realworld_accuracy_always_digit']:.2%}", file=sys.stderr, flush=True)
    for fmt in (f for f in formats if f.deployed):
        outputs["realworld_deployed"] = engines[fmt.name][0].run(real.x)
    result = {"formats": rows, "test_images": int(len(y)), "throughput_batch": params.throughput_batch,
              "realworld_digits": real.digits,
              "realworld_refused": real.refused, "realworld_nondigits": real.nondigits,
              "heldout_nondigits": real.heldout, "heldout_refused_by_finder": real.heldout_refused}
    if scenes is not None:
        for name, (engine, _path) in engines.items():
            rows[name].update(realworld.scene_scores(engine.run, scenes, params.min_confidence))
            print(f"evaluate: {name:<13} camera-like scenes {rows[name]['scenes_accuracy']:.2%}  wrong with "
                  f"confidence {rows[name]['scenes_confident_wrong']:.2%}  " +
                  "  ".join(f"{scene} {row['accuracy']:.0%}" for scene, row in rows[name]["scenes"].items()),
                  file=sys.stderr, flush=True)
        result.update(scene_digits=int(scenes.digits.sum()), scene_nondigits=int(scenes.nondigits.sum()),
                      scene_split=args.scenes.name)
    return result, outputs, y, real


def draw(args, result: dict, outputs: dict[str, np.ndarray], y: np.ndarray, real,
         formats: tuple[Format, ...] = FORMATS) -> None:
    from pipeline import plots

    for fmt in (f for f in formats if f.deployed):
        plots.confusion(outputs[fmt.name].argmax(1), y, args.plots / f"confusion_{fmt.precision.value}.png",
                        f"{fmt.name} (deployed) on the MNIST test set")
        plots.confusion(outputs["realworld_deployed"].argmax(1), real.y, args.plots / "confusion_realworld.png",
                        f"{fmt.name} (deployed) on the real-world set ({real.refused} of {real.digits} "
                        "pictures refused as no digit, not shown)")
    plots.tradeoffs(result["formats"], args.plots / "accuracy_vs_size_latency.png")
    plots.open_set_curve(result["formats"], args.plots / "open_set.png")
    plots.training_curves(args.train_live, args.plots / "training_curves.png")


def run(args, params: EvaluateParams, formats: tuple[Format, ...] = FORMATS) -> str:
    result, outputs, y, real = evaluate(args, params, formats)
    draw(args, result, outputs, y, real, formats)
    gates = Gates(**dataclasses.asdict(params.gates))
    # Written even when a gate fails, so the failure can be inspected; the failures go with the figures, so
    # that a failed run is never read as a result.
    result["gate_failures"] = gate_failures(result["formats"], result["formats"]["keras_float"]["accuracy"], gates,
                                            formats)
    write_json(args.metrics, result)
    failed = ("**Parity gates failed; these figures are not a result:** " + "; ".join(result["gate_failures"])
              if result["gate_failures"] else "")
    report.write(args.figures, "Evaluation: every file on the MNIST test set and the real-world set",
                 f"the evaluate stage (`dvc repro evaluate`) from `{args.metrics}`, {result['test_images']:,} MNIST "
                 f"test images and {result['realworld_digits']:,} real-world pictures",
                 failed, report.results_table(result), report.open_set_table(result), report.footprint_table(result),
                 report.scenes_table(result))
    raise_failures(result["gate_failures"])  # after the files are written, as measured
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
    parser.add_argument("--figures", type=Path, default=Path("docs/figures/evaluate.md"))
    parser.add_argument("--scenes", type=Path, default=None,
                        help="camera-like scenes (tools/make_scenes.py): accuracy per scene, wrong with confidence")


STAGE = Stage("evaluate", first_paragraph(__doc__), run, evaluate_params, arguments,
              catches=(DataError, ModelFileError, ClassifierError, ParityError, TflmExportError, FileNotFoundError),
              outputs=("metrics", "figures"), output_folders=("plots",))
main = STAGE.main

if __name__ == "__main__":
    sys.exit(main())
