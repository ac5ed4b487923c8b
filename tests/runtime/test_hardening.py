"""What a hostile but realistic user tried, one test per case: signals, arrays, batches,
misleading errors, the benchmark's arguments, output hygiene and the wheel."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runtime import Classifier, InputError, NoDigitError, Prediction, Result
from runtime.errors import ModelLoadError
from runtime.model import BUNDLED_DIR, default_model
from tests.conftest import ROOT
from tools.synthetic import draw_digit, write_digit_folder


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.load()


@pytest.fixture(scope="module")
def seven() -> np.ndarray:
    return np.asarray(draw_digit(7, 96, 64, (16, 16)).convert("L"))


# --- 1. every stop signal, to the parent or its group, ends a folder run cleanly --------------

STOPS = [(signum, target) for signum in (signal.SIGINT, signal.SIGTERM) for target in ("parent", "group")]
TRIES = 10
HANG = 30  # seconds: a run that has not ended by then hangs (a clean stop takes well under 1 s)


def alive_with(marker: str) -> list[int]:
    """Processes, not zombies, whose environment carries `marker`: the CLI and anything it started."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if process.info["status"] != psutil.STATUS_ZOMBIE and process.environ().get("EDGE_DIGITS_RUN") == marker:
                found.append(process.pid)
        except psutil.Error:
            continue
    return found


def catches_sighup(pid: int) -> bool:
    """Whether the process has a handler for SIGHUP (its SigCgt mask in /proc). The CLI installs
    its stop handlers (SIGINT, SIGTERM, SIGHUP) together, and CPython catches SIGHUP only through
    them. Under QEMU's user-mode emulation the mask is the emulator's own, which catches
    everything from the start; there only the measured start-up time counts, as it does where the
    mask cannot be read at all (no /proc): then this says yes at once rather than wait."""
    try:
        with open(f"/proc/{pid}/status") as status:
            mask = next(line for line in status if line.startswith("SigCgt:")).split()[1]
    except (OSError, StopIteration):
        return True
    return bool(int(mask, 16) >> (signal.SIGHUP - 1) & 1)


def stop_once(folder: Path, signum: int, target: str, first: float, delay: float) -> str | None:
    """Start a folder run and send the signal `delay` s after its handlers are in place (and not
    before `first` s); None if it ended cleanly, else why not. On a loaded machine an interpreter's
    start-up can take several times its quiet figure, so the test waits to see the handlers."""
    marker = uuid.uuid4().hex
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "runtime.classify", str(folder)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                               env={**os.environ, "EDGE_DIGITS_RUN": marker})
    while not catches_sighup(process.pid) and process.poll() is None and time.monotonic() - started < HANG:
        time.sleep(0.005)
    time.sleep(max(0.0, started + first - time.monotonic()) + delay)
    sent = time.monotonic()
    try:
        (os.killpg if target == "group" else os.kill)(process.pid, signum)
    except ProcessLookupError:
        pass  # it finished first
    try:
        _, err = process.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return f"hung for {HANG} s"
    took = time.monotonic() - sent
    lines = err.decode(errors="replace").strip().splitlines()
    # A worker still starting up when its parent stops sees it only once started: seconds under load.
    deadline = time.monotonic() + HANG
    while (left := alive_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        return f"processes left behind: {left}"
    if process.returncode == 0:
        return "the run went on to the end: the signal was lost"
    if process.returncode != 130 or lines[-1:] != ["interrupted"] or b"Traceback" in err:
        return f"exit {process.returncode} after {took:.2f} s, stderr {lines[-3:]}"
    return None


def handler_installed_after() -> float:
    """Seconds before the CLI's stop handler can be in place on this machine: the median of three
    pairs of interpreters, started together as the test starts its runs, that import what
    runtime/classify.py imports before it installs the handler.
    Until then CPython's own default handlers apply (Ctrl-C during the interpreter's start-up is
    a KeyboardInterrupt traceback in any Python program): about 0.03 s on an x86-64 core, about
    1 s under QEMU's aarch64 emulation."""
    times = []
    for _ in range(3):  # two at once, as the test runs them: the slower one counts
        start = time.monotonic()
        pair = [subprocess.Popen([sys.executable, "-c", "import os, signal, sys, runtime"], cwd=ROOT)
                for _ in range(2)]
        assert [p.wait() for p in pair] == [0, 0]
        times.append(time.monotonic() - start)
    return sorted(times)[1]


@pytest.mark.slow
def test_every_stop_signal_to_parent_or_group_ends_the_run_with_one_line_and_no_process_left(tmp_path):
    """SIGINT and SIGTERM, each to the parent and to its process group, at 10 random moments
    each, over 1.8 s from the moment the CLI's handlers are installed (seen in /proc; and never
    before 0.2 s, or three times the measured start-up where the interpreter starts slowly, as
    under emulation): through the imports and model load to past the first batch, when the
    decoding workers run. The folder takes longer than the latest moment to classify, so every
    run must be stopped."""
    folder = tmp_path / "many"
    write_digit_folder(folder, 8000)
    rng = random.Random(20261202)
    first = max(0.2, 3 * handler_installed_after())  # room for a machine busier than when measured
    tries = [(signum, target, rng.uniform(0.0, 1.8)) for signum, target in STOPS for _ in range(TRIES)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda t: stop_once(folder, t[0], t[1], first, t[2]), tries))
    failures = [f"{signal.Signals(s).name} to the {target} {delay:.2f} s after its handlers: {why}"
                for (s, target, delay), why in zip(tries, outcomes, strict=True) if why]
    assert not failures, failures


