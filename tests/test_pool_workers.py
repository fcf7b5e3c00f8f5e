"""The pool's workers: ``ThreadPool(n)`` and ``set_size``, ``close()`` and the context
manager, the classes a ``Pool`` needs; ``close()`` and shrinking wake every thread waiting
in the pool, and what user code raises in a worker is reported through
``threading.excepthook``.

Every test taking the ``pool`` fixture runs serial (size 0) and threaded (1, 2, 4).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from refasync import ChannelThreadTask, IteratorThreadTask, Pool, PoolReader, ThreadPool, util
from refasync.pool import ChunkQueue, PoolWorker
from refasync.testing import wait_or_fail
from refasync.util import Lock
from stress.broken import broken
from tests.pool_support import (
    BOUND_S,
    BackgroundCall,
    Gate,
    feed,
    live_workers,
    read_in_pieces,
    running_pool,
    start_bounded,
    then,
    wait_for_live_workers,
)


class SwallowsItemZero:
    """An apply_single=False task function: the chunk holding item 0 blocks until
    released, then yields nothing, so only the chunk's end can tell a reader waiting for
    it to plan the next chunk. Every other item passes through."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, items: list[int]) -> Iterator[int]:
        if 0 in items:
            self.entered.set()
            wait_or_fail(self.release, BOUND_S, "item 0 released")
        return (x for x in items if x != 0)


def _worker_waits() -> tuple[threading.Event, util.SyncHook]:
    """:return: an event set once a worker thread waits for a channel, and the hook that
    sets it."""
    reached = threading.Event()

    def hook(point: util.SyncPoint, primitive: util.SyncPrimitive) -> bool:
        if (
            point is util.SyncPoint.WAIT
            and primitive.name == "AsyncQueue.not_empty"
            and threading.current_thread().name.startswith("refasync-worker")
        ):
            reached.set()
        return False

    return reached, hook


def _worker_waiting_through_a_lost_wakeup(
    pool: ThreadPool,
) -> tuple[PoolReader[int], SwallowsItemZero]:
    """One worker runs the chunk of item 0 of a source; another runs a chunk of a task
    reading that source, which waits for the source's channel. Item 0 yields nothing and,
    with the poke at a chunk's end dropped (``chunk_end_pokes_nobody``), nobody wakes the
    second worker: it waits for good. :return: the downstream reader, the gate."""
    gate = SwallowsItemZero()
    source: PoolReader[int] = pool.add_task(
        IteratorThreadTask(iter(range(5)), "source", gate, False, max_chunksize=1)
    )
    leaf = pool.add_task(ChannelThreadTask(source, "leaf"))
    assert source.read(1, block=False) == []  # a worker takes the chunk of item 0
    wait_or_fail(gate.entered, BOUND_S, "the chunk of item 0 started")
    return leaf, gate


def _reader_asleep_through_a_lost_wakeup(pool: ThreadPool) -> BackgroundCall[list[int]]:
    """With the poke at a chunk's end dropped, a reader of the downstream task whose chunk
    waits, in a worker, for the source's channel. :return: the reader's call, which
    stays asleep however long it waits."""
    waits, hook = _worker_waits()
    leaf, gate = _worker_waiting_through_a_lost_wakeup(pool)
    util.set_sync_hook(hook)
    try:
        reader = start_bounded(lambda: leaf.read(1), "leaf reader")
        wait_or_fail(waits, BOUND_S, "a worker waits for the source's channel")
    finally:
        util.set_sync_hook(None)
    gate.release.set()
    assert not reader.finished.wait(0.3)  # the lost wake-up
    return reader


def test_close_wakes_a_worker_waiting_through_a_lost_wakeup() -> None:
    with running_pool(2) as pool, broken("chunk_end_pokes_nobody"):
        reader = _reader_asleep_through_a_lost_wakeup(pool)
        start_bounded(pool.close, "close").result()
        assert reader.result() == [1]


