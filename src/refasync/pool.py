"""Implementation of a thread-pool working with channels.

Who runs chunks (the policy; rules P4, P11-P13 in docs/semantics.md):

* A thread *inside a chunk* (a worker of any pool, or a reading thread running a serial
  chunk) helps: when it needs items of a task whose chunks are queued but not started, it
  takes them and runs them itself, as ``ForkJoinPool.join`` helps.
* A thread *outside every chunk* never runs a chunk of a pool that has workers: it
  schedules the work, then waits for the workers, and its timeout bounds that wait (per
  item, as on a channel). With ``block=False`` it schedules and returns what is there.
* On a pool of size 0 the reading thread runs the chunks (it is then inside a chunk, and
  helps upstream like a worker). A timeout cannot interrupt a chunk that is running.

How a read is served:

1. ``PoolReader.read`` takes the items already in the task's channel.
2. If it needs more and the task is not done, it makes sure enough production is
   scheduled: chunks (``plan_chunks``) are planned for the task unless the items already
   queued, in flight or planned cover the demand; they are queued lazily, at most one
   per worker at a time, so a huge count costs no more than that. (On a pool without
   workers, the one chunk that would be queued and taken at once is started directly.)
3. If the thread may run chunks (above) and a chunk of that task is queued, it runs it.
   The chunk reads its input through the input task's PoolReader, so upstream work is
   demanded, and possibly run, the same way.
4. Otherwise the reader waits until the channel changes: an item is written, it is
   closed, a chunk of the task finishes, or the pool loses its last worker (these last
   two poke the channel; a chunk's end pokes it only if a reader is counted as waiting
   for the task, which the reader is from the moment it decides, under the pool lock,
   to wait). Then it loops. If the read raises (an interrupt in the wait, a
   chunk it runs), the items it took go back to the front of the channel, in order.
5. With no workers, before returning, the reader also runs the chunks its demand
   planned that are still queued (e.g. the ``min_count`` surplus): nobody else would.

Why no read deadlocks, whatever the pool sizes (tasks may cross pools; the graph of
tasks and their inputs is acyclic, since a task's input exists before the task):

* A thread waits for items of task T only when no chunk of T it could run is queued: the
  production it waits for is then queued for a pool with workers, or in flight in
  another thread.
* A chunk in flight ends: the thread running it is inside a chunk, so it waits only for
  a task strictly upstream of T whose needed production is in flight elsewhere;
  following these waits goes strictly upstream and so ends at a chunk that waits for no
  pool task (by induction over the acyclic graph, every chunk in flight finishes).
* A queued chunk of a pool with workers is taken by a worker: every worker is idle or
  runs a chunk, which ends. If the pool loses its last worker meanwhile (``set_size(0)``,
  ``close()``, a worker that ends), the channels of the tasks with queued chunks are
  poked, and their readers run those chunks themselves.
* Without helping this fails: two pools of one worker each, a chain A -> B -> A; A's
  worker waits for B's chunk, which waits for a chunk queued behind A's busy worker
  (``stress/broken.py`` variant ``no_helping``; ``tests/test_pool_policy.py``).

Workers: the pool's size is the list of its member workers (``ChunkQueue``). A worker
asked to leave (``set_size``, ``close``, ``PoolWorker.stop_and_join``) stops being a
member at once and exits after its current chunk; a worker that ends any other way
leaves as it ends; a worker survives whatever user code raises. So ``size()`` is always
the live workers not asked to leave. Worker threads are named
``refasync-worker-<pool serial>-<k>``, unique in the process. After ``os.fork()`` a
child's pools have no workers and fresh locks (``os.register_at_fork``).

Lifetime: every PoolReader is a *handle* of its task. When the last handle is collected,
its ``weakref.finalize`` posts the task's key (never the task, so that a removed task
is freed while readers of it live) to the pool's orphan mailbox; the pool removes
orphans at the start of every call into it (add_task, remove_task, num_tasks, set_size,
size, and every read). A ChannelThreadTask added to a pool gets a handle of its own on
its input (``PoolReader.duplicate``); removing the task releases that handle, so inputs
nobody else holds follow, recursively, in whichever pool they live.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, ClassVar, TypeVar

from . import util
from .channel import CallbackChannelReader, Channel, ChannelWriter
from .graph import Graph
from .plan import plan_chunks, plan_unbounded
from .task import ChannelThreadTask, DemandLimitError, Task
from .thread import WorkerThread, WorkItem, report_to_excepthook
from .util import (ALL, AsyncQueue, HSCondition, Lock, Mailbox, SyncQueue, normalize_count,
                   normalize_timeout)

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ("ChunkQueue", "DemandLimitError", "Pool", "PoolReader", "PoolWorker", "ThreadPool")

T = TypeVar("T")

# Any: a pool holds tasks of every item type; it only moves them, never their items.
AnyTask = Task[Any, Any]


#: The most chunks one thread runs nested inside each other. Demand for a chunk's input is
#: met before the chunk runs (``fill_inputs``), so only inputs read through a function
#: the pool cannot see through (``set_read``) nest; past this, the read that asked gets
#: a ``DemandLimitError`` instead of a stack that would overflow in a user's function.
MAX_NESTED_CHUNKS = 48


class _ChunkDepth(threading.local):
    """How many chunks (of any pool) the current thread is running, one per thread."""

    depth = 0


_chunk_depth = _ChunkDepth()


def inside_chunk() -> bool:
    """:return: True if the calling thread is running a chunk of any pool (it then helps
    run queued upstream chunks rather than only wait for them)."""
    return _chunk_depth.depth > 0


class _TaskState:
    """The pool's bookkeeping for one task. Every field is guarded by the pool lock."""

    __slots__ = ("task", "key", "channel", "handles", "pending", "pending_items", "inflight",
                 "inflight_items", "deferred_items", "unbounded", "running", "waiting",
                 "limit_error")

    def __init__(self, task: AnyTask, key: int, channel: Channel[Any]) -> None:
        self.task = task
        self.key = key  # what the finalizers of its handles post (never the task itself)
        self.channel = channel  # the task's output channel (one task per channel)
        self.handles = 0  # live PoolReaders of this task that were not released
        self.pending = 0  # chunks queued, not started
        self.pending_items = 0  # items those chunks will process (count-0 chunks: 0)
        self.inflight = 0  # chunks being processed
        self.inflight_items = 0
        self.deferred_items = 0  # planned, not queued yet (queued one batch at a time)
        self.unbounded = 0  # count-0 ("everything") chunks pending or in flight
        self.running: list[int] = []  # thread idents processing a chunk of the task
        # Readers of the task about to wait, or waiting, for its channel to change: a
        # chunk's end pokes the channel only if there are some. An interrupt may leave
        # this one too high (it then costs a poke), never too low.
        self.waiting = 0
        # A DemandLimitError a worker met running a chunk of the task: the next read of
        # the task raises it (the reader that asked gets it, not the worker).
        self.limit_error: DemandLimitError | None = None


