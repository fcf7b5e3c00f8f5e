"""Task graphs in a pool: chains, fan-in and fan-out, pools crossing, chunking by
``min_count`` and ``max_chunksize``, failing tasks, random forests and the acceptance
chain.

Every test taking the ``pool`` fixture runs serial (size 0) and threaded (1, 2, 4).
Results are compared as sorted lists wherever several chunks may finish out of order:
"every item exactly once" is then a sorted-list equality.
"""

from __future__ import annotations

import functools
import gc
import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refasync import ChannelThreadTask, IteratorThreadTask, Pool, PoolReader, ThreadPool
from refasync.testing import wait_or_fail
from tests.pool_support import (
    BOUND_S,
    POOL_SIZES,
    Boom,
    ChunkLog,
    feed,
    identity,
    live_workers,
    logged_feed,
    read_in_pieces,
    running_pool,
    start_bounded,
    then,
)

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
            k * 1000 + x
            for k, parent in enumerate(self.parents)
            if parent is None
            for x in range(self.items[k])
        )

    def build(self, pool: Pool) -> list[PoolReader[int]]:
        readers: list[PoolReader[int]] = []
        for node, parent in enumerate(self.parents):
            min_count, max_chunksize = self.limits[node]
            if parent is None:
                offset = node * 1000
                feeder: IteratorThreadTask[int, int] = IteratorThreadTask(
                    iter(range(offset, offset + self.items[node])),
                    node,
                    identity,
                    min_count=min_count,
                    max_chunksize=max_chunksize,
                )
                readers.append(pool.add_task(feeder))
            else:
                task: ChannelThreadTask[int, int] = ChannelThreadTask(
                    readers[parent],
                    node,
                    identity,
                    min_count=min_count,
                    max_chunksize=max_chunksize,
                )
                readers.append(pool.add_task(task))
        return readers


@pytest.mark.timeout(600)  # the whole run; each example's reads are bounded by BOUND_S
@pytest.mark.usefixtures("frozen_heap")  # each example's gc.collect() scans its own objects
@given(data=st.data())
def test_random_forest_every_item_reaches_exactly_one_leaf(data: st.DataObject) -> None:
    forest = Forest(data)
    with running_pool(forest.size) as pool:
        readers = forest.build(pool)
        reading = [
            start_bounded(
                functools.partial(read_in_pieces, readers[leaf], forest.counts[leaf]),
                f"leaf {leaf}",
            )
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
            pool.add_task(times3),
            "plus7",
            lambda items: [x + 7 for x in items],
            False,
            min_count=m2,
            max_chunksize=c2,
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
