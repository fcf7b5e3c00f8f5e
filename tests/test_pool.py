"""Tests of refasync.pool: reading through PoolReaders, task graphs, chunking, pool sizes,
failures and the removal of orphaned tasks.

Every test taking the ``pool`` fixture runs serial (size 0) and threaded (1, 2, 4).
Results are compared as sorted lists wherever several chunks may finish out of order:
"every item exactly once" is then a sorted-list equality.
"""

from __future__ import annotations

import functools
import gc
import random
import threading
import weakref
from typing import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refasync import (
    Channel,
    ChannelThreadTask,
    ChannelWriter,
    IteratorThreadTask,
    Pool,
    PoolReader,
    Reader,
    SerialChannel,
    ThreadPool,
    Writer,
)
from refasync.pool import ChunkQueue, PoolWorker
from refasync.testing import Hang, dump_stacks, wait_or_fail
from refasync.util import Lock
from tests.pool_support import (
    BOUND_S,
    POOL_SIZES,
    Gate,
    live_workers,
    running_pool,
    start_bounded,
)


@pytest.fixture(params=POOL_SIZES, ids=lambda size: f"size{size}")
def pool(request: pytest.FixtureRequest) -> Iterator[ThreadPool]:
    size: int = request.param
    with running_pool(size) as created:
        yield created


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
            raise Hang(f"{len(live_workers(pool))} workers alive, expected {expected}\n"
                       f"{dump_stacks()}")
        for thread in live_workers(pool):
            thread.join(0.02)


# --- the PoolReader -----------------------------------------------------------------------


def test_add_task_returns_a_pool_reader(pool: ThreadPool) -> None:
    task: IteratorThreadTask[int, int] = IteratorThreadTask(iter(range(3)), "t", identity)
    reader = pool.add_task(task)
    assert isinstance(reader, PoolReader)
    assert reader.task() is task
    assert reader.task_ref()() is task
    assert reader.pool() is pool
    assert reader.pool_ref()() is pool
    assert isinstance(task.writer(), ChannelWriter)
    assert pool.num_tasks() == 1
    assert reader.read() == [0, 1, 2]


def test_task_of_a_released_reader_can_be_gone(pool: ThreadPool) -> None:
    task: IteratorThreadTask[int, int] | None = IteratorThreadTask(iter(range(3)), "t", identity)
    assert task is not None
    reader = pool.add_task(task)
    task_ref = reader.task_ref()
    reader.release()
    del task
    gc.collect()
    assert pool.num_tasks() == 0
    assert task_ref() is None
    with pytest.raises(ValueError):
        reader.task()
    assert reader.read(0) == []  # nothing was produced; the read still ends


# --- reads --------------------------------------------------------------------------------


def test_read_all_with_count_zero(pool: ThreadPool) -> None:
    reader = feed(pool, 100, lambda x: x * x)
    assert sorted(reader.read()) == [x * x for x in range(100)]
    assert reader.read() == []
    assert reader.task().is_done()
    assert reader.task().is_closed()


@pytest.mark.parametrize("count", [1, 3, 10, 99, 100, 101])
def test_blocking_read_returns_exactly_count_until_the_end(pool: ThreadPool, count: int) -> None:
    reader = feed(pool, 100)
    got: list[int] = []
    while len(got) + count <= 100:
        items = reader.read(count)
        assert len(items) == count
        got.extend(items)
    rest = reader.read(count)
    assert len(rest) == 100 - len(got)
    assert sorted(got + rest) == list(range(100))


@pytest.mark.parametrize("count", [0, 1, 5, -1])
@pytest.mark.parametrize("block", [True, False])
def test_reading_a_closed_drained_channel_returns_nothing_at_once(
    pool: ThreadPool, count: int, block: bool
) -> None:
    reader = feed(pool, 5)
    assert sorted(reader.read(0)) == [0, 1, 2, 3, 4]
    assert reader.read(count, block) == []
    assert reader.read(count, block, timeout=0) == []
    assert reader.read(count, block, timeout=1000.0) == []


