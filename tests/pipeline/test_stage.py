"""pipeline/stage.py: when a stage's wall time starts."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.stage import Stage

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="the process start time comes from Linux's /proc")
def test_process_started_counts_start_up_and_imports():
    code = ("import time\ntime.sleep(1.0)  # stands for interpreter start-up and heavy imports\n"
            "from pipeline.stage import process_started\nprint(time.perf_counter() - process_started())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    assert 1.0 <= float(done.stdout) < 30


def test_main_called_from_python_starts_the_clock_at_the_call():
    seen = {}
    stage = Stage("probe", "probe", lambda args, params: seen.update(started=args.started))
    before = time.perf_counter()
    assert stage.main([]) == 0
    assert before <= seen["started"] <= time.perf_counter()
