"""Test-only broken variants of refasync: each a classic concurrency bug, installed by
patching one method of a refasync class for the duration of a ``with`` block.

They exist to prove the harness's power (``python -m stress --broken NAME``, and
``stress/test_broken.py``): under the ``heavy`` profile the harness must catch each.
Nothing here is imported by the library; ``src/`` is never edited.
"""

from __future__ import annotations

import contextlib
import inspect
import textwrap
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, cast

import _thread

from refasync import util
from refasync.channel import IteratorReader
from refasync.pool import ChunkQueue, Pool, PoolReader
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
    faults: bool = False  # only the fault scenarios (stress/faults.py) can reveal it
    delays: bool = True  # the delay harness is expected to catch it (else: the explorer)


def _with_defect(function: Callable[..., Any], old: str, new: str) -> Callable[..., Any]:
    """:return: a copy of ``function`` (compiled from its source, in its module's
    namespace) with the line ``old`` replaced by ``new``."""
    source = textwrap.dedent(inspect.getsource(function))
    if source.count(old) != 1:
        raise AssertionError(f"{function.__qualname__}: defect site {old!r} not found once")
    namespace: dict[str, Any] = {}
    exec(compile(source.replace(old, new), f"<broken {function.__qualname__}>", "exec"),
         function.__globals__, namespace)
    return cast(Callable[..., Any], namespace[function.__name__])


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
        self._fail(exc)
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


# BUG: the waiter registers after the lock is released: a notify in between finds no
# waiter, so that wake-up is lost and this thread sleeps through it.
_wait_registers_late = _with_defect(
    HSCondition.wait,
    "self._waiters.append(waiter)\n    raw.release()\n    notified = False\n    try:\n"
    "        if hook is not None:\n            hook(SyncPoint.RELEASE, self._lock)\n",
    "raw.release()\n    notified = False\n    try:\n"
    "        if hook is not None:\n            hook(SyncPoint.RELEASE, self._lock)\n"
    "        self._waiters.append(waiter)  # BUG: registered after the lock is released\n")


# -- 7./8. who runs chunks (issue 9) -----------------------------------------------------


_demand_without_helping = _with_defect(
    Pool._demand, "if workers == 0 or (block and inside_chunk()):",
    "if workers == 0:  # BUG: a thread inside a chunk only waits, it never helps")

_demand_outside_reader_runs_chunks = _with_defect(
    Pool._demand, "if workers == 0 or (block and inside_chunk()):",
    "if workers == 0 or block:  # BUG: any blocking reader runs chunks, timed or not")


# -- 22. a chunk's end does not poke the readers waiting for its task (issue 14) ---------

_run_pokes_nobody = _with_defect(
    ChunkQueue.run, "poke = state.waiting > 0",
    "poke = False  # BUG: readers waiting for the task are not told the chunk ended")


# -- 9-12. the fault dimension's variants: each puts one defect of issue 10 back ----------


# H1: a chunk catches only Exception: a BaseException drops its results, the task goes on.
_process_catches_exception_only = _with_defect(
    Task.process, "    except BaseException as exc:\n        # Items produced",
    "    except Exception as exc:\n        # Items produced")

# M6: the items an input produced before raising are not delivered.
_process_drops_unread_input = _with_defect(
    Task.process, "            items = self._take_unread()", "            items = []")


# H2: a blocking read interrupted in its wait loses what it took.
def _get_many_without_put_back(self: AsyncQueue[Any], count: int, block: bool,
                               timeout: float | None) -> list[Any]:
    return self._get_many_into_locked([], count, block, timeout)  # BUG: no put-back


