#!/usr/bin/env bash
# The test suite once more, pinned to one core that a CPU-bound neighbour shares: the load a
# busy CI machine or a laptop on battery puts on it. A test that depends on timing, on thread
# scheduling or on how many cores there are fails here first.
#
#     tools/stress_tests.sh [PYTEST ARGS...]      (make test-stress; .ci/run calls it)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
CORE="${STRESS_CORE:-0}"
taskset -c "$CORE" "$PYTHON" -c 'while True: pass' &
neighbour=$!
trap 'kill "$neighbour" 2>/dev/null || true' EXIT
echo "stress: the suite pinned to core $CORE with a CPU-bound neighbour (pid $neighbour) on it" >&2
taskset -c "$CORE" "$PYTHON" -m pytest -q --durations=10 -p no:cacheprovider "$@"
