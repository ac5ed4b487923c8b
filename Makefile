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

.PHONY: venv pipeline test test-stress test-arm64 bench web web-build test-web clean-venv

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $@

pipeline: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# The 10 slowest tests are printed, so that creep is visible.
test: venv
	$(BIN)/python -m pytest -q --durations=10

# The suite again, pinned to one core with a CPU-bound neighbour on it (tools/stress_tests.sh).
test-stress: venv
	PYTHON=$(BIN)/python tools/stress_tests.sh

# The runtime on aarch64 under QEMU user mode: emulator self-check, tests/runtime, parity with
# x86-64 (tools/arm64/check.sh). Its environment is cached in ~/.cache/edge-digits/arm64.
test-arm64: venv
	HOST_PYTHON=$(BIN)/python tools/arm64/check.sh

bench: venv
	$(BIN)/python -m tools.bench --app

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
