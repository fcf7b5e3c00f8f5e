"""The pool's part of issue 10: nothing lost, nothing hung, counts that agree, under
failing user code, interrupts, failing thread starts, fork, racing close, thread
termination, shared writers and removed tasks."""

from __future__ import annotations

import functools
import gc
import os
import threading
import warnings
import weakref
from collections.abc import Callable

import pytest

from refasync import (
    Channel,
    ChannelThreadTask,
    ChannelWriter,
    IteratorThreadTask,
    Pool,
    PoolReader,
    ThreadPool,
    plan,
    scheduler,
    util,
)
from refasync.pool import PoolWorker
from refasync.scheduler import inside_chunk
from refasync.testing import Hang, dump_stacks, wait_or_fail
from refasync.thread import do_terminate_threads, terminate_threads
from refasync.util import AsyncQueue
from tests.pool_support import BOUND_S, Gate, live_workers, running_pool, start_bounded
from tests.sync_support import wait_for_waiters


def source(
    pool: Pool,
    n: int,
    fun: Callable[[int], int] = lambda x: x,
    max_chunksize: int = 0,
    name: str = "src",
) -> PoolReader[int]:
    task: IteratorThreadTask[int, int] = IteratorThreadTask(
        iter(range(n)), name, fun, max_chunksize=max_chunksize
    )
    return pool.add_task(task)


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for a condition only a thread's end can make true (joins poll)."""
    deadline = util.monotonic() + BOUND_S
    while not predicate():
        if util.monotonic() > deadline:
            raise Hang(f"not true after {BOUND_S} s: {what}\n{dump_stacks()}")
        threading.Event().wait(0.01)


class Custom(BaseException):
    """A BaseException that is neither SystemExit nor KeyboardInterrupt."""


# --- M1: a worker survives any BaseException from user code; size() == live workers -----


