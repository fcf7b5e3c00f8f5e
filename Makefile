# refasync: every target builds .venv first (python3 -m venv + pip install -e '.[dev]').
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv typecheck crosshair test stress bench demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# mypy --strict over src, tests, models, stress, benchmarks (the list is in mypy.ini).
typecheck: $(STAMP)
	$(BIN)/mypy --strict

# CrossHair proves the PEP 316 contracts of the pure decision functions (3-minute budget).
crosshair: $(STAMP)
	$(BIN)/python tools/crosshair_check.py

# Unit tests, the state-machine models and the stress harness's short budget
# (the long per-scenario batches are for `pytest stress -k scenario_batch --count N`).
test: typecheck crosshair
	$(BIN)/python -m pytest -q tests models stress conformance -k "not scenario_batch"

# 60 seconds of randomized interleavings; prints its master seed and a summary.
stress: $(STAMP)
	$(BIN)/python -m stress --seconds 60

# refasync against the standard library, as ratios measured in one run.
bench: $(STAMP)
	$(BIN)/python -m benchmarks --json bench.json.report

demo: $(STAMP)
	$(BIN)/python examples/usage_guide.py

clean:
	rm -rf $(VENV) .mypy_cache .hypothesis
