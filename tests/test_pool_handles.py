"""PoolReader handles and the removal of orphaned tasks: every reader is a handle of
its task, copies are real handles, a pool cannot be copied, tasks whose last handle is
gone are removed (recursively, across pools), ``remove_task``, ``add_task``'s checks,
and a task function that reads its own task fails clearly instead of waiting for
itself.

Every test taking the ``pool`` fixture runs serial (size 0) and threaded (1, 2, 4).
"""

from __future__ import annotations

import copy
import gc
import threading
import weakref
from collections.abc import Callable

import pytest

from refasync import (
    Channel,
    ChannelThreadTask,
    ChannelWriter,
    IteratorThreadTask,
    PoolReader,
    SerialChannel,
    ThreadPool,
    Writer,
)
from refasync.testing import wait_or_fail
from tests.pool_support import (
    BOUND_S,
    Gate,
    feed,
    identity,
    read_in_pieces,
    running_pool,
    start_bounded,
    then,
)


def numbers(pool: ThreadPool, n: int) -> PoolReader[int]:
    return pool.add_task(IteratorThreadTask(iter(range(n)), "numbers"))


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
def test_a_copied_reader_is_a_handle_of_its_own(
    pool: ThreadPool, copier: Callable[[PoolReader[int]], PoolReader[int]]
) -> None:
    reader = numbers(pool, 10)
    reader.set_post_cb(lambda items: [x * 10 for x in items])
    twin = copier(reader)
    assert isinstance(twin, PoolReader) and twin is not reader
    assert twin.task() is reader.task() and twin.channel is reader.channel
    assert twin.read(2) == [0, 10]  # the same channel, the same callbacks
    reader.release()
    del reader
    gc.collect()
    assert pool.num_tasks() == 1  # the copy holds the task
    assert twin.read(0) == [x * 10 for x in range(2, 10)]
    del twin
    gc.collect()
    assert pool.num_tasks() == 0  # and was its last handle


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
def test_a_pool_cannot_be_copied(
    pool: ThreadPool, copier: Callable[[ThreadPool], ThreadPool]
) -> None:
    with pytest.raises(TypeError, match="cannot be copied"):
        copier(pool)


def test_a_task_function_reading_its_own_task_fails_clearly(pool: ThreadPool) -> None:
    readers: list[PoolReader[int]] = []

    def reads_itself(x: int) -> int:
        if x == 3:
            readers[0].read(1)
        return x

    readers.append(pool.add_task(IteratorThreadTask(iter(range(10)), "selfish", reads_itself)))
    got = start_bounded(lambda: readers[0].read(0), "read all").result()
    assert got == [0, 1, 2]
    error = readers[0].task().error()
    assert isinstance(error, RuntimeError) and "its own" in str(error)


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


def test_add_task_rejects_what_it_cannot_run(pool: ThreadPool) -> None:
    not_a_task: object = lambda x: x  # noqa: E731
    with pytest.raises(TypeError):
        pool.add_task(not_a_task)  # type: ignore[arg-type]  # bad on purpose

    bounded: Channel[int] = Channel(5)
    with pytest.raises(ValueError):
        pool.add_task(
            IteratorThreadTask(iter(range(3)), "b", identity, writer=ChannelWriter(bounded))
        )

    serial: SerialChannel[int] = SerialChannel()
    with pytest.raises(ValueError):
        pool.add_task(
            IteratorThreadTask(iter(range(3)), "s", identity, writer=ChannelWriter(serial))
        )

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
    task: IteratorThreadTask[int, int] = IteratorThreadTask(
        iter(range(4)), "w", identity, writer=writer
    )
    reader = pool.add_task(task)
    assert task.writer() is writer
    assert reader.channel is channel
    assert sorted(reader.read(0)) == [0, 1, 2, 3]
