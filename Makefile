# Two entry points for people: `make demo` (the whole chain on the testbed) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint typecheck pytest bench bench-quick stress clean

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

# Every benchmark end to end with few iterations (CI runs it): a benchmark that breaks
# fails; targets are gated only by `make bench`.
bench-quick: setup
	$(BIN)/python -m bench --quick

# The integration tier N times beside a CPU burner; lists every test that failed at least
# once with its count and exits 1 if any did.
N ?= 5
stress: setup
	PYTHON=$(PYTHON) ./scripts/bootstrap-system --test
	$(BIN)/python scripts/stress.py --runs $(N)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