# L2: HSCondition.wait as it was: registers the waiter before checking anything, so a
# wait without the lock (or interrupted by the hook) leaves a stale waiter behind.
def _wait_leaves_stale_waiter(self: HSCondition, timeout: float | None = None) -> bool:
    hook = util.get_sync_hook()
    if hook is not None and hook(SyncPoint.WAIT, self):
        self._lock.release()
        self._lock.acquire()
        hook(SyncPoint.WAKE, self)
        return False
    waiter = _thread.allocate_lock()
    waiter.acquire()
    self._waiters.append(waiter)
    self._lock.release()  # BUG: raises without the lock, the waiter stays registered
    notified = False
    try:
        if timeout is None:
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
# -- 13. a bulk read that frees several slots wakes one blocked writer ---------------------


_take_wakes_one = _with_defect(
    AsyncQueue._take_locked, "self.not_full.notify_locked(taken)",
    "self.not_full.notify_locked(1)  # BUG: `taken` slots freed, one writer woken")


# -- 14. put_many does not advance the change generation ----------------------------------


_put_many_same_generation = _with_defect(
    AsyncQueue.put_many, "self._generation += 1\n",
    "pass  # BUG: no generation bump: a reader waiting for a change sleeps on\n")


# -- 15. the pool read's per-item timeout does not restart when items arrive ---------------


_demand_read_fixed_deadline = _with_defect(
    PoolReader._demand_read, "deadline = None  # the timeout is per item: it restarts",
    "pass  # BUG: the deadline is not reset: one timeout for the whole read")


# -- 16-21. the concurrency classes of models/broken.py, on today's code (MODEL_CLASSES) ----


_close_forgets_readers = _with_defect(
    AsyncQueue.set_writable, "self.not_empty.notify_all_locked()",
    "pass  # BUG: closing does not wake blocked readers")

_close_forgets_writers = _with_defect(
    AsyncQueue.set_writable, "self.not_full.notify_all_locked()",
    "pass  # BUG: closing does not wake writers blocked on a full channel")

_put_wakes_nobody = _with_defect(
    AsyncQueue.put, "self.not_empty.notify_locked()",
    "pass  # BUG: a write does not wake a blocked reader")

_put_back_at_the_end = _with_defect(
    AsyncQueue._put_back_locked, "self._items.extendleft(reversed(items))",
    "self._items.extend(items)  # BUG: put back at the end, not the front")

_collect_orphans_never = _with_defect(
    Pool._collect_orphans_locked, "state.handles -= 1",
    "pass  # BUG: a dropped handle is never counted: orphans are never removed")

_remove_forgets_inputs = _with_defect(
    Pool._remove_locked, "source.release()",
    "pass  # BUG: the input's handle is kept: orphaned inputs stay")

