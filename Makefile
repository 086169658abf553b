# The two set-up commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/dagster_home
export RECSYS_DATA_DIR ?= $(CURDIR)/data
# One BLAS thread: our hot loops batch their own work; OpenBLAS threads spinning against other
# work on 2 cores made the ML-100k night 24.7 s instead of 21.0 s (and far worse under load).
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: run test ui rollback lint bench clean

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

test: $(VENV)/.installed-dev ## install the dev extras, then run the test suite
	$(BIN)/python -m pytest

rollback: $(VENV)/.installed ## make an earlier published run live: make rollback RUN=<run_id>
	$(BIN)/python -m pipeline rollback $(RUN)

UI_HOST ?= 127.0.0.1
UI_PORT ?= 3000
ui: $(VENV)/.installed ## Dagster UI on http://127.0.0.1:3000 (loopback unless UI_HOST says otherwise)
	$(BIN)/dagster dev -w workspace.yaml -h $(UI_HOST) -p $(UI_PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

SIZES ?= ml-100k,synth-1m
bench: $(VENV)/.installed ## whole nightly per size (SIZES=ml-100k,synth-1m,synth-25m for all three)
	$(BIN)/python -m benchmarks.run_pipeline --sizes $(SIZES) --config synth-25m=benchmarks/25m.yaml

clean:
	rm -rf $(VENV) data dagster_home/history dagster_home/storage dagster_home/schedules
