"""Known-answer check of the emulation itself, run before anything it is meant to prove.

    python tools/arm64/selfcheck.py --choose --known K.json   # on x86-64: choose the known answers
    python tools/arm64/selfcheck.py --known K.json            # under the emulated aarch64 Python

An emulator can be wrong silently: under QEMU's default `max` CPU model, LiteRT's int8 kernels
have returned wrong outputs (a 1 read as a 7) with no error. So before the runtime's tests and
the parity run mean anything, this checks answers that are known without the emulator:

1. it runs on aarch64 (not on the host's Python by mistake);
2. numpy's integer products of int8 matrices equal the same sums in plain Python integers,
   and float32 products agree with exact float64 sums (numpy's own NEON paths);
3. both int8 engines (LiteRT with XNNPACK, onnxruntime with MLAS) give the true label for
   every known-answer digit: MNIST test images from the committed sample that the bundled
   model answers with probability >= CONFIDENT on x86-64. One LSB of rounding moves such a
   probability by 1/256, so a changed answer there means wrong arithmetic, not rounding.

The known answers are chosen on the host at each check (tools/arm64/check.sh), from the bundled
models of the same checkout: a file chosen once goes stale when the pipeline bundles new models.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "tests" / "fixtures" / "mnist_sample.npz"
CONFIDENT = 0.99
COUNT = 200
MODELS = ("model_int8.tflite", "model_int8.onnx")


class EmulationError(Exception):
    pass


def lcg(seed: int, n: int) -> list[int]:
    """n int8 values from a linear congruential generator: no library decides the test data."""
    values, state = [], seed
    for _ in range(n):
        state = (1103515245 * state + 12345) % 2**31
        values.append((state >> 16) % 256 - 128)
    return values


def check_numpy() -> None:
    m, k, n = 16, 784, 10
    a, b = lcg(1, m * k), lcg(2, k * n)
    exact = [[sum(a[i * k + j] * b[j * n + c] for j in range(k)) for c in range(n)] for i in range(m)]
    a8 = np.array(a, dtype=np.int8).reshape(m, k)
    b8 = np.array(b, dtype=np.int8).reshape(k, n)
    got = (a8.astype(np.int32) @ b8.astype(np.int32)).tolist()
    if got != exact:
        raise EmulationError("numpy's int32 products of int8 matrices differ from exact integer sums")
    fa, fb = a8.astype(np.float32) / 128, b8.astype(np.float32) / 128
    exact_f = np.array(exact, dtype=np.float64) / 128 ** 2
    if not np.allclose(fa @ fb, exact_f, rtol=1e-5, atol=1e-4):
        raise EmulationError("numpy's float32 products differ from exact sums beyond float32 rounding")


def model_input(indices: list[int]) -> tuple[np.ndarray, np.ndarray]:
    from runtime.normalization import to_model_input

    with np.load(SAMPLE) as sample:
        return to_model_input(sample["x_test"][indices]), sample["y_test"][indices]


def check_engines(known_path: Path) -> int:
    """The number of known-answer digits, each answered right by both engines; EmulationError otherwise."""
    from runtime.model import BUNDLED_DIR, Classifier

    known = json.loads(known_path.read_text())
    x, labels = model_input(known["indices"])
    for model in MODELS:
        answers = Classifier.load(BUNDLED_DIR / model).probabilities(x).argmax(1)
        wrong = [f"mnist_test[{i}] is a {label}, read as {answer}" for i, label, answer
                 in zip(known["indices"], labels, answers) if label != answer]
        if wrong:
            raise EmulationError(f"{model} answered {len(wrong)} of {len(labels)} known-answer digits "
                                 f"wrongly ({'; '.join(wrong[:3])})")
    return len(labels)


def choose(known_path: Path) -> None:
    """On x86-64: the first COUNT test images of the sample that both int8 models answer right
    with probability >= CONFIDENT."""
    from runtime.model import BUNDLED_DIR, Classifier

    with np.load(SAMPLE) as sample:
        n = len(sample["y_test"])
    x, labels = model_input(list(range(n)))
    sure = np.ones(n, dtype=bool)
    for model in MODELS:
        p = Classifier.load(BUNDLED_DIR / model).probabilities(x)
        sure &= (p.argmax(1) == labels) & (p.max(1) >= CONFIDENT)
    indices = [int(i) for i in np.flatnonzero(sure)[:COUNT]]
    if len(indices) < COUNT:
        raise SystemExit(f"arm64 self-check: only {len(indices)} sample digits are answered right with probability "
                         f">= {CONFIDENT} by both bundled models (need {COUNT})")
    known_path.write_text(json.dumps({"about": f"MNIST sample test images both bundled int8 models answer right "
                                          f"with probability >= {CONFIDENT} on x86-64 "
                                          "(tools/arm64/selfcheck.py --choose)",
                                 "indices": indices}) + "\n")
    print(f"arm64 self-check: {len(indices)} known-answer digits chosen on {platform.machine()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--choose", action="store_true", help="choose the known answers into --known (x86-64)")
    parser.add_argument("--known", type=Path, required=True, help="the known answers' JSON file")
    args = parser.parse_args(argv)
    if args.choose:
        choose(args.known)
        return 0
    try:
        if platform.machine() != "aarch64":
            raise EmulationError(f"this Python runs on {platform.machine()}, not aarch64")
        check_numpy()
        count = check_engines(args.known)
    except EmulationError as error:
        print(f"arm64 self-check: FAIL: {error}; the emulation cannot be trusted, so nothing else ran",
              file=sys.stderr)
        return 1
    print(f"arm64 self-check: aarch64, exact int8 and float32 products, "
          f"{count} known-answer digits right in {' and '.join(MODELS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
