# The README's two commands: `make demo` and `make test`. Both work on a fresh machine with Python only.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test services lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/headend demo

lint: $(STAMP)
	$(BIN)/ruff check headend drivers billing tests bench
	$(BIN)/ruff format --check headend drivers billing tests bench

typecheck: $(STAMP)
	$(BIN)/mypy headend drivers billing

unit: $(STAMP)
	$(BIN)/pytest -q

# PostgreSQL, mosquitto and VictoriaMetrics: the tests start their own, on free loopback ports
services:
	sh .ci/debian-packages

test: services lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/dlms_read.py 100
	$(BIN)/python bench/rs485_bus.py 200
	$(BIN)/python -m bench.store_ingest
	$(BIN)/python bench/fleet_read.py --meters 10000
	$(BIN)/python -m bench.outbox_drain
	$(BIN)/python -m bench.service --meters 10000
	$(BIN)/python -m bench.load_allocation --households 10000
	$(BIN)/python -m bench.billing --meters 1000
	$(BIN)/python -m bench.scale_out --meters 20000 --workers 1,2,4 --big 100000 --big-workers 2

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
