"""Benchmark the runtime on this machine: python -m tools.bench [--models DIR] [--cli N] [--folder N] [--figures PATH]

Per model file and engine (each in its own process, so peak RSS is its own): load time,
batch-1 latency p50/p99, batch-256 throughput, peak RSS. Optionally the whole CLI process
from start to answer, and classifying a folder of N generated PNGs (its peak RSS is the whole
process tree's: the parent and its decoding workers together). `--figures PATH` also writes
what it prints as a Markdown page (docs/figures/bench.md), naming the command that made it.
(This was `python -m runtime.bench`; it moved out of the embeddable package.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from runtime.engines import ENGINE_BY_SUFFIX, ENGINES
from runtime.model import BUNDLED_DIR
from runtime.timing import latencies_ms, summary, throughput
from pipeline.provenance import file_sha256
from tools.figures import command_line, count, figures_path, run_tool, tool_parser, write_figures
from tools.machine import machine_facts


def measure_one(path: Path, engine: str, runs: int, threads: int) -> dict:
    from runtime.model import Classifier

    start = time.perf_counter()
    classifier = Classifier.load(path, engine)  # the runtime's default threads
    load_ms = (time.perf_counter() - start) * 1e3
    rng = np.random.default_rng(0)
    x1 = rng.random((1, 28, 28, 1), dtype=np.float32)
    x256 = rng.random((256, 28, 28, 1), dtype=np.float32)
    row = {"model": path.name, "engine": engine, "load_ms": round(load_ms, 1)}
    row.update(summary(latencies_ms(lambda: classifier.probabilities(x1), runs, max(50, runs // 10))))
    batched = Classifier.load(path, engine, threads=threads) if threads else classifier
    row["throughput_per_s"] = throughput(lambda: batched.probabilities(x256), 256, repeats=throughput_repeats(runs))
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return row


def throughput_repeats(runs: int) -> int:
    """Batch-256 calls timed per model: 20 at the default --runs, fewer for a quick run."""
    return max(2, min(20, runs // 100))


def models_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in ENGINE_BY_SUFFIX)


class TreePeakRss:
    """Peak of the summed RSS of this process and all its descendants, sampled every 10 ms."""

    def __init__(self) -> None:
        self._pid, self._stop, self.peak = os.getpid(), threading.Event(), 0
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        # Made in this thread: psutil checks a process's start time on every call, and under QEMU
        # user mode /proc/self reads differently from another thread (it would see "PID reused").
        me = psutil.Process(self._pid)
        while not self._stop.wait(0.01):
            try:
                tree = [me, *me.children(recursive=True)]
            except psutil.Error:  # a child that ended while the tree was read: try again
                continue
            total = 0
            for process in tree:
                try:
                    total += process.memory_info().rss
                except psutil.Error:  # a worker that just ended
                    pass
            self.peak = max(self.peak, total)

    def __enter__(self) -> TreePeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def cli_seconds(repeats: int) -> list[float]:
    """Wall time of `python -m runtime.classify digit.png`, whole process, start to answer."""
    from tools.synthetic import draw_digit

    with tempfile.TemporaryDirectory() as tmp:
        picture = Path(tmp) / "digit.png"
        draw_digit(7, 120, 80, (20, 20)).save(picture)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "runtime.classify", str(picture)], check=True,
                           capture_output=True)
            times.append(time.perf_counter() - start)
    return times


def folder_rate(count: int) -> dict:
    """Images per second for `classify` on a folder of `count` MNIST-sized PNGs (generated here)."""
    from runtime.classify import classify
    from runtime.model import Classifier
    from tools.synthetic import write_digit_folder

    with tempfile.TemporaryDirectory() as tmp:
        write_digit_folder(Path(tmp), count)
        with TreePeakRss() as rss:
            classifier = Classifier.load()
            start = time.perf_counter()
            done = sum(1 for result in classify(classifier, [tmp], top_k=1) if "label" in result)
            seconds = time.perf_counter() - start
    return {"images": done, "seconds": round(seconds, 2), "images_per_s": round(done / seconds, 1),
            "peak_rss_mb": round(rss.peak / 2**20, 1)}


def table_lines(rows: list[dict]) -> list[str]:
    header = f"{'model':<20} {'engine':<7} {'load ms':>8} {'p50 ms':>8} {'p99 ms':>8} {'img/s @256':>11} {'RSS MB':>7}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['model']:<20} {r['engine']:<7} {r['load_ms']:>8.1f} {r['latency_p50_ms']:>8.4f} "
                     f"{r['latency_p99_ms']:>8.4f} {r['throughput_per_s']:>11,.0f} {r['peak_rss_mb']:>7.1f}")
    return lines


def print_table(rows: list[dict]) -> None:
    print("\n".join(table_lines(rows)))


def report_lines(report: dict) -> list[str]:
    """What the benchmark prints, line by line, after its first line (the CPUs and the runs)."""
    lines = table_lines(report["models"])
    lines += [f"skipped: {line}" for line in report["skipped"]]
    if "app" in report:
        from tools.bench_app import app_lines

        lines += ["", *app_lines(report["app"])]
    if "cli_seconds" in report:
        lines += ["", f"python -m runtime.classify digit.png (whole process): median {report['cli_seconds']['median']} s"]
    if "folder" in report:
        f = report["folder"]
        lines.append(f"classify folder of {f['images']:,} PNGs: {f['seconds']} s = {f['images_per_s']:,.0f} images/s, "
                     f"peak RSS {f['peak_rss_mb']} MB (the parent and its workers together)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("python -m tools.bench", __doc__)
    parser.add_argument("--models", type=Path, default=BUNDLED_DIR, help="folder of .tflite/.onnx files")
    parser.add_argument("--runs", type=count(1), default=2000, help="timed batch-1 calls per model (and runs/100 batch-256 calls, 2 to 20)")
    parser.add_argument("--threads", type=count(0), default=0, help="threads for batch-256 (default: the runtime's)")
    parser.add_argument("--cli", type=count(0), default=0, metavar="N", help="also time N whole CLI processes")
    parser.add_argument("--folder", type=count(0), default=0, metavar="N", help="also classify a folder of N PNGs")
    parser.add_argument("--app", action="store_true",
                        help="also time what an app sees: predict(path) vs Pillow decoding, predict(array) vs "
                             "the raw engine call, and 1 vs 2 threads sharing one Classifier")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of the table")
    parser.add_argument("--figures", type=Path, metavar="PATH",
                        help="also write what is printed as a Markdown page at PATH (e.g. docs/figures/bench.md)")
    parser.add_argument("--one", nargs=2, metavar=("PATH", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        from runtime.errors import ClassifierError

        try:
            print(json.dumps(measure_one(Path(args.one[0]), args.one[1], args.runs, args.threads)))
        except ClassifierError as error:  # one line, which the parent names the model by
            print(error, file=sys.stderr)
            return 1
        return 0
    figures = figures_path(parser, args.figures)
    if not args.models.is_dir():
        parser.error(f"--models {args.models}: no such folder")
    models = models_in(args.models)
    if not models:
        parser.error(f"--models {args.models}: no .tflite or .onnx files in it")
    rows, skipped, failed = [], [], []
    for path in models:
        engine = ENGINE_BY_SUFFIX[path.suffix.lower()]
        if not ENGINES[engine].installed():
            skipped.append(f"{path.name} ({engine} not installed: {ENGINES[engine].install})")
            continue
        out = subprocess.run([sys.executable, "-m", "tools.bench", "--one", str(path), engine,
                              "--runs", str(args.runs), "--threads", str(args.threads)],
                             capture_output=True, text=True)
        if out.returncode != 0:  # a model that does not load is an error, not a row left out
            failed.append(f"{path.name}: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
            continue
        rows.append({**json.loads(out.stdout.strip().splitlines()[-1]), "size_bytes": path.stat().st_size,
                     "sha256": file_sha256(path)})
    if failed:
        print("\n".join(f"error: {line}" for line in failed), file=sys.stderr)
        return 1
    report: dict = {"cpu_count": os.cpu_count(), "models": rows, "skipped": skipped}
    if args.app and rows:
        from tools.bench_app import app_rows

        report["app"] = app_rows(args.runs)
    if args.cli:
        times = cli_seconds(args.cli)
        report["cli_seconds"] = {"median": round(statistics.median(times), 3), "min": round(min(times), 3)}
    if args.folder:
        report["folder"] = folder_rate(args.folder)
    status = 0 if rows else 1  # every model skipped: nothing was measured
    lines = report_lines(report)
    if figures and rows:  # a page with no rows would only replace the last good one
        threads = f"{args.threads} threads for batch 256" if args.threads else "the runtime's default threads"
        models_text = "; ".join(f"`{r['model']}` {r['size_bytes']:,} B, {r['sha256'][:19]}…" for r in rows)
        write_figures(figures, "Runtime benchmark", command_line(parser.prog, argv),
                      f"{machine_facts()} Each model is timed in its own process (its peak RSS is its own), "
                      f"with {threads}; batch-1 latency over {args.runs} calls after warm-up, batch-256 throughput "
                      f"the best of {throughput_repeats(args.runs)} calls. Models: {models_text}.",
                      lines)
    if args.json:
        from tools.bench_app import json_rows

        print(json.dumps({**report, "app": json_rows(report["app"])} if "app" in report else report, indent=2,
                         allow_nan=False))
        return status
    print(f"runtime benchmark, {os.cpu_count()} CPUs, batch-1 latency over {args.runs} calls after warm-up")
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    run_tool(main)