class _Chunk:
    __slots__ = ("state", "count", "ident")

    def __init__(self, state: _TaskState, count: int) -> None:
        self.state = state
        self.count = count  # items to process; 0: all that are left
        self.ident = 0  # the thread running it, once started


def _is_stop_request(item: object) -> bool:
    """:return: True for ``(W.stop,)`` with W any WorkerThread class (PoolWorker too)."""
    if not isinstance(item, tuple) or len(item) != 1:
        return False
    return getattr(item[0], "__func__", None) is getattr(WorkerThread.stop, "__func__", None)


class ChunkQueue:
    """The pool's queue of chunks, shared by its workers and its readers.

    Its state is guarded by the pool lock it is given: the queued chunks, the workers
    that belong to the pool (its size), the number of live worker threads and which
    threads are running chunks. Workers wait on ``work_ready``; ``chunk_done`` is
    notified whenever a chunk ends and whenever a worker exits.
    """

    def __init__(self, lock: Lock, owner: weakref.ref[Pool]) -> None:
        self._owner = owner
        self._reset(lock)

    def _reset(self, lock: Lock) -> None:
        self._lock = lock
        self.work_ready = HSCondition(lock, "Pool.work_ready")
        self.chunk_done = HSCondition(lock, "Pool.chunk_done")
        self._chunks: deque[_Chunk] = deque()
        # The pool's workers: started, alive, not asked to leave. Its length is size().
        self._members: list[PoolWorker] = []
        self.live_workers = 0  # worker threads started and not exited
        self._busy: dict[int, int] = {}  # thread ident -> chunks on that thread's stack

    @property
    def workers(self) -> int:
        """The pool's size: its workers that are alive and not asked to leave."""
        return len(self._members)

    # -- scheduling (pool lock held) --

    def ensure_production_locked(self, state: _TaskState, need: int,
                                 limits: tuple[int, int]) -> None:
        """Queue chunks of ``state.task`` unless queued, in-flight and deferred ones cover
        ``need``. A bounded demand is planned at once but queued lazily, one chunk per
        worker at a time (``_top_up_locked``), so a huge count costs no more than that.
        ``limits`` is the task's ``chunk_limits()``."""
        min_count, max_chunksize = limits
        workers = len(self._members)
        if need == ALL:
            # Keep every worker (or the serial reader) fed: top up with a batch whenever
            # no more than one chunk per worker is left queued.
            if state.unbounded or state.pending > workers:
                return
            self._queue_locked(state, plan_unbounded(max_chunksize, workers + 1))
            return
        if state.unbounded:
            return
        self._top_up_locked(state)
        outstanding = state.pending_items + state.inflight_items + state.deferred_items
        if outstanding >= need:
            return
        total = max(need - outstanding, min_count)  # == sum(plan_chunks(need - outstanding, ...))
        if max_chunksize == 0:
            self._queue_locked(state, [total])
            return
        state.deferred_items += total
        self._top_up_locked(state)

    def _top_up_locked(self, state: _TaskState) -> None:
        """Queue deferred items of the task in full chunks (``plan_chunks``), keeping at
        most one queued chunk per worker (one without workers)."""
        room = max(self.workers, 1) - state.pending
        if not state.deferred_items or room <= 0:
            return
        _, max_chunksize = state.task.chunk_limits()
        if max_chunksize == 0:
            counts = [state.deferred_items]  # the limit was lifted meanwhile
        else:
            counts = plan_chunks(min(state.deferred_items, max_chunksize * room), 0,
                                 max_chunksize)
        state.deferred_items -= sum(counts)
        self._queue_locked(state, counts)

    def _queue_locked(self, state: _TaskState, counts: list[int]) -> None:
        for count in counts:
            self._chunks.append(_Chunk(state, count))
            state.pending += 1
            state.pending_items += count
            if count == ALL:
                state.unbounded += 1
        if self.work_ready._waiters:  # no frame when no worker waits (a serial pool)
            self.work_ready.notify_locked(len(counts))

    def take_for_locked(self, state: _TaskState) -> _Chunk | None:
        """Take the oldest queued chunk of ``state.task`` to run it in this thread."""
        for chunk in self._chunks:
            if chunk.state is state:
                self._chunks.remove(chunk)
                self._start_locked(chunk)
                return chunk
        return None

    def discard_locked(self, state: _TaskState) -> None:
        """Forget the queued and deferred chunks of a removed task."""
        state.deferred_items = 0
        if state.pending:
            mine = [c for c in self._chunks if c.state is state]
            self._chunks = deque(c for c in self._chunks if c.state is not state)
            state.unbounded -= sum(1 for c in mine if c.count == ALL)
            state.pending = state.pending_items = 0

    def queued_tasks_locked(self) -> list[AnyTask]:
        """:return: the tasks that have queued chunks (their readers may be waiting for
        workers that are going away)."""
        seen: dict[int, AnyTask] = {}
        for chunk in self._chunks:
            seen.setdefault(id(chunk.state), chunk.state.task)
        return list(seen.values())

    def runs_chunk_locked(self) -> bool:
        """:return: True if the calling thread is inside a chunk of this pool."""
        return threading.get_ident() in self._busy

    def _start_locked(self, chunk: _Chunk) -> None:
        state = chunk.state
        state.pending -= 1
        state.pending_items -= chunk.count
        self._run_here_locked(chunk)

    def _run_here_locked(self, chunk: _Chunk) -> None:
        """Count a chunk that is not queued as in flight in the calling thread."""
        state = chunk.state
        state.inflight += 1
        state.inflight_items += chunk.count
        ident = chunk.ident = threading.get_ident()
        state.running.append(ident)
        busy = self._busy
        busy[ident] = busy.get(ident, 0) + 1

    def start_serial_locked(self, state: _TaskState, need: int,
                            limits: tuple[int, int]) -> _Chunk | None:
        """On a pool without workers, for a bounded ``need`` of a task with nothing
        queued or deferred: :return: the one chunk that ``ensure_production_locked`` then
        ``take_for_locked`` would give, started, without going through the chunk queue;
        None where the general path is needed (nothing to produce, or several chunks)."""
        if state.pending or state.deferred_items or state.unbounded:
            return None
        short = need - state.inflight_items
        if short <= 0:
            return None
        min_count, max_chunksize = limits
        total = max(short, min_count)
        if max_chunksize and total > max_chunksize:
            return None
        chunk = _Chunk(state, total)
        self._run_here_locked(chunk)
        return chunk

    # -- running --

    def run(self, chunk: _Chunk) -> bool:
        """Process a started chunk (no lock held), then account for it, queue the next
        deferred chunk of its task, and poke the task's channel if readers of the task
        wait for it to change, so that they re-evaluate.

        :return: True if chunks of the task were queued or deferred when it ended (a
            serial reader then runs them before it returns, ``_run_planned_if_serial``)
        """
        state = chunk.state
        left = True
        task = state.task
        _chunk_depth.depth += 1
        try:
            if _chunk_depth.depth > MAX_NESTED_CHUNKS:
                raise DemandLimitError(
                    f"a read of task {task.id!r} needs chunks nested more than "
                    f"{MAX_NESTED_CHUNKS} deep in one thread (inputs read through set_read "
                    "functions); no task failed and no item was lost")
            fill_inputs(task, chunk.count)
            task.process(chunk.count)
        finally:
            _chunk_depth.depth -= 1
            # Accounting for the chunk always completes, or its readers would wait for it
            # forever: an interrupt from the hook at the pool lock waits until the block
            # is done (Lock.completing), the threads waiting for a chunk to end are
            # woken whatever the hook raises inside it, and the poke always follows (F10).
            poke = False
            try:
                with self._lock.completing:
                    state.inflight -= 1
                    state.inflight_items -= chunk.count
                    if chunk.count == ALL:
                        state.unbounded -= 1
                    ident = chunk.ident
                    state.running.remove(ident)
                    busy = self._busy
                    if busy[ident] == 1:
                        del busy[ident]
                    else:
                        busy[ident] -= 1
                    left = bool(state.pending or state.deferred_items)
                    poke = state.waiting > 0
                    if state.deferred_items or self.chunk_done._waiters:
                        self._end_chunk_locked(state)
            finally:
                if poke:
                    _poke_readers([task])
        return left

    def _end_chunk_locked(self, state: _TaskState) -> None:
        """After a chunk of ``state``'s task: queue its next deferred chunk, wake the
        threads waiting for a chunk to end (even if the hook raises in the first)."""
        try:
            if state.deferred_items and not state.task.is_done():
                self._top_up_locked(state)
        finally:
            if self.chunk_done._waiters:  # no frame when nobody waits
                self.chunk_done.notify_all_locked()

    def run_on_worker(self, chunk: _Chunk) -> None:
        """``run`` for a worker: a ``DemandLimitError`` goes to the task's next read;
        any other BaseException that reaches here (one a task function raised, which the
        task also keeps, or an interrupt) is reported through ``threading.excepthook``,
        and the worker lives on, as the workers of ``ThreadPoolExecutor`` do."""
        try:
            self.run(chunk)
        except DemandLimitError as exc:
            with self._lock:
                chunk.state.limit_error = exc
        except BaseException:
            report_to_excepthook()

    # -- the worker side (WorkQueue protocol) --

    def get(self, block: bool = True, timeout: float | None = None) -> WorkItem:
        """:return: the next work item for a worker: a stop request if it was asked to
        leave, else the oldest chunk.

        :raise util.Empty: if there is nothing after ``timeout`` (the worker then checks
            whether it should terminate, and asks again).
        """
        me = threading.current_thread()
        with self._lock:
            timed_out = False
            while True:
                if me not in self._members:
                    return (WorkerThread.stop,)  # asked to leave (or not one of ours)
                if self._chunks:
                    chunk = self._chunks.popleft()
                    self._start_locked(chunk)
                    return (self.run_on_worker, (chunk,))
                if self._owner() is None:
                    return (WorkerThread.stop,)  # the pool was collected
                if not block or timed_out:
                    raise util.Empty("no chunk queued")
                timed_out = not self.work_ready.wait(timeout) and timeout is not None

    def put(self, item: WorkItem, block: bool = True, timeout: float | None = None) -> None:
        """Accept a stop request (``(WorkerThread.stop,)``, or ``(W.stop,)`` for any
        WorkerThread class W): one worker leaves the pool, which shrinks by one."""
        if not _is_stop_request(item):
            raise ValueError(f"a pool's queue only takes stop requests, got {item!r}")
        stranded: list[AnyTask] = []
        with self._lock:
            if self._members:
                stranded = self.shrink_locked(1)
        _poke_readers(stranded)

    # -- membership (pool lock held unless said otherwise) --

    def shrink_locked(self, count: int) -> list[AnyTask]:
        """Ask ``count`` workers to leave (idle ones first); each exits once it has
        finished its current chunk. :return: the tasks whose queued chunks no worker
        will run any more (their readers must be poked, without the lock)."""
        idle = [w for w in self._members if w.ident not in self._busy]
        busy = [w for w in self._members if w.ident in self._busy]
        for worker in (idle + busy)[:count]:
            self._members.remove(worker)
        self.work_ready.notify_all_locked()
        return [] if self._members else self.queued_tasks_locked()

    def retire(self, worker: PoolWorker) -> None:
        """``worker`` leaves the pool (if it is one of its workers)."""
        stranded: list[AnyTask] = []
        with self._lock:
            if worker in self._members:
                self._members.remove(worker)
                self.work_ready.notify_all_locked()
                if not self._members:
                    stranded = self.queued_tasks_locked()
        _poke_readers(stranded)

    def worker_started_locked(self, worker: PoolWorker) -> None:
        self._members.append(worker)
        self.live_workers += 1

    def worker_start_failed_locked(self, worker: PoolWorker) -> None:
        self._members.remove(worker)
        self.live_workers -= 1
        worker._exited = True

    def is_member_locked(self, worker: PoolWorker) -> bool:
        return worker in self._members

    def worker_exited(self, worker: PoolWorker) -> None:
        """Called by a worker thread as it ends, however it ends: if it was still one of
        the pool's workers (it died, or was terminated without a stop request), the
        pool shrinks by one, so that ``size()`` is always the live workers."""
        stranded: list[AnyTask] = []
        with self._lock:
            self.live_workers -= 1
            worker._exited = True
            if worker in self._members:
                self._members.remove(worker)
                if not self._members:
                    stranded = self.queued_tasks_locked()
            self.chunk_done.notify_all_locked()
        _poke_readers(stranded)


