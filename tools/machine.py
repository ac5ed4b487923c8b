"""The machine a benchmark ran on, as its figures page states it (apart from tools/figures.py, which the
scenes stage imports: this reads the pipeline's provenance)."""

from __future__ import annotations


def machine_facts(engines: bool = True) -> str:
    """What the figures depend on, for the page: the CPU and its instruction sets, the commit, and the
    engines' versions (int8 speed turns on VNNI, and on each engine's kernels)."""
    from pipeline.provenance import git_commit, machine

    facts, commit = machine(), git_commit()
    flags = ", ".join(facts["cpu_flags"]) or "none of those the pipeline records"
    line = (f"Machine: {facts['cpu']}, {facts['cpu_count']} CPUs (instruction sets: {flags}); Python {facts['python']}; "
            f"commit {commit[:12]}{'-dirty' if commit.endswith('-dirty') else ''}")
    if engines:
        import importlib.metadata

        versions = []
        for name in ("onnxruntime", "ai-edge-litert", "numpy", "opencv-python-headless", "pillow"):
            try:
                versions.append(f"{name} {importlib.metadata.version(name)}")
            except importlib.metadata.PackageNotFoundError:
                continue
        line += f"; {', '.join(versions)}"
    return line + "."
