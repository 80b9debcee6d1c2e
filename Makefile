# policycast — the user's interface. `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

TASK ?= Reach
NUM_ENVS ?= 64

.DEFAULT_GOAL := help
.PHONY: help setup test demo

help:
	@echo "make setup                 install system packages (apt) and the Python env in $(VENV)"
	@echo "make up TASK=Reach         start trainer + sync + tester + streamer; dashboard on http://127.0.0.1:58080"
	@echo "make test                  run the test suite"

$(STAMP): pyproject.toml scripts/install-system-deps.sh
	scripts/install-system-deps.sh
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	# torch pinned in the same command, or rl-games pulls a CUDA build of several GB
	$(PYTHON) -m pip install -q torch==2.13.0 -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

test: setup
	$(PYTHON) -m pytest $(PYTEST_ARGS)