def test_non_blocking_read(pool: ThreadPool) -> None:
    reader = feed(pool, 50)
    first = reader.read(3, block=False)
    if pool.size() == 0:
        assert first == [0, 1, 2]  # serial: the reading thread does the work
    else:
        assert len(first) <= 3  # threaded: whatever is there now
    some = reader.read(0, block=False)
    rest = reader.read(0)
    got = first + some + rest
    assert sorted(got) == list(range(50))


def test_non_blocking_read_does_not_wait_for_a_chunk_in_flight(pool: ThreadPool) -> None:
    gate = Gate(block_at=0)
    reader = feed(pool, 3, gate)
    held = start_bounded(lambda: reader.read(1), "held read")
    wait_or_fail(gate.entered, BOUND_S, "chunk entered fun")
    # The one item demanded is in flight: nothing to run, nothing to wait for.
    assert reader.read(1, block=False) == []
    gate.release.set()
    assert held.result() == [0]
    assert sorted(reader.read(0)) == [1, 2]


def test_timed_read_returns_what_it_has_when_the_timeout_expires(pool: ThreadPool) -> None:
    gate = Gate(block_at=0)
    reader = feed(pool, 3, gate)
    held = start_bounded(lambda: reader.read(1), "held read")
    wait_or_fail(gate.entered, BOUND_S, "chunk entered fun")
    assert reader.read(1, timeout=0.05) == []
    assert reader.read(1, timeout=0) == []
    gate.release.set()
    assert held.result() == [0]
    assert sorted(reader.read(5, timeout=BOUND_S)) == [1, 2]


@pytest.mark.parametrize("count", [1.0, "2", True, None])
def test_read_count_must_be_an_int(pool: ThreadPool, count: object) -> None:
    reader = feed(pool, 4)
    with pytest.raises(TypeError):
        reader.read(count)  # type: ignore[arg-type]  # bad on purpose
    assert sorted(reader.read(0)) == [0, 1, 2, 3]  # the bad read consumed nothing


def test_negative_timeout_is_rejected(pool: ThreadPool) -> None:
    reader = feed(pool, 4)
    with pytest.raises(ValueError):
        reader.read(1, timeout=-0.5)
    assert sorted(reader.read(0)) == [0, 1, 2, 3]


def test_iterating_a_pool_reader_yields_every_item(pool: ThreadPool) -> None:
    reader = feed(pool, 30, lambda x: x + 1)
    assert sorted(reader) == list(range(1, 31))


def test_failing_post_read_callback_puts_the_items_back(pool: ThreadPool) -> None:
    reader = feed(pool, 10)
    first = reader.read(2)

    def refuse(items: list[int]) -> list[int]:
        raise Boom("post")

    reader.set_post_cb(refuse)
    with pytest.raises(Boom):
        reader.read(3)
    reader.set_post_cb(None)
    assert sorted(first + reader.read(0)) == list(range(10))


def test_failing_pre_read_callback_consumes_nothing(pool: ThreadPool) -> None:
    reader = feed(pool, 10)

    def refuse(count: int) -> None:
        raise Boom(f"pre {count}")

    reader.set_pre_cb(refuse)
    with pytest.raises(Boom):
        reader.read(3)
    reader.set_pre_cb(None)
    assert sorted(reader.read(0)) == list(range(10))


def test_post_read_callback_transforms_what_is_returned(pool: ThreadPool) -> None:
    reader = feed(pool, 6)
    reader.set_post_cb(lambda items: [10 * x for x in items])
    assert sorted(reader.read(0)) == [0, 10, 20, 30, 40, 50]


# --- task graphs --------------------------------------------------------------------------


def test_chain(pool: ThreadPool) -> None:
    first = feed(pool, 200, lambda x: x + 1)
    second = then(pool, first, lambda x: x * 2, "double")
    third = then(pool, second, lambda x: x - 1, "dec")
    assert pool.num_tasks() == 3
    got = read_in_pieces(third, [1, 7, 2, 30])
    assert sorted(got) == [2 * (x + 1) - 1 for x in range(200)]
    assert all(r.task().is_done() for r in (first, second, third))


