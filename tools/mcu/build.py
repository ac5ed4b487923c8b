"""Build the model's C for the Cortex-M4 and for the host, run both, and read what they print.

The firmware (tools/mcu/firmware/: vectors.c, main.c) runs on QEMU's mps2-an386 under
-icount shift=0; firmware/host_main.c runs the same model on this machine. A baseline firmware
links firmware/model_stub.c instead of the model, so that the model's flash and RAM are the
difference of the two. tools/mcu/check.py drives these steps and judges their results.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parent / "firmware"
SETUP_HINT = "run tools/mcu/setup.sh"
ARM_CFLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2", "-std=c99",
              "-Wall", "-Wextra", "--specs=nano.specs", "--specs=rdimon.specs",
              "-ffunction-sections", "-fdata-sections")
ARM_LDFLAGS = ("-Wl,--gc-sections", "-Wl,--undefined=vector_table", "-Wl,--section-start=.vectors=0")
HOST_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra")
BOARD = "mps2-an386"
QEMU_ARGS = ("-M", BOARD, "-nographic", "-monitor", "none", "-serial", "none",
             "-semihosting-config", "enable=on,target=native", "-icount", "shift=0,sleep=off")
CORE_CLOCK_HZ = 25_000_000  # mps2-an386's SYSCLK, which clocks SysTick with CLKSOURCE=1
INSTRUCTIONS_PER_TICK = 1_000_000_000 // CORE_CLOCK_HZ  # -icount shift=0: 1 instruction per ns
EXCEPTIONS = {2: "NMI", 3: "HardFault", 4: "MemManage", 5: "BusFault", 6: "UsageFault", 11: "SVCall",
              12: "DebugMonitor", 14: "PendSV"}


class McuCheckError(Exception):
    """Any failure of the check; the CLI prints it as one line and exits 1."""


class ToolchainError(McuCheckError, OSError):
    """A tool is missing, or a compile or link failed."""


class FirmwareError(McuCheckError, RuntimeError):
    """The emulated run hung, faulted, failed its own checks, or printed what cannot be parsed."""


class ModelFileError(McuCheckError, ValueError):
    """The model's files are missing or its header does not describe an MNIST classifier."""


@dataclass(frozen=True)
class ModelConstants:
    """The header's figures, as the host's C compiler evaluates them."""

    input_size: int
    num_labels: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    arena_bytes: int
    macs: int


@dataclass(frozen=True)
class FirmwareRun:
    outputs: list[bytes]
    ticks: list[int]
    calibration_instructions: int
    calibration_ticks: int
    stack_painted_bytes: int
    stack_used_bytes: int


@dataclass(frozen=True)
class ElfSize:
    text: int
    data: int
    bss: int

    @property
    def flash(self) -> int:
        return self.text + self.data  # .data's initial values live in flash

    @property
    def static_ram(self) -> int:
        return self.data + self.bss


def require_tools() -> dict[str, str]:
    """Paths of the cross toolchain, QEMU and the host compiler; refused in one line if one is missing."""
    found = {}
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-objdump", "qemu-system-arm", "cc"):
        path = shutil.which(tool)
        if path is None:
            hint = "install a C compiler" if tool == "cc" else SETUP_HINT
            raise ToolchainError(f"{tool} not found on PATH: {hint}")
        found[tool] = path
    return found


