"""Fault scenarios: the channel and task operations of the other scenarios, with injected
interrupts (stress/faults.py) in armed operations and failing user code.

* ``fault_channel``: writers and readers on a bounded or unbounded channel; each write,
  read and close is armed. Oracle: exactly the items of the writes that did not raise are
  delivered, once (an interrupted ``write`` wrote nothing, an interrupted ``write_many``
  on an unbounded channel wrote everything); no lock left held, no waiter left; a wait
  without the lock raises and leaves no waiter.
* ``fault_tasks``: a chain of one or two tasks on a pool of 0 or 2 workers; the input
  iterator, the task functions and the sink's post-read callback fail at seeded points
  (``Exception`` or ``BaseException``); readers' reads are armed. Oracle: nothing
  duplicated or invented; everything delivered exactly once unless a task recorded a
  failure; with one task and one reading thread on a serial pool, what is delivered is
  the prefix of the input before the first failure, exactly that prefix when user code
  failed first (rules F6, P9); no lock left held; ``size()`` equals the live workers.

Scenario parameters are drawn from the instance's seed; pool reads take 1, 2 or 5 items
(a read interrupted after taking some puts them back, rule P14).
"""

from __future__ import annotations

import functools
from typing import Any

from refasync.channel import Channel, ChannelReader, ChannelWriter
from refasync.pool import PoolReader
from refasync.task import ChannelThreadTask, IteratorThreadTask, Task
from refasync.util import AsyncQueue, Full

from .. import oracles
from ..faults import (
    INTERRUPTS,
    FaultyCode,
    InterruptInjector,
    UserError,
    UserInterrupt,
    locks_left_held,
)
from ..harness import Context, _workers_of

__all__ = ("fault_channel", "fault_tasks")

Item = tuple[int, int]

#: What a reader of a faulty task sees: an interrupt, or the task's user code failing.
_READ_FAILURES: tuple[type[BaseException], ...] = (*INTERRUPTS, UserInterrupt, UserError)


def _check_no_waiter_left(ctx: Context, queue: AsyncQueue[Any], what: str) -> None:
    with queue.mutex:
        left = queue.not_empty.has_waiters() or queue.not_full.has_waiters()
    ctx.check(not left, f"{what}: a waiter is left on the channel's conditions")


def _check_locks(ctx: Context, injector: InterruptInjector, what: str) -> None:
    held = locks_left_held(injector)
    ctx.check(not held, f"{what}: refasync locks left held: {held}")


def fault_channel(ctx: Context) -> None:
    rng = ctx.rng
    maxsize = rng.choice([0, 0, 1, 3])
    n_writers = rng.randint(1, ctx.limit("writers", 3))
    n_readers = rng.randint(1, ctx.limit("readers", 3))
    most = ctx.limit("items", 30)
    per_writer = rng.randint(min(5, most), most)
    p = rng.choice([0.05, 0.2, 0.5])
    what = (
        f"fault_channel maxsize={maxsize} writers={n_writers} readers={n_readers} "
        f"items={per_writer} p={p}"
    )
    channel: Channel[Item] = Channel(maxsize)
    writer, reader = ChannelWriter(channel), ChannelReader(channel)
    queue = channel.queue
    assert isinstance(queue, AsyncQueue)
    ctx.on_abort(writer.close)
    with ctx.interrupts() as injector:
        # L2: nobody holds the lock yet; a wait without it raises and registers nobody.
        try:
            queue.not_empty.wait(0)
            ctx.check(False, f"{what}: wait() without the lock returned")
        except RuntimeError:
            pass
        _check_no_waiter_left(ctx, queue, f"{what}: after a wait without the lock")

        written: list[list[Item]] = [[] for _ in range(n_writers)]
        delivered: list[list[Item]] = [[] for _ in range(n_readers)]

        def write_loop(index: int) -> None:
            trng = ctx.thread_rng(f"w{index}")
            for seq in range(per_writer):
                ctx.check_aborted()
                item = (index, seq)
                many = maxsize == 0 and trng.random() < 0.3
                timeout = trng.choice([None, None, 0.001])
                with injector.armed(trng, p):
                    try:
                        if many:
                            writer.write_many([item])
                        else:
                            writer.write(item, block=True, timeout=timeout)
                        written[index].append(item)
                    except INTERRUPTS:
                        if many:  # put_many completes before the interrupt is raised
                            written[index].append(item)
                    except Full:
                        pass  # the timeout expired: nothing written
                ctx.tick(1)

        def read_loop(index: int) -> None:
            trng = ctx.thread_rng(f"r{index}")
            while True:
                ctx.check_aborted()
                count = trng.choice([0, 1, 2, 5])
                timeout = trng.choice([None, None, 0.001, 0.01])
                block = trng.random() < 0.85
                with injector.armed(trng, p):
                    try:
                        items = reader.read(count, block, timeout)
                    except INTERRUPTS:
                        continue  # what it took went back to the front
                delivered[index].extend(items)
                ctx.tick(len(items))
                if not items and writer.closed():
                    return

        writers = [ctx.spawn(f"w{i}", functools.partial(write_loop, i)) for i in range(n_writers)]
        for i in range(n_readers):
            ctx.spawn(f"r{i}", functools.partial(read_loop, i))
        for thread in writers:
            thread.join()
        with injector.armed(ctx.rng, p):
            try:
                writer.close()
            except INTERRUPTS:
                pass  # closing completes before the interrupt is raised
        ctx.check(writer.closed(), f"{what}: an interrupted close() did not close")
        ctx.join_all()
        leftover = reader.read(0, block=False)  # put back by a reader that then left
        got = [item for items in delivered for item in items] + leftover
        message = oracles.exactly_once([i for items in written for i in items], got, what)
        ctx.check(not message, message)
        _check_no_waiter_left(ctx, queue, what)
        _check_locks(ctx, injector, what)
        ctx.notes.append(f"interrupts injected: {injector.fired}")