def test_fan_in_two_chains_read_by_a_thread_each(pool: ThreadPool) -> None:
    evens = then(pool, feed(pool, 150, lambda x: 2 * x), lambda x: x + 1000, "evens")
    odds = then(pool, feed(pool, 150, lambda x: 2 * x + 1), lambda x: x + 1000, "odds")
    readers = [
        start_bounded(lambda: read_in_pieces(evens, [3, 1, 11]), "evens"),
        start_bounded(lambda: read_in_pieces(odds, [5, 2]), "odds"),
    ]
    got_evens, got_odds = (r.result() for r in readers)
    assert sorted(got_evens) == [2 * x + 1000 for x in range(150)]
    assert sorted(got_odds) == [2 * x + 1001 for x in range(150)]


def test_fan_out_two_tasks_share_one_input_each_item_once(pool: ThreadPool) -> None:
    source = feed(pool, 300)
    left = then(pool, source, lambda x: x, "left")
    right = then(pool, source, lambda x: x, "right")
    readers = [
        start_bounded(lambda: read_in_pieces(left, [4, 1, 9]), "left"),
        start_bounded(lambda: read_in_pieces(right, [2, 13]), "right"),
    ]
    got_left, got_right = (r.result() for r in readers)
    assert sorted(got_left + got_right) == list(range(300))


@pytest.mark.parametrize("other_size", [0, 2])
def test_cross_pool_chain(pool: ThreadPool, other_size: int) -> None:
    with running_pool(other_size) as other:
        source = feed(pool, 120, lambda x: 3 * x)
        downstream = then(other, source, lambda x: x + 1, "in other pool")
        assert (pool.num_tasks(), other.num_tasks()) == (1, 1)
        got = read_in_pieces(downstream, [1, 8, 3])
        assert sorted(got) == [3 * x + 1 for x in range(120)]


def test_concurrent_readers_of_one_pool_reader_get_each_item_once(pool: ThreadPool) -> None:
    reader = then(pool, feed(pool, 400, max_chunksize=7), lambda x: x, "shared")
    count_sets = [[1], [2, 5], [3, 1, 8], [16]]
    readers = [
        start_bounded(functools.partial(read_in_pieces, reader, counts), f"reader{k}")
        for k, counts in enumerate(count_sets)
    ]
    got = [item for r in readers for item in r.result()]
    assert sorted(got) == list(range(400))


# --- chunking: min_count and max_chunksize ----------------------------------------------------


def test_min_count_makes_every_chunk_at_least_that_large(pool: ThreadPool) -> None:
    log = ChunkLog()
    reader = logged_feed(pool, 40, log, min_count=5)
    got = read_in_pieces(reader, [1])
    assert sorted(got) == list(range(40))
    assert log.sizes() and all(size == 5 for size in log.sizes())  # 40 = 8 * 5


def test_min_count_work_is_done_for_a_small_read(pool: ThreadPool) -> None:
    log = ChunkLog(target=7)
    reader = logged_feed(pool, 50, log, min_count=7, max_chunksize=3)
    first = reader.read(1)  # threaded, chunks [3, 3, 1] may finish in any order
    assert len(first) == 1 and 0 <= first[0] < 7
    if pool.size() == 0:
        assert log.reached.is_set()  # serial: within the read itself
    else:
        wait_or_fail(log.reached, BOUND_S, "7 items processed for a read of 1")
    assert all(size <= 3 for size in log.sizes())
    assert sorted(first + reader.read(0)) == list(range(50))


@pytest.mark.parametrize("counts", [[0], [10], [1, 4], [25]])
def test_max_chunksize_bounds_every_chunk(pool: ThreadPool, counts: list[int]) -> None:
    log = ChunkLog()
    reader = logged_feed(pool, 100, log, max_chunksize=3)
    got = read_in_pieces(reader, counts)
    assert sorted(got) == list(range(100))
    assert all(1 <= size <= 3 for size in log.sizes())
    assert sum(log.sizes()) == 100


