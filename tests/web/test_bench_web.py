"""tools/bench_web.py's report: per-picture rows, and the median and the worst ratio over the set."""

from __future__ import annotations

from tools.bench_web import lines


def test_the_summary_is_the_median_and_the_worst_of_the_ratios_and_a_refusal_is_listed_not_counted():
    rows = [{"picture": f"p{i}.png", "size": "28x28", "pre_ms": pre, "inference_ms": 1.0, "ratio": pre,
             "pre_first_ms": 90.0, "inference_first_ms": 30.0} for i, pre in enumerate((2.0, 8.0, 4.0))]
    rows.append({"picture": "blank.png", "error": "no digit found (blank or ink-less image)"})
    printed = lines(rows, runs=5)
    assert "median of 5" not in printed[0] and "5 calls" in printed[0]
    assert any(line.startswith("blank.png") and "refused: no digit found" in line for line in printed)
    assert "over 3 pictures: median 4.00, worst 8.00" in printed[-2]
    assert printed[-1] == "first call on a fresh page (p0.png): preprocessing 90.0 ms, inference 30.0 ms"
