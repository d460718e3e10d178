# vgg-sweep: every workflow is one target. `make demo` and `make test` set themselves up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SWEEP  ?= sweeps/demo.yaml
SOURCE ?= runs/demo
WORKERS ?= 2
FASHION := /usr/share/datasets/fashion-mnist

.PHONY: install test fuzz lint demo sweep report bench clean

install: $(STAMP)

# Reinstall only when the package metadata changes. The package accepts version ranges
# (setup.cfg); constraints.txt pins the versions we test with.
$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,postgres]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest

# The property tests with FUZZ_SCALE x their budget and fresh random examples (about 10 min).
FUZZ_SCALE ?= 25
fuzz: install
	FUZZ_SCALE=$(FUZZ_SCALE) $(BIN)/python -m pytest -m property

lint: install
	$(BIN)/ruff check vgg_sweep analysis tests benchmarks

# A real sweep, offline, on the CPU: Fashion-MNIST from Debian's package when it can be
# installed, else torchvision's download into data/.
demo: install
	@test -d $(FASHION) || apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || true
	$(BIN)/vgg-sweep sweep sweeps/demo.yaml --workers $(WORKERS) \
	    $(if $(wildcard $(FASHION)),,--override data_dir=data)
	$(BIN)/vgg-sweep report runs/demo -o reports/demo

sweep: install
	$(BIN)/vgg-sweep sweep $(SWEEP) --workers $(WORKERS)

report: install
	$(BIN)/vgg-sweep report $(SOURCE)   # into reports/<the source's name>

bench: install
	$(BIN)/python benchmarks/bench.py --out BENCHMARKS.md

clean:
	rm -rf runs reports wandb .pytest_cache