# The unlocked iterator of the issue (85 s to catch with delays): IteratorReader.read
# without its lock. Two readers may then take the same position of the iterator.
_iterator_read_unlocked = _with_defect(
    IteratorReader.read, "with self._lock.completing:\n            out = self._read_locked",
    "if True:  # BUG: the lock is not taken\n            out = self._read_locked")


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
        Variant("no_helping", "a thread inside a chunk waits for queued upstream chunks "
                "instead of running them", Pool, "_demand", _demand_without_helping),
        Variant("outside_reader_runs_chunks", "a blocking reader outside every chunk runs "
                "its task's chunks on a pool with workers", Pool, "_demand",
                _demand_outside_reader_runs_chunks),
        Variant("chunk_catches_exception_only", "H1: a chunk interrupted by a BaseException "
                "drops its results and the task goes on", Task, "process",
                _process_catches_exception_only, faults=True),
        Variant("read_loses_items_on_interrupt", "H2: a blocking read interrupted in its "
                "wait loses the items it took", AsyncQueue, "_get_many_locked",
                _get_many_without_put_back, faults=True),
        Variant("failing_input_drops_its_items", "M6: the items an input produced before "
                "raising are not delivered", Task, "process", _process_drops_unread_input,
                faults=True),
        Variant("wait_leaves_stale_waiter", "L2: a wait without the lock (or interrupted) "
                "leaves a stale waiter", HSCondition, "wait", _wait_leaves_stale_waiter,
                faults=True),
        Variant("bulk_read_wakes_one", "a read taking several items of a bounded channel "
                "wakes one blocked writer", AsyncQueue, "_take_locked", _take_wakes_one,
                delays=False),
        Variant("put_many_same_generation", "put_many does not advance the change "
                "generation", AsyncQueue, "put_many", _put_many_same_generation, delays=False),
        Variant("pool_timeout_not_restarted", "a pool read's per-item timeout does not "
                "restart when items arrive", PoolReader, "_demand_read",
                _demand_read_fixed_deadline, delays=False),
        Variant("close_forgets_readers", "closing does not wake blocked readers",
                AsyncQueue, "set_writable", _close_forgets_readers, delays=False),
        Variant("close_forgets_writers", "closing does not wake writers blocked on a full "
                "channel", AsyncQueue, "set_writable", _close_forgets_writers, delays=False),
        Variant("write_wakes_nobody", "a write does not wake a blocked reader", AsyncQueue,
                "put", _put_wakes_nobody, delays=False),
        Variant("put_back_at_the_end", "items a failed read puts back go to the back, not "
                "the front", AsyncQueue, "_put_back_locked", _put_back_at_the_end,
                faults=True, delays=False),
        Variant("orphans_never_removed", "a dropped handle is never counted, so orphans "
                "are never removed", Pool, "_collect_orphans_locked", _collect_orphans_never,
                delays=False),
        Variant("removal_forgets_inputs", "removing a task keeps its handle on its input, "
                "so orphaned inputs are not removed", Pool, "_remove_locked",
                _remove_forgets_inputs, delays=False),
        Variant("chunk_end_pokes_nobody", "a chunk's end does not wake the readers "
                "counted as waiting for its task", ChunkQueue, "run", _run_pokes_nobody),
        Variant("iterator_read_unlocked", "IteratorReader.read does not take its lock",
                IteratorReader, "read", _iterator_read_unlocked, delays=False),
    )
}

#: Every class of models/broken.py: the variant of the real implementation that has the
#: same defect (the explorer or a dedicated test must catch it), or why none applies.
#: A sequential defect shows in one thread without any interleaving: scheduling adds
#: nothing, and the models and unit tests catch it (models/test_teeth.py).
SEQUENTIAL = "sequential: one thread shows it, no schedule matters (models/test_teeth.py)"
MODEL_CLASSES: dict[str, str] = {
    "DropsLastItemQueue": SEQUENTIAL,
    "ReturnsAnItemTwiceQueue": SEQUENTIAL,
    "PutBackAtTheEndQueue": "put_back_at_the_end",
    "IgnoresCapacityQueue": SEQUENTIAL,
    "WritableAfterCloseQueue": SEQUENTIAL,
    "CloseForgetsReadersQueue": "close_forgets_readers",
    "CloseForgetsWritersQueue": "close_forgets_writers",
    "CloseWakesOneReaderQueue": "close_wakes_one",
    "WriteWakesNobodyQueue": "write_wakes_nobody",
    "InterruptedReadLosesItemsQueue": "read_loses_items_on_interrupt",
    "NeverRemovesOrphansPool": "orphans_never_removed",
    "ForgetsInputsPool": "removal_forgets_inputs",
    "RemovesDependentsPool": SEQUENTIAL,
    "CountsRemovedTasksPool": SEQUENTIAL,
    "NoCycleCheckGraph": "does not apply: Graph is pure and used only under Pool.lock "
                         "(models/test_graph_model.py)",
    "ReverseEdgeIsACycleGraph": "does not apply: Graph is pure and used only under "
                                "Pool.lock (models/test_graph_model.py)",
    "RemoveKeepsEdgesGraph": "does not apply: Graph is pure and used only under Pool.lock "
                             "(models/test_graph_model.py)",
    "DuplicateAncestorsGraph": "does not apply: Graph is pure and used only under "
                               "Pool.lock (models/test_graph_model.py)",
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
