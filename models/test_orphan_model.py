"""Orphan-task removal model: two ThreadPools, chains of tasks across them, reader handles
dropped, tasks removed and made to fail, pool sizes changed - against
models/orphan_spec.py.

Invariant after every step: after ``gc.collect()``, each pool's ``num_tasks()`` is the
number of the specification's live tasks in that pool. Reads return the specification's
items as multisets (chunks may finish out of order when a pool has workers), exactly
``min(count, left)`` of them unless a task upstream failed or was removed - then fewer,
and the read still returns (bounded: a hang fails with every thread's stack).
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from refasync import ChannelThreadTask, IteratorThreadTask, PoolReader, Task, ThreadPool
from refasync.testing import run_bounded

from . import orphan_spec as spec
from ._settings import model_timeout
from .orphan_spec import TaskSpec

READ_TIMEOUT_S = 20.0
POOLS = st.sampled_from([0, 0, 1])  # mostly one pool: same-pool chains are the common case
MAX_TASKS = 8  # per example


class TaskFailure(Exception):
    """Raised by a task's function once the model made the task fail."""


class FailSwitch:
    """A task function that adds ``step`` to each item, or raises once switched."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.failing = False

    def __call__(self, item: int) -> int:
        if self.failing:
            raise TaskFailure(f"made to fail at item {item}")
        return item + self.step


class OrphanModel(RuleBasedStateMachine):
    """models/test_teeth.py runs it with each defect of models/broken.py installed."""

    pool_class: Callable[[int], ThreadPool] = ThreadPool

    def __init__(self) -> None:
        super().__init__()
        self.pools = [self.pool_class(0), self.pool_class(0)]
        self.specs: dict[int, TaskSpec] = {}
        # The model may hold the tasks: a task's handle on its input is released when the
        # task is removed, whoever still references the task object.
        self.tasks: dict[int, Task[int, int]] = {}
        self.switches: dict[int, FailSwitch] = {}
        self.readers: dict[int, PoolReader[int]] = {}  # the readers the user holds
        self.left: dict[int, Counter[int]] = {}  # items each task's reader will still give

    def _user_ids(self) -> list[int]:
        return sorted(self.readers)

    def _add(
        self,
        pool: int,
        task: Task[int, int],
        switch: FailSwitch,
        input_id: int | None,
        left: Counter[int],
    ) -> None:
        task_id = len(self.specs)
        self.readers[task_id] = self.pools[pool].add_task(task)
        self.specs[task_id] = TaskSpec(pool, input_id)
        self.tasks[task_id] = task
        self.switches[task_id] = switch
        self.left[task_id] = left

    # -- rules --

    @precondition(lambda self: len(self.specs) < MAX_TASKS)
    @rule(
        pool=POOLS,
        size=st.integers(0, 6),
        min_count=st.sampled_from([None, 0, 3]),
        max_chunksize=st.sampled_from([0, 1, 2]),
    )
    def add_iterator_task(
        self, pool: int, size: int, min_count: int | None, max_chunksize: int
    ) -> None:
        base = 1000 * (len(self.specs) + 1)
        items = list(range(base, base + size))
        switch = FailSwitch(0)
        task: Task[int, int] = IteratorThreadTask(
            iter(items),
            f"it{len(self.specs)}",
            switch,
            min_count=min_count,
            max_chunksize=max_chunksize,
        )
        self._add(pool, task, switch, None, Counter(items))

    @precondition(lambda self: len(self.specs) < MAX_TASKS and self.readers)
    @rule(
        pool=POOLS,
        data=st.data(),
        min_count=st.sampled_from([None, 0, 2]),
        max_chunksize=st.sampled_from([0, 1, 2]),
        keep=st.booleans(),
    )
    def add_channel_task(
        self, pool: int, data: st.DataObject, min_count: int | None, max_chunksize: int, keep: bool
    ) -> None:
        """Chain a task onto a reader the user holds; the user keeps that reader (then the
        input's items are shared between it and the new task) or drops it."""
        input_id = data.draw(st.sampled_from(self._user_ids()), label="input")
        in_reader = self.readers[input_id]
        switch = FailSwitch(1)
        task: Task[int, int] = ChannelThreadTask(
            in_reader,
            f"ch{len(self.specs)}",
            switch,
            min_count=min_count,
            max_chunksize=max_chunksize,
        )
        del in_reader
        # An upper bound when shared: the new task gets at most the input's items left.
        left = Counter({item + 1: n for item, n in self.left[input_id].items()})
        if keep:
            self.specs[input_id] = replace(self.specs[input_id], shared=True)
        else:
            del self.readers[input_id]
        self._add(pool, task, switch, input_id, left)

    @precondition(lambda self: self.readers)
    @rule(data=st.data())
    def drop_reader(self, data: st.DataObject) -> None:
        del self.readers[data.draw(st.sampled_from(self._user_ids()), label="task")]

    @precondition(lambda self: self.readers)
    @rule(data=st.data(), count=st.sampled_from([0, 1, 2, 5]))
    def read(self, data: st.DataObject, count: int) -> None:
        task_id = data.draw(st.sampled_from(self._user_ids()), label="task")
        reader = self.readers[task_id]
        got = run_bounded(lambda: reader.read(count), READ_TIMEOUT_S, f"read({count}) of {task_id}")
        left = self.left[task_id]
        unexpected = Counter(got) - left
        assert not unexpected, f"items not owed by task {task_id}: {dict(unexpected)}"
        owed = sum(left.values()) if count == 0 else min(count, sum(left.values()))
        if spec.is_exact(self.specs, task_id):
            assert len(got) == owed, f"read({count}) of task {task_id}: {got}, owed {owed}"
        else:
            assert len(got) <= owed
        if count == 0:  # everything until closed: the task is done, failed or not
            assert self.tasks[task_id].is_done()
        left.subtract(got)

    @precondition(lambda self: self.specs)
    @rule(data=st.data())
    def remove_task(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(sorted(self.specs)), label="task")
        pool = self.pools[self.specs[task_id].pool]
        run_bounded(lambda: pool.remove_task(self.tasks[task_id]), READ_TIMEOUT_S, "remove_task")
        self.specs[task_id] = replace(self.specs[task_id], removed=True)

    def _inputs_of_kept_tasks(self) -> list[int]:
        return sorted(
            {
                spec_.input
                for spec_ in self.specs.values()
                if spec_.input is not None and not spec_.removed
            }
        )

    @precondition(lambda self: self._inputs_of_kept_tasks())
    @rule(data=st.data())
    def remove_an_input_task(self, data: st.DataObject) -> None:
        """Removing a task that others read from leaves those others in place."""
        task_id = data.draw(st.sampled_from(self._inputs_of_kept_tasks()), label="input")
        pool = self.pools[self.specs[task_id].pool]
        run_bounded(lambda: pool.remove_task(self.tasks[task_id]), READ_TIMEOUT_S, "remove_task")
        self.specs[task_id] = replace(self.specs[task_id], removed=True)

    @precondition(lambda self: self.specs)
    @rule(data=st.data())
    def make_fail(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(sorted(self.specs)), label="task")
        self.switches[task_id].failing = True
        self.specs[task_id] = replace(self.specs[task_id], failing=True)

    @rule(pool=st.integers(0, 1), size=st.integers(0, 4))
    def set_size(self, pool: int, size: int) -> None:
        self.pools[pool].set_size(size)
        assert self.pools[pool].size() == size

    # -- invariants --

    @invariant()
    def num_tasks_is_the_live_set(self) -> None:
        live = spec.live_tasks(self.specs, frozenset(self.readers))
        expected = [spec.pool_count(self.specs, live, p) for p in (0, 1)]
        counts = self._settled_counts()
        if counts != expected:  # only garbage cycles may still hold handles: collect them
            gc.collect()
            counts = self._settled_counts()
        assert counts == expected, f"num_tasks {counts}, live tasks {sorted(live)}"

    def _settled_counts(self) -> list[int]:
        """num_tasks() of both pools. A task removed in one pool releases its input in
        the other, which removes it on its next call: call both until the counts settle."""
        counts: list[int] = []
        for _ in range(len(self.specs) + 2):
            new = [pool.num_tasks() for pool in self.pools]
            if new == counts:
                break
            counts = new
        return counts

    @invariant()
    def errors_are_kept(self) -> None:
        for task_id, task in self.tasks.items():
            error = task.error()
            if error is not None:
                assert isinstance(error, TaskFailure) and self.specs[task_id].failing
                assert task.is_done()

    def teardown(self) -> None:
        for pool in self.pools:
            run_bounded(pool.close, READ_TIMEOUT_S, "pool.close")


TestOrphanModel = model_timeout(OrphanModel.TestCase)


def test_failed_task_error_does_not_keep_its_reader_alive() -> None:
    """Regression: the stored error's traceback held the frames of the read that ran the
    failing chunk, hence its reader, so the task was never removed."""
    with ThreadPool(0) as pool:
        switch = FailSwitch(0)
        switch.failing = True
        task: Task[int, int] = IteratorThreadTask(iter([1, 2]), "fails", switch)
        reader = pool.add_task(task)
        assert reader.read() == []
        assert isinstance(task.error(), TaskFailure)
        del reader
        gc.collect()
        assert pool.num_tasks() == 0
