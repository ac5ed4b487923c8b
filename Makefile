# `make pipeline` (check params, train, QAT, export, evaluate, bundle, zoo), `make test` and `make test-stress`;
# `make web` serves the browser page, `make test-web` proves it in headless Chromium.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
WEB_STAMP := $(VENV)/.web-installed
PORT   ?= 8000
# apt-get needs root: use sudo when not root (CI runs as root).
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv pipeline test test-stress test-arm64 test-mcu gpu-prepare gpu-rehearse bench web web-build test-web clean-venv

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	tools/fonts.sh
	touch $@

pipeline: venv
	tools/fonts.sh
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# The 10 slowest tests are printed, so that creep is visible. Two workers (pytest-xdist), each
# test file whole on one of them: the session fixtures (the fixture model's conversions) are made
# once per worker, so more workers would mostly redo them. make test-stress runs on one core.
test: venv
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=10

# The suite again, pinned to one core with a CPU-bound neighbour on it (tools/stress_tests.sh).
test-stress: venv
	PYTHON=$(BIN)/python tools/stress_tests.sh

# The runtime on aarch64 under QEMU user mode: emulator self-check, tests/runtime, parity with
# x86-64 (tools/arm64/check.sh). Its environment is cached in ~/.cache/edge-digits/arm64.
test-arm64: venv
	HOST_PYTHON=$(BIN)/python tools/arm64/check.sh

# What a GPU machine needs that it lacks (tools/gpu_check.sh): Keras and its pure-Python and
# manylinux dependencies for its Python 3.12, in .whl/ (not ml_dtypes: JAX brings its own, and a
# second one first on the path would shadow it), and MNIST in gpu_data/. Carry both.
GPU_WHEELS := keras==3.15.1 namex==0.1.0 optree==0.20.0 h5py==3.14.0 rich==15.0.0 markdown-it-py==4.3.0 \
	mdurl==0.1.2 Pygments==2.21.0 absl-py==1.4.0 packaging==26.3
gpu-prepare: venv
	rm -rf .whl && mkdir -p .whl gpu_data
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
		--python-version 3.12 --implementation cp --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d .whl $(GPU_WHEELS)
	cp "$${MNIST_PATH:?set MNIST_PATH to the real mnist.npz}" gpu_data/mnist.npz
	du -sh .whl gpu_data

# The same script on this CPU, on the MNIST sample for one epoch: proves the script, not the figures.
gpu-rehearse: venv
	JAX_PLATFORMS=cpu PYTHON=$(BIN)/python OUT=/tmp/gpu_rehearsal tools/gpu_check.sh --small

# The bundled int8 model as plain C (export/c_int8.py) on an emulated Cortex-M4 (QEMU mps2-an386): every
# output byte identical to the host build's and to TFLite Micro's; instructions per inference, flash and
# RAM into metrics/mcu.json and docs/figures/mcu.md (tools/mcu/). Installs its apt packages.
test-mcu: venv
	tools/mcu/setup.sh
	$(BIN)/python -m tools.mcu.check --tflite runtime/models/model_int8.tflite --images 300 \
		--out metrics/mcu.json --figures docs/figures/mcu.md

bench: venv  # the runtime's figures pages: docs/figures/bench.md and bench_app.md
	$(BIN)/python -m tools.bench --runs 2000 --cli 5 --folder 2000 --figures docs/figures/bench.md
	$(BIN)/python -m tools.bench_app --figures docs/figures/bench_app.md

# The browser page: onnxruntime-web from npm (package-lock.json), the bundled int8 ONNX, no CDN.
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund

web-build: web/node_modules/.package-lock.json
	$(BIN)/python web/build.py

web: venv web-build
	@echo "edge-digits in the browser: http://127.0.0.1:$(PORT)/  (Ctrl-C to stop)"
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory web/dist $(PORT)

$(WEB_STAMP): web/requirements.lock $(STAMP)
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r web/requirements.lock
	$(BIN)/python -m pip check
	touch $@

test-web: $(WEB_STAMP) web-build
	WEB_SCREENSHOT="$(CURDIR)/web/screenshot.png" $(BIN)/python -m pytest -q -s tests/web

clean-venv:
	rm -rf $(VENV)
