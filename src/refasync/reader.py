"""The reader handle of a pool task: ``PoolReader`` reads a task's output channel and
demands the production of what it needs from the task's pool.

How a read is served:

1. ``PoolReader.read`` takes the items already in the task's channel.
2. If it needs more and the task is not done, it makes sure enough production is
   scheduled: chunks (``plan_chunks``) are planned for the task unless the items already
   queued, in flight or planned cover the demand; they are queued lazily, at most one
   per worker at a time, so a huge count costs no more than that. (On a pool without
   workers, the one chunk that would be queued and taken at once is started directly.)
3. If the thread may run chunks (``refasync.scheduler``) and a chunk of that task is
   queued, it runs it. Before the chunk runs, the upstream chunks its input needs run
   in this thread, the most upstream first (``fill_inputs``); the chunk then reads its
   input through the input task's PoolReader, which demands whatever is still missing
   the same way.
4. Otherwise the reader waits until the channel changes: an item is written, it is
   closed, a chunk of the task finishes, or the pool loses workers (these last two poke
   the channel; a chunk's end pokes it only if a reader is counted as waiting for the
   task, which the reader is from the moment it decides, under the pool lock, to wait).
   Then it loops. If the read raises (an interrupt in the wait, a chunk it runs), the
   items it took go back to the front of the channel, in order.
5. With no workers, before returning, the reader also runs the chunks its demand
   planned that are still queued (e.g. the ``min_count`` surplus): nobody else would.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from . import util
from .channel import CallbackChannelReader, Channel
from .scheduler import InputHandle, as_limit_error
from .task import Task
from .util import ALL

if TYPE_CHECKING:
    from .pool import Pool
    from .scheduler import _Chunk

__all__ = ("PoolReader",)

T = TypeVar("T")


class PoolReader(CallbackChannelReader[T], InputHandle):
    """A reader of a task's output channel, and the handle that keeps the task alive.

    Reading triggers the production of the items it needs (see the module docstring).
    It is safe from any thread; concurrent readers get each item exactly once. A handle
    keeps its pool alive (not its task: once the task is removed it can be collected);
    when the last handle of a task is gone the task is removed.
    """

    def __init__(self, channel: Channel[T], task: Task[Any, T], pool: Pool) -> None:
        super().__init__(channel)
        self._task_ref: weakref.ref[Task[Any, T]] = weakref.ref(task)
        self._pool = pool  # a handle keeps its pool alive
        self._release: Callable[[], object] = pool.adopt_handle(self, task)

    def task(self) -> Task[Any, T]:
        """:return: task we read from

        :raise ValueError: If the instance is not attached to a task anymore (the task
            was removed from its pool)
        """
        task = self._task_ref()
        if task is None or not self._pool.has_task(task):
            raise ValueError("PoolReader is not associated with a task anymore")
        return task

    def task_ref(self) -> weakref.ref[Task[Any, T]]:
        """:return: reference to the task producing our items"""
        return self._task_ref

    def pool(self) -> Pool:
        """:return: pool our task belongs to"""
        return self._pool

    def pool_ref(self) -> weakref.ref[Pool]:
        """:return: a weak reference to the pool we belong to"""
        return weakref.ref(self._pool)

    def duplicate(self) -> PoolReader[T]:
        """:return: a new handle of the same task, reading the same channel, with the same
        callbacks installed.

        :raise ValueError: if the task is not in its pool anymore
        """
        task = self._task_ref()
        if task is None:
            raise ValueError("PoolReader is not associated with a task anymore")
        twin = PoolReader(self.channel, task, self._pool)  # ValueError if it was removed
        with self._cb_lock:
            # Nobody else has the twin yet: its callbacks are this thread's to set.
            twin._pre_cb, twin._post_cb = self._pre_cb, self._post_cb
        return twin

    def producer(self) -> Task[Any, T] | None:
        """:return: the task producing our items, or None once it was collected"""
        return self._task_ref()

    def start_upstream(self, need: int) -> _Chunk | None:
        """``InputHandle.start_upstream``: a chunk of the task, started, that produces
        what the channel lacks of ``need`` items, for ``fill_inputs`` to run."""
        task = self._task_ref()
        if task is None:
            return None
        return self._pool.start_for_input(task, need)

    def __copy__(self) -> PoolReader[T]:
        """``copy.copy``: a new handle of the task, as ``duplicate()``."""
        return self.duplicate()

    def __deepcopy__(self, memo: dict[int, object]) -> PoolReader[T]:
        """``copy.deepcopy``: a new handle of the task, as ``duplicate()`` (the task, its
        channel and its pool are shared, never copied)."""
        return self.duplicate()

    def release(self) -> None:
        """Stop being a handle of the task (idempotent); the pool removes the task on its
        next call if no other handle is left. Reading stays possible."""
        self._release()

    def read(self, count: int = 0, block: bool = True, timeout: float | None = None) -> list[T]:
        """Read items processed by the pool, producing them as needed (see the module
        docstring); the semantics of ``Reader.read`` otherwise.

        Outside every chunk, on a pool with workers, the calling thread only waits for
        the workers, and ``timeout`` bounds that wait (per item). On a pool of size 0, or
        from inside a chunk, it runs chunks itself, and a timeout cannot interrupt a
        chunk that is running. A read that raises (``KeyboardInterrupt`` in a wait, a
        chunk it runs) puts the items it took back at the front of the channel, in
        order.

        :raise ValueError: if timeout is negative or NaN (a timeout of ``util.TIMEOUT_MAX``
            or more, ``float('inf')`` included, waits without limit, like None)
        """
        return self._with_callbacks(self._demand_read, count, block, timeout)

    def _demand_read(self, count: int, block: bool, timeout: float | None) -> list[T]:
        """Read as ``read`` does, arguments checked (by ``_with_callbacks``): take what
        the channel holds, demand the rest, run the chunks this thread may run, wait for
        the others. If it raises, the items it took go back to the front of the channel."""
        task = self._task_ref()
        queue = self.channel.queue
        pool = self._pool
        out: list[T] = []
        deadline: float | None = None
        # True once this read demanded production, until a chunk it ran left none of
        # the task's chunks queued or deferred: whether run_planned_if_serial has work.
        left = False
        waiting = False  # counted in the task's waiting readers (Pool._demand)
        try:
            while True:
                need = count - len(out) if count else ALL
                items, generation, drained = queue.take_nowait(need)
                if items:
                    if out:
                        out.extend(items)
                    else:
                        out = items  # a fresh list: no copy
                    deadline = None  # the timeout is per item: it restarts
                    if count and len(out) >= count:
                        break
                if drained:
                    break
                if task is not None:
                    # Cleared first: if _demand raises before it counts this reader
                    # out, the count stays too high (a poke too many), never too low.
                    was_waiting, waiting = waiting, False
                    chunk = pool._demand(
                        task, count - len(out) if count else ALL, block, was_waiting
                    )
                    if chunk is not None:
                        left = chunk.queue.run(chunk)
                        continue
                    waiting = block
                left = True
                if not block:
                    break
                remaining = None
                if timeout is not None:
                    now = util.monotonic()
                    if deadline is None:
                        deadline = now + timeout
                    remaining = deadline - now
                    if remaining <= 0:
                        break
                queue.wait_for_change(generation, remaining)
            if task is not None:
                if waiting:
                    waiting = False
                    pool.stop_waiting(task)
                if left:
                    # Without workers nobody else would run the rest of what this read
                    # planned (e.g. the min_count surplus): run it before returning.
                    pool.run_planned_if_serial(task)
        except (RecursionError, MemoryError) as exc:
            self._abandon(task if waiting else None, out)
            raise as_limit_error(exc, task) from exc
        except BaseException:
            self._abandon(task if waiting else None, out)
            raise
        return out

    def _abandon(self, waiting_for: Task[Any, T] | None, taken: list[T]) -> None:
        """A read is raising: it stops waiting for ``waiting_for`` (if given) and puts the
        items it took back at the front of the channel."""
        if waiting_for is not None:
            try:
                self._pool.stop_waiting(waiting_for)
            except BaseException:
                pass  # still counted: it costs a poke, never a lost wake-up
        self.channel.queue.put_back(taken)  # no effect, or a complete one
