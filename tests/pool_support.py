"""Shared by the pool tests (test_pool_*.py), test_task.py and test_examples.py: pools
that are always closed (the ``pool`` fixture runs a test at every size of
``POOL_SIZES``), checks that no worker thread outlives its pool, bounded thread helpers,
and small task graphs (the fixtures ``pool`` and ``worker_reports`` are in
tests/conftest.py)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from refasync import ChannelThreadTask, IteratorThreadTask, Pool, PoolReader, Reader, ThreadPool
from refasync.testing import Hang, dump_stacks, wait_or_fail

__all__ = (
    "BOUND_S",
    "POOL_SIZES",
    "BackgroundCall",
    "Boom",
    "ChunkLog",
    "Gate",
    "feed",
    "identity",
    "live_workers",
    "logged_feed",
    "read_in_pieces",
    "running_pool",
    "start_bounded",
    "then",
    "wait_for_live_workers",
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
        # Joined, not only finished: until the thread has ended, it still holds ``fn`` and
        # whatever ``fn`` refers to (a reader, say), so a test that then drops its references
        # and collects would find them alive.
        self.join(seconds)
        if self.is_alive():
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


class Boom(Exception):
    """The failure our task functions raise on purpose."""


def identity(x: int) -> int:
    return x


def feed(
    pool: Pool,
    n: int,
    fun: Callable[[int], int] = identity,
    min_count: int | None = None,
    max_chunksize: int = 0,
) -> PoolReader[int]:
    """:return: the reader of a new task of ``pool`` producing fun(x) for x in range(n)."""
    task: IteratorThreadTask[int, int] = IteratorThreadTask(
        iter(range(n)), f"feed{n}", fun, min_count=min_count, max_chunksize=max_chunksize
    )
    return pool.add_task(task)


def then(pool: Pool, source: Reader[int], fun: Callable[[int], int], name: str) -> PoolReader[int]:
    """:return: the reader of a new ChannelThreadTask of ``pool`` applying fun to source."""
    return pool.add_task(ChannelThreadTask(source, name, fun))


def read_in_pieces(reader: Reader[int], counts: list[int]) -> list[int]:
    """Read with the given counts in turn (cycling) until a read comes up short, which a
    blocking read without timeout does only on a closed, drained channel."""
    out: list[int] = []
    step = 0
    while True:
        count = counts[step % len(counts)]
        step += 1
        items = reader.read(count)
        out.extend(items)
        if count < 1 or len(items) < count:
            return out


class ChunkLog:
    """An apply_single=False task function recording the size of every chunk it gets.
    ``reached`` is set once ``target`` items went through it."""

    def __init__(self, target: int = 0) -> None:
        self._lock = threading.Lock()
        self._sizes: list[int] = []  # guarded by _lock
        self._target = target
        self.reached = threading.Event()

    def __call__(self, items: list[int]) -> list[int]:
        with self._lock:
            self._sizes.append(len(items))
            if self._target and sum(self._sizes) >= self._target:
                self.reached.set()
        return items

    def sizes(self) -> list[int]:
        with self._lock:
            return list(self._sizes)


def logged_feed(
    pool: Pool, n: int, log: ChunkLog, min_count: int | None = None, max_chunksize: int = 0
) -> PoolReader[int]:
    task: IteratorThreadTask[int, int] = IteratorThreadTask(
        iter(range(n)), "logged", log, False, min_count=min_count, max_chunksize=max_chunksize
    )
    return pool.add_task(task)


def wait_for_live_workers(pool: ThreadPool, expected: int) -> None:
    """Wait (bounded) until exactly ``expected`` workers of ``pool`` are alive; a thread's
    end is only observable through join, so this joins with a short timeout."""
    remaining = int(BOUND_S / 0.02)
    while len(live_workers(pool)) != expected:
        remaining -= 1
        if remaining < 0:
            raise Hang(
                f"{len(live_workers(pool))} workers alive, expected {expected}\n{dump_stacks()}"
            )
        for thread in live_workers(pool):
            thread.join(0.02)
