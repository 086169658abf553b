# The two set-up commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/dagster_home
export RECSYS_DATA_DIR ?= $(CURDIR)/data
# One BLAS and one OpenMP thread: on this shared 2-core machine a second thread never helped
# (EASE's Cholesky 1.8-3.8x slower, implicit's fit 1.1-1.6x slower with two; docs/benchmarks.md).
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

.PHONY: help run test ui refresh rollback runs lint bench clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed ## install, then materialize the whole graph on the demo data
	$(BIN)/python -m pipeline run --demo

# One pytest worker per core; a file's tests stay on one worker so its module-scoped nights are
# computed once (the suite took 7m51s on one worker, most of it single-threaded).
test: $(VENV)/.installed-dev ## install the dev extras, then run the test suite
	$(BIN)/python -m pytest -n auto --dist loadfile

refresh: $(VENV)/.installed ## fold new raw files into the lists of the users they touch (no retrain)
	$(BIN)/python -m pipeline refresh

rollback: $(VENV)/.installed ## make an earlier published run live: make rollback RUN=<run_id or prefix>
	$(BIN)/python -m pipeline rollback $(RUN)

runs: $(VENV)/.installed ## list the published runs (date, ratings, NDCG@10, gate, live)
	$(BIN)/python -m pipeline runs

UI_HOST ?= 127.0.0.1
UI_PORT ?= 3000
ui: $(VENV)/.installed ## Dagster UI on http://127.0.0.1:3000 (loopback unless UI_HOST says otherwise)
	$(BIN)/dagster dev -w workspace.yaml -h $(UI_HOST) -p $(UI_PORT)

lint: $(VENV)/.installed-dev ## ruff check and format check
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

SIZES ?= ml-100k,synth-1m
bench: $(VENV)/.installed ## whole nightly per size (SIZES=ml-100k,synth-1m,synth-25m for all three)
	$(BIN)/python -m benchmarks.run_pipeline --sizes $(SIZES) --config synth-25m=benchmarks/25m.yaml

clean: ## remove the venv, the demo data root and the run history
	rm -rf $(VENV) data dagster_home/history dagster_home/storage dagster_home/schedules