class _FaultyPostCallback:
    """A post-read callback that raises once, at its ``at``-th call (K3: the items go back)."""

    def __init__(self, faulty: FaultyCode, what: str) -> None:
        self._fun, self.at = faulty.function(what, 10)

    def __call__(self, items: list[int]) -> list[int]:
        self._fun(0)  # raises at the chosen call
        return items


def fault_tasks(ctx: Context) -> None:
    rng = ctx.rng
    size = rng.choice([0, 0, 2])
    most = ctx.limit("input_items", 40)
    n_items = rng.randint(min(3, most), most)
    chain = rng.choice([1, 1, 2])
    n_readers = 1 if size == 0 and rng.random() < 0.7 else 2
    p = rng.choice([0.0, 0.0, 0.05, 0.3])
    min_count = rng.choice([0, 0, 3, 7])
    max_chunksize = rng.choice([0, 1, 2, 5])
    faulty = FaultyCode(ctx.seed, p_fail=0.6, p_base=0.5)
    items = list(range(n_items))
    source, iter_at = faulty.iterator("t0 input", items)
    fun0, fun0_at = faulty.function("t0", n_items)
    what = (
        f"fault_tasks size={size} chain={chain} readers={n_readers} items={n_items} "
        f"p={p} min_count={min_count} max_chunksize={max_chunksize} "
        f"input fails after {iter_at}, t0 fun at call {fun0_at}"
    )
    pool = ctx.new_pool(size)
    ctx.on_abort(lambda: pool.set_size(0))
    with ctx.interrupts() as injector:
        t0: IteratorThreadTask[int, int] = IteratorThreadTask(
            source, "t0", fun0, min_count=min_count, max_chunksize=max_chunksize
        )
        tasks: list[Task[int, int]] = [t0]
        sink: PoolReader[int] = pool.add_task(t0)
        if chain == 2:
            fun1, fun1_at = faulty.function("t1", n_items)
            what += f", t1 fun at call {fun1_at}"
            t1: ChannelThreadTask[int, int] = ChannelThreadTask(
                sink, "t1", fun1, min_count=rng.choice([0, 2]), max_chunksize=rng.choice([0, 1, 3])
            )
            tasks.append(t1)
            sink = pool.add_task(t1)
        post = _FaultyPostCallback(faulty, "sink post-read callback")
        sink.set_post_cb(post)
        delivered: list[list[int]] = [[] for _ in range(n_readers)]

        def read_loop(index: int) -> None:
            trng = ctx.thread_rng(f"r{index}")
            while True:
                ctx.check_aborted()
                with injector.armed(trng, p):
                    try:
                        got = sink.read(trng.choice([1, 1, 2, 5]))
                    except _READ_FAILURES:
                        continue
                if not got:
                    return
                delivered[index].extend(got)
                ctx.tick(len(got))

        for i in range(n_readers):
            ctx.spawn(f"r{i}", functools.partial(read_loop, i))
        ctx.join_all()
        sink.set_post_cb(None)
        got = [item for mine in delivered for item in mine] + sink.read(0, block=False)
        errors = [task.error() for task in tasks]
        message = oracles.at_most_once(items, got, what)
        ctx.check(not message, message)
        if not any(errors):
            message = oracles.exactly_once(items, got, what + " (no task failed)")
            ctx.check(not message, message)
        for task, error in zip(tasks, errors, strict=True):
            if error is not None:
                ctx.check(
                    isinstance(error, (UserError, UserInterrupt, *INTERRUPTS)),
                    f"{what}: {task.id} failed with {error!r}",
                )
        if size == 0 and n_readers == 1:
            ctx.check(
                sorted(got) == got == items[: len(got)],
                f"{what}: delivered {got}, not a prefix of the input",
            )
            planned = [at for at in (iter_at, fun0_at) if at is not None]
            first = min(planned) if planned else None
            if chain == 1 and errors[0] is not None and not isinstance(errors[0], INTERRUPTS):
                ctx.check(
                    first is not None and len(got) == first,
                    f"{what}: failed with {errors[0]!r} after delivering {got}; "
                    f"the items before the failure are {items[:first]}",
                )
            if chain == 1 and errors[0] is None:
                ctx.check(
                    first is None, f"{what}: no failure recorded, but user code failed at {first}"
                )
        ctx.check(
            pool.size() == len(_workers_of([pool])),
            f"{what}: size() {pool.size()} but live workers {_workers_of([pool])}",
        )
        # The readers have returned, but a chunk of t0 may still run on a worker (t1
        # failed and closed first): close() waits for the workers' chunks, after which
        # every chunk in flight has delivered, so a failed task must be closed (F6, T4).
        pool.close()
        for task, error in zip(tasks, errors, strict=True):
            if error is not None:
                ctx.check(
                    task.is_done() and task.is_closed(),
                    f"{what}: failed {task.id} not done and closed after close()",
                )
        _check_locks(ctx, injector, what)
        ctx.notes.append(f"interrupts injected: {injector.fired}")
