#!/usr/bin/env bash
# `make test-arm64`: the runtime on 64-bit ARM (aarch64, Raspberry Pi 4/5 class), by emulation.
#   0. set up (or reuse) QEMU user mode, an aarch64 Debian root with CPython 3.13, and the
#      runtime's aarch64 wheels (tools/arm64/setup.sh);
#   1. a known-answer self-check of the emulation (tools/arm64/selfcheck.py): if the emulator
#      computes wrong, nothing after it would mean anything;
#   2. the runtime's own tests (tests/runtime), unchanged, under aarch64;
#   3. parity: the bundled models on the MNIST sample and the real-world set, through the
#      runtime on aarch64 and on this machine, compared output by output (tools/arm64/parity.py).
# Writes metrics/arm64.json and docs/figures/arm64.md. Exits non-zero if any step fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
HOST_PY="${HOST_PYTHON:-.venv/bin/python}"
step() { echo "== test-arm64: $*"; }
start=$(date +%s)

step "set-up"
ENV_DIR="$(PYTHON="$HOST_PY" tools/arm64/setup.sh)"
ARM="$ENV_DIR/bin/python3"
exec 9<"$ENV_DIR/.complete"
flock -s 9  # in use: a set-up for another checkout will not remove it under us
export PYTHONPATH="$PWD"
setup_s=$(( $(date +%s) - start ))

SCRATCH="$(mktemp -d)"
parity_pid=""
cleanup() {
  [ -z "$parity_pid" ] || kill "$parity_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'echo "test-arm64: interrupted" >&2; exit 130' INT TERM HUP

step "self-check of the emulation (QEMU $("$ENV_DIR/bin/qemu-aarch64" --version | head -1 | awk '{print $3}'), CPU model ${ARM64_CPU:-cortex-a72})"
"$HOST_PY" tools/arm64/selfcheck.py --choose --known "$SCRATCH/known.json"  # from this checkout's bundled models
"$ARM" tools/arm64/selfcheck.py --known "$SCRATCH/known.json"
step "parity run on aarch64 (in the background, beside the tests)"
"$ARM" tools/arm64/parity.py run "$SCRATCH/arm64.npz" > "$SCRATCH/parity.log" 2>&1 &
parity_pid=$!

step "the runtime's tests (tests/runtime) under aarch64"
tests_start=$(date +%s)
tests_rc=0
"$ARM" -m pytest -q -p no:cacheprovider -n 2 --durations=5 tests/runtime || tests_rc=$?
tests_s=$(( $(date +%s) - tests_start ))

parity_rc=0
wait "$parity_pid" || parity_rc=$?
parity_pid=""
cat "$SCRATCH/parity.log"
[ "$parity_rc" = 0 ] || { echo "test-arm64: the aarch64 parity run failed" >&2; exit 1; }
"$HOST_PY" tools/arm64/parity.py run "$SCRATCH/x86.npz"
step "batch-1 latency, each machine alone"
"$ARM" tools/arm64/parity.py latency "$SCRATCH/arm64.npz"
"$HOST_PY" tools/arm64/parity.py latency "$SCRATCH/x86.npz"
step "parity: aarch64 against x86-64"
"$HOST_PY" tools/arm64/parity.py compare "$SCRATCH/x86.npz" "$SCRATCH/arm64.npz" \
  --json metrics/arm64.json --markdown docs/figures/arm64.md \
  --context "setup_s=$setup_s tests_s=$tests_s qemu=$("$ENV_DIR/bin/qemu-aarch64" --version | head -1 | awk '{print $3}') cpu=${ARM64_CPU:-cortex-a72}"
[ "$tests_rc" = 0 ] || { echo "test-arm64: the runtime's tests failed under aarch64 (above)" >&2; exit 1; }
echo "test-arm64: passed in $(( $(date +%s) - start )) s (set-up ${setup_s} s, tests ${tests_s} s)"
