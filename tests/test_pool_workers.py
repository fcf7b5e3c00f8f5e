"""The pool's workers: close() and shrinking wake every thread waiting in the pool, and
what user code raises in a worker is reported through ``threading.excepthook``."""

from __future__ import annotations

import threading
from typing import Iterator

import pytest

from refasync import ChannelThreadTask, IteratorThreadTask, PoolReader, ThreadPool, util
from refasync.testing import wait_or_fail
from stress.broken import broken
from tests.pool_support import BOUND_S, running_pool, start_bounded


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
        if (point is util.SyncPoint.WAIT and primitive.name == "AsyncQueue.not_empty"
                and threading.current_thread().name.startswith("refasync-worker")):
            reached.set()
        return False

    return reached, hook


def _worker_waiting_through_a_lost_wakeup(pool: ThreadPool) -> tuple[PoolReader[int],
                                                                       SwallowsItemZero]:
    """One worker runs the chunk of item 0 of a source; another runs a chunk of a task
    reading that source, which waits for the source's channel. Item 0 yields nothing and,
    with the poke at a chunk's end dropped (``chunk_end_pokes_nobody``), nobody wakes the
    second worker: it waits for good. :return: the downstream reader, the gate."""
    gate = SwallowsItemZero()
    source: PoolReader[int] = pool.add_task(
        IteratorThreadTask(iter(range(5)), "source", gate, False, max_chunksize=1))
    leaf = pool.add_task(ChannelThreadTask(source, "leaf"))
    assert source.read(1, block=False) == []  # a worker takes the chunk of item 0
    wait_or_fail(gate.entered, BOUND_S, "the chunk of item 0 started")
    return leaf, gate


def test_close_wakes_a_worker_waiting_through_a_lost_wakeup() -> None:
    with running_pool(2) as pool:
        waits, hook = _worker_waits()
        with broken("chunk_end_pokes_nobody"):
            leaf, gate = _worker_waiting_through_a_lost_wakeup(pool)
            util.set_sync_hook(hook)
            try:
                reader = start_bounded(lambda: leaf.read(1), "leaf reader")
                wait_or_fail(waits, BOUND_S, "a worker waits for the source's channel")
            finally:
                util.set_sync_hook(None)
            gate.release.set()
            # The lost wake-up: the waiting worker stays asleep, and so does the reader.
            assert not reader.finished.wait(0.3)
            start_bounded(pool.close, "close").result()
        assert reader.result() == [1]


def test_shrinking_the_pool_wakes_its_waiting_readers() -> None:
    with running_pool(2) as pool:
        waits, hook = _worker_waits()
        with broken("chunk_end_pokes_nobody"):
            leaf, gate = _worker_waiting_through_a_lost_wakeup(pool)
            util.set_sync_hook(hook)
            try:
                reader = start_bounded(lambda: leaf.read(1), "leaf reader")
                wait_or_fail(waits, BOUND_S, "a worker waits for the source's channel")
            finally:
                util.set_sync_hook(None)
            gate.release.set()
            assert not reader.finished.wait(0.3)
            pool.set_size(1)
            assert reader.result() == [1]


class Custom(BaseException):
    """A BaseException that is neither SystemExit nor KeyboardInterrupt."""


@pytest.mark.parametrize("kind", [SystemExit, KeyboardInterrupt, Custom, RuntimeError])
def test_a_worker_reports_what_reaches_it_through_threading_excepthook_only(
        kind: type[BaseException], monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
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
