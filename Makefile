# refasync: every target builds .venv first (python3 -m venv + pip install -e '.[dev]').
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv typecheck test demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

typecheck: $(STAMP)
	$(BIN)/mypy --strict

test: typecheck
	$(BIN)/python -m pytest -q tests

demo: $(STAMP)
	$(BIN)/python examples/usage_guide.py

clean:
	rm -rf $(VENV) .mypy_cache .hypothesis
