# Symphony Lab — two commands on a fresh machine:
#   make lab    set everything up, then start JupyterLab on notebooks/
#   make test   set everything up, then run every check
# Set-up is incremental: each step re-runs only when its inputs changed.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV  := .venv
BIN   := $(VENV)/bin
PY    := $(BIN)/python
UV    := $(BIN)/uv
STAMP := $(VENV)/.stamp

# Package downloads are cached outside the clone, so a fresh clone reinstalls from the cache.
export UV_CACHE_DIR ?= $(HOME)/.cache/uv
export PIP_CACHE_DIR ?= $(HOME)/.cache/pip
export UV_LINK_MODE ?= copy

NATIVE_SOURCES := native/Cargo.toml native/Cargo.lock native/python/pyproject.toml native/python/build.rs \
	$(shell find native/pit native/quest native/python -type f \( -name '*.rs' -o -name 'Cargo.toml' \) -not -path '*/target/*')

.PHONY: help setup lab test check-rust check-python pytest bench clean

help:
	@echo "make lab   - create the environment, build the Pit, install the Symphony kernel, start JupyterLab"
	@echo "make test  - the same set-up, then cargo fmt/clippy/test, ruff, mypy, stubtest, pytest + notebooks"
	@echo "make bench - run the benchmarks in benchmarks/ and append their figures to benchmarks/RESULTS.md"

$(PY):
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check 'uv>=0.5'

# The native extension: rebuilt (incrementally) whenever a Rust source or manifest changes.
$(STAMP)-native: $(PY) $(NATIVE_SOURCES)
	$(UV) pip install --quiet --python $(PY) 'maturin>=1.7,<2'
	cd native/python && ../../$(BIN)/maturin develop --release --uv
	@touch $@

# Everything else (research + dev tools, the Function Quest package); symphony-pit is already
# satisfied by the step above. torch (via stable-baselines3) is large: uv's cache keeps it.
$(STAMP)-deps: $(STAMP)-native pyproject.toml envs/pyproject.toml widgets/pyproject.toml
	$(UV) pip install --quiet --python $(PY) -e . -e envs -e widgets --group dev
	@touch $@

$(STAMP)-kernelspec: $(STAMP)-deps symphony_kernel/kernelspec.py
	$(PY) -m symphony_kernel.kernelspec install
	@touch $@

setup: $(STAMP)-kernelspec

# Jupyter refuses to run as root unless told; machines here often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

# Lab serves copies of the tutorials (Lab saves as it runs; the originals hold nbval's outputs).
LAB_DIR := .lab/notebooks
lab: setup
	$(PY) -m symphony_kernel.workspace notebooks $(LAB_DIR)
	$(BIN)/jupyter lab --notebook-dir=$(LAB_DIR) $(ROOT_FLAG) $(LAB_ARGS)

check-rust:
	cd native && cargo fmt --all --check
	cd native && cargo clippy --workspace --all-targets --locked -- -D warnings
	cd native && cargo test -p symphony-pit -p symphony-quest --locked

check-python: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(PY) -m mypy.stubtest symphony_pit._native

# Browser tests drive Debian's Chromium (Playwright never downloads a browser here).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" != 0 ]; then echo "browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# The notebooks' kernels keep nothing between runs (a session store would serve memoised results).
pytest: setup $(CHROMIUM)
	SYMPHONY_STORE=:memory: $(BIN)/pytest tests notebooks --nbval -p no:cacheprovider

test: setup check-rust check-python pytest

bench: setup
	$(UV) pip install --quiet --python $(PY) --group bench
	$(PY) benchmarks/bench_ffi.py --record
	$(PY) benchmarks/bench_quest.py --record
	$(PY) benchmarks/bench_dag.py --record

clean:
	rm -rf $(VENV) native/target