def test_min_count_and_max_chunksize_together(pool: ThreadPool) -> None:
    log = ChunkLog()
    reader = logged_feed(pool, 90, log, min_count=7, max_chunksize=3)
    got = read_in_pieces(reader, [1, 2])
    assert sorted(got) == list(range(90))
    assert all(1 <= size <= 3 for size in log.sizes())
    assert sum(log.sizes()) == 90


def test_chunk_limits_changed_between_reads_apply_to_later_chunks(pool: ThreadPool) -> None:
    log = ChunkLog()
    reader = logged_feed(pool, 60, log, max_chunksize=2)
    first = reader.read(10)
    task = reader.task()
    done_before = len(log.sizes())
    task.max_chunksize = 0
    task.min_count = 50
    rest = reader.read(0)
    assert sorted(first + rest) == list(range(60))
    assert all(size <= 2 for size in log.sizes()[:done_before])
    assert sum(log.sizes()) == 60


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
    for checkpoint, size in zip(progress.passed, sizes):
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


# --- failing tasks ------------------------------------------------------------------------


def fails_at(bad: int) -> Callable[[int], int]:
    def fun(x: int) -> int:
        if x == bad:
            raise Boom(f"item {x}")
        return x

    return fun


def test_failing_task_delivers_the_items_before_the_failure(pool: ThreadPool) -> None:
    reader = feed(pool, 10, fails_at(5))
    assert reader.read(0) == [0, 1, 2, 3, 4]  # one chunk: in order
    task = reader.task()
    assert isinstance(task.error(), Boom)
    assert task.is_done() and task.is_closed()
    assert reader.read(1) == []


def test_failing_task_read_one_at_a_time(pool: ThreadPool) -> None:
    reader = feed(pool, 10, fails_at(5))
    got = read_in_pieces(reader, [1])
    assert got == [0, 1, 2, 3, 4]  # one reader, one item per chunk: in order
    assert isinstance(reader.task().error(), Boom)


def test_failing_task_in_parallel_chunks_ends_every_reader(pool: ThreadPool) -> None:
    reader = feed(pool, 200, fails_at(100), max_chunksize=3)
    readers = [start_bounded(lambda: read_in_pieces(reader, [4, 1]), f"r{k}") for k in range(3)]
    got = [item for r in readers for item in r.result()]
    assert len(got) == len(set(got))
    assert set(got) <= set(range(200)) - {100}
    assert isinstance(reader.task().error(), Boom)


def test_dependents_of_a_failing_task_end_with_its_items(pool: ThreadPool) -> None:
    source = feed(pool, 10, fails_at(5))
    doubled = then(pool, source, lambda x: 2 * x, "double")
    shifted = then(pool, doubled, lambda x: x + 1, "shift")
    assert sorted(read_in_pieces(shifted, [2, 1])) == [1, 3, 5, 7, 9]
    assert isinstance(source.task().error(), Boom)
    assert doubled.task().error() is None and doubled.task().is_done()
    assert shifted.task().error() is None and shifted.task().is_done()


def test_a_failing_task_does_not_kill_workers(pool: ThreadPool) -> None:
    workers = live_workers(pool)
    for _ in range(3):
        failing = feed(pool, 20, fails_at(3), max_chunksize=2)
        assert set(read_in_pieces(failing, [5])) <= {0, 1, 2} | set(range(4, 20))
    assert live_workers(pool) == workers
    assert pool.size() == len(workers)
    healthy = then(pool, feed(pool, 50, max_chunksize=5), lambda x: x, "healthy")
    assert sorted(healthy.read(0)) == list(range(50))


def test_a_kept_failure_does_not_pin_the_failed_chain(pool: ThreadPool) -> None:
    source: PoolReader[int] | None = feed(pool, 30)
    assert source is not None
    failing = ChannelThreadTask(source, "fails", fails_at(7))
    reader: PoolReader[int] | None = pool.add_task(failing)
    assert reader is not None
    assert read_in_pieces(reader, [3]) == [0, 1, 2, 3, 4, 5, 6]
    error = failing.error()  # the test keeps the task and its error
    assert isinstance(error, Boom)
    text = failing.error_traceback()
    assert text is not None and "Boom: item 7" in text
    source = reader = None
    gc.collect()
    assert pool.num_tasks() == 0


