"""A pytest plugin for tests of code that uses refasync (``pytest -p refasync.pytest_plugin``,
or ``pytest_plugins = ["refasync.pytest_plugin"]`` in a conftest.py).

* The ``explore`` fixture runs a function under the controlled scheduler
  (:func:`refasync.explore.explore`) and fails the test with the shrunk schedule, the
  line that replays it and the trace::

      def test_two_writers(explore):
          def body(session):
              ...  # session.spawn(...) threads that use refasync
          explore(body, strategy="pct", runs=500)

* Hang guards: the setup, the call and the teardown of every test are guarded
  separately, each with its own alarm, so a deadlock anywhere (a fixture's teardown that
  waits on a deadlocked worker included) fails the test with every thread's stack and
  never hangs the run. ``@pytest.mark.timeout(seconds)`` sets the limit (default 60 s).

Importing this module needs pytest; nothing in the library imports it.
"""

from __future__ import annotations

from typing import Callable, Generator, Protocol

import pytest

from .explore import MAX_STEPS, Report, Session
from .explore import explore as _explore
from .testing import hang_guard

__all__ = ("DEFAULT_TIMEOUT_S", "Explorer", "explore")

DEFAULT_TIMEOUT_S = 60.0


class Explorer(Protocol):
    def __call__(self, body: Callable[[Session], object], *, strategy: str = ...,
                 runs: int = ..., seed: int = ..., depth: int = ..., preemptions: int = ...,
                 faults: bool = ..., max_steps: int = ...) -> Report: ...


@pytest.fixture
def explore() -> Explorer:
    """:return: ``explore(body, strategy="pct", runs=500, ...)``; raises
    :class:`refasync.explore.ExploreFailure` (an AssertionError) on a failing schedule."""

    def run(body: Callable[[Session], object], *, strategy: str = "pct", runs: int = 500,
            seed: int = 0, depth: int = 3, preemptions: int = 2, faults: bool = False,
            max_steps: int = MAX_STEPS) -> Report:
        return _explore(body, strategy=strategy, runs=runs, seed=seed, depth=depth,
                        preemptions=preemptions, faults=faults, max_steps=max_steps)

    return run


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "timeout(seconds): fail a test phase (setup, call or "
                            "teardown) with every thread's stack after seconds")


def _limit(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    return float(marker.args[0]) if marker is not None else DEFAULT_TIMEOUT_S


def _guarded(item: pytest.Item, phase: str) -> Generator[None, None, None]:
    with hang_guard(_limit(item), f"{item.nodeid} ({phase})"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    yield from _guarded(item, "setup")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    yield from _guarded(item, "call")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    yield from _guarded(item, "teardown")
