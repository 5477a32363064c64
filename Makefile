# Two entry points for people: `make demo` (the whole chain on the testbed) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint typecheck pytest bench bench-quick stress dist deb clean exchange-package

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

# The Lambda zip for ARCH=x86_64 or arm64: our wheel and its exchange extra as manylinux
# wheels for CPython 3.11 (build/exchange-lambda-ARCH.zip; see docs/exchange-deploy.md).
ARCH ?= x86_64
LAMBDA_PLATFORM = manylinux2014_$(if $(filter arm64,$(ARCH)),aarch64,x86_64)
exchange-package: setup
	@case "$(ARCH)" in x86_64|arm64) ;; *) echo "ARCH must be x86_64 or arm64" >&2; exit 2;; esac
	rm -rf build/lambda-$(ARCH) build/wheel build/exchange-lambda-$(ARCH).zip
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir build/wheel .
	$(BIN)/pip install --quiet --target build/lambda-$(ARCH) --platform $(LAMBDA_PLATFORM) \
		--implementation cp --python-version 3.11 --only-binary=:all: \
		"$$(ls build/wheel/endorse_ble-*.whl)[exchange]"
	cd build/lambda-$(ARCH) && ../../$(BIN)/python -m zipfile -c ../exchange-lambda-$(ARCH).zip .
	@echo "build/exchange-lambda-$(ARCH).zip"

# The sdist and the wheel (one wheel for every part; extras pick the libraries).
dist: setup
	rm -f dist/endorse_ble-*.whl dist/endorse_ble-*.tar.gz
	$(BIN)/python -m build --outdir dist .

# The gateway's Debian package (dh-virtualenv), checked by lintian (overrides in debian/).
deb:
	./scripts/bootstrap-system --deb
	./scripts/build-deb dist
	lintian --fail-on error,warning dist/endorse-ble_*.deb

clean:
	rm -rf build dist $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
