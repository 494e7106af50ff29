# Two commands: `make demo` and `make test`. Both set everything up first (idempotent, quick when done).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The demo needs the inference install only; the tests also exercise training, export and the services.
EXTRAS_runtime := cpu
EXTRAS_test := cpu,train,dev

.PHONY: setup setup-test system-deps demo test lint clean

setup: system-deps $(VENV)/.installed-runtime

setup-test: system-deps $(VENV)/.installed-test

system-deps:
	@scripts/install-system-deps.sh

# One stamp per install set, redone when pyproject.toml changes; the test set includes the runtime set.
$(VENV)/.installed-%: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS_$*)]' 2>&1 | { grep -v '^WARNING: Location' || true; }
	@touch $@ $(if $(filter test,$*),$(VENV)/.installed-runtime)

demo: setup
	@scripts/demo.sh

test: setup-test
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: setup-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) demo-output .pytest_cache
