# Two commands do all the set-up on a fresh machine:
#   make repro   # set up, then rebuild the whole pipeline (dvc repro) on the default basin
#   make test    # set up, then run the test suite (all of it; CI runs this)
#   make test-fast  # the tests not marked e2e, browser or slow (pyproject.toml), for the edit-test loop
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup repro test test-fast bench clean-venv

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

repro: setup
	dvc repro

test: setup
	pytest -q

test-fast: setup
	pytest -q -m "not e2e and not browser and not slow"

bench: setup
	python benchmarks/bench_pipeline.py --out reports/benchmark.json

clean-venv:
	rm -rf $(VENV)