def _run(command: list[str], what: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """A tool run to completion; a failure is one line naming what failed and the tool's first error."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, errors="replace")
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"{what}: {Path(command[0]).name} did not finish within {timeout:g} s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if "error" in line.lower()] or done.stderr.splitlines()
        detail = lines[0].strip() if lines else f"exit status {done.returncode}"
        raise ToolchainError(f"{what} failed: {detail}")
    return done


def _header_define(header: Path) -> str:
    return f'-DEDGE_DIGITS_MODEL_HEADER="{header}"'


def read_constants(host_binary: Path) -> ModelConstants:
    """The header's EDGE_DIGITS_* figures, printed by the host build (so any constant expression works)."""
    text = _run([str(host_binary), "constants"], "reading the model header's figures").stdout
    values = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
    try:
        constants = ModelConstants(
            int(values["input_size"]), int(values["num_labels"]), float.fromhex(values["input_scale"]),
            int(values["input_zero_point"]), float.fromhex(values["output_scale"]),
            int(values["output_zero_point"]), int(values["arena_bytes"]), int(values["macs"]))
    except (KeyError, ValueError) as error:
        raise ModelFileError(f"cannot read the model header's figures ({error}) from: {text!r}") from None
    return constants


def _pass_on_warnings(done: subprocess.CompletedProcess, what: str, log: Callable[[str], None]) -> None:
    """The compiler's warnings (-Wall -Wextra) on the model, in two lines: they matter to its generator."""
    warnings = [line for line in done.stderr.splitlines() if "warning:" in line]
    if warnings:
        log(f"{len(warnings)} compiler warning(s) {what}, the first: {warnings[0][:300]}")


def build_host(model_c: Path, header: Path, work: Path, log: Callable[[str], None] = lambda line: None) -> Path:
    binary = work / "host_main"
    done = _run(["cc", *HOST_CFLAGS, _header_define(header), "-I", str(header.parent),
                 str(FIRMWARE / "host_main.c"), str(model_c), "-o", str(binary)], "compiling the model on the host (cc)")
    _pass_on_warnings(done, "compiling on the host", log)
    return binary


def run_host(host_binary: Path, images_bin: Path, images: int, num_labels: int) -> list[bytes]:
    """The model's output bytes on this machine, one entry per image of `images_bin` (int8, concatenated)."""
    text = _run([str(host_binary), "run", str(images_bin), str(images)], "running the model on the host").stdout
    return parse_host_output(text, images, num_labels)


def build_firmware(model_c: Path, header: Path, work: Path,
                   log: Callable[[str], None] = lambda line: None) -> tuple[Path, Path, Path]:
    """The firmware with the model, the baseline without it, and the model's object file."""
    gcc = ["arm-none-eabi-gcc", *ARM_CFLAGS, _header_define(header), "-I", str(header.parent), "-I", str(work)]
    objects = {}
    for name, source in (("vectors", FIRMWARE / "vectors.c"), ("main", FIRMWARE / "main.c"),
                         ("model", model_c), ("stub", FIRMWARE / "model_stub.c")):
        objects[name] = work / f"{name}.o"
        done = _run([*gcc, "-c", str(source), "-o", str(objects[name])], f"compiling {source.name} for the Cortex-M4")
        _pass_on_warnings(done, f"compiling {source.name} for the Cortex-M4", log)
    app, baseline = work / "app.elf", work / "baseline.elf"
    for elf, model in ((app, objects["model"]), (baseline, objects["stub"])):
        _run([*gcc, *ARM_LDFLAGS, str(objects["vectors"]), str(objects["main"]), str(model), "-o", str(elf)],
             f"linking {elf.name}")
    return app, baseline, objects["model"]


def elf_size(elf: Path) -> ElfSize:
    lines = _run(["arm-none-eabi-size", str(elf)], f"arm-none-eabi-size {elf.name}").stdout.splitlines()
    try:
        text, data, bss = (int(field) for field in lines[1].split()[:3])
    except (IndexError, ValueError):
        raise ToolchainError(f"arm-none-eabi-size {elf.name}: unexpected output {lines!r}") from None
    return ElfSize(text, data, bss)


def float_instructions(model_object: Path) -> int:
    """FPU instructions in the model's code (all are v-prefixed on the M4): the model promises none."""
    listing = _run(["arm-none-eabi-objdump", "-d", str(model_object)], "disassembling the model").stdout
    return sum(1 for line in listing.splitlines() if re.match(r"\s+[0-9a-f]+:\t[0-9a-f ]+\t(v[a-z0-9]+)", line))


def toolchain_versions() -> dict[str, str]:
    gcc = _run(["arm-none-eabi-gcc", "-dumpversion"], "arm-none-eabi-gcc -dumpversion").stdout.strip()
    qemu = _run(["qemu-system-arm", "--version"], "qemu-system-arm --version").stdout.split()
    return {"gcc": gcc, "qemu": qemu[3] if len(qemu) > 3 else "unknown"}


def run_firmware(app: Path, timeout: float, images: int, num_labels: int) -> FirmwareRun:
    """Runs the firmware on the emulated Cortex-M4 and reads what it printed; a hang, a fault or a
    failed self-check in the firmware is a FirmwareError."""
    command = ["qemu-system-arm", *QEMU_ARGS, "-kernel", str(app)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, errors="replace")
    except subprocess.TimeoutExpired:
        raise FirmwareError(f"QEMU did not finish within {timeout:g} s: raise --timeout, or the firmware hangs") from None
    lines = done.stdout.splitlines()
    for line in lines + done.stderr.splitlines():  # QEMU sends SYS_WRITE0 (vectors.c's fault line) to stderr
        if line.startswith("error "):
            raise FirmwareError(f"the firmware stopped on the Cortex-M4: {line[len('error '):]}")
        if re.fullmatch(r"fault \d+", line):
            number = int(line.split()[1])
            raise FirmwareError(f"the firmware faulted on the Cortex-M4: {EXCEPTIONS.get(number, 'exception')} "
                                f"(exception {number})")
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or lines or [""])[-1]
        raise FirmwareError(f"QEMU exited with status {done.returncode}: {detail or 'no output'}")
    return parse_firmware_output(done.stdout, images, num_labels)


