# dlserve: `make serve` (service only, no torch) and `make test` (everything, then the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# onnxruntime and onnxruntime-gpu conflict: take the GPU build only where an NVIDIA GPU answers.
RUNTIME_EXTRA ?= $(shell nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
PYTEST_ARGS ?=

.PHONY: serve test test-container install-service install system-deps lint format clean bench bench-envs image image-gpu

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
	$(BIN)/ruff check core service training tests bench
	$(BIN)/ruff format --check core service training tests bench

# System packages the tests use, installed when missing (as root). Debian's Chromium drives the browser tests
# (Playwright's own browser download does not work offline); docker.io and debootstrap let the container tests
# run a private Docker engine and build a stand-in base image; prometheus brings promtool and a real Prometheus
# for the dashboard queries; iproute2 makes the test engine's bridge. The Kubernetes tests render with
# `kubectl kustomize` (or `kustomize`), which Debian does not package: the machine image provides kubectl.
BROWSER_PACKAGES ?= chromium
CONTAINER_PACKAGES ?= docker.io debootstrap prometheus iproute2
system-deps:
	@missing=$$(for p in $(BROWSER_PACKAGES) $(CONTAINER_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages for the tests:" $$missing; \
	  browser=$$(echo "$$missing" | grep -x -F $(foreach p,$(BROWSER_PACKAGES),-e $(p)) || true); \
	  others=$$(echo "$$missing" | grep -v -x -F $(foreach p,$(BROWSER_PACKAGES),-e $(p)) || true); \
	  { apt-get update -qq \
	    && { [ -z "$$browser" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$browser >/dev/null; } \
	    && { [ -z "$$others" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	         $$others >/dev/null; }; } \
	  || { echo "could not install:" $$missing "- run 'apt-get install -y" $$missing "' as root"; exit 1; }; \
	fi

test: install system-deps lint
	$(BIN)/pytest $(PYTEST_ARGS)

# Only the container group: builds and runs the images on a private Docker engine (part of `make test`).
test-container: install system-deps
	$(BIN)/pytest -m container $(PYTEST_ARGS)

# The images, on a Docker engine of your own (BuildKit).
image:
	docker build -t dlserve:latest .

image-gpu:
	docker build --target gpu -t dlserve:gpu .

# Side-by-side benchmark against peer servers (needs `hey`: apt-get install hey), and v2 inference over gRPC
# against HTTP. Not part of `make test`.
bench: install bench-envs
	$(BIN)/python -m bench.step_scaling
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.grpc_vs_http

# Each peer server of the benchmark (bench/peers/) in a virtualenv of its own, bench/.venv/<peer>, from its pinned
# bench/peers/<peer>/requirements.txt, with this project added without its dependencies (the peers import its
# preprocessing). One install at a time. A peer that does not install leaves bench/.venv/<peer>/install-error.txt
# (the end of pip's output), which bench.run reports in place of its figures; `make bench` goes on without it.
BENCH_PEERS := plain_fastapi litserve bentoml ray_serve kserve mlserver pytriton
BENCH_VENVS := bench/.venv
bench-envs: $(BENCH_PEERS:%=$(BENCH_VENVS)/%/installed.txt)

$(BENCH_VENVS)/%/installed.txt: bench/peers/%/requirements.txt
	@rm -rf $(BENCH_VENVS)/$* && $(PYTHON) -m venv $(BENCH_VENVS)/$* && echo "bench env $*: installing"
	@log=$(BENCH_VENVS)/$*/install.log; pip="$(BENCH_VENVS)/$*/bin/python -m pip"; \
	if $$pip install --quiet -r $< >$$log 2>&1 && $$pip install --quiet --no-deps -e . >>$$log 2>&1; then \
	  $$pip freeze --exclude-editable >$@; \
	else \
	  tail -n 20 $$log >$(BENCH_VENVS)/$*/install-error.txt; \
	  echo "bench env $*: install failed, the benchmark lists it with $(BENCH_VENVS)/$*/install-error.txt"; \
	fi

format:
	$(BIN)/ruff format core service training tests bench
	$(BIN)/ruff check --fix core service training tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache test-artifacts
