"""The formats table: its order, its columns, and the int8 checks every int8 row passes."""

from __future__ import annotations

import pytest

from export.formats import FORMATS, Format, Precision, Source, dependency_order


def test_dependency_order_follows_sources_and_references_not_table_order():
    order = [fmt.name for fmt in dependency_order(tuple(reversed(FORMATS)))]
    for fmt in FORMATS:
        for before in {fmt.derived_from, fmt.compare_with} - {None}:
            assert order.index(before) < order.index(fmt.name)
    orphan = Format("x", ".x", "onnx", Precision.INT8, lambda *a: None, derived_from="nothing")
    with pytest.raises(ValueError, match="derived_from or compare_with names no format"):
        dependency_order((orphan,))
    with pytest.raises(ValueError, match="exactly one of source and derived_from"):
        Format("y", ".y", "onnx", Precision.INT8, lambda *a: None, source=Source.QAT_MODEL, derived_from="x")


def test_table_columns_name_one_deployed_file_and_the_bundle():
    assert sum(fmt.deployed for fmt in FORMATS) == 1
    assert all(fmt.precision is Precision.INT8 for fmt in FORMATS if fmt.deployed)
    from pipeline.bundle import BUNDLED

    assert set(BUNDLED) == {fmt.filename for fmt in FORMATS if fmt.bundled}


def test_int8_checks_refuse_float_files(tiny_pipeline):
    import onnx

    from export.onnx import OnnxExportError, check_int8
    from export.tflite import TfliteExportError, check_full_integer

    with pytest.raises(OnnxExportError, match="int8 ONNX has float weights in"):
        check_int8(onnx.load(str(tiny_pipeline.artifacts / "model_float.onnx")))
    with pytest.raises(TfliteExportError, match="int8 TFLite still has float tensors"):
        check_full_integer((tiny_pipeline.artifacts / "model_float.tflite").read_bytes())
    check_int8(onnx.load(str(tiny_pipeline.artifacts / "model_int8.onnx")))
    check_full_integer((tiny_pipeline.artifacts / "model_int8.tflite").read_bytes())
