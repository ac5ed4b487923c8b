"""Run the generated C model on an emulated Cortex-M4 and measure it:

    python -m tools.mcu.check --model-c artifacts/edge_digits_int8.c --images 300 \\
        --out metrics/mcu.json [--figures docs/figures/mcu.md] [--timeout 300]

The model is the pair PATH.c / PATH.h (the header beside the .c) with one function,
`edge_digits_classify(input, output)`, and the EDGE_DIGITS_* figures in its header. This
  1. quantizes the first N MNIST test images of tests/fixtures/mnist_sample.npz with the header's
     input scale and zero point, as the runtime does (runtime.engines.Quantization);
  2. builds the firmware in tools/mcu/firmware/ with the model for QEMU's mps2-an386 (Cortex-M4F)
     and runs it there under -icount shift=0 (main.c says what it measures and how);
  3. builds the same model C with the host's cc (firmware/host_main.c) and runs the same images;
  4. gates on every output byte being identical on the two, then writes the figures.
Steps 2 and 3, the toolchain and QEMU, are tools/mcu/build.py; this module judges and reports.
Model flash and RAM are the difference between that firmware and a baseline one, the same but
for the model (firmware/model_stub.c): `arm-none-eabi-size` text+data for flash, data+bss for
static RAM. That counts everything the model brings in, library helpers included, which the
model's own symbols (`nm`) would miss. Instructions are QEMU's instruction count, not cycles:
no pipeline, wait states or caches are modelled.
Exits 1 with one line on stderr on any failure; writes nothing unless it passes.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tools.figures import command_line, count
from tools.mcu.build import (ARM_CFLAGS, BOARD, CORE_CLOCK_HZ, HOST_CFLAGS, INSTRUCTIONS_PER_TICK, FirmwareError,
                             FirmwareRun, McuCheckError, ModelConstants, ModelFileError, build_firmware, build_host,
                             elf_size, float_instructions, read_constants, require_tools, run_firmware, run_host,
                             toolchain_versions)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "fixtures" / "mnist_sample.npz"
PROG = "python -m tools.mcu.check"
MNIST_PIXELS = 28 * 28


class ParityError(McuCheckError, ValueError):
    """The Cortex-M4 and the host computed different output bytes."""


class OutputPathError(McuCheckError, OSError):
    """An output file cannot be written where it was asked for."""


def model_files(model_c: Path) -> tuple[Path, Path]:
    header = model_c.with_suffix(".h")
    if model_c.suffix != ".c":
        raise ModelFileError(f"{model_c}: expected the model's C source (a .c file)")
    for path in (model_c, header):
        if not path.is_file():
            raise ModelFileError(f"{path}: no such file (the model is a .c with its .h beside it)")
    return model_c.resolve(), header.resolve()


def check_constants(constants: ModelConstants) -> None:
    if constants.input_size != MNIST_PIXELS:
        raise ModelFileError(f"EDGE_DIGITS_INPUT_SIZE is {constants.input_size}; MNIST images have {MNIST_PIXELS} pixels")
    if not 1 <= constants.num_labels <= 256 or not constants.input_scale > 0:
        raise ModelFileError(f"implausible header: EDGE_DIGITS_NUM_LABELS {constants.num_labels}, "
                             f"EDGE_DIGITS_INPUT_SCALE {constants.input_scale}")


def quantize_images(images: np.ndarray, constants: ModelConstants) -> np.ndarray:
    """uint8 (N, 28, 28) MNIST -> int8 (N, 784) model input, with the runtime's own normalization and
    quantization (float32: x / 255, / scale, rint, + zero point, clip)."""
    from runtime.engines import Quantization
    from runtime.normalization import to_model_input

    quantization = Quantization(constants.input_scale, constants.input_zero_point, np.dtype(np.int8))
    return quantization.quantize(to_model_input(images)).reshape(len(images), -1)


def load_images(count_: int) -> np.ndarray:
    try:
        with np.load(SAMPLE) as sample:
            images = sample["x_test"]
    except (OSError, KeyError, ValueError) as error:
        raise ModelFileError(f"{SAMPLE}: cannot read x_test ({error})") from None
    if count_ > len(images):
        raise ModelFileError(f"--images {count_}: {SAMPLE} holds {len(images)} images")
    return images[:count_]


def images_header(quantized: np.ndarray) -> str:
    rows = ",\n".join("{" + ",".join(map(str, row.tolist())) + "}" for row in quantized)
    return (f"/* Written by {PROG}: the first {len(quantized)} MNIST test images of "
            "tests/fixtures/mnist_sample.npz,\n   quantized with the model's input scale and zero point. */\n"
            f"#define EDGE_DIGITS_IMAGE_COUNT {len(quantized)}\n"
            "static const int8_t edge_digits_images[EDGE_DIGITS_IMAGE_COUNT][EDGE_DIGITS_INPUT_SIZE] = {\n"
            f"{rows}\n}};\n")


def compare_outputs(m4: list[bytes], host: list[bytes], other: str = "host") -> None:
    """Every output byte identical, or one error naming how many differ, the first few and the largest gap."""
    a = np.frombuffer(b"".join(m4), dtype=np.int8).reshape(len(m4), -1).astype(int)
    b = np.frombuffer(b"".join(host), dtype=np.int8).reshape(len(host), -1).astype(int)
    differ = np.argwhere(a != b)
    if len(differ):
        first = "; ".join(f"image {i} output {j}: Cortex-M4 {a[i, j]}, {other} {b[i, j]}" for i, j in differ[:3])
        raise ParityError(f"Cortex-M4 and {other} outputs differ in {len(differ)} of {a.size} bytes, on "
                          f"{len(np.unique(differ[:, 0]))} of {len(a)} images (max difference "
                          f"{int(np.abs(a - b).max())} LSB; {first})")


def check_measurements(run: FirmwareRun) -> None:
    """What the firmware measured must make sense before it is reported."""
    expected = run.calibration_instructions / INSTRUCTIONS_PER_TICK
    if abs(run.calibration_ticks - expected) > 1:
        raise FirmwareError(f"SysTick counted {run.calibration_ticks} ticks over a loop of "
                            f"{run.calibration_instructions} instructions, not {expected:g}: QEMU must run with "
                            f"-icount shift=0 on {BOARD} ({CORE_CLOCK_HZ // 1_000_000} MHz core clock)")
    if not 0 < run.stack_used_bytes < run.stack_painted_bytes:
        raise FirmwareError(f"stack high-water {run.stack_used_bytes} bytes of {run.stack_painted_bytes} painted: "
                            "the measurement failed or the model overran the stack")
    if min(run.ticks) <= 0:
        raise FirmwareError("SysTick counted 0 ticks for an inference")


def check_output_path(flag: str, path: Path | None) -> None:
    """Refused at once, not after minutes of emulation."""
    if path is not None and (path.is_dir() or not path.parent.is_dir()):
        raise OutputPathError(f"{flag} {path}: " + ("is a folder" if path.is_dir() else f"no such folder {path.parent}"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def measure(model_c: Path, images: int, timeout: float = 300,
            log: Callable[[str], None] = lambda line: None,
            oracle: Callable[[np.ndarray], np.ndarray] | None = None) -> dict:
    """Build and run the model on the emulated Cortex-M4 and on the host; gate on identical outputs
    (and on `oracle`'s, int8 images in, int8 outputs out, when given); return the figures.
    Raises McuCheckError (a subclass per cause) on any failure."""
    model_c, header = model_files(model_c)
    mnist = load_images(images)
    tools = require_tools()
    shown = {"c": _shown(model_c), "h": _shown(header)}
    with tempfile.TemporaryDirectory(prefix="edge-digits-mcu-") as folder:
        work = Path(folder)
        (work / "model").mkdir()  # built from a copy, so that the hashes below name what was built
        model_c, header = (Path(shutil.copy2(path, work / "model")) for path in (model_c, header))
        hashes = {"c_sha256": sha256(model_c), "h_sha256": sha256(header)}
        started = time.perf_counter()
        log(f"compiling {model_c.name} on the host ({tools['cc']})")
        host = build_host(model_c, header, work, log)
        constants = read_constants(host)
        check_constants(constants)
        quantized = quantize_images(mnist, constants)
        (work / "images.bin").write_bytes(quantized.tobytes())
        (work / "images.h").write_text(images_header(quantized))
        versions = toolchain_versions()
        log(f"building the firmware with {images} images (arm-none-eabi-gcc {versions['gcc']})")
        app, baseline, model_object = build_firmware(model_c, header, work, log)
        build_s = time.perf_counter() - started
        log(f"running {images} images on the emulated Cortex-M4 (QEMU {versions['qemu']} {BOARD}, "
            f"timeout {timeout:g} s)")
        started = time.perf_counter()
        m4 = run_firmware(app, timeout, images, constants.num_labels)
        emulation_s = time.perf_counter() - started
        check_measurements(m4)
        compare_outputs(m4.outputs, run_host(host, work / "images.bin", images, constants.num_labels))
        if oracle is not None:
            log(f"running the same {images} images in TFLite Micro")
            expected = np.asarray(oracle(quantized), np.int8).reshape(images, -1)
            compare_outputs(m4.outputs, [row.tobytes() for row in expected], "TFLite Micro")
        with_model, without_model = elf_size(app), elf_size(baseline)
        fp_instructions = float_instructions(model_object)
        if fp_instructions:
            log(f"warning: {fp_instructions} FPU instructions in {model_c.name}'s Cortex-M4 code (integer-only promised)")
    instructions = [ticks * INSTRUCTIONS_PER_TICK for ticks in m4.ticks]
    model_flash = with_model.flash - without_model.flash
    model_static_ram = with_model.static_ram - without_model.static_ram
    median = statistics.median(instructions)  # ticks x 40: the mean of two middle ones is whole
    median = int(median) if median == int(median) else median
    return {
        "model": {**shown, **hashes, "arena_bytes_declared": constants.arena_bytes, "macs": constants.macs,
                  "fpu_instructions": fp_instructions},
        "target": {"core": "Cortex-M4F", "board": f"QEMU {versions['qemu']} {BOARD}", "gcc": versions["gcc"],
                   "cflags": " ".join(ARM_CFLAGS), "host_cflags": " ".join(HOST_CFLAGS)},
        "images": images,
        "parity": {"output_bytes": images * constants.num_labels, "identical": True,
                   "compared_with": ["host build"] + (["TFLite Micro"] if oracle is not None else [])},
        "instructions_per_inference": {"min": min(instructions), "median": median, "max": max(instructions)},
        "instructions_per_mac": round(median / constants.macs, 2) if constants.macs > 0 else None,
        "flash_bytes": {"model": model_flash, "firmware": with_model.flash,
                        "firmware_images": images * constants.input_size},
        "ram_bytes": {"model": model_static_ram + m4.stack_used_bytes, "model_static": model_static_ram,
                      "model_stack": m4.stack_used_bytes, "firmware_static": with_model.static_ram},
        "firmware_sections": {"with_model": vars(with_model), "baseline": vars(without_model)},
        "calibration": {"loop_instructions": m4.calibration_instructions, "systick_ticks": m4.calibration_ticks,
                        "instructions_per_tick": INSTRUCTIONS_PER_TICK},
        "stack_painted_bytes": m4.stack_painted_bytes,
        "seconds": {"build": round(build_s, 2), "emulation": round(emulation_s, 2)},
    }


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def figures_page(result: dict, command: str) -> str:
    ipi, flash, ram = result["instructions_per_inference"], result["flash_bytes"], result["ram_bytes"]
    parity = result["parity"]["output_bytes"]
    rows = [
        ("instructions per inference, min / median / max",
         f"{ipi['min']:,} / {ipi['median']:,.0f} / {ipi['max']:,}"),
        ("instructions per MAC (median)", f"{result['instructions_per_mac']}"),
        ("model flash (code + weights)", f"{flash['model']:,} B"),
        ("model RAM: static buffers + stack high-water",
         f"{ram['model']:,} B ({ram['model_static']:,} + {ram['model_stack']:,})"),
        ("declared arena (EDGE_DIGITS_ARENA_BYTES)", f"{result['model']['arena_bytes_declared']:,} B"),
        ("FPU instructions in the model's code", f"{result['model']['fpu_instructions']}"),
        ("firmware flash, of which test images", f"{flash['firmware']:,} B, {flash['firmware_images']:,} B"),
        ("firmware static RAM (.data + .bss; no stack or heap)", f"{ram['firmware_static']:,} B"),
        (f"output bytes identical, Cortex-M4 and {' and '.join(result['parity']['compared_with'])}",
         f"{parity:,} of {parity:,}"),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    target = result["target"]
    variant = result["model"].get("variant")
    return (f"# The int8 model{f' ({variant} variant)' if variant else ''} on a Cortex-M4 (emulated)\n\n"
            f"Written by `{command}`; do not edit.\n\n"
            f"`{result['model']['c']}` on the first {result['images']} MNIST test images, built with arm-none-eabi-gcc "
            f"{target['gcc']} (`{target['cflags']}`) and run on {target['board']} with `-icount shift=0`.\n\n"
            f"| figure | value |\n|---|---:|\n{table}\n\n"
            "Instructions are QEMU's count (one per ns of virtual time, read with SysTick at the 25 MHz core "
            "clock: 40 per tick, checked on every run with a known loop), not cycles: no pipeline, wait states or "
            "caches are modelled. Flash and static RAM are the difference between the firmware and the same "
            "firmware with the model's function stubbed out (`arm-none-eabi-size`: text+data, data+bss); the "
            "stack is the painted high-water mark over all images.\n")


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so the build folder and QEMU are cleaned up."""


def _raise_terminated(signum, frame):
    raise Terminated()


def generate_c(tflite: Path, folder: Path, log: Callable[[str], None]) -> Path:
    """The plain C of an int8 TFLite file, written by the export stage's own generator."""
    from export.c_int8 import CExportError, export_c
    from export.options import ExportOptions
    from export.tflite import read_metadata
    from runtime.digits import LABELS

    if not tflite.is_file():
        raise McuCheckError(f"{tflite}: no such TFLite file")
    log(f"writing the C of {tflite} (export/c_int8.py)")
    # the labels the export stage wrote into the file ("not a digit" last after an open-set QAT)
    try:
        labels = read_metadata(tflite.read_bytes()).get("labels") or list(LABELS)
    except KeyError:  # a file from elsewhere, without the export stage's metadata
        labels = list(LABELS)
    try:
        return export_c(tflite, folder / "edge_digits_int8.c", ExportOptions(0, np.zeros(0), {"labels": list(labels)}))
    except CExportError as error:
        raise McuCheckError(str(error)) from None


def model_variant(tflite: Path) -> str | None:
    """The variant the export stage wrote into the file's metadata (None for a file from elsewhere)."""
    from export.tflite import read_metadata

    try:
        return read_metadata(tflite.read_bytes()).get("variant")
    except (KeyError, ValueError):
        return None


def tflm_oracle(tflite: Path) -> Callable[[np.ndarray], np.ndarray]:
    """TFLite Micro's int8 outputs for int8 images (its reference kernels, on the host)."""
    from runtime.engines.tflm import TflmEngine

    engine = TflmEngine(tflite)
    return lambda quantized: engine.raw(quantized.reshape(len(quantized), *engine.input_shape[1:]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--model-c", type=Path, help="the model's C source; its .h beside it")
    model.add_argument("--tflite", type=Path, help="an int8 TFLite file: write its C (export/c_int8.py) and check that")
    parser.add_argument("--images", type=count(1), required=True, help="how many MNIST test images (at most 1000)")
    parser.add_argument("--out", type=Path, required=True, help="the JSON figures, e.g. metrics/mcu.json")
    parser.add_argument("--figures", type=Path, help="also a Markdown page, e.g. docs/figures/mcu.md")
    parser.add_argument("--timeout", type=float, default=300, help="seconds QEMU may run (default 300)")
    args = parser.parse_args(argv)
    command = command_line(PROG, argv)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        check_output_path("--out", args.out)
        check_output_path("--figures", args.figures)
        log = lambda line: print(f"mcu check: {line}", file=sys.stderr, flush=True)  # noqa: E731
        with tempfile.TemporaryDirectory(prefix="edge_digits_mcu_") as generated:
            model_c = args.model_c or generate_c(args.tflite, Path(generated), log)
            oracle = tflm_oracle(args.tflite) if args.tflite else None
            result = measure(model_c, args.images, args.timeout, log=log, oracle=oracle)
            if args.tflite:  # the generated pair lived in a temporary folder: name what it was made from
                result["model"].update(c=f"the C of {args.tflite}", h=f"the header of {args.tflite}",
                                       variant=model_variant(args.tflite))
        result = {"command": command, **result}
        from export.atomic import write_bytes, write_json

        write_json(args.out, result)
        if args.figures is not None:
            write_bytes(args.figures, figures_page(result, command).encode())
    except McuCheckError as error:
        print(f"mcu check: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # the build folder or an output could not be written
        print(f"mcu check: error: {error.strerror or error}" + (f": {error.filename}" if error.filename else ""),
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mcu check: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("mcu check: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)
    ipi = result["instructions_per_inference"]
    print(f"mcu check: {args.images} images, outputs identical on the Cortex-M4, the host"
          + (" and TFLite Micro" if args.tflite else "") + "; "
          f"{ipi['median']:,.0f} instructions per inference (median); model flash "
          f"{result['flash_bytes']['model']:,} B, RAM {result['ram_bytes']['model']:,} B; wrote {args.out}"
          + (f" and {args.figures}" if args.figures else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