# --- orphans and remove_task ----------------------------------------------------------------


def test_dropping_the_last_reader_removes_the_task(pool: ThreadPool) -> None:
    task: IteratorThreadTask[int, int] = IteratorThreadTask(iter(range(10)), "t", identity)
    reader: PoolReader[int] | None = pool.add_task(task)
    assert reader is not None
    assert reader.read(3) == [0, 1, 2]
    assert pool.num_tasks() == 1
    reader = None
    gc.collect()
    assert pool.num_tasks() == 0
    assert task.is_done()  # we still hold the task; the pool let go of it
    assert task.is_closed()


def test_release_makes_the_task_an_orphan_and_reading_still_ends(pool: ThreadPool) -> None:
    reader = feed(pool, 30)
    first = reader.read(5)
    reader.release()
    reader.release()  # idempotent
    gc.collect()
    assert pool.num_tasks() == 0
    rest = reader.read(0)  # whatever was produced already; then the closed channel ends it
    assert sorted(first + rest) == list(range(len(first) + len(rest)))


def test_orphans_are_removed_recursively_through_a_chain(pool: ThreadPool) -> None:
    # The test keeps every task alive: removal must not depend on the tasks being collected.
    feeder: IteratorThreadTask[int, int] = IteratorThreadTask(iter(range(50)), "f", identity)
    r1: PoolReader[int] | None = pool.add_task(feeder)
    assert r1 is not None
    middle = ChannelThreadTask(r1, "m", lambda x: x + 1)
    r2: PoolReader[int] | None = pool.add_task(middle)
    assert r2 is not None
    last = ChannelThreadTask(r2, "l", lambda x: x * 2)
    r3: PoolReader[int] | None = pool.add_task(last)
    assert r3 is not None
    r1 = r2 = None
    gc.collect()
    assert pool.num_tasks() == 3  # inputs survive while a dependent holds them
    assert sorted(read_in_pieces(r3, [6])) == [2 * (x + 1) for x in range(50)]
    r3 = None
    gc.collect()
    assert pool.num_tasks() == 0
    assert feeder.is_done() and middle.is_done() and last.is_done()


def test_a_partially_read_chain_is_removed_when_dropped(pool: ThreadPool) -> None:
    reader: PoolReader[int] | None = then(
        pool, then(pool, feed(pool, 500, max_chunksize=4), identity, "a"), identity, "b"
    )
    assert reader is not None
    assert len(reader.read(20)) == 20
    assert pool.num_tasks() == 3
    reader = None
    gc.collect()
    assert pool.num_tasks() == 0


def test_remove_task_removes_an_idle_task_and_closes_its_channel(pool: ThreadPool) -> None:
    reader = feed(pool, 40)
    first = reader.read(4)
    task = reader.task()
    assert pool.remove_task(task) is pool
    assert pool.num_tasks() == 0
    assert task.is_done() and task.is_closed()
    rest = reader.read(0)
    assert sorted(first + rest) == list(range(len(first) + len(rest)))
    assert reader.read(5) == []
    assert pool.remove_task(task) is pool  # no longer in the pool: nothing to do


def test_remove_task_waits_for_the_chunk_in_flight_and_wakes_readers(pool: ThreadPool) -> None:
    gate = Gate(block_at=0)
    finished = threading.Event()  # set by fun once it is through with item 0

    def fun(x: int) -> int:
        y = gate(x)
        if x == 0:
            finished.set()
        return y

    reader = feed(pool, 10, fun)
    holder = start_bounded(lambda: reader.read(1), "chunk holder")
    wait_or_fail(gate.entered, BOUND_S, "chunk entered fun")
    waiter = start_bounded(lambda: reader.read(5), "blocked reader")
    task = reader.task()
    remover = start_bounded(lambda: pool.remove_task(task), "remover")
    gate.release.set()
    assert remover.result() is pool
    assert finished.is_set()  # remove_task returned only after the chunk in flight
    got = holder.result() + waiter.result()  # both woke; nothing more will come
    assert 0 in got
    assert sorted(got) == list(range(len(got)))
    assert task.is_done() and task.is_closed()
    assert pool.num_tasks() == 0


