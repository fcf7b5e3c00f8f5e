"""Shared by tests/, models/ and stress/.

* Every test runs under refasync.pytest_plugin's hang guards: its setup, its call and its
  teardown each fail with every thread's stack past the limit, so a deadlocked fixture
  teardown fails the run instead of hanging it. ``@pytest.mark.timeout(seconds)`` changes
  the limit (default 60).
* Hypothesis profiles: ``ci`` (the default, part of ``make test``) and ``thorough``,
  chosen by the ``HYPOTHESIS_PROFILE`` environment variable.
* The thread-leak check of refasync.pytest_plugin is on, with a bound of
  ``THREAD_GROWTH_BOUND`` threads over the start of the session (``--max-thread-growth N``
  changes it): the test after which more are alive fails, naming the tests that started
  them.
* ``--defect NAME`` runs the session with the defect ``NAME`` of models/defects.py
  installed (models/test_defects.py shows that the tests named for a defect fail then).
* On a free-threaded interpreter (or with ``REFASYNC_REQUIRE_NO_GIL=1``) the run stops
  with a failure as soon as ``sys._is_gil_enabled()`` is True: after collection and after
  every test (:mod:`stress.gil`).
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from stress.gil import REQUIRE_ENV, gil_check_active, gil_enabled

pytest_plugins = ["refasync.pytest_plugin"]

GIL_CHECK = gil_check_active()

#: Threads alive beyond those at the start of the session, past which the test just
#: run fails (refasync.pytest_plugin.ThreadLeakCheck).
THREAD_GROWTH_BOUND = 32

settings.register_profile(
    "ci",
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=1000,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


class _GilChecks:
    """What the terminal summary reports: checks passed, where the GIL was seen on."""

    passed = 0
    seen_on: str | None = None


def _require_gil_off(where: str) -> None:
    if gil_enabled():
        _GilChecks.seen_on = where
        pytest.exit(
            f"the GIL is on {where}: this run must keep it off (free-threaded "
            f"interpreter or {REQUIRE_ENV}=1); an extension module that does not "
            f"declare it can run without the GIL was probably imported",
            returncode=1,
        )
    _GilChecks.passed += 1


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--defect",
        default=None,
        metavar="NAME",
        help="install the defect NAME of models/defects.py for the session",
    )


_session_defect = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("max_thread_growth") is None:
        config.option.max_thread_growth = THREAD_GROWTH_BOUND
    name = config.getoption("--defect")
    if name is not None:
        from models.defects import DEFECTS, applied

        if name not in DEFECTS:
            raise pytest.UsageError(f"--defect: no defect {name!r} (models/defects.py)")
        _session_defect.enter_context(applied(name))


def pytest_unconfigure(config: pytest.Config) -> None:
    _session_defect.close()


def pytest_collection_finish(session: pytest.Session) -> None:
    if GIL_CHECK:
        _require_gil_off("after collection")


@pytest.fixture
def frozen_heap() -> Iterator[None]:
    """Move the earlier tests' objects to the permanent generation for the test: the
    ``gc.collect()`` of the pool oracles (every pool instance of a campaign makes one or
    more) then scans only the test's own objects (over a whole test session's heap one
    collection took 0.1-0.6 s; the pct campaign on orphan_churn made 726 of them, 79 of
    its 92 s). What the test creates is collected as before; unfrozen after the test."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.fixture(autouse=True)
def _gil_stays_off(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if GIL_CHECK:
        _require_gil_off(f"after {request.node.nodeid}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if GIL_CHECK and _GilChecks.seen_on is None:
        terminalreporter.write_line(
            f"GIL check: off at all {_GilChecks.passed} checks "
            f"(after collection and after every test)"
        )
    elif GIL_CHECK:
        terminalreporter.write_line(f"GIL check FAILED: the GIL is on {_GilChecks.seen_on}")