class PoolWorker(WorkerThread):
    """A pool's worker thread: a WorkerThread that reports its exit to the pool's queue.

    ``stop_and_join()`` makes it leave its pool (the pool's size drops by one at once);
    it exits once it has finished its current chunk. Like ``WorkerThread``'s, it does
    not block."""

    def __init__(self, inq: ChunkQueue, name: str | None = None) -> None:
        super().__init__(inq, name)
        self._chunk_queue = inq
        self._exited = False  # guarded by the pool lock

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._chunk_queue.worker_exited(self)

    def stop_and_join(self) -> None:
        """Leave the pool; the thread ends after its current chunk. Does not block."""
        self._chunk_queue.retire(self)


class PoolReader(CallbackChannelReader[T]):
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
        self._release: Callable[[], object] = pool._adopt_handle(self, task)

    def task(self) -> Task[Any, T]:
        """:return: task we read from

        :raise ValueError: If the instance is not attached to a task anymore (the task
            was removed from its pool)
        """
        task = self._task_ref()
        if task is None or not self._pool._has_task(task):
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

    def missing(self, need: int) -> int | None:
        """:return: how many of ``need`` items (``ALL``: every item) the channel lacks
        (``ALL`` for ``ALL``), or None if it holds them or is closed (no more can come)."""
        queue = self.channel.queue
        if not queue.writable():
            return None
        if need == ALL:
            return ALL
        short = need - queue.qsize()
        return short if short > 0 else None

    def produce(self, need: int) -> None:
        """Run, in the calling thread, the queued chunks of the task that make the channel
        hold ``need`` items (``ALL``: every item), without taking them; return as soon as
        it holds them, or the rest is in flight elsewhere, or the task is done."""
        task = self._task_ref()
        while task is not None:
            short = self.missing(need)
            chunk = None if short is None else self._pool.chunk_to_help(task, short)
            if chunk is None:
                return
            self._pool.run_chunk(chunk)

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
        # False once a chunk this read ran left none of the task's chunks queued or
        # deferred (then there is nothing for _run_planned_if_serial).
        left = True
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
                    chunk = pool._demand(task, count - len(out) if count else ALL, block,
                                         was_waiting)
                    if chunk is not None:
                        left = pool._queue.run(chunk)
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
                    pool._stop_waiting(task)
                if left:
                    # Without workers nobody else would run the rest of what this read
                    # planned (e.g. the min_count surplus): run it before returning.
                    pool._run_planned_if_serial(task)
        except (RecursionError, MemoryError) as exc:
            # Raised by the library's own reading machinery: a task function's failure is
            # kept by its chunk and never reaches here.
            self._abandon(task if waiting else None, out)
            raise DemandLimitError(f"a read of task {getattr(task, 'id', None)!r} hit a "
                                   f"limit of the interpreter: {exc!r}; no task failed "
                                   "and no item was lost") from exc
        except BaseException:
            self._abandon(task if waiting else None, out)
            raise
        return out

    def _abandon(self, waiting_for: Task[Any, T] | None, taken: list[T]) -> None:
        """A read is raising: it stops waiting for ``waiting_for`` (if given) and puts the
        items it took back at the front of the channel."""
        if waiting_for is not None:
            try:
                self._pool._stop_waiting(waiting_for)
            except BaseException:
                pass  # still counted: it costs a poke, never a lost wake-up
        self.channel.queue.put_back(taken)  # no effect, or a complete one