def test_remove_task_removes_orphaned_inputs(pool: ThreadPool) -> None:
    source: PoolReader[int] | None = feed(pool, 30)
    assert source is not None
    dependent = ChannelThreadTask(source, "dep", identity)
    reader = pool.add_task(dependent)
    assert len(reader.read(3)) == 3
    source = None
    gc.collect()
    assert pool.num_tasks() == 2
    pool.remove_task(dependent)  # its input has no other handle: removed as well
    assert pool.num_tasks() == 0


def test_remove_task_keeps_inputs_the_user_still_holds(pool: ThreadPool) -> None:
    source: PoolReader[int] | None = feed(pool, 30)
    assert source is not None
    dependent = ChannelThreadTask(source, "dep", identity)
    pool.add_task(dependent)
    pool.remove_task(dependent)
    assert pool.num_tasks() == 1
    assert sorted(source.read(0)) == list(range(30))
    source = None
    gc.collect()
    assert pool.num_tasks() == 0


def test_dropping_one_fan_out_dependent_keeps_the_shared_input(pool: ThreadPool) -> None:
    source: PoolReader[int] | None = feed(pool, 100)
    assert source is not None
    left: PoolReader[int] | None = then(pool, source, identity, "left")
    assert left is not None
    right = then(pool, source, identity, "right")
    source = None
    got = left.read(3)
    left = None
    gc.collect()
    assert pool.num_tasks() == 2  # the source still has a dependent: right
    assert sorted(got + right.read(0)) == list(range(100))


def test_a_task_reads_through_its_own_handle_of_the_given_reader(pool: ThreadPool) -> None:
    source = feed(pool, 20)
    dependent = ChannelThreadTask(source, "dep", identity)
    reader = pool.add_task(dependent)
    own = dependent.reader()
    assert isinstance(own, PoolReader)
    assert own.task() is source.task()  # same task and channel, another handle
    assert own.channel is source.channel
    assert sorted(reader.read(0)) == list(range(20))


def test_set_read_before_add_task_is_kept(pool: ThreadPool) -> None:
    source = feed(pool, 10)
    dependent = ChannelThreadTask(source, "dep", identity)
    dependent.set_read(lambda count: [x + 100 for x in source.read(count)])
    reader = pool.add_task(dependent)
    assert sorted(reader.read(0)) == list(range(100, 110))


def test_set_read_after_add_task_is_used(pool: ThreadPool) -> None:
    source = feed(pool, 10)
    dependent = ChannelThreadTask(source, "dep", identity)
    reader = pool.add_task(dependent)
    dependent.set_read(lambda count: [x + 100 for x in source.read(count)])
    assert sorted(reader.read(0)) == list(range(100, 110))


def test_duplicate_is_another_handle_with_the_same_callbacks(pool: ThreadPool) -> None:
    reader: PoolReader[int] | None = feed(pool, 12)
    assert reader is not None
    reader.set_post_cb(lambda items: [-x for x in items])
    twin = reader.duplicate()
    assert twin.task() is reader.task() and twin.channel is reader.channel
    got = reader.read(2)
    reader = None
    gc.collect()
    assert pool.num_tasks() == 1  # the twin still holds the task
    assert sorted(got + twin.read(0)) == [-x for x in range(11, -1, -1)]
    twin.release()
    assert pool.num_tasks() == 0
    with pytest.raises(ValueError):
        twin.duplicate()  # the task is not in its pool anymore


def test_cross_pool_handles_keep_and_release_inputs(pool: ThreadPool) -> None:
    with running_pool(1) as other:
        source: PoolReader[int] | None = feed(pool, 60)
        assert source is not None
        downstream: PoolReader[int] | None = then(other, source, identity, "other")
        assert downstream is not None
        source = None
        gc.collect()
        assert pool.num_tasks() == 1  # the task in the other pool holds the handle
        assert sorted(read_in_pieces(downstream, [7])) == list(range(60))
        downstream = None
        gc.collect()
        assert other.num_tasks() == 0
        assert pool.num_tasks() == 0


