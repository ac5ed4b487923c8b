"""Run the bundled models through the runtime on this machine and save every output, so that
outputs from two machines (aarch64 under emulation, and x86-64) can be compared.

    python tools/arm64/parity.py run OUT.npz        # on each machine: outputs
    python tools/arm64/parity.py latency OUT.npz    # then batch-1 latencies, on a quiet machine
    python tools/arm64/parity.py compare X86.npz ARM.npz [--json FILE]

`run` reads the committed MNIST test sample (tests/fixtures/mnist_sample.npz, 1,000 images) as
arrays, and the real-world set (realworld/, image files) through the runtime's own decoding and
preprocessing, and runs each bundled model on them through `Classifier`. It saves the model
inputs, which pictures were refused, the probabilities, and for int8 models the raw int8
outputs (read back through the model's output scale and zero point, which is exact). `latency`
adds batch-1 latencies to the same file.

`compare` prints one line per model, `arm64 parity: N images, agreement A, max int8 diff D LSB`,
names every image whose answer differs, and exits 1 when a gate fails: top-1 agreement under
MIN_AGREEMENT, or, for the same model input, an int8 output more than MAX_INT8_DIFF LSB apart
(a float output more than MAX_FLOAT_DIFF). ARM and x86 kernels may round a requantization
differently (different NEON and AVX paths in XNNPACK, ruy and MLAS), which moves an int8 output
by one step; more than that is not rounding. Where the model inputs themselves differ (a JPEG's
pixels from libjpeg-turbo's NEON and AVX2 paths), the outputs may differ by more; those images
count in the agreement gate, and their output differences are reported apart.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "fixtures" / "mnist_sample.npz"
REALWORLD = ROOT / "realworld"
MODELS = ("model_int8.tflite", "model_int8.onnx", "model_float.onnx")
MIN_AGREEMENT = 0.999
MAX_INT8_DIFF = 1  # LSB
MAX_FLOAT_DIFF = 1e-4  # probability; float kernels differ in summation order only
LATENCY_IMAGES = 100
sys.path.insert(0, str(ROOT))  # run as a script on either machine: the runtime is imported from the repo


def realworld_files() -> list[Path]:
    """Every picture under realworld/ (its manifests and notes are not pictures)."""
    from runtime.files import IMAGE_SUFFIXES

    return sorted(p for p in REALWORLD.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def output_grid(path: Path, engine) -> tuple[float, int] | None:
    """(scale, zero point) of an int8 output: the engine's, or an ONNX graph's final DequantizeLinear
    (the int8 ONNX takes and returns float32, but its probabilities are int8 values dequantized)."""
    if engine.output_quantization is not None:
        return engine.output_quantization.scale, engine.output_quantization.zero_point
    if path.suffix != ".onnx":
        return None
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(path).graph
    last = next(n for n in graph.node if graph.output[0].name in n.output)
    if last.op_type != "DequantizeLinear":
        return None
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    return float(init[last.input[1]]), int(init[last.input[2]])


def run(out: Path) -> None:
    from runtime.errors import NoDigitError
    from runtime.model import BUNDLED_DIR, Classifier
    from runtime.normalization import to_model_input
    from runtime.preprocess import preprocess_image

    with np.load(SAMPLE) as sample:
        mnist = to_model_input(sample["x_test"])
    names = [f"mnist_test[{i}]" for i in range(len(mnist))]
    files, pictures, refused = realworld_files(), [], []
    for path in files:
        try:
            pictures.append(preprocess_image(path))
            names.append(str(path.relative_to(ROOT)))
        except NoDigitError:  # refusals are compared too: the same files must be refused
            refused.append(str(path.relative_to(ROOT)))
    inputs = np.concatenate([mnist, np.stack(pictures)]).astype(np.float32)
    saved: dict[str, np.ndarray] = {"names": np.array(names), "refused": np.array(refused),
                                    "inputs": inputs, "machine": np.array(platform.machine())}
    for model in MODELS:
        classifier = Classifier.load(BUNDLED_DIR / model)
        engine = classifier.engine
        probabilities = np.concatenate([classifier.probabilities(inputs[i:i + 256])
                                        for i in range(0, len(inputs), 256)])
        saved[f"{model}/probabilities"] = probabilities
        grid = output_grid(BUNDLED_DIR / model, engine)
        if grid is not None:
            scale, zero_point = grid
            raw = np.rint(probabilities / np.float32(scale)) + zero_point
            saved[f"{model}/int8"] = raw.astype(np.int16)
    np.savez_compressed(out, **saved)
    print(f"parity run on {platform.machine()}: {len(inputs)} images ({len(mnist)} MNIST test, "
          f"{len(pictures)} of {len(files)} real-world pictures preprocessed), {len(MODELS)} models")


def markdown(report: dict) -> str:
    context = report["context"]
    lines = [
        "# aarch64 parity and emulated timings",
        "",
        "Written by `make test-arm64` (`tools/arm64/check.sh`) on its last run; not edited by hand.",
        f"aarch64 ran under QEMU {context.get('qemu', '?')} user mode, CPU model `{context.get('cpu', '?')}`, "
        "on an x86-64 host: the aarch64 timings are **emulated**, not a Raspberry Pi's speed.",
        "",
        f"{report['images']} images: {report['mnist_test']} MNIST test images (the committed sample) and "
        f"{report['realworld']} real-world pictures (`realworld/`, decoded and preprocessed on each machine; "
        f"{report['refused_on_both']} more refused as no digit on both). Model inputs after preprocessing "
        f"were identical for {report['inputs_identical']} of {report['images']}.",
        "",
        "| model | top-1 agreement | max int8 diff, identical inputs | int8 outputs differing | aarch64 ms/image, median / worst (emulated) | x86-64 ms/image, median / worst |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for model, row in report["models"].items():
        if "max_int8_diff_lsb" in row:
            diff = f"{row['max_int8_diff_lsb']} LSB ({row.get('max_int8_diff_lsb_inputs_differ', 0)} where inputs differ)"
            differing = f"{row['int8_outputs_differing']} of {row['int8_outputs']}"
        else:
            diff, differing = f"float: {row['max_probability_diff']:.1g}", "-"
        arm, x86 = row["arm64_latency_ms"], row["x86_latency_ms"]
        lines.append(f"| `{model}` | {row['agreement']:.2%} | {diff} | {differing} | "
                     f"{arm['median']:.2f} / {arm['worst']:.2f} | {x86['median']:.3f} / {x86['worst']:.3f} |")
    for model, row in report["models"].items():
        if row.get("int8_differences"):
            lines += ["", f"`{model}`: the int8 outputs that differ (at most 20 listed):", ""]
            lines += [f"- {line}" for line in row["int8_differences"]]
        if row["disagreements"]:
            lines += ["", f"`{model}`: the answers that differ:", ""]
            lines += [f"- {line}" for line in row["disagreements"]]
    lines += ["", f"Latency: batch 1, the first {LATENCY_IMAGES} images, through `Classifier.probabilities`, "
              "each machine timed alone after the tests. One whole `python -m runtime.classify PICTURE` "
              f"process (median of 3): {report['cli_s']['arm64']:.1f} s on aarch64 (emulated), "
              f"{report['cli_s']['x86']:.2f} s on x86-64.",
              f"Set-up {context.get('setup_s', '?')} s (0 when cached); the runtime's tests under aarch64 "
              f"{context.get('tests_s', '?')} s. Gate: top-1 agreement >= {MIN_AGREEMENT:.1%}; on identical "
              f"inputs, int8 outputs within {MAX_INT8_DIFF} LSB and float probabilities within {MAX_FLOAT_DIFF}.", ""]
    return "\n".join(lines)


def latency(out: Path) -> None:
    """Add batch-1 latencies to a saved run: a separate step, so that they can be timed on a quiet
    machine while the outputs are computed beside other work."""
    from runtime.model import BUNDLED_DIR, Classifier

    with np.load(out) as npz:
        saved = {key: npz[key] for key in npz.files}
    for model in MODELS:
        classifier = Classifier.load(BUNDLED_DIR / model)
        times = []
        for image in saved["inputs"][:LATENCY_IMAGES]:
            start = time.perf_counter()
            classifier.probabilities(image[None])
            times.append((time.perf_counter() - start) * 1000)
        saved[f"{model}/latency_ms"] = np.array(times)
    picture = realworld_files()[0]
    cli = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "runtime.classify", str(picture)], cwd=ROOT, check=True,
                       capture_output=True)
        cli.append(time.perf_counter() - start)
    saved["cli_s"] = np.array(cli)
    np.savez_compressed(out, **saved)


def compare(x86_path: Path, arm_path: Path, json_out: Path | None, markdown_out: Path | None = None,
            context: dict | None = None) -> int:
    x86, arm = np.load(x86_path), np.load(arm_path)
    names = list(x86["names"])
    failed = []
    if str(x86["machine"]) == str(arm["machine"]):
        print(f"arm64 parity: both runs are from {x86['machine']}: nothing to compare", file=sys.stderr)
        return 1
    if list(arm["names"]) != names:
        print("arm64 parity: FAIL the two runs did not read the same images in the same order", file=sys.stderr)
        return 1
    refused_x86, refused_arm = set(x86["refused"]), set(arm["refused"])
    if refused_x86 != refused_arm:
        failed.append(f"refusals differ: x86 only {sorted(refused_x86 - refused_arm)}, "
                      f"arm64 only {sorted(refused_arm - refused_x86)}")
        print(f"arm64 parity: FAIL {failed[-1]}")
        return 1
    same_inputs = np.all(x86["inputs"] == arm["inputs"], axis=(1, 2, 3))
    input_diff = float(np.abs(x86["inputs"] - arm["inputs"]).max())
    report = {"context": context or {}, "images": len(names), "refused_on_both": len(refused_x86), "mnist_test": sum(n.startswith("mnist_test") for n in names),
              "realworld": sum(not n.startswith("mnist_test") for n in names),
              "inputs_identical": int(same_inputs.sum()), "max_input_diff": input_diff, "models": {}}
    report["cli_s"] = {"arm64": statistics.median(arm["cli_s"]), "x86": statistics.median(x86["cli_s"])}
    print(f"arm64 parity: model inputs identical for {same_inputs.sum()} of {len(names)} images "
          f"(max difference {input_diff:.2g} of 1.0)")
    for model in MODELS:
        px, pa = x86[f"{model}/probabilities"], arm[f"{model}/probabilities"]
        top_x, top_a = px.argmax(1), pa.argmax(1)
        agreement = float(np.mean(top_x == top_a))
        row = {"agreement": agreement, "disagreements": [
            f"{names[i]}: x86 {top_x[i]}, arm64 {top_a[i]}" for i in np.flatnonzero(top_x != top_a)],
            "arm64_latency_ms": {"median": statistics.median(arm[f"{model}/latency_ms"]),
                                 "worst": float(arm[f"{model}/latency_ms"].max())},
            "x86_latency_ms": {"median": statistics.median(x86[f"{model}/latency_ms"]),
                               "worst": float(x86[f"{model}/latency_ms"].max())}}
        if f"{model}/int8" in x86.files:
            diff = np.abs(x86[f"{model}/int8"].astype(int) - arm[f"{model}/int8"].astype(int))
            qx, qa = x86[f"{model}/int8"], arm[f"{model}/int8"]
            kernel = int(diff[same_inputs].max(initial=0))  # the kernels' own rounding: same input
            row |= {"max_int8_diff_lsb": kernel, "max_int8_diff_lsb_inputs_differ": int(diff[~same_inputs].max(initial=0)),
                    "int8_outputs_differing": int((diff > 0).sum()), "int8_outputs": int(diff.size),
                    "int8_differences": [f"{names[i]} class {c}: x86 {qx[i, c]}, arm64 {qa[i, c]}"
                                         + ("" if same_inputs[i] else " (model inputs differ)")
                                         for i, c in zip(*np.nonzero(diff))][:20]}
            detail = (f"max int8 diff {kernel} LSB on identical inputs "
                      f"({int((diff > 0).sum())} of {diff.size} outputs differ)")
            ok = agreement >= MIN_AGREEMENT and kernel <= MAX_INT8_DIFF
        else:
            apart = np.abs(px - pa)
            diff = float(apart[same_inputs].max(initial=0.0))
            row |= {"max_probability_diff": diff,
                    "max_probability_diff_inputs_differ": float(apart[~same_inputs].max(initial=0.0))}
            detail = f"max probability diff {diff:.2g} on identical inputs"
            ok = agreement >= MIN_AGREEMENT and diff <= MAX_FLOAT_DIFF
        print(f"arm64 parity: {model}: {len(names)} images, agreement {agreement:.4f}, {detail}"
              + ("" if ok else "  FAIL"))
        for line in row["disagreements"]:
            print(f"  answer differs: {line}")
        for line in row.get("int8_differences", []):
            print(f"  int8 output differs: {line}")
        if not ok:
            failed.append(model)
        report["models"][model] = row
    from export.atomic import write_bytes, write_json  # on the host only: the aarch64 side just runs

    if json_out is not None:
        write_json(json_out, report)
    if markdown_out is not None:
        write_bytes(markdown_out, markdown(report).encode())
    if failed:
        print(f"arm64 parity: FAIL for {', '.join(failed)} (gate: agreement >= {MIN_AGREEMENT}, "
              f"int8 within {MAX_INT8_DIFF} LSB, float within {MAX_FLOAT_DIFF})", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run").add_argument("out", type=Path)
    sub.add_parser("latency").add_argument("out", type=Path)
    cmp = sub.add_parser("compare")
    cmp.add_argument("x86", type=Path)
    cmp.add_argument("arm", type=Path)
    cmp.add_argument("--json", type=Path, help="write the figures here")
    cmp.add_argument("--markdown", type=Path, help="write the figures as a docs page here")
    cmp.add_argument("--context", default="", help="key=value pairs recorded with the figures")
    args = parser.parse_args(argv)
    if args.command in ("run", "latency"):
        (run if args.command == "run" else latency)(args.out)
        return 0
    context = dict(pair.split("=", 1) for pair in args.context.split())
    return compare(args.x86, args.arm, args.json, args.markdown, context)


if __name__ == "__main__":
    sys.exit(main())
