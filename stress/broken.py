"""Test-only broken variants of refasync: each a classic concurrency bug, installed by
patching one method of a refasync class for the duration of a ``with`` block.

They exist to prove the harness's power (``python -m stress --broken NAME``, and
``stress/test_broken.py``): under the ``heavy`` profile the harness must catch each.
Nothing here is imported by the library; ``src/`` is never edited.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, cast

import _thread

from refasync import util
from refasync.pool import Pool, PoolReader
from refasync.task import Task
from refasync.util import AsyncQueue, Full, HSCondition, ReadOnly, SyncPoint, normalize_count

__all__ = ("BROKEN", "Variant", "broken")


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    owner: type  # the patched class
    method: str  # the patched method
    replacement: Callable[..., Any]  # Any: a replacement method takes the original's args
    delays: bool = True  # the delay harness is expected to catch it (else: the explorer)


# -- 1. notify before the item is appended ------------------------------------------------


def _put_notify_first(self: AsyncQueue[Any], item: Any, block: bool = True,
                      timeout: float | None = None) -> None:
    with self.mutex:
        if not self._writable:
            raise ReadOnly("write to a closed channel")
        if self.maxsize and len(self._items) >= self.maxsize:
            self._wait_for_space(block, timeout)
        if self.not_empty._waiters:
            self.not_empty.notify_locked()  # BUG: the waiter is told before the item is there
    with self.mutex:  # ... and the item is appended in a second critical section
        self._items.append(item)
        self._generation += 1


# -- 2. a wait not re-checked in a while loop -------------------------------------------


def _wait_for_space_if(self: AsyncQueue[Any], block: bool, timeout: float | None) -> None:
    if not block:
        raise Full("full")
    if len(self._items) >= self.maxsize and self._writable:  # BUG: `if`, not `while`
        self.not_full.wait(timeout)
    if not self._writable:
        raise ReadOnly("closed while waiting for space")


# -- 3. close without waking all waiters ------------------------------------------------


def _set_writable_wakes_one(self: AsyncQueue[Any], state: bool) -> bool:
    with self.mutex:
        previous = self._writable
        if not state and previous:
            self._writable = False
            self._generation += 1
            self.not_empty.notify_locked()  # BUG: one reader woken, not all
            self.not_full.notify_locked()  # BUG: one writer woken, not all
        elif state and not previous:
            raise ValueError("a closed queue cannot be reopened")
        return previous


# -- 4. a writer counter updated without its lock in Task.process -------------------------


def _process_unlocked_counter(self: Task[Any, Any], count: int = 0) -> None:
    # Task.process, except that _num_writers is read before taking _wlock and written
    # back under it: a read-modify-write split by a lock acquisition (a sync point).
    count = normalize_count(count)
    read = self._read
    writer = self._require_writer()
    if read is None:
        raise ValueError("no input")
    seen = self._num_writers  # BUG: read outside the lock
    with self._wlock:
        if self._done:
            return
        self._num_writers = seen + 1
    exhausted = False
    try:
        items = read(count)
        exhausted = count == 0 or len(items) < count
        if items:
            if self.apply_single:
                fun_single = cast(Callable[[Any], Any], self.fun)
                for item in items:
                    writer.write(fun_single(item), True)
            else:
                fun_many = cast(Callable[[list[Any]], Iterable[Any]], self.fun)
                for result in fun_many(items):
                    writer.write(result, True)
    except ReadOnly:
        exhausted = True
    except Exception as exc:
        self._fail(exc, writer)
    finally:
        seen = self._num_writers  # BUG: read outside the lock
        with self._wlock:
            self._num_writers = seen - 1
            if exhausted:
                self._done = True
            close_now = self._done and self._num_writers == 0
        if close_now:
            writer.close()


# -- 5. orphan removal racing an in-flight chunk -------------------------------------------


def _remove_task_no_wait(self: Pool, task: Task[Any, Any],
                         _from_destructor_: bool = False) -> Pool:
    with self._lock:
        self._collect_orphans_locked()
        state = self._states.get(task)
        if state is None:
            return self
        self._remove_locked(state)
        self._collect_orphans_locked()
        # BUG: returns while chunks of the removed tasks are still in flight elsewhere
    return self


# -- 6. a lost wake-up in HSCondition.notify -----------------------------------------------


def _wait_registers_late(self: HSCondition, timeout: float | None = None) -> bool:
    hook = util.get_sync_hook()
    if hook is not None and hook(SyncPoint.WAIT, self):
        self._lock.release()
        self._lock.acquire()
        hook(SyncPoint.WAKE, self)
        return False
    waiter = _thread.allocate_lock()
    waiter.acquire()
    self._lock.release()
    # BUG: registered after the lock is released: a notify in between finds no waiter,
    # so that wake-up is lost and this thread sleeps through it.
    self._waiters.append(waiter)
    notified = False
    try:
        hook = util.get_sync_hook()
        if (hook is not None and (timeout is None or timeout > 0)
                and hook(SyncPoint.BLOCK, util.Blocked(self, waiter, timeout))):
            notified = waiter.acquire(False)
        elif timeout is None:
            notified = waiter.acquire()
        elif timeout > 0:
            notified = waiter.acquire(True, timeout)
        else:
            notified = waiter.acquire(False)
    finally:
        self._lock.acquire()
        if not notified:
            try:
                self._waiters.remove(waiter)
            except ValueError:
                notified = True
    hook = util.get_sync_hook()
    if hook is not None:
        hook(SyncPoint.WAKE, self)
    return notified


# -- 7. a bulk read that frees several slots wakes one blocked writer ---------------------


def _take_wakes_one(self: AsyncQueue[Any], out: list[Any], count: int) -> int:
    items = self._items
    if count == util.ALL or count - len(out) >= len(items):
        taken = len(items)
        out.extend(items)
        items.clear()
    else:
        taken = count - len(out)
        out.extend([items.popleft() for _ in range(taken)])
    if taken and self.maxsize and self.not_full._waiters:
        self.not_full.notify_locked(1)  # BUG: `taken` slots freed, one writer woken
    return taken


# -- 8. put_many does not advance the change generation ----------------------------------


def _put_many_same_generation(self: AsyncQueue[Any], items: list[Any]) -> None:
    if self.maxsize:
        raise ValueError("put_many needs an unbounded queue")
    with self.mutex:
        if not self._writable:
            raise ReadOnly("write to a closed channel")
        self._items.extend(items)
        # BUG: no `self._generation += 1`: a reader waiting for a change sleeps on
        if self.not_empty._waiters:
            self.not_empty.notify_locked(len(items))


# -- 9. the pool read's per-item timeout does not restart when items arrive ---------------


def _read_until_served_fixed_deadline(
    self: PoolReader[Any], task: Task[Any, Any] | None, count: int, block: bool,
    timeout: float | None
) -> list[Any]:
    queue = self.channel.queue
    pool = self._pool
    out: list[Any] = []
    deadline: float | None = None
    while True:
        need = count - len(out) if count else util.ALL
        items, generation, drained = queue.take_nowait(need)
        if items:
            out.extend(items)  # BUG: the deadline is not reset: one timeout for the read
            if count and len(out) >= count:
                return out
        if drained:
            return out
        need = count - len(out) if count else util.ALL
        chunk = None if task is None else pool._demand(task, need, block)
        if chunk is not None:
            pool._queue.run(chunk)
            continue
        if not block:
            return out
        remaining = None
        if timeout is not None:
            now = util.monotonic()
            if deadline is None:
                deadline = now + timeout
            remaining = deadline - now
            if remaining <= 0:
                return out
        queue.wait_for_change(generation, remaining)


BROKEN: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("notify_before_append", "AsyncQueue.put notifies a reader, then appends "
                "the item in a second critical section", AsyncQueue, "put", _put_notify_first),
        Variant("wait_without_while", "a writer waiting for space re-checks with `if`, "
                "not `while`", AsyncQueue, "_wait_for_space", _wait_for_space_if),
        Variant("close_wakes_one", "close() wakes one reader and one writer, not all",
                AsyncQueue, "set_writable", _set_writable_wakes_one),
        Variant("unlocked_writer_counter", "Task.process updates its writer counter "
                "outside its lock", Task, "process", _process_unlocked_counter),
        Variant("orphan_removal_races_chunk", "remove_task returns while chunks of the "
                "removed tasks are in flight", Pool, "remove_task", _remove_task_no_wait),
        Variant("lost_wakeup", "HSCondition.notify misses a waiter that released the lock "
                "but is not registered yet", HSCondition, "wait", _wait_registers_late),
        Variant("bulk_read_wakes_one", "a read taking several items of a bounded channel "
                "wakes one blocked writer", AsyncQueue, "_take_locked", _take_wakes_one,
                delays=False),
        Variant("put_many_same_generation", "put_many does not advance the change "
                "generation", AsyncQueue, "put_many", _put_many_same_generation, delays=False),
        Variant("pool_timeout_not_restarted", "a pool read's per-item timeout does not "
                "restart when items arrive", PoolReader, "_read_until_served",
                _read_until_served_fixed_deadline, delays=False),
    )
}

_patch_lock = threading.Lock()


@contextlib.contextmanager
def broken(name: str) -> Iterator[Variant]:
    """Install the broken variant ``name`` for the block; the original is restored after."""
    variant = BROKEN[name]
    with _patch_lock:
        original = variant.owner.__dict__[variant.method]
        setattr(variant.owner, variant.method, variant.replacement)
    try:
        yield variant
    finally:
        with _patch_lock:
            setattr(variant.owner, variant.method, original)
