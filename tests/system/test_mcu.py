"""tools/mcu/check.py: a model's C on an emulated Cortex-M4 (QEMU mps2-an386) against the same C on the host.

The model here is a STAND-IN written by `write_stand_in_model` into tmp_path: the generated
model's interface (edge_digits_int8.c/.h) over a fixed integer computation with 12 KB of
pseudo-random const weights, so that flash, RAM and instruction counts are not trivial. It is
not the model; `make test-mcu` runs the check on artifacts/edge_digits_int8.c.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tools.mcu import build, check

ROOT = Path(__file__).resolve().parents[2]
IMAGES = 20
HIDDEN = 16
needs_toolchain = pytest.mark.skipif(
    not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm") and shutil.which("cc")),
    reason="arm-none-eabi-gcc, qemu-system-arm or cc missing: run tools/mcu/setup.sh")

HEADER = """\
/* STAND-IN for the generated model, written by tests/system/test_mcu.py: its interface, not the model. */
#ifndef EDGE_DIGITS_INT8_H_
#define EDGE_DIGITS_INT8_H_
#include <stdint.h>
#define EDGE_DIGITS_INPUT_SIZE 784
#define EDGE_DIGITS_NUM_LABELS 10
#define EDGE_DIGITS_INPUT_SCALE 0.003921568859368563f
#define EDGE_DIGITS_INPUT_ZERO_POINT (-128)
#define EDGE_DIGITS_OUTPUT_SCALE 0.00390625f
#define EDGE_DIGITS_OUTPUT_ZERO_POINT (-128)
#define EDGE_DIGITS_ARENA_BYTES {arena}
#define EDGE_DIGITS_MACS {macs}L
void edge_digits_classify(const int8_t input[EDGE_DIGITS_INPUT_SIZE], int8_t output[EDGE_DIGITS_NUM_LABELS]);
#endif
"""

SOURCE = """\
/* STAND-IN for the generated model, written by tests/system/test_mcu.py: a fixed integer
 * computation (784 -> {hidden} -> 10, int8 weights, int32 accumulators, fixed-point requantization). */
#include "edge_digits_int8.h"

#define HIDDEN {hidden}
static const int8_t w1[HIDDEN][EDGE_DIGITS_INPUT_SIZE] = {{{w1}}};
static const int32_t b1[HIDDEN] = {{{b1}}};
static const int8_t w2[EDGE_DIGITS_NUM_LABELS][HIDDEN] = {{{w2}}};
static int32_t accumulators[HIDDEN];
static int8_t hidden[HIDDEN];

/* round(acc * multiplier / 2^shift) + zero point, clamped to int8 */
static int8_t requantize(int32_t acc, int32_t multiplier, int shift, int32_t zero_point) {{
  int64_t scaled = ((int64_t)acc * multiplier + ((int64_t)1 << (shift - 1))) >> shift;
  scaled += zero_point;
  return (int8_t)(scaled < -128 ? -128 : scaled > 127 ? 127 : scaled);
}}

void edge_digits_classify(const int8_t input[EDGE_DIGITS_INPUT_SIZE], int8_t output[EDGE_DIGITS_NUM_LABELS]) {{
  for (int h = 0; h < HIDDEN; ++h) {{
    int32_t acc = b1[h];
    for (int i = 0; i < EDGE_DIGITS_INPUT_SIZE; ++i) {{
      acc += (int32_t)(input[i] - EDGE_DIGITS_INPUT_ZERO_POINT) * w1[h][i];
    }}
    accumulators[h] = acc;
  }}
  for (int h = 0; h < HIDDEN; ++h) {{
    int8_t q = requantize(accumulators[h], 1518500250, 42, -128);
    hidden[h] = q > -128 ? q : -128; /* ReLU at the zero point */
  }}
  for (int o = 0; o < EDGE_DIGITS_NUM_LABELS; ++o) {{
    int32_t acc = 0;
    for (int h = 0; h < HIDDEN; ++h) {{
      acc += (int32_t)(hidden[h] + 128) * w2[o][h];
    }}
    output[o] = requantize(acc, 1518500250, 39, EDGE_DIGITS_OUTPUT_ZERO_POINT);
  }}
{extra}}}
"""

# 512 bytes of stack, every byte written: the high-water mark must see them.
STACK_HUNGRY = """\
  volatile int8_t scratch[512];
  for (int i = 0; i < 512; ++i) scratch[i] = (int8_t)i;
  output[1] = (int8_t)(output[1] | (scratch[511] & 0));
