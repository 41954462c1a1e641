# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

## Start the gateway on the embedded default: SQLite under ./data, examples/gateway.yaml.
run: $(STAMP)
	SCIMGW_CONFIG=$${SCIMGW_CONFIG:-examples/gateway.yaml} $(BIN)/scimgw serve --init

## Install the dev extras and run the whole suite (SQLite, plus PostgreSQL when
## SCIMGW_TEST_POSTGRES_URL is set; .ci/run sets it and then requires it).
test: $(STAMP)
	$(BIN)/ruff check gateway provisioning scimgw tests
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check gateway provisioning scimgw tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) data .pytest_cache
