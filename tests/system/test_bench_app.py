"""tools/bench_app.py's side-by-side timing: a case and its baseline are timed in one loop, their
calls alternated, so that a ratio compares two things measured under the same conditions."""

from tools.bench_app import side_by_side_ms


def test_side_by_side_alternates_the_case_and_its_baseline():
    calls = []
    case_ms, baseline_ms = side_by_side_ms(lambda: calls.append("case"), lambda: calls.append("baseline"), runs=30)
    assert calls == ["case", "baseline"] * (30 + 3)  # 3 untimed pairs first (runs // 10), then 30 timed
    assert case_ms >= 0 and baseline_ms >= 0


def test_calls_per_second_runs_one_thread_per_call_each_with_its_own_count():
    from tools.bench_app import calls_per_second

    seen = {0: [], 1: []}
    rate = calls_per_second([lambda i: seen[0].append(i), lambda i: seen[1].append(i)], seconds=0.05)
    assert rate > 0
    for counts in seen.values():
        assert counts and counts == list(range(len(counts)))