def test_a_reader_keeps_its_pool_alive() -> None:
    pool: ThreadPool | None = ThreadPool(2)
    assert pool is not None
    pool_ref = weakref.ref(pool)
    reader: PoolReader[int] | None = feed(pool, 20)
    assert reader is not None
    pool = None
    gc.collect()
    assert pool_ref() is not None
    assert sorted(reader.read(0)) == list(range(20))
    reader.pool().close()
    reader = None
    gc.collect()
    assert pool_ref() is None


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


def test_add_task_rejects_what_it_cannot_run(pool: ThreadPool) -> None:
    not_a_task: object = lambda x: x  # noqa: E731
    with pytest.raises(TypeError):
        pool.add_task(not_a_task)  # type: ignore[arg-type]  # bad on purpose

    bounded: Channel[int] = Channel(5)
    with pytest.raises(ValueError):
        pool.add_task(IteratorThreadTask(iter(range(3)), "b", identity, writer=ChannelWriter(bounded)))

    serial: SerialChannel[int] = SerialChannel()
    with pytest.raises(ValueError):
        pool.add_task(IteratorThreadTask(iter(range(3)), "s", identity, writer=ChannelWriter(serial)))

    class ListWriter(Writer[int]):
        def __init__(self) -> None:
            self.items: list[int] = []

        def write(self, item: int, block: bool = True, timeout: float | None = None) -> None:
            self.items.append(item)

    with pytest.raises(TypeError):
        pool.add_task(IteratorThreadTask(iter(range(3)), "w", identity, writer=ListWriter()))
    assert pool.num_tasks() == 0


def test_add_task_uses_a_given_channel_writer(pool: ThreadPool) -> None:
    channel: Channel[int] = Channel()
    writer = ChannelWriter(channel)
    task: IteratorThreadTask[int, int] = IteratorThreadTask(iter(range(4)), "w", identity, writer=writer)
    reader = pool.add_task(task)
    assert task.writer() is writer
    assert reader.channel is channel
    assert sorted(reader.read(0)) == [0, 1, 2, 3]


# --- random forests of tasks ---------------------------------------------------------------------


class Forest:
    """A random task forest: node 0 and every node without a parent are feeders; every other
    node is a ChannelThreadTask reading its parent's PoolReader (several children of one
    parent share its items). Feeder k produces k * 1000 + x for x in range(items[k])."""

    def __init__(self, data: st.DataObject) -> None:
        self.size = data.draw(st.sampled_from(POOL_SIZES), label="size")
        nodes = data.draw(st.integers(1, 7), label="nodes")
        self.parents: list[int | None] = [None]  # node 0 is a feeder
        self.parents += [
            data.draw(st.none() | st.integers(0, i - 1), label=f"parent of {i}")
            for i in range(1, nodes)
        ]
        self.items = [data.draw(st.integers(0, 60), label=f"items of {i}") for i in range(nodes)]
        self.limits = [
            (
                data.draw(st.sampled_from([None, 1, 3, 10]), label=f"min_count of {i}"),
                data.draw(st.sampled_from([0, 1, 2, 5]), label=f"max_chunksize of {i}"),
            )
            for i in range(nodes)
        ]
        self.leaves = [i for i in range(nodes) if i not in self.parents]
        self.counts = {
            leaf: data.draw(
                st.lists(st.sampled_from([-1, 0, 1, 2, 3, 7, 40]), min_size=1, max_size=3),
                label=f"read counts of {leaf}",
            )
            for leaf in self.leaves
        }
        self.resizes = data.draw(st.lists(st.sampled_from(POOL_SIZES), max_size=3), label="resizes")

    def expected(self) -> list[int]:
        return sorted(
            k * 1000 + x for k, parent in enumerate(self.parents) if parent is None
            for x in range(self.items[k])
        )

    def build(self, pool: Pool) -> list[PoolReader[int]]:
        readers: list[PoolReader[int]] = []
        for node, parent in enumerate(self.parents):
            min_count, max_chunksize = self.limits[node]
            if parent is None:
                offset = node * 1000
                feeder: IteratorThreadTask[int, int] = IteratorThreadTask(
                    iter(range(offset, offset + self.items[node])), node, identity,
                    min_count=min_count, max_chunksize=max_chunksize,
                )
                readers.append(pool.add_task(feeder))
            else:
                task: ChannelThreadTask[int, int] = ChannelThreadTask(
                    readers[parent], node, identity, min_count=min_count, max_chunksize=max_chunksize
                )
                readers.append(pool.add_task(task))
        return readers


