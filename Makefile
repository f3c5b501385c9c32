# ragqa — offline grounded question answering.
#
#   make run     install everything, fetch + verify the models, index seeds/, serve on http://127.0.0.1:8000
#   make test    the same install (+ the small test generator, + Debian's chromium), then ruff, mypy, pytest
#
# Works on a fresh Debian 12 machine with python3.11 as `python3`; only PyPI and Debian's mirrors are needed.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
RAGQA := $(BIN)/ragqa
# Re-run `pip install` only when pyproject.toml changed (or the venv is new).
STAMP := $(VENV)/.ragqa-install.stamp
TORCH_PIN := torch==2.13.0
# llama-cpp-python (a dev dependency: the llama.cpp server the remote-generator tests start) compiles from source:
# CPU only, no examples/tools/tests/multimodal. About 56 min on 2 busy shared cores the first time; pip keeps
# the built wheel in its cache, so later installs take seconds.
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DGGML_CUDA=OFF -DGGML_BLAS=OFF -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF \
	-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF

# Extra arguments, e.g. `make run SERVE_ARGS="--port 9000"`, `make test PYTEST_ARGS="-x -k ingest"`.
SERVE_ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=
EVAL_ARGS ?=
# 1: a ruff or mypy failure fails `make test` too (after pytest has run); 0: only pytest decides.
STRICT_LINT ?= 1

.PHONY: help install deps models seeds run test chromium ocr lint format bench eval clean distclean

help:
	@echo "make install   venv + package + models + index seeds/ (fast when nothing changed)"
	@echo "make run       install, then serve API + widget on http://127.0.0.1:8000"
	@echo "make test      install (+ test model, chromium), then ruff, mypy and all of pytest"
	@echo "make lint      ruff check, ruff format --check, mypy"
	@echo "make bench     ingest/search benchmark (bench/bench.py; BENCH_ARGS=...)"
	@echo "make eval      evaluate on eval/dev and eval/sets/* (each set and split reported)"
	@echo "make clean     remove caches and build leftovers (distclean: also .venv and data/)"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	@# torch first and pinned: an unpinned resolution could pull a multi-GB CUDA build.
	$(PY) -m pip install "$(TORCH_PIN)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL="$$(nproc)" $(PY) -m pip install -e ".[dev]"
	touch $@

deps: $(STAMP)

models: deps
	$(RAGQA) models install

seeds: models
	$(RAGQA) ingest seeds/

install: seeds ocr

run: install
	$(RAGQA) serve $(SERVE_ARGS)

chromium:
	@if command -v chromium >/dev/null 2>&1; then \
		echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = "0" ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	else \
		echo "!!! WARNING: chromium is missing and we are not root: NOT installing it." >&2; \
		echo "!!! The browser (e2e) tests will fail. Run: apt-get install -y chromium (as root)." >&2; \
	fi

# OCR (scanned PDFs, png/jpg): Debian's tesseract with English data; installed like chromium (root only).
ocr:
	@if command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx eng; then \
		echo "tesseract: $$(command -v tesseract)"; \
	elif [ "$$(id -u)" = "0" ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y tesseract-ocr tesseract-ocr-eng; \
	else \
		echo "!!! WARNING: tesseract is missing and we are not root: NOT installing it." >&2; \
		echo "!!! OCR of scanned PDFs and images will fail. Run: apt-get install -y tesseract-ocr tesseract-ocr-eng (as root)." >&2; \
	fi

test: install chromium
	$(RAGQA) models install --with-test-model
	@lint=0; \
	$(BIN)/ruff check . || lint=1; \
	$(BIN)/mypy || lint=1; \
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$lint -ne 0 ]; then echo "!!! ruff or mypy reported problems (see above)" >&2; fi; \
	if [ $$rc -ne 0 ]; then exit $$rc; fi; \
	if [ $$lint -ne 0 ] && [ "$(STRICT_LINT)" = "1" ]; then exit 1; fi

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: models
	$(PY) bench/bench.py $(BENCH_ARGS)

eval: models
	$(RAGQA) eval eval/dev eval/sets/science eval/sets/culture eval/sets/civic eval/sets/world $(EVAL_ARGS)

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache build dist test-artifacts *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) data
