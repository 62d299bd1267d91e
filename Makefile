# hessianlab: two commands.
#   make test       set up .venv, install, run the test suite
#   make reproduce  set up, then run the main reproduction job on offline data
#   make docs       the documentation site (API reference from the docstrings) in build/site, warnings as errors
#   make test-distributed  executors on a real local Ray cluster and submitit (CI runs it after make test)
#   make test-paper  every paper preset end to end at tiny size on generated official-format files (long)
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS ?= 2

.PHONY: setup system test test-distributed test-paper reproduce bench docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,docs,pandas]'
	$(BIN)/pip install -q --disable-pip-version-check --no-deps pyhessian==0.1 torchattacks==3.5.1
	touch $(STAMP)

# Debian packages (Fashion-MNIST, Chromium) where apt-get is usable; see scripts/install-system.sh.
system:
	@bash scripts/install-system.sh

test: setup system
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider

# the [ray] and [slurm] extras, then only the tests marked distributed (make test leaves them out):
# executors on a real two-node Ray cluster and on submitit's local executor
test-distributed: setup system
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,docs,pandas,ray,slurm]'
	$(BIN)/python -m pytest -p no:cacheprovider -m distributed

# every paper preset end to end at tiny size (generated CIFAR/SVHN/IDX files); long, not part of CI
test-paper: setup system
	$(BIN)/python -m pytest -p no:cacheprovider -m paper

# every paper study at the quick preset; prints the verdict table per paper and every claim (runs/reproduce/quick)
reproduce: setup system
	$(BIN)/hessianlab reproduce all --preset quick --workers 2

docs: setup
	$(BIN)/python -m mkdocs build --strict

bench: setup system
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