def _poke_readers(tasks: list[AnyTask]) -> None:
    """Wake the readers waiting on the tasks' channels, so that they re-evaluate who runs
    the queued chunks (call without the pool lock)."""
    for task in dict.fromkeys(tasks):
        writer = task.writer()
        if isinstance(writer, ChannelWriter):
            writer.channel.queue.poke()


def fill_inputs(task: AnyTask, count: int) -> None:
    """Before a chunk of ``task`` reading ``count`` items (0: all) runs in this thread:
    make the channel of its input (a ``PoolReader``) hold them, running the upstream
    chunks they need in this thread, the most upstream first. The walk upstream is a
    loop, so a chain of any depth costs no stack; the chunk's own read then finds its
    items, or demands the rest itself (chunks in flight elsewhere, items taken by a
    concurrent reader)."""
    plan: list[tuple[PoolReader[Any], int]] = []
    reader = task.input_reader()
    need = count or ALL
    while isinstance(reader, PoolReader):
        if reader.missing(need) is None:
            break
        upstream = reader._task_ref()
        limits = None if upstream is None else upstream.limits_unless_done()
        if upstream is None or limits is None:
            break
        plan.append((reader, need))
        reader = upstream.input_reader()
        # What a chunk of the upstream task for this demand reads (P1).
        need = ALL if need == ALL else max(need, limits[0])
    for reader, need in reversed(plan):
        reader.produce(need)


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"size must be an int, got {size!r}")
    if size < 0:
        raise ValueError(f"size must be >= 0 (0: serial mode), got {size}")
    return size


