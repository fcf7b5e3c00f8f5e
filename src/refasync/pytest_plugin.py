"""A pytest plugin for tests of code that uses refasync (``pytest -p refasync.pytest_plugin``,
or ``pytest_plugins = ["refasync.pytest_plugin"]`` in a conftest.py).

* The ``explore`` fixture runs a function under the controlled scheduler
  (:func:`refasync.explore.explore`) and fails the test with the shrunk schedule, the
  line that replays it and the trace; ``explore.reproduce`` replays such a line::

      def test_two_writers(explore):
          def body(session):
              ...  # threads that use refasync or threading/queue, started in the body
          explore(body, strategy="pct", runs=500)

* Hang guards: the setup, the call and the teardown of every test are guarded
  separately, each with its own alarm, so a deadlock anywhere (a fixture's teardown that
  waits on a deadlocked worker included) fails the test with every thread's stack and
  never hangs the run. ``@pytest.mark.timeout(seconds)`` sets the limit (default 60 s).

Importing this module needs pytest; nothing in the library imports it.
"""

from __future__ import annotations

from typing import Generator

import pytest

from .explore import explore as _explore
from .explore import reproduce as _reproduce
from .testing import hang_guard

__all__ = ("DEFAULT_TIMEOUT_S", "Explorer", "explore")

DEFAULT_TIMEOUT_S = 60.0


class Explorer:
    """What the ``explore`` fixture is: ``explore(body, strategy="pct", runs=500, ...)``
    (:func:`refasync.explore.explore`, which raises
    :class:`refasync.explore.ExploreFailure`, an AssertionError, on a failing schedule),
    and ``explore.reproduce(body, schedule, ...)``, which replays a failure's schedule
    and never returns normally (:func:`refasync.explore.reproduce`)."""

    __call__ = staticmethod(_explore)
    reproduce = staticmethod(_reproduce)


@pytest.fixture
def explore() -> Explorer:
    """:return: the controlled scheduler for the test (:class:`Explorer`)."""
    return Explorer()


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
