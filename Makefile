# dlserve: `make serve` (service only, no torch) and `make test` (everything, then the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# onnxruntime and onnxruntime-gpu conflict: take the GPU build only where an NVIDIA GPU answers.
RUNTIME_EXTRA ?= $(shell nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
PYTEST_ARGS ?=

.PHONY: serve test install-service install system-deps lint format clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install-service: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(RUNTIME_EXTRA)]"

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(RUNTIME_EXTRA),train,dev,bench]"

serve: install-service
	$(BIN)/dlserve serve

lint: install
	$(BIN)/ruff check service training tests bench
	$(BIN)/ruff format --check service training tests bench

# The browser tests drive Debian's Chromium (Playwright's own browser download does not work offline).
CHROMIUM ?= /usr/bin/chromium
system-deps:
	@test -x $(CHROMIUM) || { echo "installing chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || { echo "could not install chromium: run 'apt-get install -y chromium' as root"; exit 1; }; }

test: install system-deps lint
	$(BIN)/pytest $(PYTEST_ARGS)

# Side-by-side benchmark against peer servers (needs `hey`: apt-get install hey). Not part of `make test`.
bench: install
	$(BIN)/python -m bench.run

format:
	$(BIN)/ruff format service training tests bench
	$(BIN)/ruff check --fix service training tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache test-artifacts
