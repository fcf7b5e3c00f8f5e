"""Deep task graphs: demand is evaluated without recursion proportional to the depth of
the graph, so long chains deliver every item at every pool size, and a limit of the
library itself is never recorded as the failure of a user's task."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from models.defects import Defect, build
from refasync import ChannelThreadTask, IteratorThreadTask, Pool, PoolReader, ThreadPool, scheduler
from refasync.scheduler import MAX_NESTED_CHUNKS
from refasync.task import DemandLimitError
from tests.pool_support import BOUND_S, running_pool, start_bounded

#: A chain far deeper than the interpreter's recursion limit allows one frame per task.
DEEP = 10_000


def chain_readers(
    pool: ThreadPool, depth: int, n: int, min_count: int | None = None, max_chunksize: int = 0
) -> list[PoolReader[int]]:
    """:return: the readers of a source of range(n) ("source") and of ``depth``
    pass-through tasks after it ("t0", "t1", ...), the leaf's last."""
    readers: list[PoolReader[int]] = [pool.add_task(IteratorThreadTask(iter(range(n)), "source"))]
    for k in range(depth):
        readers.append(
            pool.add_task(
                ChannelThreadTask(
                    readers[-1], f"t{k}", min_count=min_count, max_chunksize=max_chunksize
                )
            )
        )
    return readers


def chain(
    pool: ThreadPool, depth: int, n: int, min_count: int | None = None, max_chunksize: int = 0
) -> PoolReader[int]:
    """:return: the leaf reader of ``chain_readers``."""
    return chain_readers(pool, depth, n, min_count, max_chunksize)[-1]


def overflow_at_third_start(patch: pytest.MonkeyPatch) -> list[int]:
    """Plant, with ``patch``, a ``RecursionError`` (a limit of the library's machinery)
    in the third call of ``Pool.start_for_input``; the first two start their chunks as
    today's code does. :return: the number of calls so far, in a one-item list."""
    start_for_input = Pool.start_for_input
    calls = [0]

    def third_overflows(self: Pool, task: object, need: int) -> object:
        calls[0] += 1
        if calls[0] == 3:
            raise RecursionError("maximum recursion depth exceeded (planted)")
        return start_for_input(self, task, need)  # type: ignore[arg-type]

    patch.setattr(Pool, "start_for_input", third_overflows)
    return calls


def read_ones(reader: PoolReader[int]) -> list[int]:
    out: list[int] = []
    while True:
        got = reader.read(1)
        if not got:
            return out
        out.extend(got)


@pytest.fixture(params=[0, 2], ids=lambda size: f"size{size}")
def pool(request: pytest.FixtureRequest) -> Iterator[ThreadPool]:
    size: int = request.param
    with running_pool(size) as created:
        yield created


def test_a_chain_longer_than_the_recursion_limit_delivers_every_item(pool: ThreadPool) -> None:
    # 198 tasks was enough to lose every item when demand recursed once per task.
    leaf = chain(pool, 250, 20)
    assert start_bounded(lambda: sorted(leaf.read()), "read all").result() == list(range(20))
    assert leaf.task().error() is None


@pytest.mark.timeout(300)
def test_a_chain_of_ten_thousand_tasks_read_all(pool: ThreadPool) -> None:
    leaf = chain(pool, DEEP, 50)
    got = start_bounded(lambda: sorted(leaf.read()), "read all").result(5 * BOUND_S)
    assert got == list(range(50))


@pytest.mark.timeout(300)
def test_a_chain_of_ten_thousand_tasks_read_one_at_a_time(pool: ThreadPool) -> None:
    leaf = chain(pool, DEEP, 3)
    got = start_bounded(lambda: sorted(read_ones(leaf)), "read(1) loop").result(5 * BOUND_S)
    assert got == list(range(3))


@pytest.mark.parametrize(
    "min_count, max_chunksize", [(3, 0), (None, 2)], ids=["min_count", "max_chunksize"]
)
def test_a_deep_chain_with_chunk_limits_delivers_every_item(
    pool: ThreadPool, min_count: int | None, max_chunksize: int
) -> None:
    leaf = chain(pool, 1_000, 7, min_count, max_chunksize)
    assert start_bounded(lambda: sorted(read_ones(leaf)), "read(1) loop").result() == list(range(7))


def test_no_task_of_a_deep_chain_keeps_a_library_limit_as_its_failure(pool: ThreadPool) -> None:
    readers = [pool.add_task(IteratorThreadTask(iter(range(5)), "source"))]
    for k in range(600):
        readers.append(pool.add_task(ChannelThreadTask(readers[-1], f"t{k}")))
    assert start_bounded(lambda: sorted(readers[-1].read()), "read").result() == list(range(5))
    assert [r.task().error() for r in readers] == [None] * len(readers)


class Upstream:
    """A ``set_read`` function reading a PoolReader: the pool cannot see through it, so
    demand through a chain of them nests, one chunk inside the other."""

    def __init__(self, reader: PoolReader[int]) -> None:
        self.reader = reader

    def __call__(self, count: int) -> list[int]:
        return self.reader.read(count)


