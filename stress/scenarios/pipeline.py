"""Random pool pipelines for the pool scenarios: task DAGs of up to 8 tasks (chains,
fan-out on a shared reader, fan-in through a merging reader, a second pool downstream),
with random ``min_count``, ``max_chunksize`` and ``apply_single``, and instrumented task
functions (:class:`Probe`) that can fail at a chosen item.

Items are ``(source, seq, path)``: every task appends its id to the path, so a delivered
item tells which tasks it went through.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from refasync.channel import Channel, ChannelWriter, Reader
from refasync.pool import Pool, PoolReader
from refasync.task import ChannelThreadTask, IteratorThreadTask, Task

__all__ = ("Boom", "MergeReader", "Payload", "Pipeline", "Probe", "build_pipeline")

Payload = tuple[int, int, tuple[str, ...]]
# Any: tasks of one pipeline all move Payloads, but the pool API types them loosely.
AnyTask = Task[Any, Any]


class Boom(Exception):
    """The injected task failure."""


class Probe:
    """Instrumentation of one task's function, guarded by ``_lock``: how many calls are
    active, which item fails, and whether a call happened after the task was declared
    gone (a violation)."""

    def __init__(self, tid: str, fail_at: int | None) -> None:
        self.tid = tid
        self._lock = threading.Lock()
        self._active = 0
        self._items = 0
        self._fail_at = fail_at  # fail on this item (0-based), None: never
        self._gone = False
        self.raised: Boom | None = None  # the exception this task's function raised
        self.late_calls = 0  # calls that began after mark_gone()

    def enter(self) -> None:
        with self._lock:
            self._active += 1
            if self._gone:
                self.late_calls += 1

    def leave(self) -> None:
        with self._lock:
            self._active -= 1

    def next_item_fails(self) -> Boom | None:
        with self._lock:
            index = self._items
            self._items += 1
            if index == self._fail_at:
                self.raised = Boom(f"{self.tid} fails at item {index}")
                return self.raised
            return None

    def mark_gone(self) -> int:
        """Declare the task removed; :return: the calls active right now."""
        with self._lock:
            self._gone = True
            return self._active


def _single(probe: Probe) -> Callable[[Payload], Payload]:
    def fun(item: Payload) -> Payload:
        probe.enter()
        try:
            boom = probe.next_item_fails()
            if boom is not None:
                raise boom
            return (item[0], item[1], item[2] + (probe.tid,))
        finally:
            probe.leave()

    return fun


def _batch(probe: Probe) -> Callable[[list[Payload]], Iterable[Payload]]:
    def fun(items: list[Payload]) -> list[Payload]:
        probe.enter()
        try:
            out = []
            for item in items:
                boom = probe.next_item_fails()
                if boom is not None:
                    raise boom
                out.append((item[0], item[1], item[2] + (probe.tid,)))
            return out
        finally:
            probe.leave()

    return fun


def _source(sid: int, count: int, fail_at: int | None, probe: Probe) -> Iterator[Payload]:
    for seq in range(count):
        if seq == fail_at:
            probe.raised = Boom(f"source iterator {sid} fails at item {seq}")
            raise probe.raised
        yield (sid, seq, ())


class MergeReader(Reader[Payload]):
    """Fan-in: reads its inputs in turn. A blocking read returns fewer than ``count``
    items only once every input is drained. Thread-safe because PoolReaders are."""

    def __init__(self, inputs: list[PoolReader[Payload]]) -> None:
        self._inputs = inputs

    def read(
        self, count: int = 0, block: bool = True, timeout: float | None = None
    ) -> list[Payload]:
        out: list[Payload] = []
        for reader in self._inputs:
            need = count - len(out) if count > 0 else 0
            out.extend(reader.read(need, block, timeout))
            if count > 0 and len(out) >= count:
                break
        return out


class RecordingWriter(ChannelWriter[Payload]):
    """Records every item whose write succeeded (the failing task's output)."""

    def __init__(self, channel: Channel[Payload]) -> None:
        super().__init__(channel)
        self.lock = threading.Lock()
        self.written: list[Payload] = []

    def write(self, item: Payload, block: bool = False, timeout: float | None = None) -> None:
        super().write(item, block, timeout)
        with self.lock:
            self.written.append(item)


@dataclass
class Pipeline:
    """A built pipeline. Only ``sinks`` hold handles the caller owns; ``tasks`` holds
    strong task references (call :meth:`drop` before checking orphan removal)."""

    pools: list[Pool]
    sinks: list[tuple[str, PoolReader[Payload]]]
    probes: dict[str, Probe]
    tasks: dict[str, AnyTask]
    edges: set[tuple[str, str]]
    source_items: dict[str, list[tuple[int, int]]]
    ancestors: dict[str, set[str]]
    has_merge: bool
    failing: str | None  # the task chosen to fail (it may fail or not)
    recorder: RecordingWriter | None
    describe: list[str] = field(default_factory=list)

    def drop(self) -> None:
        """Forget every handle and task (and the probes: an exception's traceback holds
        the frames that raised it, and so the readers those frames used)."""
        self.sinks.clear()
        self.tasks.clear()
        self.probes.clear()
        self.recorder = None


def _make_task(
    source: Reader[Payload] | Iterator[Payload],
    tid: str,
    probe: Probe,
    apply_single: bool,
    min_count: int | None,
    max_chunksize: int,
    writer: RecordingWriter | None,
) -> AnyTask:
    """An IteratorThreadTask over an iterator, else a ChannelThreadTask over a Reader."""
    if isinstance(source, Reader):
        if apply_single:
            return ChannelThreadTask(
                source, tid, _single(probe), True, min_count, max_chunksize, writer
            )
        return ChannelThreadTask(
            source, tid, _batch(probe), False, min_count, max_chunksize, writer
        )
    if apply_single:
        return IteratorThreadTask(
            source, tid, _single(probe), True, min_count, max_chunksize, writer
        )
    return IteratorThreadTask(source, tid, _batch(probe), False, min_count, max_chunksize, writer)


def _limits(rng: random.Random) -> tuple[int | None, int]:
    min_count = rng.choice([None, None, 0, 1, 2, 3, 5, 8])
    max_chunksize = rng.choice([0, 0, 1, 2, 3, 5])
    return min_count, max_chunksize


def build_pipeline(
    rng: random.Random,
    pools: list[Pool],
    max_tasks: int = 8,
    items: tuple[int, int] = (0, 30),
    fail: bool = False,
    merges: bool = True,
    chain_only: bool = False,
) -> Pipeline:
    """Build a random DAG of 1..max_tasks tasks over ``pools`` (tasks of ``pools[1]``
    only read from tasks of ``pools[1]`` or ``pools[0]``). With ``fail``, one task (or
    a source iterator) fails at a random item, possibly never reached. With
    ``chain_only``, a single chain (one source, no fan-out, no fan-in)."""
    n_tasks = rng.randint(1, max_tasks)
    n_sources = 1 if n_tasks < 3 or chain_only else rng.randint(1, 2)
    failing = f"t{rng.randrange(n_tasks)}" if fail else None
    probes: dict[str, Probe] = {}
    tasks: dict[str, AnyTask] = {}
    edges: set[tuple[str, str]] = set()
    ancestors: dict[str, set[str]] = {}
    source_items: dict[str, list[tuple[int, int]]] = {}
    # Outputs: tid -> (reader, pool index); consumed ones may still be shared (fan-out).
    outputs: dict[str, tuple[PoolReader[Payload], int]] = {}
    unconsumed: list[str] = []
    has_merge = False
    recorder: RecordingWriter | None = None
    describe: list[str] = []
    for index in range(n_tasks):
        tid = f"t{index}"
        fail_at = rng.randint(0, 12) if tid == failing else None
        min_count, max_chunksize = _limits(rng)
        apply_single = rng.random() < 0.7
        writer: RecordingWriter | None = None
        if tid == failing:
            writer = recorder = RecordingWriter(Channel())
        inputs: list[str]
        source: Reader[Payload] | Iterator[Payload]
        if index < n_sources:
            count = rng.randint(*items)
            source_items[tid] = [(index, seq) for seq in range(count)]
            iter_fails = fail_at is not None and rng.random() < 0.3
            probe = Probe(tid, None if iter_fails else fail_at)
            source = _source(index, count, fail_at if iter_fails else None, probe)
            inputs, pool_index = [], 0
        else:
            probe = Probe(tid, fail_at)
            if chain_only:
                inputs = [unconsumed[0]]
                source = outputs[inputs[0]][0]
            elif merges and len(unconsumed) >= 2 and rng.random() < 0.25:
                inputs = rng.sample(unconsumed, 2)
                source = MergeReader([outputs[i][0] for i in inputs])
                has_merge = True
            else:
                pick = unconsumed if unconsumed and rng.random() < 0.75 else list(outputs)
                inputs = [rng.choice(pick)]
                source = outputs[inputs[0]][0]
            upstream_pool = max(outputs[i][1] for i in inputs)
            pool_index = upstream_pool
            if len(pools) > 1 and upstream_pool == 0 and rng.random() < 0.3:
                pool_index = 1
        task = _make_task(source, tid, probe, apply_single, min_count, max_chunksize, writer)
        probes[tid] = probe
        tasks[tid] = task
        ancestors[tid] = set()
        for i in inputs:
            edges.add((i, tid))
            ancestors[tid] |= ancestors[i] | {i}
            if i in unconsumed:
                unconsumed.remove(i)
        outputs[tid] = (pools[pool_index].add_task(task), pool_index)
        unconsumed.append(tid)
        describe.append(
            f"{tid}<-{inputs or 'iter'} pool{pool_index} min={min_count} "
            f"max={max_chunksize} single={apply_single}"
            + (f" fails@{fail_at}" if fail_at is not None else "")
        )
    sinks = [(tid, outputs[tid][0]) for tid in unconsumed]
    outputs.clear()
    return Pipeline(
        list(pools),
        sinks,
        probes,
        tasks,
        edges,
        source_items,
        ancestors,
        has_merge,
        failing,
        recorder,
        describe,
    )
