# The README's two commands: `make demo` and `make test`. Everything installs from this repo.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
export DAGSTER_HOME ?= $(CURDIR)/.local/dagster_home

.PHONY: demo test lint dev bench bench-budget bench-binlog soak clean home

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON) (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(UV): | $(PY)
	$(PY) -m pip install -q --upgrade pip uv

# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (this machine, many
# container images) every process would otherwise compile Dagster from source on import, about
# 3 s of CPU per CLI command, Dagster run and step.
$(VENV)/.installed: pyproject.toml mysql_redshift_assets/extract/readers/_wire.c | $(UV)
	$(UV) pip install -q --python $(PY) --compile-bytecode -e .
	$(PY) -m compileall -q mysql_redshift_assets
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(UV) pip install -q --python $(PY) --compile-bytecode -e '.[dev]'
	@touch $@

# The project's one Dagster home (.local/dagster_home): `make` targets export it, the CLI uses it
# when DAGSTER_HOME is unset, and `.env` names it for plain `dagster` commands run here
# (`dagster dev`, `dagster asset materialize` read ./.env), so every run shows up in the UI.
$(DAGSTER_HOME)/dagster.yaml: deploy/local/dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	@cp deploy/local/dagster.yaml $@

home: $(DAGSTER_HOME)/dagster.yaml
	@grep -qs '^DAGSTER_HOME=' .env || echo "DAGSTER_HOME=$(DAGSTER_HOME)" >> .env

## demo: install, then run the demo pipeline end to end (no server needed)
demo: $(VENV)/.installed home
	$(PY) -m mysql_redshift_assets.demo

## test: install the dev extra, run ruff and the whole test suite against the real servers
test: $(VENV)/.installed-dev lint
	$(VENV)/bin/pytest

## soak: the randomized soaks (cursor and binlog) for SOAK_SECONDS a target (seed printed; MRA_SOAK_SEED=<seed> replays)
SOAK_SECONDS ?= 600
soak: $(VENV)/.installed-dev
	MRA_SOAK_SECONDS=$(SOAK_SECONDS) $(VENV)/bin/pytest -m soak -s mysql_redshift_assets_tests/integration/test_soak.py mysql_redshift_assets_tests/integration/test_soak_binlog.py

## lint: ruff (lint + format), mypy, and the house rules: the import contracts (lint-imports,
## [tool.importlinter] in pyproject.toml) and the size test (module <= 400 lines, function <= 80)
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -q mysql_redshift_assets_tests/unit/test_house_rules.py

## dev: the Dagster UI on http://127.0.0.1:3000 (runs recorded in .local/dagster_home), through
## `dg dev` (Dagster's CLI now; the code location is the dg project in pyproject.toml)
dev: $(VENV)/.installed home
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/dg dev --host 127.0.0.1 --port 3000

## bench: extraction benchmark on the local MariaDB (see bench/README.md): the project vs
## connectorx + pyarrow, ROWS rows (built once in mra_test_bench), REPEAT runs each
ROWS       ?= 2000000
REPEAT     ?= 5
BENCH_ARGS ?=
## and the budget case: no-op syncs of BUDGET_TABLES tiny tables, CLI and job (bench/budget.py)
BUDGET_TABLES ?= 1,50,200
## and `capture: binlog`: runs carrying 1,000 changes vs cursor runs with their delete pass, on
## tables of BINLOG_ROWS rows (a private MariaDB, datadir kept in BINLOG_DIR; bench/binlog.py)
BINLOG_ROWS   ?= 2000000,20000000
BINLOG_REPEAT ?= 5
BINLOG_DIR    ?= .local/bench-binlog
bench: $(VENV)/.installed-dev
	$(PY) -m bench.run --rows $(ROWS) --repeat $(REPEAT) $(BENCH_ARGS)
	$(PY) -m bench.budget --tables $(BUDGET_TABLES)
	$(PY) -m bench.binlog --rows $(BINLOG_ROWS) --repeat $(BINLOG_REPEAT) --datadir $(BINLOG_DIR)

## bench-budget: the budget case alone
bench-budget: $(VENV)/.installed-dev
	$(PY) -m bench.budget --tables $(BUDGET_TABLES)

## bench-binlog: the binlog capture case alone
bench-binlog: $(VENV)/.installed-dev
	$(PY) -m bench.binlog --rows $(BINLOG_ROWS) --repeat $(BINLOG_REPEAT) --datadir $(BINLOG_DIR)

clean:
	rm -rf .local $(VENV)
