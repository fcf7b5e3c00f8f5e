"""Regression: a failed task's kept exception must not pin handles (found by the stress
harness: the traceback's frames held the PoolReaders in use when the task failed)."""

from __future__ import annotations

import gc

import pytest

from refasync.pool import ThreadPool
from refasync.task import ChannelThreadTask, IteratorThreadTask


def _boom(item: int) -> int:
    raise RuntimeError(f"boom at {item}")


@pytest.mark.parametrize("size", [0, 2])
def test_failed_task_is_removed_when_its_handles_are_dropped(size: int) -> None:
    with ThreadPool(size) as pool:
        source = pool.add_task(IteratorThreadTask(iter(range(5)), "source", lambda i: i))
        failing = pool.add_task(ChannelThreadTask(source, "failing", _boom))
        del source
        assert failing.read() == []
        assert isinstance(failing.task().error(), RuntimeError)
        assert "boom at 0" in (failing.task().error_traceback() or "")
        del failing
        gc.collect()
        assert pool.num_tasks() == 0
