"""Shared by test_task.py, test_pool.py and test_examples.py: pools that are always
closed, checks that no worker thread outlives its pool, and bounded thread helpers."""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Generic, Iterator, TypeVar

import pytest

from refasync import Pool, ThreadPool
from refasync.testing import Hang, dump_stacks, wait_or_fail

__all__ = (
    "BOUND_S",
    "POOL_SIZES",
    "BackgroundCall",
    "Gate",
    "live_workers",
    "running_pool",
    "start_bounded",
    "worker_reports",
)

R = TypeVar("R")

#: Every pool test runs serial (0) and threaded.
POOL_SIZES = (0, 1, 2, 4)

#: How long a background thread may take before the test fails with every stack.
BOUND_S = 20.0

WORKER_PREFIX = "refasync-worker"


def live_workers(pool: Pool | None = None) -> set[threading.Thread]:
    """:return: the live refasync worker threads (of ``pool`` only, when given)."""
    prefix = WORKER_PREFIX if pool is None else pool._worker_prefix  # unique per pool
    return {t for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()}


@contextlib.contextmanager
def running_pool(size: int) -> Iterator[ThreadPool]:
    """A ThreadPool(size) that is closed on exit; afterwards no worker thread started
    meanwhile may be alive (workers left by earlier tests' pools are not ours to judge)."""
    before = live_workers()
    pool = ThreadPool(size)
    try:
        assert pool.size() == size
        yield pool
    finally:
        pool.close()
        left = live_workers() - before
        assert not left, f"worker threads alive after close(): {sorted(t.name for t in left)}"


class BackgroundCall(threading.Thread, Generic[R]):
    """Runs ``fn`` once in a daemon thread; ``result()`` waits for it (bounded) and
    returns its value or re-raises its exception."""

    def __init__(self, fn: Callable[[], R], name: str) -> None:
        super().__init__(name=f"test:{name}", daemon=True)
        self._fn = fn
        self._value: list[R] = []  # fn's result, once it returned
        self._error: BaseException | None = None
        self.finished = threading.Event()  # set once fn returned or raised

    def run(self) -> None:
        try:
            self._value.append(self._fn())
        except BaseException as exc:  # re-raised by result()
            self._error = exc
        finally:
            self.finished.set()

    def result(self, seconds: float = BOUND_S) -> R:
        if not self.finished.wait(seconds):
            raise Hang(f"{self.name}: not done after {seconds} s\n{dump_stacks()}")
        if self._error is not None:
            raise self._error
        return self._value[0]


def start_bounded(fn: Callable[[], R], name: str) -> BackgroundCall[R]:
    """Start ``fn`` in a background thread; collect it with ``.result()``."""
    call = BackgroundCall(fn, name)
    call.start()
    return call


class Gate:
    """A task function that blocks on ``block_at`` until released, so that a test can hold
    a chunk in flight; every other item passes through."""

    def __init__(self, block_at: int) -> None:
        self.block_at = block_at
        self.entered = threading.Event()  # the chunk reached block_at
        self.release = threading.Event()

    def __call__(self, x: int) -> int:
        if x == self.block_at:
            self.entered.set()
            wait_or_fail(self.release, BOUND_S, "Gate released")
        return x


@pytest.fixture
def worker_reports(monkeypatch: pytest.MonkeyPatch) -> list[threading.ExceptHookArgs]:
    """What workers report through ``threading.excepthook`` during the test (recorded
    instead of printed: a test that makes user code raise in a worker expects it)."""
    reported: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", reported.append)
    return reported