class Pool:
    """A pool keeps a task graph and 0 or more worker threads. With 0 workers every
    chunk runs in the thread that reads. Work is lazy: it is done when a PoolReader
    demands items. See the module docstring for how reads are served.

    ``Pool`` is the base; instantiate ``ThreadPool`` (or set ``LockCls``,
    ``TaskQueueCls`` and ``WorkerCls`` in a subclass). A pool is a context manager that
    ends its workers on exit.

    After ``os.fork()`` the child's copy of a pool has no workers (size 0) and fresh
    locks, and works serially; the child must not rely on the parent's workers, nor on
    chunks that were in flight in the parent when it forked (their items are lost to the
    child, and their tasks' channels may never close there).
    """

    LockCls: ClassVar[type[Lock] | None] = None
    TaskQueueCls: ClassVar[type[ChunkQueue] | None] = None
    WorkerCls: ClassVar[type[PoolWorker] | None] = None

    def __init__(self, size: int = 0) -> None:
        cls = type(self)
        if cls.LockCls is None or cls.TaskQueueCls is None or cls.WorkerCls is None:
            raise TypeError(
                f"{cls.__name__} needs LockCls, TaskQueueCls and WorkerCls; use ThreadPool"
            )
        size = _check_size(size)
        self._lock = cls.LockCls("Pool.lock")
        self._queue = cls.TaskQueueCls(self._lock, weakref.ref(self))
        self._worker_cls = cls.WorkerCls
        # Guarded by _lock: the task graph, each task's state (also by key, and by
        # output channel), the worker threads started (some may have exited) and how
        # many were ever started (for their names).
        self._tasks: Graph[AnyTask] = Graph()
        self._states: dict[AnyTask, _TaskState] = {}
        self._keys: dict[int, _TaskState] = {}
        self._channels: dict[int, _TaskState] = {}  # id(output channel) -> its task
        self._threads: list[PoolWorker] = []
        self._started = 0
        self._next_key = 0  # the last task key handed out
        # Self-synchronized (finalizers post here from any thread, holding any lock):
        # the keys of tasks that lost a handle.
        self._orphans: Mailbox[int] = Mailbox()
        # Worker threads are named <_worker_prefix><k>, k counting this pool's workers.
        self._worker_prefix = f"refasync-worker-{_register_for_fork(self)}-"
        try:
            self.set_size(size)
        except BaseException:
            self.close()  # a worker failed to start: end those that did, then raise
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} size={self.size()} tasks={self.num_tasks()}>"

    def __copy__(self) -> Pool:
        raise TypeError(f"a {type(self).__name__} cannot be copied: its workers, tasks and "
                        "handles belong to it alone")

    def __deepcopy__(self, memo: dict[int, object]) -> Pool:
        return self.__copy__()

    @property
    def _num_workers(self) -> int:
        """The pool's size (read with the pool lock held)."""
        return self._queue.workers

    # -- interface --

    def size(self) -> int:
        """:return: amount of workers in the pool: its live worker threads, not counting
        those asked to leave that are finishing their chunk"""
        with self._lock:
            self._collect_orphans_locked()
            return self._queue.workers

    def set_size(self, size: int = 0) -> Pool:
        """Set the amount of workers. New workers start at once; when reducing, a worker
        finishes its chunk before it exits. With 0, every read does its work in the
        reading thread, and readers waiting for queued chunks are woken to run them.
        Safe from any thread; of concurrent calls (``close()`` included) the last wins.

        :return: self
        :raise ValueError: if size is negative
        :raise RuntimeError: if a worker thread cannot be started; the workers that did
            start are kept, and ``size()`` counts exactly them
        """
        size = _check_size(size)
        stranded: list[AnyTask] = []
        try:
            with self._lock:
                self._collect_orphans_locked()
                self._threads = [t for t in self._threads if t.is_alive()]
                queue = self._queue
                current = queue.workers
                for _ in range(current, size):
                    name = f"{self._worker_prefix}{self._started}"
                    self._started += 1
                    worker = self._worker_cls(queue, name)
                    queue.worker_started_locked(worker)
                    try:
                        worker.start()
                    except BaseException:
                        queue.worker_start_failed_locked(worker)
                        raise
                    self._threads.append(worker)
                if size < current:
                    # Every thread waiting in the pool is woken: the queued chunks may
                    # have lost their workers, and a reader that slept through a lost
                    # wake-up re-evaluates rather than hold up the worker it runs in.
                    stranded = queue.shrink_locked(current - size) + self._waiting_locked()
        finally:
            _poke_readers(stranded)
        return self

    def close(self) -> None:
        """End every worker: ``set_size(0)``, then wait until the workers it asked to
        leave have exited (each finishes its current chunk first). Workers added by a
        ``set_size`` that runs after it are not waited for: the last call wins. The pool
        stays usable in serial mode."""
        self.set_size(0)
        me = threading.current_thread()
        with self._lock:
            # The workers that left (those that exited may still be finishing too).
            ending = [t for t in self._threads if t is not me
                      and not self._queue.is_member_locked(t)]
            while any(not t._exited for t in ending):
                self._queue.chunk_done.wait()
        for thread in ending:
            thread.join()

    def num_tasks(self) -> int:
        """:return: amount of tasks (orphans already removed)"""
        with self._lock:
            self._collect_orphans_locked()
            return len(self._tasks.nodes)

    def add_task(self, task: Task[Any, T]) -> PoolReader[T]:
        """Add a new task to be processed.

        :return: a reader to retrieve processed items. It is the task's handle: once
            every handle is gone, the task is orphaned and removed on the next occasion.
        :raise TypeError: if task is not a Task, or its writer is not a ChannelWriter
        :raise ValueError: if the task was added to a pool before, has no input, writes
            to a bounded or serial channel, or to the channel of another task of this pool
        """
        if not isinstance(task, Task):
            raise TypeError(f"add_task needs a Task, got {task!r}")
        if task._read is None:
            raise ValueError(f"task {task.id!r} has no input to read from")
        writer = task.writer()
        if writer is None:
            channel: Channel[T] = Channel()
            writer = ChannelWriter(channel)
        elif not isinstance(writer, ChannelWriter):
            raise TypeError(f"task {task.id!r}: a pool needs a ChannelWriter, got {writer!r}")
        else:
            channel = writer.channel
            if isinstance(channel.queue, SyncQueue):
                raise ValueError(f"task {task.id!r} writes to a serial channel; a pool "
                                 "needs a thread-safe Channel")
            if channel.queue.maxsize:
                raise ValueError(f"task {task.id!r} writes to a bounded channel; a pool "
                                 "task's output must be unbounded (it would block the "
                                 "thread that produces for its reader)")
        with self._lock.held:
            self._collect_orphans_locked()
            other = self._channels.get(id(channel))
            if other is not None and self._states.get(other.task) is other:
                raise ValueError(f"task {task.id!r} writes to the channel of task "
                                 f"{other.task.id!r} of this pool; give each task its own "
                                 "writer (the first to finish would close the other's)")
            task._claim(self)  # raises ValueError if the task was added before
            state = _TaskState(task, self._new_key_locked(), channel)
            self._states[task] = state
            self._keys[state.key] = state
            self._channels[id(channel)] = state
            self._tasks.add_node(task)
        task.set_writer(writer)
        if isinstance(task, ChannelThreadTask):
            source = task.reader()
            if isinstance(source, PoolReader):
                # The task holds a handle of its own: the reader it was given stays the
                # caller's, and removing the task releases only the task's handle.
                try:
                    task._use_input(source.duplicate())
                except ValueError:
                    pass  # the input task is gone: read what its channel still holds
                if source._pool is self:
                    upstream = source._task_ref()
                    with self._lock.held:
                        if (upstream is not None and upstream in self._states
                                and task in self._states):
                            self._tasks.add_edge(upstream, task)
        return PoolReader(channel, task, self)

    def remove_task(self, task: AnyTask, _from_destructor_: bool = False) -> Pool:
        """Remove the task, and the tasks orphaned by it, recursively: it is done, its
        queued chunks are dropped and its channel closes once no chunk writes to it.
        Removing a task that was removed already (e.g. as an orphan) does nothing.

        Blocks until the chunks of removed tasks in flight in other threads have
        finished (not when called from inside a chunk of this pool).

        :return: self
        :raise TypeError: if task is not a Task
        :raise ValueError: if the task was never added to this pool
        """
        if not isinstance(task, Task):
            raise TypeError(f"remove_task needs a Task, got {task!r}")
        with self._lock:
            self._collect_orphans_locked()
            state = self._states.get(task)
            if state is None:
                if task._owner() is self:
                    return self
                raise ValueError(f"task {task.id!r} is not a task of this pool")
            removed = [state]
            self._remove_locked(state)
            removed.extend(self._collect_orphans_locked())
            if self._queue.runs_chunk_locked():
                return self
            me = threading.get_ident()
            while any(ident != me for s in removed for ident in s.running):
                self._queue.chunk_done.wait()
        return self

    # -- internals --

    def _waiting_locked(self) -> list[AnyTask]:
        """:return: the tasks that readers are counted as waiting for."""
        return [state.task for state in self._states.values() if state.waiting]

    def _new_key_locked(self) -> int:
        self._next_key += 1
        return self._next_key

    def _has_task(self, task: AnyTask) -> bool:
        with self._lock:
            self._collect_orphans_locked()
            return task in self._states

    def _adopt_handle(self, reader: PoolReader[T], task: Task[Any, T]) -> Callable[[], object]:
        """Count ``reader`` as a handle of ``task``; :return: its release function, which
        the reader's finalizer also calls when it is collected. The finalizer holds the
        task's key, never the task, so a removed task is freed while readers remain."""
        with self._lock.held:
            if not self._orphans.is_empty():
                self._collect_orphans_locked()
            state = self._states.get(task)
            if state is None:
                raise ValueError(f"task {task.id!r} is not a task of this pool")
            state.handles += 1
            return weakref.finalize(reader, self._orphans.post, state.key)

    def _demand(self, task: AnyTask, need: int, block: bool, was_waiting: bool) -> _Chunk | None:
        """Make sure ``need`` items of ``task`` are being produced; :return: a queued chunk
        of the task for the calling thread to run, if it should run one. A blocking
        caller that gets None is counted as waiting for the task's channel (chunk ends
        then poke it) until its next call, with ``was_waiting``, or ``_stop_waiting``."""
        with self._lock.held:
            if not self._orphans.is_empty():
                self._collect_orphans_locked()
            state = self._states.get(task)
            if state is None:
                return None
            if was_waiting:
                state.waiting -= 1
            if state.running and threading.get_ident() in state.running:
                raise RuntimeError(
                    f"a chunk of task {task.id!r} reads the task's own output: it would "
                    "wait for itself (a task function must not read its own task)")
            error, state.limit_error = state.limit_error, None
            if error is not None:
                raise error
            workers = len(self._queue._members)
            limits = task.limits_unless_done()  # None: done
            chunk = None
            if limits is not None:
                if workers == 0 and need != ALL:
                    chunk = self._queue.start_serial_locked(state, need, limits)
                    if chunk is not None:
                        return chunk
                self._queue.ensure_production_locked(state, need, limits)
            # Who runs chunks: nobody else on a serial pool; a thread inside a chunk
            # helps; a thread outside every chunk leaves them to the workers.
            if workers == 0 or (block and inside_chunk()):
                chunk = self._queue.take_for_locked(state)
            if chunk is None and block:
                state.waiting += 1
            return chunk

    def chunk_to_help(self, task: AnyTask, need: int) -> _Chunk | None:
        """For a thread inside a chunk that reads ``need`` more items of ``task``: make
        sure they are being produced, as its read would (``_demand``); :return: a queued
        chunk of ``task``, started, for this thread to run first, or None (the production
        is in flight elsewhere, or the task is done or was removed)."""
        chunk = self._demand(task, need, True, False)
        if chunk is None:
            self._stop_waiting(task)  # it does not wait: its chunk's read will
        return chunk

    def run_chunk(self, chunk: _Chunk) -> bool:
        """Run a chunk this pool gave the calling thread (``ChunkQueue.run``)."""
        return self._queue.run(chunk)

    def _stop_waiting(self, task: AnyTask) -> None:
        """The calling reader no longer waits for ``task``'s channel (see ``_demand``)."""
        with self._lock:
            state = self._states.get(task)
            if state is not None:
                state.waiting -= 1

    def _run_planned_if_serial(self, task: AnyTask) -> None:
        """With no workers, run the queued chunks of ``task`` in this thread."""
        while True:
            with self._lock:
                state = self._states.get(task)
                if self._num_workers or state is None:
                    return
                chunk = self._queue.take_for_locked(state)
            if chunk is None:
                return
            self._queue.run(chunk)

    def _collect_orphans_locked(self) -> list[_TaskState]:
        """Remove the tasks whose last handle is gone, recursively.

        :return: the states of the removed tasks
        """
        removed: list[_TaskState] = []
        while True:
            messages = self._orphans.take_all()
            if not messages:
                return removed
            for key in messages:
                state = self._keys.get(key)
                if state is None:
                    continue  # its task was removed already
                state.handles -= 1
                if state.handles == 0 and self._states.get(state.task) is state:
                    self._remove_locked(state)
                    removed.append(state)

    def _remove_locked(self, state: _TaskState) -> None:
        task = state.task
        del self._states[task]
        self._keys.pop(state.key, None)
        if self._channels.get(id(state.channel)) is state:
            del self._channels[id(state.channel)]
        self._tasks.remove_node(task)
        self._queue.discard_locked(state)
        task.set_done()
        if isinstance(task, ChannelThreadTask):
            source = task.reader()
            if isinstance(source, PoolReader):
                source.release()

    # -- os.fork() --

    def _reset_in_child(self) -> None:
        """In a forked child (only its forking thread exists): no workers, fresh locks;
        chunks that were in flight in the parent's threads are forgotten."""
        cls = type(self)
        assert cls.LockCls is not None
        self._lock = cls.LockCls("Pool.lock")
        chunks = self._queue._chunks
        self._queue._reset(self._lock)
        self._queue._chunks = chunks
        self._threads = []
        me = threading.get_ident()
        for state in self._states.values():
            queue = state.channel.queue
            if isinstance(queue, AsyncQueue) and any(t != me for t in state.running):
                # A chunk in another thread was writing to this channel and would have
                # closed it: its reads in the child fail at once instead of waiting.
                queue.mutex.fail_in_forked_child(
                    f"guards the channel of task {state.task.id!r}, which a chunk in "
                    "another thread was writing to when this process was forked")
            state.inflight = state.inflight_items = 0
            state.running = []
            state.waiting = 0  # the parent's waiting readers are not in the child
            state.unbounded = sum(1 for c in chunks if c.state is state and c.count == ALL)