"""
# An undefined instruction on the Cortex-M4 only: UsageFault, escalated to HardFault.
FAULTS_ON_ARM = "#ifdef __arm__\n  __asm__ volatile(\"udf #0\");\n#endif\n"
# Never returns on the Cortex-M4: the run is stopped while QEMU runs.
HANGS_ON_ARM = "#ifdef __arm__\n  for (volatile int spin = 1; spin;) {\n  }\n#endif\n"
# Plain `char` is signed on x86-64 and unsigned on ARM: a model that leans on it differs.
CHAR_SIGN_DEPENDENT = "  if ((char)-1 < 0) output[0] = (int8_t)(output[0] ^ 1);\n"


def c_initializer(array: np.ndarray) -> str:
    """The values of a C array initializer, braced per row: `1,2` or `{1,2},{3,4}`."""
    if array.ndim == 1:
        return ",".join(map(str, array.tolist()))
    return ",".join("{" + c_initializer(row) + "}" for row in array)


def write_stand_in_model(folder: Path, extra: str = "") -> Path:
    """A stand-in pair edge_digits_int8.c/.h with the generated model's interface; returns the .c."""
    rng = np.random.default_rng(23)
    w1 = rng.integers(-127, 128, (HIDDEN, 784))
    b1 = rng.integers(-20000, 20000, HIDDEN)
    w2 = rng.integers(-127, 128, (10, HIDDEN))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "edge_digits_int8.h").write_text(HEADER.format(arena=HIDDEN * 5, macs=784 * HIDDEN + HIDDEN * 10))
    model_c = folder / "edge_digits_int8.c"
    model_c.write_text(SOURCE.format(hidden=HIDDEN, w1=c_initializer(w1), b1=c_initializer(b1), w2=c_initializer(w2),
                                     extra=extra))
    return model_c


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain `text` (Linux /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended meanwhile
        if text in line:
            found.append(line)
    return found


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> Path:
    return write_stand_in_model(tmp_path_factory.mktemp("stand_in"))


@pytest.fixture(scope="module")
def first_run(stand_in, tmp_path_factory) -> tuple[int, Path, Path]:
    """The CLI in-process on the stand-in: exit code, JSON and figures page."""
    out = tmp_path_factory.mktemp("out")
    code = check.main(["--model-c", str(stand_in), "--images", str(IMAGES), "--out", str(out / "mcu.json"),
                       "--figures", str(out / "mcu.md")])
    return code, out / "mcu.json", out / "mcu.md"


@needs_toolchain
def test_the_cortex_m4_computes_every_output_byte_the_host_does(first_run):
    code, out, page = first_run
    assert code == 0
    result = json.loads(out.read_text())
    assert result["images"] == IMAGES
    assert result["parity"] == {"output_bytes": IMAGES * 10, "identical": True, "compared_with": ["host build"]}
    assert result["calibration"]["systick_ticks"] * 40 == result["calibration"]["loop_instructions"]
    assert result["model"]["fpu_instructions"] == 0
    assert "Written by `python -m tools.mcu.check --model-c" in page.read_text()
    assert sorted(p.name for p in out.parent.iterdir()) == ["mcu.json", "mcu.md"]  # no temporary sibling left


@needs_toolchain
def test_flash_ram_stack_and_instructions_are_measured(first_run):
    result = json.loads(first_run[1].read_text())
    ipi, flash, ram = result["instructions_per_inference"], result["flash_bytes"], result["ram_bytes"]
    assert 0 < ipi["min"] <= ipi["median"] <= ipi["max"]
    assert ipi["min"] > 784 * HIDDEN  # at least one instruction per MAC
    assert flash["model"] > 784 * HIDDEN  # the weights are in flash
    assert flash["firmware"] > flash["model"] + flash["firmware_images"]
    assert ram["model_static"] >= HIDDEN * 5  # its static buffers
    assert 0 < ram["model_stack"] < result["stack_painted_bytes"]
    assert ram["model"] == ram["model_static"] + ram["model_stack"]


@needs_toolchain
def test_a_second_run_through_the_module_entry_point_counts_the_same_instructions(first_run, stand_in, tmp_path):
    out = tmp_path / "again.json"
    done = subprocess.run([sys.executable, "-m", "tools.mcu.check", "--model-c", str(stand_in), "--images",
                           str(IMAGES), "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    again, first = json.loads(out.read_text()), json.loads(first_run[1].read_text())
    for key in ("instructions_per_inference", "flash_bytes", "ram_bytes", "firmware_sections", "calibration"):
        assert again[key] == first[key], key


@needs_toolchain
def test_the_stack_high_water_mark_sees_a_local_buffer(first_run, tmp_path):
    model_c = write_stand_in_model(tmp_path / "model", extra=STACK_HUNGRY)
    hungry = check.measure(model_c, 3)
    stack = json.loads(first_run[1].read_text())["ram_bytes"]["model_stack"]
    assert stack + 512 <= hungry["ram_bytes"]["model_stack"] <= stack + 512 + 64


@needs_toolchain
def test_an_output_that_differs_on_the_cortex_m4_fails_the_gate_in_one_line(tmp_path, capsys):
    model_c = write_stand_in_model(tmp_path / "model", extra=CHAR_SIGN_DEPENDENT)
    out = tmp_path / "mcu.json"
    assert check.main(["--model-c", str(model_c), "--images", "3", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mcu check: error: Cortex-M4 and host outputs differ in 3 of 30 bytes, on 3 of 3 images")
    assert "max difference 1 LSB" in err[-1]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


@needs_toolchain
def test_a_fault_on_the_cortex_m4_is_reported_at_once_in_one_line(tmp_path):
    model_c = write_stand_in_model(tmp_path / "model", extra=FAULTS_ON_ARM)
    with pytest.raises(build.FirmwareError, match=r"^the firmware faulted on the Cortex-M4: HardFault \(exception 3\)$"):
        check.measure(model_c, 2, timeout=60)


@needs_toolchain
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_run_leaves_no_emulator_build_folder_or_output(tmp_path, signum):
    """SIGTERM to the CLI alone, SIGINT to its whole process group (as Ctrl-C sends it)."""
    model_c = write_stand_in_model(tmp_path / "model", extra=HANGS_ON_ARM)
    scratch, out = tmp_path / "tmp", tmp_path / "mcu.json"
    scratch.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.mcu.check", "--model-c", str(model_c), "--images", "2", "--out", str(out),
         "--timeout", "60"], cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(scratch)},
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        while "running 2 images" not in (line := process.stderr.readline()):
            assert line, "the check ended before it ran QEMU"
        time.sleep(0.5)
        if signum == signal.SIGINT:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        assert process.wait(timeout=30) == 128 + signum
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.stderr.read().strip().endswith("terminated" if signum == signal.SIGTERM else "interrupted")
    process.stderr.close()
    assert not out.exists() and list(scratch.iterdir()) == []
    assert not processes_mentioning(str(scratch))  # no QEMU left running the firmware built there


def test_bad_inputs_are_refused_in_one_line(tmp_path, capsys, monkeypatch):
    out, missing = tmp_path / "mcu.json", tmp_path / "missing.c"
    model_c = write_stand_in_model(tmp_path / "model")

    def error_line(*args: str) -> str:
        assert check.main(["--model-c", *args[:1], "--images", *args[1:2], "--out", *args[2:3]]) == 1
        err = capsys.readouterr().err.strip()
        assert "\n" not in err
        return err

    assert error_line(str(missing), "3", str(out)) == (
        f"mcu check: error: {missing}: no such file (the model is a .c with its .h beside it)")
    assert error_line(str(model_c), "1001", str(out)).endswith("mnist_sample.npz holds 1000 images")
    assert error_line(str(model_c), "3", str(tmp_path / "no" / "mcu.json")) == (
        f"mcu check: error: --out {tmp_path / 'no' / 'mcu.json'}: no such folder {tmp_path / 'no'}")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert error_line(str(model_c), "3", str(out)).endswith("not found on PATH: run tools/mcu/setup.sh")
    assert not out.exists()


def test_malformed_or_implausible_firmware_output_is_refused():
    good = ["edge-digits-mcu 1 images 2", "calibration instructions 2000000 ticks 50000", "stack painted 4096 used 96",
            "image 0 ticks 10 out " + "80" * 10, "image 1 ticks 11 out " + "7f" * 10, "end 2"]
    run = build.parse_firmware_output("\n".join(good), 2, 10)
    assert run.outputs == [b"\x80" * 10, b"\x7f" * 10] and run.ticks == [10, 11] and run.stack_used_bytes == 96
    check.check_measurements(run)
    for bad, message in ((good[:4], "line 5"), (good[:3] + ["image 0 ticks 10 out 80"] + good[4:], "1 output bytes"),
                         (["Hello"] + good[1:], "line 1")):
        with pytest.raises(build.FirmwareError, match=message):
            build.parse_firmware_output("\n".join(bad), 2, 10)
    off = build.FirmwareRun(run.outputs, run.ticks, 2_000_000, 40_000, 4096, 96)
    with pytest.raises(build.FirmwareError, match="-icount shift=0"):
        check.check_measurements(off)
    with pytest.raises(build.FirmwareError, match="overran the stack"):
        check.check_measurements(build.FirmwareRun(run.outputs, run.ticks, 2_000_000, 50_000, 4096, 4096))


@needs_toolchain
def test_the_exported_model_runs_on_the_cortex_m4_byte_for_byte_with_tflite_micro(tiny_pipeline, tmp_path, capsys):
    """The fixture's int8 TFLite, written as C by the export stage's generator, on 20 images: the
    Cortex-M4, the host build and TFLite Micro give the same bytes (what make test-mcu does on 300)."""
    out = tmp_path / "mcu.json"
    assert check.main(["--tflite", str(tiny_pipeline.artifacts / "model_int8.tflite"), "--images", "20",
                       "--out", str(out)]) == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["parity"] == {"output_bytes": 200, "identical": True, "compared_with": ["host build", "TFLite Micro"]}
    assert result["model"]["fpu_instructions"] == 0 and result["ram_bytes"]["model_stack"] > 0
    assert result["model"]["variant"] == "standard"  # read from the file's metadata
    assert "outputs identical on the Cortex-M4, the host and TFLite Micro" in capsys.readouterr().out
