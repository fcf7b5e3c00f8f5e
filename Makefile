# refasync: every target builds .venv first (python3 -m venv + pip install -e '.[dev]').
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv lint typecheck crosshair wheel-check test stress bench demo clean test-ft test-versions bench-cpu

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# ruff: the rule set and the format are in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy --strict over src, tests, models, stress, benchmarks (the list is in mypy.ini).
typecheck: $(STAMP)
	$(BIN)/mypy --strict

# CrossHair proves the PEP 316 contracts of the pure decision functions (3-minute budget).
crosshair: $(STAMP)
	$(BIN)/python tools/crosshair_check.py

# The typed import as a user gets it: the wheel, installed in a fresh venv, passes
# mypy --strict on the user files of tests/typing (tools/wheel_check.sh).
wheel-check: $(STAMP)
	tools/wheel_check.sh $(BIN)/python

# Unit tests, the state-machine models and the stress harness's short budget
# (pytest with no arguments: its testpaths; the long per-scenario batches are for
# `pytest stress -m batch --count N -p repeat`).
test: lint typecheck crosshair wheel-check
	$(BIN)/python -m pytest -q

# 60 seconds of randomized interleavings (the delay injector), then 60 seconds of every
# scenario with no hook installed (the program users run); each prints its master seed
# and its table.
stress: $(STAMP)
	$(BIN)/python -m stress --seconds 60
	$(BIN)/python -m stress --strategy none --seconds 60

# refasync against the standard library and the original library (PyPI async 0.6.2,
# prepared by tools/original_async.py), as ratios measured in one run.
bench: $(STAMP)
	$(BIN)/python -m benchmarks --json bench.json.report

demo: $(STAMP)
	$(BIN)/python examples/usage_guide.py

# -- other interpreters (tools/ft_python.sh, README "Interpreters") ----------------------
# The suite of `make test` without the mypy and CrossHair steps (mypy still runs inside
# tests/test_typing.py), without the conformance vectors, and without the heavy campaigns
# and the checks of the tools' own teeth (marker `campaign`: pct 1000 runs per broken
# variant, dfs exhaustion and the reduction's soundness sweep, the delay harness's and the
# unit tests' detection of each defect, the plugin's child pytest runs): schedules are
# choices at library points and a defect is caught the same way on every interpreter,
# and CI runs the suite 4 more times.
SUITE := tests models stress -m "not campaign and not batch"
TEST_TOOLS := pytest pytest-repeat hypothesis

# Free-threaded CPython 3.13 (--disable-gil), built once into ~/.cache/refasync. The GIL is
# not forced off (PYTHON_GIL is unset): conftest.py and the stress CLI check it stays off.
FT_VENV := .venv-ft
FT_PYTHON := $(shell tools/ft_python.sh path)
FT_ENV := env -u PYTHON_GIL REFASYNC_REQUIRE_NO_GIL=1

$(FT_PYTHON):
	tools/ft_python.sh build

$(FT_VENV)/.installed: pyproject.toml $(FT_PYTHON)
	rm -rf $(FT_VENV)
	$(FT_PYTHON) -m venv $(FT_VENV)
	$(FT_VENV)/bin/python -m pip install -q --upgrade pip
	$(FT_VENV)/bin/python -m pip install -q --prefer-binary -e . $(TEST_TOOLS)
	$(FT_VENV)/bin/python -m pip install -q --only-binary=:all: mypy
	touch $@

test-ft: $(FT_VENV)/.installed
	tools/ft_python.sh build >/dev/null
	$(FT_ENV) $(FT_VENV)/bin/python -c 'import sys; print(sys.version); assert not sys._is_gil_enabled()'
	$(FT_ENV) $(FT_VENV)/bin/python -m pytest -q $(SUITE)
	$(FT_ENV) $(FT_VENV)/bin/python -m stress --seconds 60

# CPython 3.10, 3.12 and 3.13 from pyenv, each in its own .venv-X.Y.
PYENV_ROOT ?= $(HOME)/.pyenv
PYENV_VERSIONS := 3.10.13 3.12.1 3.13.0
VERSION_VENVS := $(foreach v,$(PYENV_VERSIONS),.venv-$(basename $(v)))

$(addsuffix /.installed,$(VERSION_VENVS)): .venv-%/.installed: pyproject.toml
	rm -rf .venv-$*
	$(PYENV_ROOT)/versions/$(filter $*.%,$(PYENV_VERSIONS))/bin/python$* -m venv .venv-$*
	.venv-$*/bin/python -m pip install -q --upgrade pip
	.venv-$*/bin/python -m pip install -q -e . $(TEST_TOOLS) mypy
	touch $@

test-versions: $(addsuffix /.installed,$(VERSION_VENVS))
	@failed=""; for venv in $(VERSION_VENVS); do \
	  echo "== $$venv: $$($$venv/bin/python -c 'import sys; print(sys.version)')"; \
	  $$venv/bin/python -m pytest -q $(SUITE) || failed="$$failed $$venv"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-versions FAILED on:$$failed"; exit 1; fi

# The pure-Python CPU row on the default interpreter and on free-threaded 3.13t.
bench-cpu: $(STAMP) $(FT_VENV)/.installed
	$(BIN)/python -m benchmarks --only cpu
	$(FT_ENV) $(FT_VENV)/bin/python -m benchmarks --only cpu

clean:
	rm -rf $(VENV) .mypy_cache .hypothesis
