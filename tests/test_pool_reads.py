"""Reading through a PoolReader: counts, blocking, timeouts, callbacks and iteration.

Every test taking the ``pool`` fixture runs serial (size 0) and threaded (1, 2, 4).
"""

from __future__ import annotations

import gc

import pytest

from refasync import ChannelWriter, IteratorThreadTask, PoolReader, ThreadPool
from refasync.testing import wait_or_fail
from tests.pool_support import BOUND_S, Boom, Gate, feed, identity, start_bounded

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
