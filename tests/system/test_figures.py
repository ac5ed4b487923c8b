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