def test_a_worker_whose_parent_ended_while_it_started_exits_instead_of_waiting():
    """The CLI's stop handler kills the workers it knows of and exits at once. A worker the pool
    was still starting then reaches its initializer with a new parent (init): it must exit, not
    follow init and wait for ever on a task-queue lock that a killed worker held."""
    not_my_parent = 1 if os.getppid() != 1 else os.getpid()
    script = f"from runtime.files import _leave_process_group; _leave_process_group({not_my_parent}); print('stayed')"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=HANG)
    assert (done.returncode, done.stdout) == (1, "")
    script = "import os; from runtime.files import _leave_process_group; _leave_process_group(os.getppid()); print('stayed')"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=HANG)
    assert (done.returncode, done.stdout) == (0, "stayed\n")


# --- 2. arrays and batches ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.int16, np.uint16])
def test_integer_masks_read_like_bool_masks(classifier, seven, dtype):
    mask = seven < 128  # ink is dark in the drawing
    expected = classifier.predict(mask).label
    assert classifier.predict(mask.astype(dtype)).label == expected == 7


def test_four_bit_integer_images_are_scaled_not_refused(classifier, seven):
    assert classifier.predict((seven // 17).astype(np.uint8)).label == 7  # values 0-15


def test_one_bad_item_names_its_index_and_the_others_get_answers(classifier, seven):
    blank = np.full((40, 40), 255, np.uint8)
    results = classifier.predict_batch([seven, seven, blank, seven])
    assert [r.ok for r in results] == [True, True, False, True]
    assert results[2].path == "[2]" and results[2].error.startswith("item 2: no digit found")
    assert isinstance(results[2].exception, NoDigitError)
    assert [r.prediction.label for r in results if r.ok] == [7, 7, 7]


def test_predictions_compare_and_hash(classifier, seven):
    first, second = classifier.predict(seven), classifier.predict(seven)
    assert first == second and hash(first) == hash(second) and len({first, second}) == 1
    other = classifier.predict(np.asarray(draw_digit(1, 96, 64, (16, 16)).convert("L")))
    assert first != other
    assert isinstance(first, Prediction) and Result("x", prediction=first) == Result("x", prediction=second)
    with pytest.raises(ValueError):
        first.probabilities[0] = 1.0  # read-only: the hash cannot go stale
    with pytest.raises(AttributeError):
        first.top_k.append((1, 0.5))  # a tuple, for the same reason
    import copy
    import pickle

    for again in (pickle.loads(pickle.dumps(first)), copy.deepcopy(first)):  # a new array, read-only too
        assert again == first and hash(again) == hash(first)
        with pytest.raises(ValueError):
            again.probabilities[0] = 1.0


def test_onnx_model_with_symbolic_height_and_width_loads(tmp_path, seven):
    import onnx

    model = onnx.load(str(BUNDLED_DIR / "model_int8.onnx"))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[1].dim_param, dims[2].dim_param = "height", "width"
    path = tmp_path / "dynamic.onnx"
    onnx.save(model, str(path))
    assert Classifier.load(path).predict(seven).label == 7


# --- 3. errors that say what happened ---------------------------------------------------------

def test_unreadable_folder_says_permission_denied(tmp_path, monkeypatch):
    folder = tmp_path / "locked"
    write_digit_folder(folder, 2)
    if os.geteuid() == 0:  # root reads any folder: make listing it fail as it would for a user
        real = os.scandir

        def scandir(path="."):
            if os.fspath(path) == str(folder):
                raise PermissionError(13, "Permission denied", str(folder))
            return real(path)

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        folder.chmod(0)
    try:
        results = list(Classifier.load().classify_paths([folder]))
    finally:
        folder.chmod(0o755)
    assert [(r.path, r.error) for r in results] == [(str(folder), "permission denied")]


def test_broken_symlink_says_the_same_in_a_folder_and_given_directly(tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    (folder / "gone.png").symlink_to(tmp_path / "missing.png")
    in_folder = list(Classifier.load().classify_paths([folder]))
    direct = list(Classifier.load().classify_paths([folder / "gone.png"]))
    assert in_folder[0].error == direct[0].error == "broken symbolic link (its target does not exist)"


def test_a_folder_given_as_the_model_says_so(tmp_path):
    with pytest.raises(ModelLoadError, match="is a folder; pass the model file in it"):
        Classifier.load(tmp_path)
    done = subprocess.run([sys.executable, "-m", "runtime.classify", "--model", str(tmp_path), "x.png"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "is a folder" in done.stderr and "no such model file" not in done.stderr


@pytest.mark.parametrize("engine", ["litert", "onnx"])
@pytest.mark.parametrize("threads", [-1, 0, 2.5, True, "2", 100_000])
def test_bad_thread_counts_are_named_not_blamed_on_the_model(engine, threads):
    # (100,000 threads crashed LiteRT's process; the bound is far above any CPU's count)
    with pytest.raises(InputError, match="threads must be a whole number between 1 and 256"):
        Classifier.load(engine=engine, threads=threads)


@pytest.mark.parametrize("engine", ["litert", "onnx"])
def test_a_numpy_thread_count_loads(engine, seven):
    assert Classifier.load(engine=engine, threads=np.int32(2)).predict(seven).label == 7


@pytest.mark.parametrize("path", [5, 2.5, ["model.tflite"]])
def test_a_model_path_of_the_wrong_type_is_named(path):
    with pytest.raises(InputError, match="path must be a model file's name"):
        Classifier.load(path)


def test_require_manifest_takes_true_false_or_none():
    with pytest.raises(InputError, match="require_manifest must be True, False or None"):
        Classifier.load(require_manifest="no")


def test_classify_paths_checks_its_arguments_when_called(classifier):
    """Not on the first next(): a generator's checks would wait for its first item."""
    with pytest.raises(InputError, match="classify_paths takes a path or an iterable of paths, got NoneType"):
        classifier.classify_paths(None)
    with pytest.raises(InputError, match="top_k must be"):
        classifier.classify_paths(["x.png"], top_k=0)


def test_text_mode_file_object_says_open_it_in_binary(tmp_path, classifier):
    path = tmp_path / "d0.png"
    draw_digit(0, 96, 64, (16, 16)).save(path)
    with open(path) as text, pytest.raises(InputError, match="open it in binary mode"):
        classifier.predict(text)


def test_numpy_scalars_are_accepted_as_confidence(classifier, seven):
    for value in (np.float32(0.5), np.float16(0.5), np.float64(0.5), 1):
        assert classifier.predict(seven, min_confidence=value).label == 7
    with pytest.raises(InputError, match="min_confidence"):
        classifier.predict(seven, min_confidence=np.float32(1.5))


def test_top_k_over_the_label_count_is_refused_like_the_cli(classifier, seven):
    with pytest.raises(InputError, match="between 1 and 10, got 11"):
        classifier.predict(seven, top_k=11)
    assert len(classifier.predict(seven, top_k=10).top_k) == 10


@pytest.mark.parametrize("batch", [0, -5, 2.5, True])
def test_bad_batch_sizes_are_refused(tmp_path, classifier, batch):
    with pytest.raises(InputError, match="batch must be a whole number >= 1"):
        list(classifier.classify_paths([tmp_path], batch=batch))


def test_bytes_path_is_one_path(tmp_path, classifier):
    path = tmp_path / "seven.png"
    draw_digit(7, 96, 64, (16, 16)).save(path)
    (result,) = list(classifier.classify_paths(os.fsencode(path)))
    assert result.ok and result.path == str(path) and result.prediction.label == 7


def test_premultiplied_la_images_are_read(classifier, seven):
    image = Image.fromarray(seven).convert("LA").convert("La")
    assert image.mode == "La" and classifier.predict(image).label == 7


# --- 4. the benchmark's arguments -------------------------------------------------------------

def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.bench", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


@pytest.mark.parametrize("args, message", [
    (["--models", "/nonexistent"], "--models /nonexistent: no such folder"),
    (["--cli", "-1"], "argument --cli: expected a whole number >= 0, got '-1'"),
    (["--runs", "0"], "argument --runs: expected a whole number >= 1, got '0'"),
])
def test_bench_refuses_bad_arguments_in_one_line(args, message):
    done = bench(*args)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].endswith(message)
    assert "Traceback" not in done.stderr


def test_bench_finds_models_whatever_the_suffix_case_and_refuses_an_empty_folder(tmp_path):
    shutil.copyfile(BUNDLED_DIR / "model_int8.onnx", tmp_path / "M.ONNX")
    done = bench("--models", str(tmp_path), "--runs", "20", "--json")
    assert done.returncode == 0, done.stderr
    assert [row["model"] for row in json.loads(done.stdout)["models"]] == ["M.ONNX"]
    (tmp_path / "M.ONNX").unlink()
    empty = bench("--models", str(tmp_path))
    assert empty.returncode == 2 and "no .tflite or .onnx files in it" in empty.stderr


def test_bench_fails_on_a_model_that_does_not_load_and_keeps_the_last_page(tmp_path):
    """A damaged model is an error (exit 1, named), not a row quietly left out of a new page."""
    for name in ("model_int8.tflite", "model_int8.onnx", "manifest.json"):
        shutil.copyfile(BUNDLED_DIR / name, tmp_path / name)
    damaged = bytearray((BUNDLED_DIR / "model_int8.onnx").read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # its sha256 no longer matches the manifest beside it
    (tmp_path / "model_int8.onnx").write_bytes(bytes(damaged))
    page = tmp_path / "bench.md"
    page.write_text("the last page\n")
    done = bench("--models", str(tmp_path), "--runs", "20", "--figures", str(page))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: model_int8.onnx: ")
    assert page.read_text() == "the last page\n"


def test_bench_pages_name_the_machine_and_refuse_what_is_not_a_file(tmp_path):
    from tools.figures import figures_path, run_tool, tool_parser
    from tools.machine import machine_facts

    facts = machine_facts()
    assert facts.startswith("Machine: ") and " CPUs (instruction sets: " in facts and "; commit " in facts
    (tmp_path / "target.md").write_text("kept\n")
    (tmp_path / "link.md").symlink_to(tmp_path / "target.md")
    parser = tool_parser("python -m tools.bench", "A benchmark.")
    with pytest.raises(SystemExit):
        figures_path(parser, tmp_path / "link.md")
    with pytest.raises(SystemExit) as stopped:
        run_tool(lambda: (_ for _ in ()).throw(KeyboardInterrupt))
    assert stopped.value.code == 130


def test_bench_json_is_strict_json():
    """A summary row's empty columns are null: NaN is no JSON (JSON.parse and strict parsers refuse it)."""
    from tools.bench_app import json_rows

    rows = json_rows([{"case": "median ratio", "unit": None, "ms": float("nan"), "ratio": 1.2}])
    assert json.loads(json.dumps(rows, allow_nan=False)) == [{"case": "median ratio", "unit": None, "ms": None, "ratio": 1.2}]


def test_bench_takes_no_abbreviated_options():
    done = bench("--model", str(BUNDLED_DIR / "model_int8.onnx"))
    assert done.returncode == 2 and "unrecognized arguments: --model" in done.stderr


def test_bench_peak_rss_counts_the_workers_too():
    from tools.bench import TreePeakRss

    with TreePeakRss() as rss:
        child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(200 * 2**20); time.sleep(1.5)"])
        child.wait(timeout=60)
    import psutil

    assert rss.peak > psutil.Process().memory_info().rss + 150 * 2**20, rss.peak


# --- 5. output hygiene -----------------------------------------------------------------------

def test_text_output_escapes_control_characters_in_file_names(tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    draw_digit(7, 96, 64, (16, 16)).save(folder / "line\nbreak.png")
    done = subprocess.run([sys.executable, "-m", "runtime.classify", str(folder)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{folder}/line\\nbreak.png: 7 " + done.stdout.split(": 7 ", 1)[1].strip()]


@pytest.mark.parametrize("engine", ["onnx", "litert"])
def test_engines_print_nothing_when_the_home_folder_is_not_writable(tmp_path, engine):
    """onnxruntime warns in colour at import when it cannot persist its telemetry ID."""
    path = tmp_path / "seven.png"
    draw_digit(7, 96, 64, (16, 16)).save(path)
    done = subprocess.run([sys.executable, "-m", "runtime.classify", "--engine", engine, str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": "/proc/1"})
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_quieting_an_engine_leaves_the_hosts_stderr_working(capfd, classifier, seven):
    classifier.predict(seven)
    Classifier.load(engine="onnx").predict(seven)
    os.write(2, b"host line\n")
    assert capfd.readouterr().err == "host line\n"


# --- 6. the wheel ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of what it is made of (nothing is written into the checkout)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copyfile(ROOT / name, source / name)
    shutil.copytree(ROOT / "runtime", source / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--disable-pip-version-check", "-w", str(out), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = out.glob("*.whl")
    return path


@pytest.mark.slow
def test_wheel_holds_the_runtime_the_license_and_the_int8_models_only(wheel):
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/LICENSE") or "/licenses/LICENSE" in n for n in names), names
    assert "edge_digits/models/model_int8.tflite" in names and "edge_digits/models/model_int8.onnx" in names
    assert not [n for n in names if n.startswith("runtime/") or "bench" in n or "synthetic" in n], names
    assert "edge_digits/models/model_float.onnx" not in names
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    extras = {line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Provides-Extra:")}
    assert extras == {"onnx", "litert", "runtime", "heic", "dev"}, extras
    assert "License: Apache-2.0" in metadata


@pytest.mark.slow
def test_an_app_with_its_own_runtime_package_imports_edge_digits(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "--target", str(site), str(wheel)], check=True, capture_output=True, timeout=300)
    app = tmp_path / "app"
    (app / "runtime").mkdir(parents=True)
    (app / "runtime" / "__init__.py").write_text("APP = True\n")
    draw_digit(7, 96, 64, (16, 16)).save(app / "seven.png")
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import runtime, edge_digits; from edge_digits import Classifier; assert runtime.APP; "
            "print(Classifier.load().predict('seven.png').label, edge_digits.__file__)")
    done = subprocess.run([sys.executable, "-c", code], cwd=app, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    label, where = done.stdout.split()
    assert label == "7" and where.startswith(str(site))
    cli = subprocess.run([sys.executable, "-m", "edge_digits.classify", "seven.png"], cwd=app, env=env,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and cli.stdout.startswith("seven.png: 7"), cli.stderr[-2000:]


@pytest.mark.parametrize("ink, paper", [(1e308, 0.0), (1e300, -1e300), (np.float32(3e38), np.float32(-3e38))])
def test_values_beyond_float32_are_scaled_not_overflowed(classifier, seven, ink, paper):
    """Min-max scaling in float32 overflowed to inf and NaN (with RuntimeWarnings) and found no digit."""
    image = np.where(seven > 0, ink, paper)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert classifier.predict(image).label == classifier.predict(seven).label == 7


def test_a_model_path_may_be_bytes(seven):
    assert Classifier.load(os.fsencode(default_model())).predict(seven).label == 7


def test_a_nul_byte_in_a_path_is_escaped_in_the_message(classifier):
    with pytest.raises(InputError) as error:
        classifier.predict("a\0b.png")
    assert "\0" not in str(error.value) and str(error.value) == "a\\0b.png: not a valid path (it holds a NUL byte)"


def test_worker_processes_from_an_unguarded_script_end_in_one_error_not_a_hang(tmp_path):
    """Spawned workers run the calling script again; without an entry-point guard each one dies as it
    starts and the pool starts another, for ever. Now the caller gets WorkerStartError, naming the guard."""
    for index in range(40):
        Image.fromarray(np.full((40, 40), 255, np.uint8)).save(tmp_path / f"{index:02d}.png")
    script = tmp_path / "unguarded.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom runtime import Classifier\n"
                      f"results = list(Classifier.load().classify_paths([{str(tmp_path)!r}], batch=8, processes=True))\n"
                      "print('done', len(results))\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1 and "done" not in done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("runtime.errors.WorkerStartError: ") and 'if __name__ == "__main__":' in last
    guarded = script.read_text().replace("results = ", "if __name__ == '__main__':\n    results = ").replace(
        "print(", "    print(")
    script.write_text(guarded)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "done 40", done.stderr


def test_jobs_on_worker_processes_in_several_threads_at_once_are_not_taken_for_an_unguarded_script(tmp_path):
    """Each job's pool counts its own workers: five threads' jobs at once (each pool starting its
    workers) used to add up to the limit of one pool and end in WorkerStartError."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    for index in range(48):
        draw_digit(index % 10, 320, 120, (100, 100)).save(folder / f"{index:02d}.png")
    script = tmp_path / "jobs.py"
    script.write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        "from concurrent.futures import ThreadPoolExecutor\nfrom runtime import Classifier\n"
        "def job(classifier):\n"
        f"    return [r.ok for r in classifier.classify_paths([{str(folder)!r}], batch=8, processes=True)]\n"
        "if __name__ == '__main__':\n"
        "    classifier = Classifier.load()\n"
        "    with ThreadPoolExecutor(5) as pool:\n"
        "        done = list(pool.map(job, [classifier] * 5))\n"
        "    print(' '.join(str(len(d)) for d in done))\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "48 48 48 48 48", done.stderr[-1500:]
