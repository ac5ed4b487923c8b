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


def _writer(name: str = "demo"):
    """A stage that writes --out (a file) and --folder (a folder), or fails as asked."""
    import argparse

    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--out", type=Path, default=None)
        parser.add_argument("--folder", type=Path, default=None)
        parser.add_argument("--fail", default="")

    def run(args, _params):
        if args.fail == "rename":
            import os

            os.replace(args.out.with_suffix(".missing"), args.out)
        (args.folder or args.out.parent).mkdir(parents=True, exist_ok=True)
        args.out.write_text("done")
        return "wrote it"

    return Stage(name, "Writes a file.", run, None, arguments, outputs=("out",), output_folders=("folder",))


@pytest.mark.parametrize(("flags", "said"), [
    (["--out", "{tmp}"], "--out {tmp}: is a folder; name the file to write"),
    (["--out", "{tmp}/a.txt", "--folder", "{tmp}/file"], "--folder {tmp}/file: is a file; name a folder"),
    (["--out", "{tmp}/file/a.txt"], "--out {tmp}/file/a.txt: {tmp}/file is a file, not a folder"),
])
def test_where_a_stage_cannot_write_is_refused_before_any_work(tmp_path, capsys, flags, said):
    (tmp_path / "file").write_text("a file")
    with pytest.raises(SystemExit) as stop:
        _writer().main([flag.format(tmp=tmp_path) for flag in flags])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().endswith(f"error: {said.format(tmp=tmp_path)}")


def test_an_os_error_in_the_work_is_one_line_naming_the_file(tmp_path, capsys):
    assert _writer().main(["--out", str(tmp_path / "a.txt"), "--fail", "rename"]) == 1
    assert capsys.readouterr().err == f"demo: error: {tmp_path / 'a.txt'}: No such file or directory\n"
    assert _writer().main(["--out", str(tmp_path / "b.txt")]) == 0
    assert (tmp_path / "b.txt").read_text() == "done"


def test_a_params_file_given_is_named_in_its_errors(tmp_path, capsys):
    from pipeline.params import train_params

    stage = Stage("demo", "Reads params.", lambda args, params: None, train_params)
    assert stage.main(["--params", str(tmp_path)]) == 1  # a folder: no advice to run elsewhere
    assert capsys.readouterr().err == f"demo: error: {tmp_path}: cannot read (Is a directory)\n"
    bad = tmp_path / "mine.yaml"
    bad.write_text("train: {epochs: -1}\n")
    assert stage.main(["--params", str(bad)]) == 1
    assert capsys.readouterr().err.startswith(f"demo: error: {bad}: ")


def test_help_describes_the_stage_with_its_docstrings_first_paragraph(capsys):
    from pipeline import qat
    from pipeline.stage import first_paragraph

    assert first_paragraph("One line\nand its end.\n\nMore.") == "One line and its end."
    with pytest.raises(SystemExit):
        qat.main(["--help"])
    out = capsys.readouterr().out
    assert " ".join(qat.__doc__.split("\n\n")[0].split()) in " ".join(out.split())
    assert "(default: models/qat.h5)" in out
