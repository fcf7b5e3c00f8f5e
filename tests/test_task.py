"""Tests of refasync.task: construction, configuration, process() and the task lifecycle.

Tasks are driven directly here (no pool runs them), except where a pool is the point:
``set_pool``/``pool()`` and adding a task twice. Every test runs with no hook and under a
recording hook (``sync_hook``, tests/conftest.py) with the same assertions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import pytest

from refasync import (
    Channel,
    ChannelReader,
    ChannelThreadTask,
    ChannelWriter,
    IteratorTaskBase,
    IteratorThreadTask,
    Reader,
    Task,
)
from refasync.testing import wait_or_fail
from tests.pool_support import BOUND_S, Gate, running_pool, start_bounded

pytestmark = pytest.mark.usefixtures("sync_hook")


class Boom(Exception):
    """The failure our task functions raise on purpose."""


def int_channel() -> tuple[ChannelWriter[int], ChannelReader[int]]:
    channel: Channel[int] = Channel()
    return ChannelWriter(channel), ChannelReader(channel)


def drain(reader: Reader[int]) -> list[int]:
    """:return: what a closed channel still holds (a non-blocking read of everything)."""
    return reader.read(0, block=False)


def iterator_task(
    n: int, fun: Callable[[int], int] = lambda x: x
) -> tuple[IteratorThreadTask[int, int], ChannelReader[int]]:
    """:return: a task over range(n) writing fun(x) into a fresh channel, and its reader."""
    writer, reader = int_channel()
    task: IteratorThreadTask[int, int] = IteratorThreadTask(
        iter(range(n)), "it", fun, writer=writer
    )
    return task, reader


def fails_at(bad: int) -> Callable[[int], int]:
    def fun(x: int) -> int:
        if x == bad:
            raise Boom(f"item {x}")
        return x

    return fun


# --- construction and configuration -------------------------------------------------------


def test_non_callable_fun_raises_type_error() -> None:
    not_callable: object = 42
    with pytest.raises(TypeError):
        Task("t", not_callable)  # type: ignore[call-overload]  # the wrong type is the point
    with pytest.raises(TypeError):
        IteratorThreadTask(iter(range(3)), "t", not_callable)  # type: ignore[call-overload]  # ditto


def test_channel_thread_task_needs_a_reader() -> None:
    not_a_reader: object = [1, 2, 3]
    with pytest.raises(TypeError):
        ChannelThreadTask(not_a_reader, "t", lambda x: x)  # type: ignore[call-overload]  # ditto


BAD_MIN_COUNTS: list[tuple[object, type[Exception]]] = [
    (-1, ValueError),
    (True, TypeError),
    ("3", TypeError),
    (1.5, TypeError),
]
BAD_MAX_CHUNKSIZES: list[tuple[object, type[Exception]]] = [
    (-1, ValueError),
    (None, TypeError),
    (False, TypeError),
    (2.0, TypeError),
]


@pytest.mark.parametrize("value, error", BAD_MIN_COUNTS)
def test_bad_min_count_is_rejected_by_constructor_and_setter(
    value: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        Task("t", lambda x: x, min_count=value)  # type: ignore[call-overload]  # bad on purpose
    task: Task[int, int] = Task("t", lambda x: x, min_count=4)
    with pytest.raises(error):
        task.min_count = value  # type: ignore[assignment]  # bad on purpose
    assert task.min_count == 4  # a rejected value changes nothing


@pytest.mark.parametrize("value, error", BAD_MAX_CHUNKSIZES)
def test_bad_max_chunksize_is_rejected_by_constructor_and_setter(
    value: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        Task("t", lambda x: x, max_chunksize=value)  # type: ignore[call-overload]  # bad on purpose
    task: Task[int, int] = Task("t", lambda x: x, max_chunksize=3)
    with pytest.raises(error):
        task.max_chunksize = value  # type: ignore[assignment]  # bad on purpose
    assert task.max_chunksize == 3


def test_min_count_and_max_chunksize_are_settable() -> None:
    task: Task[int, int] = Task("t", lambda x: x)
    assert (task.min_count, task.max_chunksize) == (None, 0)
    assert task.chunk_limits() == (0, 0)
    task.min_count = 5
    task.max_chunksize = 3
    assert (task.min_count, task.max_chunksize) == (5, 3)
    assert task.chunk_limits() == (5, 3)
    no_minimum: int | None = 0  # 0 means "no minimum", like None
    task.min_count = no_minimum
    assert task.min_count is None
    assert task.chunk_limits() == (0, 3)
    task.max_chunksize = 0
    assert task.chunk_limits() == (0, 0)


def test_constructor_stores_its_arguments() -> None:
    writer, _ = int_channel()

    def fun(items: list[int]) -> Iterable[int]:
        return items

    task: Task[int, int] = Task("name", fun, False, 2, 7, writer)
    assert task.id == "name"
    assert task.fun is fun
    assert task.apply_single is False
    assert task.chunk_limits() == (2, 7)
    assert task.writer() is writer
    assert not task.is_done()
    assert task.error() is None


# --- writer -------------------------------------------------------------------------------


def test_writer_and_set_writer() -> None:
    task: Task[int, int] = Task("t", lambda x: x)
    assert task.writer() is None
    writer, _ = int_channel()
    task.set_writer(writer)
    assert task.writer() is writer
    assert not task.is_closed()
    task.close()
    task.close()  # closing twice is fine
    assert task.is_closed()
    assert writer.closed()


def test_close_and_process_without_writer_raise_value_error() -> None:
    task, _ = iterator_task(3)
    task._out_writer = None  # as if no writer had been given
    with pytest.raises(ValueError):
        task.is_closed()
    with pytest.raises(ValueError):
        task.close()
    with pytest.raises(ValueError):
        task.process(1)


def test_process_without_input_raises_value_error() -> None:
    writer, _ = int_channel()
    task: Task[int, int] = Task("no input", lambda x: x, writer=writer)
    with pytest.raises(ValueError):
        task.process(1)


@pytest.mark.parametrize("count", [True, 1.0, "1", None])
def test_process_count_must_be_an_int(count: object) -> None:
    task, reader = iterator_task(3)
    with pytest.raises(TypeError):
        task.process(count)  # type: ignore[arg-type]  # bad on purpose
    assert drain(reader) == []  # nothing was consumed or written
    task.process(0)
    assert drain(reader) == [0, 1, 2]


# --- process() ------------------------------------------------------------------------------


def test_process_apply_single_calls_fun_per_item() -> None:
    calls: list[int] = []

    def square(x: int) -> int:
        calls.append(x)
        return x * x

    task, reader = iterator_task(10, square)
    task.process(3)
    assert calls == [0, 1, 2]
    assert drain(reader) == [0, 1, 4]
    assert not task.is_done()
    assert not task.is_closed()
    task.process(2)
    assert drain(reader) == [9, 16]


def test_process_apply_many_calls_fun_with_the_chunk() -> None:
    chunks: list[list[int]] = []

    def pair_sums(items: list[int]) -> Iterator[int]:
        chunks.append(list(items))
        yield sum(items)
        yield len(items)

    writer, reader = int_channel()
    task: IteratorThreadTask[int, int] = IteratorThreadTask(
        iter(range(7)), "many", pair_sums, False, writer=writer
    )
    task.process(4)
    assert chunks == [[0, 1, 2, 3]]
    assert drain(reader) == [6, 4]  # fun may return any number of results
    task.process(0)
    assert chunks == [[0, 1, 2, 3], [4, 5, 6]]
    assert drain(reader) == [15, 3]
    assert task.is_done() and task.is_closed()


@pytest.mark.parametrize("count", [0, -1, -100])
def test_process_count_below_one_processes_everything(count: int) -> None:
    task, reader = iterator_task(25, lambda x: x + 1)
    task.process(count)
    assert drain(reader) == list(range(1, 26))
    assert task.is_done()
    assert task.is_closed()


def test_process_marks_done_when_input_is_exhausted() -> None:
    task, reader = iterator_task(3)
    task.process(5)  # asked for more than there is: exhausted
    assert task.is_done() and task.is_closed()
    assert drain(reader) == [0, 1, 2]


def test_exact_count_is_not_exhaustion_until_a_read_comes_up_short() -> None:
    task, reader = iterator_task(3)
    task.process(3)
    assert not task.is_done()
    assert not task.is_closed()
    task.process(1)  # reads nothing: now the input is known to be exhausted
    assert task.is_done() and task.is_closed()
    assert drain(reader) == [0, 1, 2]


def test_process_after_done_does_nothing() -> None:
    calls: list[int] = []

    def record(x: int) -> int:
        calls.append(x)
        return x

    task, reader = iterator_task(5, record)
    task.set_done()
    task.process(0)
    assert calls == []
    assert drain(reader) == []


def test_channel_task_is_done_when_its_input_channel_closes() -> None:
    in_writer, in_reader = int_channel()
    out_writer, out_reader = int_channel()
    task: ChannelThreadTask[int, int] = ChannelThreadTask(
        in_reader, "double", lambda x: 2 * x, writer=out_writer
    )
    for item in range(4):
        in_writer.write(item)
    task.process(2)
    assert drain(out_reader) == [0, 2]
    in_writer.close()
    task.process(0)  # the rest, until the input is closed: returns at once
    assert drain(out_reader) == [4, 6]
    assert task.is_done() and task.is_closed()


def test_concurrent_process_calls_take_each_item_once_and_close_after_the_last() -> None:
    task, reader = iterator_task(400, lambda x: x)

    def work() -> None:
        while not task.is_done():
            task.process(3)

    workers = [start_bounded(work, f"process-{k}") for k in range(4)]
    for worker in workers:
        worker.result()
    assert task.is_closed()
    assert sorted(drain(reader)) == list(range(400))


# --- failure ------------------------------------------------------------------------------


def test_failing_fun_is_kept_task_done_channel_closed_earlier_items_readable() -> None:
    task, reader = iterator_task(10, fails_at(4))
    task.process(0)  # never raises to the caller
    error = task.error()
    assert isinstance(error, Boom) and str(error) == "item 4"
    assert task.is_done()
    assert task.is_closed()
    assert reader.read(0) == [0, 1, 2, 3]  # produced before the failure; no hang
    assert reader.read(5) == []


def test_failing_many_fun_writes_nothing_of_its_chunk() -> None:
    def fail_on_second_chunk(items: list[int]) -> list[int]:
        if 3 in items:
            raise Boom("chunk with 3")
        return items

    writer, reader = int_channel()
    task: IteratorThreadTask[int, int] = IteratorThreadTask(
        iter(range(9)), "many", fail_on_second_chunk, False, writer=writer
    )
    task.process(3)
    task.process(3)
    task.process(3)  # after the failure: a no-op
    assert isinstance(task.error(), Boom)
    assert reader.read(0) == [0, 1, 2]


def test_failing_input_is_kept_like_a_failing_fun() -> None:
    def items() -> Iterator[int]:
        yield 0
        yield 1
        raise Boom("input broke")

    writer, reader = int_channel()
    task: IteratorThreadTask[int, int] = IteratorThreadTask(items(), "in", writer=writer)
    task.process(1)
    task.process(1)
    task.process(1)
    assert isinstance(task.error(), Boom)
    assert task.is_done() and task.is_closed()
    assert reader.read(0) == [0, 1]


def test_only_the_first_failure_is_kept() -> None:
    task, _ = iterator_task(10, lambda x: 1 // 0 if x else x)
    task.process(1)
    task.process(1)
    first = task.error()
    assert isinstance(first, ZeroDivisionError)
    task.process(1)
    assert task.error() is first


def test_failure_lets_the_chunk_in_flight_deliver_then_closes() -> None:
    gate = Gate(block_at=0)

    def fun(x: int) -> int:
        if x == 1:
            raise Boom("second chunk")
        return gate(x)

    task, reader = iterator_task(5, fun)
    held = start_bounded(lambda: task.process(1), "held chunk")  # takes item 0, blocks
    wait_or_fail(gate.entered, BOUND_S, "first chunk entered fun")
    task.process(1)  # takes item 1 and fails
    assert not held.finished.is_set()
    assert task.is_done()  # no chunk starts any more ...
    assert not task.is_closed()  # ... but item 0, taken before the failure, is owed
    task.process(1)
    assert not task.is_closed()
    gate.release.set()
    held.result()
    assert task.is_closed()
    assert isinstance(task.error(), Boom)
    assert reader.read(0) == [0]


# --- set_done -----------------------------------------------------------------------------


def test_set_done_closes_an_idle_task_at_once() -> None:
    task, reader = iterator_task(5)
    task.process(2)
    task.set_done()
    assert task.is_done() and task.is_closed()
    assert task.error() is None
    assert reader.read(0) == [0, 1]  # a closed channel: returns at once


def test_set_done_with_a_chunk_in_flight_closes_when_the_chunk_ends() -> None:
    gate = Gate(block_at=0)
    task, reader = iterator_task(5, gate)
    held = start_bounded(lambda: task.process(2), "held chunk")
    wait_or_fail(gate.entered, BOUND_S, "chunk entered fun")
    task.set_done()
    assert task.is_done()
    assert not task.is_closed()  # the chunk still writes
    gate.release.set()
    held.result()
    assert task.is_closed()
    assert reader.read(0) == [0, 1]  # the chunk finished its items
    task.process(0)
    assert reader.read(0) == []


# --- subclasses ---------------------------------------------------------------------------


def test_iterator_task_without_fun_passes_items_through() -> None:
    channel: Channel[str] = Channel()
    base: IteratorTaskBase[str, str] = IteratorTaskBase(
        iter("abc"), "identity", writer=ChannelWriter(channel)
    )
    base.process(0)
    assert ChannelReader(channel).read(0) == ["a", "b", "c"]

    threaded, reader = iterator_task(0)
    threaded_identity: IteratorThreadTask[int, int] = IteratorThreadTask(
        iter([5, 6]), "identity", writer=threaded.writer()
    )
    threaded_identity.process(0)
    assert reader.read(0) == [5, 6]


def test_channel_thread_task_reader_and_set_read() -> None:
    in_writer, in_reader = int_channel()
    out_writer, out_reader = int_channel()
    task: ChannelThreadTask[int, int] = ChannelThreadTask(
        in_reader, "t", lambda x: x + 1, writer=out_writer
    )
    assert task.reader() is in_reader
    asked: list[int] = []

    def fake_read(count: int) -> list[int]:
        asked.append(count)
        return [100] * count

    task.set_read(fake_read)
    task.process(2)
    assert asked == [2]
    assert drain(out_reader) == [101, 101]
    assert task.reader() is in_reader  # set_read changes how, not what, is recorded
    in_writer.close()


def test_channel_thread_task_pool_and_set_pool() -> None:
    _, in_reader = int_channel()
    task: ChannelThreadTask[int, int] = ChannelThreadTask(in_reader, "t", lambda x: x)
    assert task.pool() is None
    with running_pool(0) as pool, running_pool(0) as other:
        task.set_pool(pool)
        assert task.pool() is pool
        with pytest.raises(ValueError):
            task.set_pool(pool)
        with pytest.raises(ValueError):
            task.set_pool(other)
        assert task.pool() is pool
        with pytest.raises(ValueError):
            pool.add_task(task)  # attached already


def test_add_task_sets_the_pool_of_a_channel_task() -> None:
    with running_pool(1) as pool:
        feeder = pool.add_task(IteratorThreadTask(iter(range(3)), "feed", lambda x: x))
        task: ChannelThreadTask[int, int] = ChannelThreadTask(feeder, "t", lambda x: x)
        reader = pool.add_task(task)
        assert task.pool() is pool
        assert reader.read(0) == [0, 1, 2]


@pytest.mark.parametrize("second_pool", [False, True], ids=["same pool", "second pool"])
@pytest.mark.parametrize("size", [0, 2])
def test_a_task_is_added_once(second_pool: bool, size: int) -> None:
    with running_pool(size) as pool, running_pool(size) as other:
        task = IteratorThreadTask(iter(range(4)), "once", lambda x: x)
        reader = pool.add_task(task)
        with pytest.raises(ValueError):
            (other if second_pool else pool).add_task(task)
        assert pool.num_tasks() == 1
        assert other.num_tasks() == 0
        assert reader.read(0) == [0, 1, 2, 3]  # the failed add changed nothing


@pytest.mark.parametrize("apply_single", [True, False])
def test_a_chunk_writes_its_results_in_batches_that_double_up_to_the_maximum(
    apply_single: bool,
) -> None:
    from refasync.task import MAX_WRITE_BATCH, WRITE_BATCH

    sizes: list[int] = []

    class CountingWriter(ChannelWriter[int]):  # overrides write_many: keeps its own (S6)
        def write_many(
            self, items: Iterable[int], block: bool = True, timeout: float | None = None
        ) -> None:
            items = list(items)
            sizes.append(len(items))
            super().write_many(items, block, timeout)

    channel: Channel[int] = Channel()
    writer = CountingWriter(channel)
    task: IteratorThreadTask[int, int]
    if apply_single:
        task = IteratorThreadTask(iter(range(3000)), "batches", lambda x: x, writer=writer)
    else:
        task = IteratorThreadTask(
            iter(range(3000)), "batches", lambda xs: list(xs), False, writer=writer
        )
    task.process(3000)
    assert (WRITE_BATCH, MAX_WRITE_BATCH) == (64, 1024)
    assert sizes == [64, 128, 256, 512, 1024, 1016]
    assert ChannelReader(channel).read(0, False) == list(range(3000))
