# dlserve: `make serve` (service only, no torch) and `make test` (everything, then the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# onnxruntime and onnxruntime-gpu conflict: take the GPU build only where an NVIDIA GPU answers.
RUNTIME_EXTRA ?= $(shell nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
PYTEST_ARGS ?=

.PHONY: serve test install-service install lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install-service: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(RUNTIME_EXTRA)]"

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(RUNTIME_EXTRA),train,dev]"

serve: install-service
	$(BIN)/dlserve serve

lint: install
	$(BIN)/ruff check service training tests
	$(BIN)/ruff format --check service training tests

test: install lint
	$(BIN)/pytest $(PYTEST_ARGS)

format:
	$(BIN)/ruff format service training tests
	$(BIN)/ruff check --fix service training tests

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache test-artifacts
