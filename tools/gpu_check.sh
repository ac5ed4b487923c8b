#!/usr/bin/env bash
# The one prepared command for a GPU machine (see tools/gpu_check.py and docs/gpu.md):
#   make gpu-prepare            # here: the wheels for the device's Python 3.12 in .whl/, MNIST in gpu_data/
#   tools/gpu_check.sh          # there, through the device tool with carry [".whl", "gpu_data"]
# Installs the carried wheels into a scratch folder (the device has JAX, numpy and pyyaml, but
# no Keras), then runs python -m tools.gpu_check, which writes $OUT/gpu_check.json and .log.
# Rehearse it on a CPU: JAX_PLATFORMS=cpu tools/gpu_check.sh --small
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
if ! "$PY" -c "import keras" 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
  SITE="$(mktemp -d)"
  trap 'rm -rf "$SITE"' EXIT
  "$PY" -m pip install --quiet --disable-pip-version-check --no-index --no-deps --target "$SITE" .whl/*.whl
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" -m tools.gpu_check --out "$OUT" "$@"