@pytest.mark.timeout(600)  # the whole run; each example's reads are bounded by BOUND_S
@given(data=st.data())
def test_random_forest_every_item_reaches_exactly_one_leaf(data: st.DataObject) -> None:
    forest = Forest(data)
    with running_pool(forest.size) as pool:
        readers = forest.build(pool)
        reading = [
            start_bounded(functools.partial(read_in_pieces, readers[leaf], forest.counts[leaf]),
                          f"leaf {leaf}")
            for leaf in forest.leaves
        ]
        for size in forest.resizes:
            pool.set_size(size)
        got = sorted(item for r in reading for item in r.result())
        assert got == forest.expected()
        del readers, reading
        gc.collect()
        assert pool.num_tasks() == 0


# --- THE acceptance test ------------------------------------------------------------------------

CHAIN_ITEMS = 500
CHAIN_REPETITIONS = 200
MIN_COUNTS: list[int | None] = [None, 0, 1, 2, 5, 17, 64]
MAX_CHUNKSIZES = [0, 0, 1, 3, 8, 40]
READ_COUNTS = [1, 1, 2, 3, 7, 16, 50, 501, -1]


class ChainRun:
    """One repetition: feeder -> 3 transformers -> a verifier reading with varying counts,
    all chunk limits and read counts drawn from ``rnd``."""

    def __init__(self, pool: ThreadPool, rnd: random.Random) -> None:
        self.rnd = rnd
        self.limits = [(rnd.choice(MIN_COUNTS), rnd.choice(MAX_CHUNKSIZES)) for _ in range(4)]
        (m0, c0), (m1, c1), (m2, c2), (m3, c3) = self.limits
        feeder: IteratorThreadTask[int, int] = IteratorThreadTask(
            iter(range(CHAIN_ITEMS)), "feeder", identity, min_count=m0, max_chunksize=c0
        )
        times3: ChannelThreadTask[int, int] = ChannelThreadTask(
            pool.add_task(feeder), "times3", lambda x: 3 * x, min_count=m1, max_chunksize=c1
        )
        plus7: ChannelThreadTask[int, int] = ChannelThreadTask(
            pool.add_task(times3), "plus7", lambda items: [x + 7 for x in items], False,
            min_count=m2, max_chunksize=c2,
        )
        minus7: ChannelThreadTask[int, int] = ChannelThreadTask(
            pool.add_task(plus7), "minus7", lambda x: x - 7, min_count=m3, max_chunksize=c3
        )
        self.reader = pool.add_task(minus7)

    def verify(self) -> list[int]:
        counts: list[int] = []
        got: list[int] = []
        while True:
            count = self.rnd.choice(READ_COUNTS)
            counts.append(count)
            items = self.reader.read(count)
            got.extend(items)
            if count < 1 or len(items) < count:
                return got


@pytest.mark.timeout(120)
@pytest.mark.parametrize("size", [1, 2, 4])
def test_chain_every_item_exactly_once(size: int) -> None:
    rnd = random.Random(f"test_chain_every_item_exactly_once-{size}")
    expected = [3 * x for x in range(CHAIN_ITEMS)]
    with running_pool(size) as pool:
        for repetition in range(CHAIN_REPETITIONS):
            run = ChainRun(pool, rnd)
            got = run.verify()
            assert sorted(got) == expected, (
                f"repetition {repetition}: (min_count, max_chunksize) per task {run.limits}; "
                f"{len(got)} items, {len(got) - len(set(got))} duplicates"
            )
            del run
            if repetition % 50 == 49:
                gc.collect()
                assert pool.num_tasks() == 0
