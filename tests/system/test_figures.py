"""The benchmarks' figures pages: refused paths, and a page that names the command that made it."""

from __future__ import annotations

import argparse

import pytest

from tools.figures import command_line, figures_path, write_figures


def test_a_figures_page_names_its_command_and_holds_what_was_printed(tmp_path):
    page = tmp_path / "bench.md"
    command = command_line("python -m tools.bench", ["--runs", "50", "--figures", str(page)])
    write_figures(page, "Runtime benchmark", command, "Machine: 2 CPUs.", ["model  p50 ms", "a.onnx  0.1"])
    text = page.read_text()
    assert text.startswith("# Runtime benchmark\n")
    assert f"Written by `python -m tools.bench --runs 50 --figures {page}`; do not edit." in text
    assert "```\nmodel  p50 ms\na.onnx  0.1\n```" in text
    assert [p.name for p in tmp_path.iterdir()] == ["bench.md"]  # no temporary sibling left


def test_a_figures_path_that_cannot_be_written_is_refused_before_any_timing(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="python -m tools.bench")
    for bad, message in ((tmp_path, "is a folder"), (tmp_path / "missing" / "b.md", "no such folder")):
        with pytest.raises(SystemExit):
            figures_path(parser, bad)
        assert message in capsys.readouterr().err
    assert figures_path(parser, tmp_path / "b.md") == tmp_path / "b.md"


def test_a_page_that_cannot_be_written_after_the_timing_is_one_line(tmp_path, monkeypatch):
    def refuse(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("export.atomic.write_bytes", refuse)
    with pytest.raises(SystemExit) as stop:
        write_figures(tmp_path / "b.md", "T", "cmd", "facts", ["row"])
    assert str(stop.value) == f"{tmp_path / 'b.md'}: cannot write the page (Permission denied); the figures are printed above"


@pytest.mark.parametrize(("tool", "argv", "said"), [
    ("augment_bench", ["--seconds", "0"], "argument --seconds: expected a number of seconds above 0, got '0'"),
    ("augment_bench", ["--batch", "0"], "argument --batch: expected a whole number from 1 to 65536, got '0'"),
    ("augment_bench", ["--json", "{tmp}/missing/a.json"], "--json {tmp}/missing/a.json: no such folder {tmp}/missing"),
    ("bench_app", ["--runs", "5"], "argument --runs: expected a whole number from 20 to 200, got '5'"),
    ("make_realworld", ["--seed", "-1", "--out", "{tmp}/rw"], "argument --seed: expected a whole number >= 0, got '-1'"),
    ("make_realworld", ["--seed", "3", "--out", "{tmp}/file"], "--out {tmp}/file: is a file; name a folder"),
    ("open_set_routes", ["--routes", "class,bogus"], "--routes: 'bogus' is not a route; choose from class, entropic"),
    ("gpu_bench", ["--data", "{tmp}/none.npz"], "--data {tmp}/none.npz: no such file"),
    ("gpu_check", ["--bench-limit", "-5"], "argument --bench-limit: expected a whole number >= 1, got '-5'"),
    ("score_photos", ["{tmp}", "--fails", "{tmp}/missing/f.txt"], "--fails {tmp}/missing/f.txt: no such folder"),
])
def test_tools_refuse_bad_arguments_in_one_line_before_any_work(tmp_path, capsys, tool, argv, said):
    import importlib

    (tmp_path / "file").write_text("a file")
    main = importlib.import_module(f"tools.{tool}").main
    with pytest.raises(SystemExit) as stop:
        main([arg.format(tmp=tmp_path) for arg in argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"python -m tools.{tool}: error: {said.format(tmp=tmp_path)}")


def test_a_tools_help_keeps_the_example_commands_its_summary_introduces():
    from tools.figures import tool_parser

    doc = "Do a thing:\n\n    python -m tools.x --flag\n\nMore detail, not shown."
    text = tool_parser("python -m tools.x", doc).format_help()
    assert "Do a thing:\n\n    python -m tools.x --flag\n" in text and "More detail" not in text
    assert tool_parser("p", "One line.\n\nMore.").description == "One line."
