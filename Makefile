# policycast — the user's interface. `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

TASK ?= Reach
# NUM_ENVS empty: 64 on the CPU (BlindGrasping 128), 4096 on a GPU. GPU=auto: the local runtime trains on an NVIDIA GPU when
# there is one and MuJoCo Warp is installed; GPU=0 the CPU; GPU=1 the GPU (Docker: CUDA images, profile gpu)
NUM_ENVS ?=
GPU ?= auto
TESTERS ?= 1
# MAX_ITERATIONS empty: the task's own budget (configs/train/<Task>PPO.yaml; BlindGrasping: until stopped)
MAX_ITERATIONS ?=
SAVE_FREQUENCY ?= 10
STREAM_PORT ?= 58080
EXPERIMENT ?= latest
N ?= 2
RUNTIME ?= auto
STACK := $(PYTHON) -m services.stack --port $(STREAM_PORT)

# `make reload-interval=60` with no target sets every tester's interval live (and remembers it).
.DEFAULT_GOAL := $(if $(reload-interval),reload-interval,help)
.PHONY: help setup lock test up up-remote down deploy undeploy logs ps images testers reload-interval tensorboard keep unkeep

help:
	@echo "make setup                       install system packages (apt) and the Python env in $(VENV)"
	@echo "make up TASK=Reach               build if needed, start trainer + sync + tester + streamer; dashboard on http://127.0.0.1:$(STREAM_PORT)"
	@echo "       NUM_ENVS=64 TESTERS=1 reload-interval=30 GPU=auto|0|1 RUNTIME=auto|docker|local"
	@echo "       GPU=auto (local runtime): trains on an NVIDIA GPU with MuJoCo Warp when there is one (4096 envs)"
	@echo "       MAX_ITERATIONS=N caps training at N epochs (default: the task's budget; BlindGrasping trains until make down)"
	@echo "       HAND=adroit trains and tests with the ADROIT hand (default: the task's, the procedural hand)"
	@echo "       RESUME=1: the trainer (also when restarted) continues the latest run's newest checkpoint, if any"
	@echo "make up-remote SYNC_SOURCE=user@server:/path/runs   sync + tester + streamer here, the trainer on a server"
	@echo "make reload-interval=60          set every running tester's reload interval now, and for the next make up"
	@echo "make testers EXPERIMENT=latest N=2   run N testers for an experiment (name, substring or latest)"
	@echo "make tensorboard [TB_PORT=6006]  TensorBoard on 127.0.0.1: the training runs and every tester's evaluation"
	@echo "make down | logs | ps | images   stop everything (runs are kept) | follow logs | list services and disk use | build images (GPU=1: + MuJoCo Warp)"
	@echo "make keep EXPERIMENT=name        never move that experiment to runs_all/ (runs/ keeps the newest 10); make unkeep undoes it"
	@echo "make deploy TASK=Reach           the same stack on this engine's Docker Swarm (options as make up; REGISTRY=host:port"
	@echo "                                 on a swarm of several nodes); make undeploy removes it (volumes kept); ps, logs,"
	@echo "                                 testers and reload-interval then act on the swarm (README \"Scaling out\")"
	@echo "make test                        run the test suite"
	@echo "make lock [PKG=name]             re-resolve uv.lock within pyproject's ranges, export constraints.txt; then make test"
	@echo "Without a Docker engine, make up runs the same services as local processes (Ctrl+C stops all)."

# Every Python package at the lock's version: constraints.txt is uv.lock exported for pip (`make lock`).
# PIP_CONSTRAINT, not -c: it reaches pip's isolated build of this project (its setuptools) too. pip itself,
# the installer, is pinned here. torch==2.13.0 named in the same command: the local CPU wheel
# (2.13.0+cpu satisfies the lock's ==2.13.0), or a CUDA host's own 2.13.0 already installed, is kept.
PIP_VERSION := 26.3
PIP_LOCKED := PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(PYTHON) -m pip install -q
$(STAMP): pyproject.toml constraints.txt scripts/install-system-deps.sh
	scripts/install-system-deps.sh
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q pip==$(PIP_VERSION)
	$(PIP_LOCKED) torch==2.13.0 -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Re-resolve uv.lock within pyproject.toml's ranges (newest allowed releases), export constraints.txt,
# and say what moved; then `make test` (README "Installs"). PKG=name moves that package only.
lock: setup
	$(VENV)/bin/uv lock --upgrade$(if $(PKG),-package $(PKG))
	$(VENV)/bin/uv export --frozen --no-hashes --all-extras --no-emit-project --format requirements-txt \
	  --output-file constraints.txt >/dev/null
	@git diff --stat -- uv.lock constraints.txt 2>/dev/null || true
	@echo "make lock: the lock moved as above; now run: make test"

test: setup
	$(PYTHON) -m pytest $(PYTEST_ARGS)

up: setup
	@$(STACK) up --runtime $(RUNTIME) $(STACK_OPTS)

# the options make up and make deploy share
STACK_OPTS = --task $(TASK) $(if $(NUM_ENVS),--num-envs $(NUM_ENVS)) --testers $(TESTERS) \
  $(if $(MAX_ITERATIONS),--max-iterations $(MAX_ITERATIONS)) --save-frequency $(SAVE_FREQUENCY) \
  $(if $(reload-interval),--reload-interval $(reload-interval)) --gpu $(or $(GPU),auto) $(if $(HAND),--hand $(HAND)) \
  $(if $(RESUME),--resume)

deploy: setup
	@$(STACK) deploy $(STACK_OPTS) $(if $(REGISTRY),--registry $(REGISTRY))

undeploy: setup
	@$(STACK) undeploy

up-remote: setup
	@test -n "$(SYNC_SOURCE)" || { echo "make up-remote: set SYNC_SOURCE=user@server:/path/runs" >&2; exit 2; }
	@$(STACK) up --runtime $(RUNTIME) --task $(TASK) --testers $(TESTERS) --sync-source "$(SYNC_SOURCE)" \
	  $(if $(reload-interval),--reload-interval $(reload-interval))

down: setup
	@$(STACK) down

logs: setup
	@$(STACK) logs $(if $(filter 0,$(FOLLOW)),,--follow)

ps: setup
	@$(STACK) ps

images: setup
	@$(STACK) images $(if $(filter 1,$(GPU)),--gpu)

testers: setup
	@$(STACK) testers --experiment "$(EXPERIMENT)" -n $(N)

tensorboard: setup
	@$(STACK) tensorboard --runtime $(RUNTIME) $(if $(TB_PORT),--tb-port $(TB_PORT))

keep: setup
	@$(STACK) keep --experiment "$(EXPERIMENT)"

unkeep: setup
	@$(STACK) keep --undo --experiment "$(EXPERIMENT)"

reload-interval: setup
	@test -n "$(reload-interval)" || { echo "usage: make reload-interval=SECONDS" >&2; exit 2; }
	@$(STACK) reload-interval "$(reload-interval)"
