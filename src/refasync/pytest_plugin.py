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
  never hangs the run. ``@pytest.mark.timeout(seconds)`` sets the limit (default 60 s), in
  every form pytest-timeout's marker takes (0 or None: no limit); with pytest-timeout
  installed too, both limits apply.
  Once a guard has fired, the cleanup that follows (a ``with pool:`` exit waiting for a
  stuck worker) gets its own bounded time (:func:`refasync.testing.hang_guard`).

* Thread-leak check (``--max-thread-growth N``, off by default): after each test, if
  more than N threads are alive than when the session started, that test fails at
  teardown, naming the tests that started the threads still alive.

Importing this module needs pytest; nothing in the library imports it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Generator

import pytest

from .explore import explore as _explore
from .explore import reproduce as _reproduce
from .sync import monotonic as sync_monotonic
from .testing import GUARD_THREAD_NAME, hang_guard

__all__ = ("DEFAULT_TIMEOUT_S", "Explorer", "ThreadLeak", "ThreadLeakCheck", "explore")

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("refasync").addoption(
        "--max-thread-growth",
        type=int,
        default=None,
        metavar="N",
        help="fail the test after which more than N threads are alive than at the start "
        "of the session (naming the tests that started them); off by default",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "timeout(seconds): fail a test phase (setup, call or "
        "teardown) with every thread's stack after seconds",
    )
    bound = config.getoption("max_thread_growth")
    if bound is not None and bound < 0:
        raise pytest.UsageError(f"--max-thread-growth must be >= 0, got {bound}")


def pytest_sessionstart(session: pytest.Session) -> None:
    bound = session.config.getoption("max_thread_growth")
    if bound is not None and not session.config.pluginmanager.has_plugin(ThreadLeakCheck.NAME):
        session.config.pluginmanager.register(ThreadLeakCheck(bound), ThreadLeakCheck.NAME)


class ThreadLeak(AssertionError):
    """More threads are alive after a test than the session's bound allows."""


class ThreadLeakCheck:
    """After each test's teardown: if more than ``bound`` threads are alive than at the
    start of the session, the test fails (an error at its teardown) naming, for every
    thread alive that was not there at the start, the test during which it appeared.
    Threads that are ending get ``grace_s`` seconds to end first. Once reported, the
    count of that moment is the new start, so each leak is reported once."""

    NAME = "refasync-thread-leak-check"

    def __init__(self, bound: int, grace_s: float = 2.0) -> None:
        if bound < 0:
            raise ValueError(f"--max-thread-growth must be >= 0, got {bound}")
        self.bound = bound
        self.grace_s = grace_s
        self.start = len(_alive())
        self.origin: dict[threading.Thread, str] = {t: "the start" for t in _alive()}

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, object, object]:
        result = yield
        self.check(item.nodeid)
        return result

    def check(self, test: str) -> None:
        """:raise ThreadLeak: if more than ``bound`` threads are alive than at the start."""
        alive = _alive()
        fresh = [t for t in alive if t not in self.origin]
        for thread in fresh:
            self.origin[thread] = test
        if len(alive) - self.start <= self.bound:
            self._forget_ended(alive)
            return
        deadline = sync_monotonic() + self.grace_s
        for thread in fresh:  # those of this test may be ending
            remaining = deadline - sync_monotonic()
            if remaining <= 0:
                break
            thread.join(remaining)
        alive = _alive()
        self._forget_ended(alive)
        growth = len(alive) - self.start
        if growth <= self.bound:
            return
        self.start = len(alive)
        by_test: dict[str, list[str]] = {}
        for thread in alive:
            if self.origin[thread] != "the start":
                by_test.setdefault(self.origin[thread], []).append(thread.name)
        lines = "\n".join(
            f"  {len(names)} from {origin}: {', '.join(sorted(names)[:8])}"
            + (" ..." if len(names) > 8 else "")
            for origin, names in sorted(by_test.items())
        )
        raise ThreadLeak(
            f"{growth} more threads alive after {test} than at the start "
            f"(bound {self.bound}); the threads alive, by the test that "
            f"started them:\n{lines}"
        )

    def _forget_ended(self, alive: list[threading.Thread]) -> None:
        living = set(alive)
        for thread in [t for t in self.origin if t not in living]:
            del self.origin[thread]


def _alive() -> list[threading.Thread]:
    """:return: the threads alive, but the hang guards' watchers (each ends with its block)."""
    return [t for t in threading.enumerate() if t.name != GUARD_THREAD_NAME]


def _limit(item: pytest.Item, phase: str) -> float | None:
    """:return: the seconds each phase of ``item`` may take, None for no limit: the
    ``timeout`` marker's, in every form pytest-timeout accepts (``timeout(5)``,
    ``timeout(5, "thread")``, ``timeout(timeout=5, method=..., func_only=...)``; 0 or None
    is no limit), else ``DEFAULT_TIMEOUT_S``. A marker that is not a number fails the
    setup, naming it (the other phases then get the default)."""
    marker = item.get_closest_marker("timeout")
    if marker is None:
        return DEFAULT_TIMEOUT_S
    value = marker.kwargs.get("timeout", marker.args[0] if marker.args else DEFAULT_TIMEOUT_S)
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds < 0:
        if phase != "setup":
            return DEFAULT_TIMEOUT_S
        pytest.fail(
            f"{item.nodeid}: @pytest.mark.timeout takes a number of seconds >= 0 "
            f"(0 or None: no limit), got {value!r}",
            pytrace=False,
        )
    return seconds or None


def _guarded(item: pytest.Item, phase: str) -> Generator[None, None, None]:
    limit = _limit(item, phase)
    if limit is None:
        yield
        return
    with hang_guard(limit, f"{item.nodeid} ({phase})"):
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