@pytest.mark.parametrize("kind", [SystemExit, KeyboardInterrupt, Custom])
def test_a_worker_survives_a_base_exception_from_a_task_function(
    kind: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    reported: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", reported.append)
    with running_pool(2) as pool:
        workers = live_workers(pool)

        def fun(x: int) -> int:
            if x == 3:
                raise kind("from user code")
            return x

        reader = source(pool, 10, fun, max_chunksize=2)
        got = start_bounded(lambda: reader.read(0), "read all").result()
        assert len(got) == len(set(got)) and set(got) <= set(range(10))
        assert live_workers(pool) == workers, "a worker died"
        assert pool.size() == 2
        assert sorted(source(pool, 5, name="after").read(0)) == [0, 1, 2, 3, 4]
    assert [type(args.exc_value) for args in reported] == [kind]  # reported, once


def test_size_counts_only_live_workers_when_one_is_terminated() -> None:
    with running_pool(2) as pool:
        victim = sorted(live_workers(pool), key=lambda t: t.name)[0]
        assert isinstance(victim, PoolWorker)
        victim.schedule_termination()  # ends without a stop request
        victim.join(BOUND_S)
        assert not victim.is_alive()
        assert pool.size() == len(live_workers(pool)) == 1
        assert sorted(source(pool, 20).read(0)) == list(range(20))


# --- M5: PoolWorker.stop_and_join, do_terminate_threads, @terminate_threads -------------


def test_pool_worker_stop_and_join_makes_that_worker_leave() -> None:
    with running_pool(2) as pool:
        victim = sorted(live_workers(pool), key=lambda t: t.name)[0]
        assert isinstance(victim, PoolWorker)
        victim.stop_and_join()  # no ValueError; does not block
        assert pool.size() == 1
        victim.join(BOUND_S)
        assert not victim.is_alive()
        assert len(live_workers(pool)) == 1


def test_a_stop_request_put_into_the_pool_queue_shrinks_the_pool() -> None:
    with running_pool(2) as pool:
        pool._queue.put((PoolWorker.stop,))
        assert pool.size() == 1
        wait_until(lambda: len(live_workers(pool)) == 1, "one worker left")
        with pytest.raises(ValueError):
            pool._queue.put((print, ("not a stop",)))


def test_do_terminate_threads_with_live_pool_workers() -> None:
    with running_pool(3) as pool:
        workers = live_workers(pool)
        do_terminate_threads(workers)  # no ValueError
        for worker in workers:
            worker.join(BOUND_S)
            assert not worker.is_alive()
        assert pool.size() == 0
        assert sorted(source(pool, 7).read(0)) == list(range(7))  # serial from now on


def test_terminate_threads_around_a_function_that_starts_a_pool() -> None:
    pools: list[ThreadPool] = []

    @terminate_threads
    def work() -> list[int]:
        pool = ThreadPool(2)
        pools.append(pool)
        return sorted(source(pool, 9).read(0))

    assert work() == list(range(9))  # the return value, not a ValueError
    (pool,) = pools
    assert pool.size() == 0
    wait_until(lambda: not live_workers(pool), "the pool's workers ended")


# --- M2: a worker thread that fails to start ----------------------------------------------


def failing_start_after(monkeypatch: pytest.MonkeyPatch, successes: int) -> None:
    """Make PoolWorker.start raise RuntimeError after ``successes`` successful starts."""
    real_start = PoolWorker.start
    left = [successes]

    def start(self: PoolWorker) -> PoolWorker:
        if left[0] == 0:
            raise RuntimeError("can't start new thread")
        left[0] -= 1
        real_start(self)
        return self

    monkeypatch.setattr(PoolWorker, "start", start)


def test_set_size_keeps_exactly_the_workers_that_started(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_pool(1) as pool:
        failing_start_after(monkeypatch, 1)
        with pytest.raises(RuntimeError):
            pool.set_size(4)
        monkeypatch.undo()
        assert pool.size() == len(live_workers(pool)) == 2
        assert sorted(source(pool, 12).read(0)) == list(range(12))
        start_bounded(pool.close, "close").result()
        assert pool.size() == 0


def test_a_pool_whose_worker_fails_to_start_in_the_constructor_ends_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = live_workers()
    failing_start_after(monkeypatch, 2)
    with pytest.raises(RuntimeError):
        ThreadPool(4)
    wait_until(lambda: not (live_workers() - before), "the started workers ended")


# --- M4: close() racing set_size(2) -------------------------------------------------------


def test_close_returns_while_another_thread_grows_the_pool() -> None:
    with running_pool(1) as pool:
        stop = threading.Event()

        def grow() -> None:
            while not stop.is_set():
                pool.set_size(2)

        grower = start_bounded(grow, "grower")
        for _ in range(20):
            start_bounded(pool.close, "close").result()  # returns; the last call wins
        stop.set()
        grower.result()
        pool.close()
        assert pool.size() == 0


# --- H2: a read that raises after taking items puts them back ---------------------------


def test_a_read_interrupted_in_its_wait_puts_the_items_back_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_pool(1) as pool:
        gate = Gate(block_at=3)
        reader = source(pool, 5, gate, max_chunksize=1)
        assert reader.read(4, block=False) == []  # items 0..3 queued for the worker
        wait_or_fail(gate.entered, BOUND_S, "the worker is held at item 3")

        def interrupted(queue: AsyncQueue[object], generation: int, timeout: float | None) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(AsyncQueue, "wait_for_change", interrupted)
        with pytest.raises(KeyboardInterrupt):
            reader.read(5)  # takes 0, 1, 2, then is interrupted while waiting
        monkeypatch.undo()
        assert reader.read(3, block=False) == [0, 1, 2]
        gate.release.set()
        assert sorted(reader.read(0)) == [3, 4]


def test_a_serial_read_whose_chunk_raises_puts_the_items_it_took_back() -> None:
    with running_pool(0) as pool:

        def fun(x: int) -> int:
            if x == 7:
                raise KeyboardInterrupt
            return x

        reader = source(pool, 10, fun, max_chunksize=5)
        with pytest.raises(KeyboardInterrupt):
            reader.read(8)  # runs 0..4, then the chunk of 5..9 raises
        assert reader.read(5, block=False) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("timeout", [float("nan"), -1.0])
def test_an_unusable_timeout_is_rejected_before_anything_is_taken(timeout: float) -> None:
    with running_pool(1) as pool:
        reader = source(pool, 6)
        assert len(reader.read(2)) == 2
        with pytest.raises(ValueError, match="timeout"):
            reader.read(3, timeout=timeout)
        assert len(reader.read(0)) == 4


@pytest.mark.parametrize("timeout", [float("inf"), 1e300])
def test_a_timeout_beyond_timeout_max_waits_without_limit(timeout: float) -> None:
    with running_pool(1) as pool:
        reader = source(pool, 6)
        assert reader.read(3, timeout=timeout) == [0, 1, 2]
        assert reader.read(0, timeout=timeout) == [3, 4, 5]


@pytest.mark.parametrize("size", [0, 2])
def test_a_huge_count_plans_lazily(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    planned: list[int] = []
    real_plan = plan.plan_chunks

    def spy(demand: int, min_count: int, max_chunksize: int) -> list[int]:
        counts = real_plan(demand, min_count, max_chunksize)
        planned.append(len(counts))
        return counts

    monkeypatch.setattr(scheduler, "plan_chunks", spy)
    with running_pool(size) as pool:
        reader = source(pool, 10, max_chunksize=1)
        assert sorted(reader.read(10**6)) == list(range(10))
        assert max(planned) <= max(size, 1), "more than one batch per worker was planned"
        assert sum(planned) <= 10 + 2 * max(size, 1)


# --- M3: os.fork() with a live pool -------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_after_fork_the_child_pool_has_no_workers_and_works_serially() -> None:
    with running_pool(2) as pool:
        reader = source(pool, 30, max_chunksize=3)
        first = reader.read(10)
        # No chunk in flight at the fork (a chunk running in a worker fails the child's
        # reads of its task at once, S10; tests/test_fork.py forks there on purpose).
        wait_for_waiters(pool._queue.work_ready, 2, "idle workers")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: report through the exit status only
            status = 1
            try:
                ok = pool.size() == 0
                rest = reader.read(0)
                ok = ok and sorted(first + rest) == list(range(30))
                ok = ok and sorted(source(pool, 4, name="child").read(0)) == [0, 1, 2, 3]
                pool.close()
                status = 0 if ok else 2
            finally:
                os._exit(status)
        deadline = util.monotonic() + BOUND_S
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if util.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise Hang("the forked child did not finish")
            threading.Event().wait(0.02)
        assert os.waitstatus_to_exitcode(status) == 0
        assert sorted(first + reader.read(0)) == list(range(30))  # the parent goes on


# --- L4, L5, remove_task ------------------------------------------------------------------


def test_add_task_rejects_two_tasks_sharing_one_writer() -> None:
    with running_pool(1) as pool:
        channel: Channel[int] = Channel()
        writer = ChannelWriter(channel)
        first: IteratorThreadTask[int, int] = IteratorThreadTask(
            iter(range(3)), "first", lambda x: x, writer=writer
        )
        second: IteratorThreadTask[int, int] = IteratorThreadTask(
            iter(range(3)), "second", lambda x: x, writer=writer
        )
        reader = pool.add_task(first)
        with pytest.raises(ValueError, match="first"):
            pool.add_task(second)
        assert pool.num_tasks() == 1
        assert sorted(reader.read(0)) == [0, 1, 2]
        other: IteratorThreadTask[int, int] = IteratorThreadTask(
            iter(range(2)), "other channel", lambda x: x
        )
        assert sorted(pool.add_task(other).read(0)) == [0, 1]  # second is still addable elsewhere


class Payload:
    """Something big a task function's closure could hold."""


@pytest.mark.parametrize("size", [0, 2])
def test_a_removed_task_is_freed_while_its_readers_live(size: int) -> None:
    with running_pool(size) as pool:
        payload = Payload()
        held = [payload]
        payload_ref = weakref.ref(payload)
        del payload
        first = source(pool, 20, lambda x: x + len(held) - 1)  # noqa: F821 (deleted below)
        last = pool.add_task(ChannelThreadTask(first, "then", lambda x: x))
        assert sorted(last.read(5)) == [0, 1, 2, 3, 4]
        task = last.task()
        task_ref = weakref.ref(task)
        pool.remove_task(task)
        del task, held
        gc.collect()
        assert task_ref() is None, "the removed task is still alive"
        with pytest.raises(ValueError):
            last.task()
        pool.remove_task(first.task())
        gc.collect()
        assert payload_ref() is None, "what the task function held is still alive"
        with pytest.raises(ValueError):
            first.task()
        assert pool.num_tasks() == 0
        last.read(0)  # reading ends (the channel is closed)


def test_remove_task_of_a_non_member_raises_naming_it() -> None:
    with running_pool(1) as pool, running_pool(1) as other:
        stranger: IteratorThreadTask[int, int] = IteratorThreadTask(
            iter(range(2)), "stranger", lambda x: x
        )
        with pytest.raises(ValueError, match="stranger"):
            pool.remove_task(stranger)
        elsewhere = source(other, 2, name="elsewhere")
        with pytest.raises(ValueError, match="elsewhere"):
            pool.remove_task(elsewhere.task())
        with pytest.raises(TypeError):
            pool.remove_task("not a task")  # type: ignore[arg-type]  # bad on purpose
        mine = source(pool, 2, name="mine")
        task = mine.task()
        pool.remove_task(task)
        pool.remove_task(task)  # removed already: nothing to do


@pytest.mark.parametrize("size", [0, 2])
@pytest.mark.parametrize("max_chunksize", [0, 1])
def test_an_astronomic_count_through_a_chain_returns_every_item(
    size: int, max_chunksize: int
) -> None:
    with running_pool(size) as pool:
        first = source(pool, 10, max_chunksize=max_chunksize)
        then = pool.add_task(
            ChannelThreadTask(first, "then", lambda x: x, max_chunksize=max_chunksize)
        )
        assert sorted(then.read(10**30)) == list(range(10))
        assert first.task().error() is None


# --- F10: an interrupt at any point of the pool's own locks leaves no chunk unaccounted ---


class _InterruptAtPoolLock:
    """A hook that raises KeyboardInterrupt at the ``target``-th ACQUIRE of ``Pool.lock``
    in the thread that installed it (once), and counts those acquisitions."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.seen = 0
        self.thread = threading.get_ident()

    def __call__(self, point: util.SyncPoint, primitive: util.SyncPrimitive) -> bool:
        if (
            point is util.SyncPoint.ACQUIRE
            and primitive.name == "Pool.lock"
            and threading.get_ident() == self.thread
        ):
            self.seen += 1
            if self.seen == self.target:
                raise KeyboardInterrupt(f"at acquisition {self.seen} of Pool.lock")
        return False


@pytest.mark.parametrize("max_chunksize", [0, 1, 3])
def test_an_interrupt_at_any_acquisition_of_the_pool_lock_loses_and_strands_nothing(
    max_chunksize: int,
) -> None:
    """Sweep every acquisition of the pool lock that a serial chain read makes (the
    plan, taking a chunk, the accounting after it): interrupted at any one of them, the
    read raises, and the next read returns without hanging; no item is delivered twice,
    and every item is delivered unless the interrupt landed inside a chunk, which fails
    that chunk's task (F6)."""
    target = 1
    while True:
        with running_pool(0) as pool:
            feeder_task: IteratorThreadTask[int, int] = IteratorThreadTask(
                iter(range(7)), "src", lambda x: x, max_chunksize=max_chunksize
            )
            feeder = pool.add_task(feeder_task)
            stage: ChannelThreadTask[int, int] = ChannelThreadTask(
                feeder, "stage", lambda x: x * 10, max_chunksize=max_chunksize
            )
            reader = pool.add_task(stage)
            hook = _InterruptAtPoolLock(target)
            previous = util.set_sync_hook(hook)
            interrupted = False
            try:
                got = reader.read(4)
            except KeyboardInterrupt:
                interrupted, got = True, []
            finally:
                util.set_sync_hook(previous)
            rest = start_bounded(functools.partial(reader.read, 0), "the rest").result()
            delivered, expected = got + rest, [x * 10 for x in range(7)]
            assert len(set(delivered)) == len(delivered), (target, got, rest)
            assert set(delivered) <= set(expected), (target, got, rest)
            if feeder_task.error() is None and stage.error() is None:
                assert sorted(delivered) == expected, (target, got, rest)
            assert not pool._lock.locked()
            # Every chunk that ran was accounted for: none in flight, no thread still
            # counted as inside one (it would run chunks it must leave to workers, P11).
            assert not inside_chunk(), target
            assert not any(state.running for state in pool._states.values()), target
            assert all(state.inflight == 0 for state in pool._states.values()), target
        if not interrupted:
            assert target > hook.seen  # every acquisition of the read was interrupted once
            return
        target += 1