def test_nesting_the_library_cannot_avoid_fails_the_read_clearly_and_no_task(
    pool: ThreadPool,
) -> None:
    readers = [pool.add_task(IteratorThreadTask(iter(range(5)), "source"))]
    for k in range(sys.getrecursionlimit()):
        task: ChannelThreadTask[int, int] = ChannelThreadTask(readers[-1], f"t{k}")
        task.set_read(Upstream(readers[-1]))
        readers.append(pool.add_task(task))

    def read_leaf() -> str:
        with pytest.raises(DemandLimitError) as caught:
            readers[-1].read()
        return str(caught.value)

    message = start_bounded(read_leaf, "read").result()
    assert "nested" in message
    assert [r.task().error() for r in readers] == [None] * len(readers)
    # Nothing was lost: the items are still there for a reader nearer the source.
    assert sorted(readers[10].read()) == list(range(5))


def test_without_filling_inputs_first_a_deep_chain_nests_and_fails_the_read_clearly(
    pool: ThreadPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Teeth for P20: demand then recurses once per task, until the nesting limit.
    monkeypatch.setattr(scheduler, "fill_inputs", lambda task, count: None)
    readers = [pool.add_task(IteratorThreadTask(iter(range(5)), "source"))]
    for k in range(2 * MAX_NESTED_CHUNKS):
        readers.append(pool.add_task(ChannelThreadTask(readers[-1], f"t{k}")))

    def read_leaf() -> None:
        with pytest.raises(DemandLimitError):
            readers[-1].read()

    start_bounded(read_leaf, "read").result()
    assert [r.task().error() for r in readers] == [None] * len(readers)
    monkeypatch.undo()
    assert start_bounded(lambda: sorted(readers[-1].read()), "read").result() == list(range(5))


def test_a_recursion_error_in_the_library_fails_the_read_and_no_task(
    pool: ThreadPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    readers = chain_readers(pool, 3, 5)
    leaf = readers[-1]

    def overflows(self: Pool, task: object, need: int) -> None:
        raise RecursionError("maximum recursion depth exceeded (planted)")

    monkeypatch.setattr(Pool, "start_for_input", overflows)

    def read_leaf() -> str:
        with pytest.raises(DemandLimitError) as caught:
            leaf.read()
        return str(caught.value)

    assert "recursion" in start_bounded(read_leaf, "read").result()
    assert [r.task().error() for r in readers] == [None] * len(readers)
    monkeypatch.undo()
    assert start_bounded(lambda: sorted(leaf.read()), "read").result() == list(range(5))


def test_a_deep_chain_whose_every_stage_drops_an_item_delivers_the_rest(pool: ThreadPool) -> None:
    """Stage k's function drops the item k, so a chunk of each stage comes up short of
    what the stage below reads: the read of the stage below demands the rest, and the
    chunks it runs fill their own inputs first, so the nesting stays shallow."""
    depth = 3 * MAX_NESTED_CHUNKS
    reader: PoolReader[int] = pool.add_task(IteratorThreadTask(iter(range(depth + 50)), "source"))
    for k in range(depth):

        def drop_k(items: list[int], k: int = k) -> list[int]:
            return [item for item in items if item != k]

        reader = pool.add_task(ChannelThreadTask(reader, f"drops-{k}", drop_k, False))
    leaf = reader
    assert start_bounded(lambda: read_ones(leaf), "read").result() == list(range(depth, depth + 50))
    assert leaf.task().error() is None


def test_an_error_while_starting_upstream_chunks_counts_the_started_ones_out(
    pool: ThreadPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fill_inputs`` starts one chunk per stage before running any: when starting the
    third raises, the two started ones are counted out unrun, so the next read of the
    chain is not left waiting for chunks nobody runs."""
    readers = chain_readers(pool, 4, 5)
    leaf = readers[-1]
    calls = overflow_at_third_start(monkeypatch)
    with pytest.raises(DemandLimitError):
        start_bounded(lambda: leaf.read(1), "read").result()
    assert calls == [3]
    monkeypatch.undo()
    assert start_bounded(lambda: sorted(read_ones(leaf)), "read").result() == list(range(5))
    assert [r.task().error() for r in readers] == [None] * len(readers)


def test_without_counting_the_started_chunks_out_the_next_read_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Teeth of the test above, on a serial pool: with a ``fill_inputs`` that leaves the
    chunks it started and did not run in flight (one line of today's source replaced),
    the next read of the chain in the same thread does not deliver: the chunk of t2
    started for the first read still counts that thread as running it."""
    leaves_them = build(
        Defect(
            "started_chunks_stay_in_flight",
            "fill_inputs does not count out the chunks it started and did not run",
            "refasync.scheduler:fill_inputs",
            "chunk.queue.finish(chunk)  # nothing if it ran",
            "pass  # BUG: started, never run, still in flight",
        )
    )
    monkeypatch.setattr(scheduler, "fill_inputs", leaves_them)
    with running_pool(0) as serial:
        leaf = chain(serial, 4, 5)

        def two_reads() -> str:
            with monkeypatch.context() as planted:
                overflow_at_third_start(planted)
                with pytest.raises(DemandLimitError):
                    leaf.read(1)
            with pytest.raises(RuntimeError) as caught:
                leaf.read(1)
            return str(caught.value)

        assert "'t2' reads the task's own output" in start_bounded(two_reads, "reads").result()
