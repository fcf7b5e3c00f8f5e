"""PoolReader handles: copies are real handles, a pool cannot be copied, and a task
function that reads its own task fails clearly instead of waiting for itself."""

from __future__ import annotations

import copy
import gc
from typing import Callable, Iterator

import pytest

from refasync import IteratorThreadTask, PoolReader, ThreadPool
from tests.pool_support import running_pool, start_bounded


@pytest.fixture(params=[0, 2], ids=lambda size: f"size{size}")
def pool(request: pytest.FixtureRequest) -> Iterator[ThreadPool]:
    size: int = request.param
    with running_pool(size) as created:
        yield created


def numbers(pool: ThreadPool, n: int) -> PoolReader[int]:
    return pool.add_task(IteratorThreadTask(iter(range(n)), "numbers"))


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
def test_a_copied_reader_is_a_handle_of_its_own(
        pool: ThreadPool, copier: Callable[[PoolReader[int]], PoolReader[int]]) -> None:
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
def test_a_pool_cannot_be_copied(pool: ThreadPool,
                                 copier: Callable[[ThreadPool], ThreadPool]) -> None:
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
