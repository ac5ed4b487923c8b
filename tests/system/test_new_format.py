"""A new format is one row in the formats table plus one exporter: this test adds a throwaway
float16 TFLite row in a temporary table, with its exporter defined here, and sees the file
exported, listed in the manifest, evaluated, gated and listed by the zoo, with no other file
touched. The stages run through their own runner (`Stage.main`), given the table."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

from export.formats import Format, Precision, Source
from conftest import write_test_params


def export_float16(model, path: Path, options) -> Path:
    """The float model with float16 weights (LiteRT computes in float32)."""
    from export.atomic import write_bytes
    from export.tflite import add_metadata
    from pipeline.legacy_keras import tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    return write_bytes(path, add_metadata(converter.convert(), options.metadata))


FLOAT16 = Format("tflite_float16", ".tflite", "litert", Precision.FLOAT16, export_float16,
                 source=Source.FLOAT_MODEL, deployed=True)
TABLE = (FLOAT16,)


def with_table(stage_module):
    return dataclasses.replace(stage_module.STAGE, run=functools.partial(stage_module.run, formats=TABLE))


def test_a_new_row_is_exported_evaluated_gated_and_listed(tiny_pipeline, small_realworld, tmp_path, capsys):
    from pipeline import evaluate, zoo
    from pipeline import export as export_stage

    params = write_test_params(tmp_path / "params.yaml", evaluate={
        "latency_runs": 10, "warmup_runs": 1, "throughput_batch": 16, "gates": {
            "int8_min_agreement": 0.98, "int8_max_accuracy_drop": 0.02}})
    artifacts = tmp_path / "artifacts"
    assert with_table(export_stage).main([
        "--data", str(tiny_pipeline.data), "--params", str(params), "--float-model", str(tiny_pipeline.float_model),
        "--qat-model", str(tiny_pipeline.qat_model), "--train-metrics", str(tiny_pipeline.train_metrics),
        "--out-dir", str(artifacts)]) == 0
    manifest = json.loads((artifacts / "manifest.json").read_text())
    assert set(manifest["files"]) == {"model_float16.tflite"}
    assert manifest["files"]["model_float16.tflite"]["precision"] == "float16"

    metrics = tmp_path / "evaluate.json"
    assert with_table(evaluate).main([
        "--data", str(tiny_pipeline.data), "--params", str(params), "--float-model", str(tiny_pipeline.float_model),
        "--qat-model", str(tiny_pipeline.qat_model), "--artifacts", str(artifacts), "--train-live",
        str(tiny_pipeline.live), "--metrics", str(metrics), "--plots", str(tmp_path / "plots"),
        "--figures", str(tmp_path / "evaluate.md"),
        "--realworld", str(small_realworld)]) == 0, capsys.readouterr().err
    row = json.loads(metrics.read_text())["formats"]["tflite_float16"]
    assert row["reference"] == "keras_float" and row["agreement"] >= 0.98 and row["size_bytes"] > 0
    assert "all parity gates passed" in capsys.readouterr().out
    assert "| `tflite_float16` |" in (tmp_path / "evaluate.md").read_text()

    assert with_table(zoo).main(["--evaluate", str(metrics), "--train", str(tiny_pipeline.train_metrics),
                                 "--zoo", str(tmp_path / "zoo.json"), "--plot", str(tmp_path / "zoo.png"),
                                 "--figures", str(tmp_path / "zoo.md")]) == 0
    listed = capsys.readouterr().out
    assert "| tflite_float16 |" in listed
    saved = json.loads((tmp_path / "zoo.json").read_text())
    assert saved["variants"]["standard"]["formats"]["tflite_float16"]["accuracy"] == row["accuracy"]


def test_the_gates_hold_the_new_row_to_its_precision(tiny_pipeline):
    from export.parity import Gates, gate_failures

    gates = Gates(float_max_abs_diff=1e-4, int8_min_agreement=0.998, int8_max_accuracy_drop=0.002,
                  int8_cross_agreement=0.999, min_accuracy=0.5)
    rows = {"tflite_float16": {"accuracy": 0.95, "agreement": 0.99, "max_abs_diff": 0.01}}
    failures = gate_failures(rows, 0.99, gates, TABLE)
    assert failures == ["tflite_float16: agreement with keras_float 99.0000% < 99.80%",
                        "tflite_float16: accuracy 95.0000% is 4.00 pp below keras_float (allowed 0.20 pp)"]