_FIRMWARE_LINES = {
    "header": re.compile(r"edge-digits-mcu 1 images (\d+)"),
    "calibration": re.compile(r"calibration instructions (\d+) ticks (\d+)"),
    "stack": re.compile(r"stack painted (\d+) used (\d+)"),
    "image": re.compile(r"image (\d+) ticks (\d+) out ([0-9a-f]+)"),
    "end": re.compile(r"end (\d+)"),
}
_HOST_LINE = re.compile(r"image (\d+) out ([0-9a-f]+)")


def _expect(lines: list[str], index: int, kind: str, pattern: re.Pattern) -> re.Match:
    line = lines[index] if index < len(lines) else "(end of output)"
    match = pattern.fullmatch(line)
    if match is None:
        raise FirmwareError(f"malformed {kind} output, line {index + 1}: expected {pattern.pattern!r}, got {line[:80]!r}")
    return match


def _output_bytes(hex_text: str, num_labels: int, where: str) -> bytes:
    if len(hex_text) != 2 * num_labels:
        raise FirmwareError(f"malformed {where} output: {len(hex_text) // 2} output bytes, expected {num_labels}")
    return bytes.fromhex(hex_text)


def parse_firmware_output(text: str, images: int, num_labels: int) -> FirmwareRun:
    lines = text.splitlines()
    if int(_expect(lines, 0, "Cortex-M4", _FIRMWARE_LINES["header"])[1]) != images:
        raise FirmwareError(f"the firmware was built for another number of images than {images}")
    calibration = _expect(lines, 1, "Cortex-M4", _FIRMWARE_LINES["calibration"])
    stack = _expect(lines, 2, "Cortex-M4", _FIRMWARE_LINES["stack"])
    outputs, ticks = [], []
    for i in range(images):
        match = _expect(lines, 3 + i, "Cortex-M4", _FIRMWARE_LINES["image"])
        if int(match[1]) != i:
            raise FirmwareError(f"malformed Cortex-M4 output: image {match[1]} where image {i} was expected")
        ticks.append(int(match[2]))
        outputs.append(_output_bytes(match[3], num_labels, "Cortex-M4"))
    _expect(lines, 3 + images, "Cortex-M4", _FIRMWARE_LINES["end"])
    return FirmwareRun(outputs, ticks, int(calibration[1]), int(calibration[2]), int(stack[1]), int(stack[2]))


def parse_host_output(text: str, images: int, num_labels: int) -> list[bytes]:
    lines = text.splitlines()
    outputs = []
    for i in range(images):
        match = _expect(lines, i, "host", _HOST_LINE)
        if int(match[1]) != i:
            raise FirmwareError(f"malformed host output: image {match[1]} where image {i} was expected")
        outputs.append(_output_bytes(match[2], num_labels, "host"))
    return outputs


