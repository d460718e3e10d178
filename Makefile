# vgg-sweep: every workflow is one target. `make demo` and `make test` set themselves up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SWEEP  ?= sweeps/demo.yaml
SOURCE ?= runs/demo

.PHONY: install test lint demo sweep report bench clean

install: $(STAMP)

# Reinstall only when the package metadata changes.
$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check vgg_sweep analysis tests benchmarks

clean:
	rm -rf runs reports wandb .pytest_cache
