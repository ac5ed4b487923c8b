"""Classifying a large folder streams in batches: peak memory does not grow with the folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, resource, sys
from pathlib import Path
import numpy as np
from tools.synthetic import write_digit_folder
folder, count = Path(sys.argv[1]), int(sys.argv[2])
write_digit_folder(folder, count, corrupt_at=count // 2)
from runtime.classify import classify
from runtime.model import Classifier
results = list(r for r in classify(Classifier.load(), [str(folder)], top_k=1))
answered = [r for r in results if "label" in r or r["error"].startswith("no digit found (the model answers")]
print(json.dumps({"ok": len(answered), "errors": [r for r in results if r not in answered],
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run(tmp_path: Path, count: int) -> dict:
    folder = tmp_path / f"n{count}"
    folder.mkdir()
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(folder), str(count)], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-1500:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_peak_memory_is_flat_in_folder_size_and_a_corrupt_file_is_only_reported(tmp_path):
    small, large = run(tmp_path, 600), run(tmp_path, 6000)
    assert large["ok"] == 5999 and len(large["errors"]) == 1
    assert large["errors"][0]["path"].endswith("03000.png")
    # 10x the images, the same memory: batches of 256 are the only thing held.
    assert large["rss_kb"] <= small["rss_kb"] * 1.15 + 8 * 1024, (small["rss_kb"], large["rss_kb"])