class ThreadPool(Pool):
    """A pool using threads as workers."""

    LockCls = Lock
    TaskQueueCls = ChunkQueue
    WorkerCls = PoolWorker


# -- os.fork(): every pool's lock is held across the fork, then renewed in the child --

_registry_lock = Lock("refasync.pool.registry")
_registry: list[weakref.ref[Pool]] = []  # guarded by _registry_lock
_held_across_fork: list[Pool] = []  # owned by the forking thread, between its handlers
_pools_registered = 0  # guarded by _registry_lock


def _register_for_fork(pool: Pool) -> int:
    """:return: the pool's serial number, unique in the process (its workers' names
    carry it: ``id()`` is reused once a pool is collected, while its workers may still
    be ending)."""
    global _pools_registered
    with _registry_lock:
        _registry[:] = [ref for ref in _registry if ref() is not None]
        _registry.append(weakref.ref(pool))
        _pools_registered += 1
        return _pools_registered


def _before_fork() -> None:
    _registry_lock.acquire()
    pools = [pool for pool in (ref() for ref in _registry) if pool is not None]
    pools.sort(key=id)  # one order for every pool lock (they are never nested otherwise)
    for pool in pools:
        pool._lock.acquire()
    _held_across_fork[:] = pools


def _after_fork_in_parent() -> None:
    pools = list(_held_across_fork)
    _held_across_fork.clear()
    for pool in reversed(pools):
        pool._lock.release()
    _registry_lock.release()


def _after_fork_in_child() -> None:
    global _registry_lock
    pools = list(_held_across_fork)
    _held_across_fork.clear()
    for pool in pools:
        pool._reset_in_child()
    _registry_lock = Lock("refasync.pool.registry")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
