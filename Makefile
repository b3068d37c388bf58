# The two set-up commands of README.md: `make run` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test ui bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## generate the sample world, materialize every asset, print where to look
	$(BIN)/of-scheduler run $(ARGS)

# Test files run in parallel on $(PYTEST_WORKERS) workers (pytest-xdist); a file's tests stay on one worker, so its
# module fixtures (generated worlds, the Dagster UI) are built once. Plain `pytest` runs serially.
PYTEST_WORKERS ?= 2

test: $(STAMP)  ## the whole suite (DuckDB and the BigQuery emulator); .ci/run calls this
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(ARGS)

ui: $(STAMP)  ## the Dagster UI on http://127.0.0.1:3000
	$(BIN)/of-scheduler ui

bench: $(STAMP)  ## benchmarks (prints ratios against baselines run in the same process)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf .of_scheduler