def test_shrinking_the_pool_wakes_its_waiting_readers() -> None:
    with running_pool(2) as pool, broken("chunk_end_pokes_nobody"):
        reader = _reader_asleep_through_a_lost_wakeup(pool)
        pool.set_size(1)
        assert reader.result() == [1]


class Custom(BaseException):
    """A BaseException that is neither SystemExit nor KeyboardInterrupt."""


@pytest.mark.parametrize("kind", [SystemExit, KeyboardInterrupt, Custom, RuntimeError])
def test_a_worker_reports_what_reaches_it_through_threading_excepthook_only(
    kind: type[BaseException], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    reported: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", reported.append)

    def fun(x: int) -> int:
        if x == 3:
            raise kind("from user code")
        return x

    with running_pool(1) as pool:
        reader = pool.add_task(IteratorThreadTask(iter(range(5)), "src", fun))
        assert start_bounded(lambda: reader.read(0), "read all").result() == [0, 1, 2]
        assert isinstance(reader.task().error(), kind)  # the task keeps it too
        assert pool.size() == 1
    if issubclass(kind, Exception):
        assert reported == []  # kept by the task: nothing reached the worker
    else:
        assert [type(args.exc_value) for args in reported] == [kind]
        assert reported[0].thread is not None
        assert reported[0].thread.name.startswith("refasync-worker")
    assert capfd.readouterr().err == ""  # the worker printed nothing itself


# --- pool size ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (True, TypeError), (1.5, TypeError)])
def test_bad_sizes_are_rejected(pool: ThreadPool, bad: object, error: type[Exception]) -> None:
    size = pool.size()
    with pytest.raises(error):
        pool.set_size(bad)  # type: ignore[arg-type]  # bad on purpose
    assert pool.size() == size
    with pytest.raises(error):
        ThreadPool(bad)  # type: ignore[arg-type]  # bad on purpose


def test_size_reports_the_workers_and_set_size_returns_the_pool(pool: ThreadPool) -> None:
    start = pool.size()
    assert len(live_workers(pool)) == start
    assert pool.set_size(3) is pool
    assert pool.size() == 3
    wait_for_live_workers(pool, 3)  # grown at once, or shrunk once the 4th has exited
    pool.set_size(1)
    assert pool.size() == 1
    wait_for_live_workers(pool, 1)
    pool.set_size(0)
    assert pool.size() == 0
    wait_for_live_workers(pool, 0)
    reader = feed(pool, 20)
    assert sorted(reader.read(0)) == list(range(20))  # serial mode still works


class Progress:
    """A task function that sets ``passed[k]`` once (k + 1) * step items went through it."""

    def __init__(self, checkpoints: int, step: int) -> None:
        self._lock = threading.Lock()
        self._seen = 0  # guarded by _lock
        self._step = step
        self.passed = [threading.Event() for _ in range(checkpoints)]

    def __call__(self, x: int) -> int:
        with self._lock:
            self._seen += 1
            passed, rest = divmod(self._seen, self._step)
        if rest == 0 and 0 < passed <= len(self.passed):
            self.passed[passed - 1].set()
        return x


def test_set_size_while_a_thread_reads(pool: ThreadPool) -> None:
    sizes = [3, 1, 0, 2, 4, 0, 1, 2]
    progress = Progress(len(sizes), step=40)
    reader = then(pool, feed(pool, 400, progress, max_chunksize=5), lambda x: x, "after")
    reading = start_bounded(lambda: read_in_pieces(reader, [3, 1, 17]), "reader")
    for checkpoint, size in zip(progress.passed, sizes, strict=True):
        wait_or_fail(checkpoint, BOUND_S, "reading progressed")
        pool.set_size(size)
        assert pool.size() == size
    assert sorted(reading.result()) == list(range(400))


def test_set_size_zero_mid_stream_ends_workers_and_the_reader_finishes(pool: ThreadPool) -> None:
    reader = then(pool, feed(pool, 300, max_chunksize=4), lambda x: x + 1, "inc")
    first = reader.read(50)
    workers = live_workers(pool)
    pool.set_size(0)
    for worker in workers:
        worker.join(BOUND_S)
        assert not worker.is_alive(), f"{worker.name} still alive after set_size(0)"
    assert live_workers(pool) == set()
    rest = read_in_pieces(reader, [9, 1])
    assert sorted(first + rest) == list(range(1, 301))


def test_set_size_zero_lets_a_worker_finish_its_chunk() -> None:
    with running_pool(1) as pool:
        gate = Gate(block_at=0)
        reader = feed(pool, 3, gate)
        # Non-blocking: the chunk is queued for the worker, not run by this thread.
        assert reader.read(1, block=False) == []
        wait_or_fail(gate.entered, BOUND_S, "worker entered fun")
        pool.set_size(0)
        (worker,) = live_workers(pool)
        gate.release.set()
        worker.join(BOUND_S)
        assert not worker.is_alive()
        assert sorted(reader.read(0)) == [0, 1, 2]


def test_shrinking_asks_idle_workers_to_leave_before_busy_ones() -> None:
    with running_pool(2) as pool:
        gate = Gate(block_at=0)
        runner: list[threading.Thread] = []

        def fun(x: int) -> int:
            if x == 0:
                runner.append(threading.current_thread())
            return gate(x)

        reader = feed(pool, 3, fun)
        assert reader.read(1, block=False) == []  # queued for a worker
        wait_or_fail(gate.entered, BOUND_S, "worker entered fun")
        pool.set_size(1)
        # The idle worker leaves at once; the one running the chunk stays in the pool.
        wait_for_live_workers(pool, 1)
        assert live_workers(pool) == set(runner)
        gate.release.set()
        assert sorted(reader.read(0)) == [0, 1, 2]
        assert pool.size() == 1


def test_context_manager_ends_the_workers() -> None:
    before = live_workers()
    with ThreadPool(3) as pool:
        assert len(live_workers(pool)) == 3
        reader = feed(pool, 10)
        assert sorted(reader.read(0)) == list(range(10))
    assert live_workers() - before == set()
    assert pool.size() == 0
    again = feed(pool, 5)
    assert again.read(0) == [0, 1, 2, 3, 4]  # usable in serial mode after close


def test_worker_names_are_unique_across_pools() -> None:
    # A pool collected without close() keeps its workers until they notice (within
    # WorkerThread.shutdown_check_time_s); a new pool often gets the old one's id()
    # meanwhile. Its workers' names must still be its own (the stress harness and
    # live_workers() find a pool's workers by name).
    workers: list[threading.Thread] = []
    for _ in range(20):
        pool = ThreadPool(2)
        mine = live_workers(pool)
        assert len(mine) == 2
        workers.extend(mine)
        del pool, mine
        gc.collect()
    assert len({t.name for t in workers}) == len(workers) == 40
    for thread in workers:  # they exit once they see their pool is gone
        thread.join(BOUND_S)
        assert not thread.is_alive()


def test_close_is_idempotent(pool: ThreadPool) -> None:
    pool.close()
    pool.close()
    assert pool.size() == 0
    assert live_workers(pool) == set()


# --- pool construction and add_task validation ---------------------------------------------------


def test_pool_base_class_needs_its_classes() -> None:
    with pytest.raises(TypeError):
        Pool()

    class OnlyLock(Pool):
        LockCls = Lock

    class NoWorker(Pool):
        LockCls = Lock
        TaskQueueCls = ChunkQueue

    with pytest.raises(TypeError):
        OnlyLock()
    with pytest.raises(TypeError):
        NoWorker(2)

    class Complete(Pool):
        LockCls = Lock
        TaskQueueCls = ChunkQueue
        WorkerCls = PoolWorker

    with running_pool(0):  # only for its check that no worker outlives the test
        complete = Complete(1)
        try:
            assert feed(complete, 5).read(0) == [0, 1, 2, 3, 4]
        finally:
            complete.close()
