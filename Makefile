# Two entry points for people: `make demo` (the whole chain on the testbed) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint typecheck pytest bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	PYTHON=$(PYTHON) ./scripts/bootstrap-system
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# compat: a plain path entry, not an import hook that runs (and imports re, pathlib,
	# urllib) at every Python start-up in the venv.
	$(BIN)/pip install --quiet --config-settings editable_mode=compat -e '.[dev]'
	# The testbed is not packaged (no runtime install carries it): its command runs
	# from this checkout.
	printf '#!/bin/sh\nexec "$$(dirname "$$0")/python" -m endorse_ble.testbed "$$@"\n' \
		> $(BIN)/endorse-testbed
	chmod 0755 $(BIN)/endorse-testbed
	touch $@

demo: setup
	$(BIN)/python -m endorse_ble.testbed demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

pytest: setup
	PYTHON=$(PYTHON) ./scripts/bootstrap-system --test
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
