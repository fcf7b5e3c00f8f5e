"""The chunk scheduler of a pool: each task's bookkeeping, the queue of chunks its workers
and readers take, the workers themselves, and running a chunk.

Who runs chunks (the policy; rules P4, P11-P13 in docs/semantics.md):

* A thread *inside a chunk* (a worker of any pool, or a reading thread running a serial
  chunk) helps: when it needs items of a task whose chunks are queued but not started, it
  takes them and runs them itself, as ``ForkJoinPool.join`` helps.
* A thread *outside every chunk* never runs a chunk of a pool that has workers: it
  schedules the work, then waits for the workers, and its timeout bounds that wait (per
  item, as on a channel). With ``block=False`` it schedules and returns what is there.
* On a pool of size 0 the reading thread runs the chunks (it is then inside a chunk, and
  helps upstream like a worker). A timeout cannot interrupt a chunk that is running.

Before a chunk runs, its thread runs the upstream chunks its input needs, the most
upstream first, in a loop (``fill_inputs``, rule P20): demand never recurses once per
task of a chain, so a chain of any depth costs no stack.

Workers: the pool's size is the list of its member workers (``ChunkQueue``). A worker
asked to leave (``set_size``, ``close``, ``PoolWorker.stop_and_join``) stops being a
member at once and exits after its current chunk; a worker that ends any other way
leaves as it ends; a worker survives whatever user code raises (reported through
``threading.excepthook``). So ``size()`` is always the live workers not asked to leave.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any

from . import util
from .channel import Channel, ChannelWriter
from .plan import plan_chunks, plan_unbounded
from .task import DemandLimitError, Task
from .thread import WorkerThread, WorkItem, report_to_excepthook
from .util import ALL, HSCondition, Lock

if TYPE_CHECKING:
    from .pool import Pool

__all__ = (
    "MAX_NESTED_CHUNKS",
    "ChunkQueue",
    "InputHandle",
    "PoolWorker",
    "as_limit_error",
    "fill_inputs",
    "inside_chunk",
    "poke_readers",
)

# Any: a pool holds tasks of every item type; it only moves them, never their items.
AnyTask = Task[Any, Any]

#: The most chunks one thread runs nested inside each other. Demand for a chunk's input is
#: met before the chunk runs (``fill_inputs``), so only inputs read through a function
#: the pool cannot see through (``set_read``) nest; past this, the read that asked gets
#: a ``DemandLimitError`` instead of a stack that would overflow in a user's function.
MAX_NESTED_CHUNKS = 48


class _ChunksHere(threading.local):
    """The chunks (of any pool) the current thread is running, the innermost last: each
    thread sees and changes only its own list."""

    def __init__(self) -> None:
        self.chunks: list[_Chunk] = []


_chunks_here = _ChunksHere()


def inside_chunk() -> bool:
    """:return: True if the calling thread is running a chunk of any pool (it then helps
    run queued upstream chunks rather than only wait for them)."""
    return bool(_chunks_here.chunks)


class _TaskState:
    """The pool's bookkeeping for one task. Every field is guarded by the pool lock."""

    __slots__ = (
        "task",
        "key",
        "channel",
        "handles",
        "pending",
        "pending_items",
        "inflight",
        "inflight_items",
        "deferred_items",
        "unbounded",
        "running",
        "waiting",
        "limit_error",
    )

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
    __slots__ = ("state", "count", "queue", "ident")

    def __init__(self, state: _TaskState, count: int, queue: ChunkQueue) -> None:
        self.state = state
        self.count = count  # items to process; 0: all that are left
        self.queue = queue  # set once: the chunk queue of its task's pool, which runs it
        self.ident = 0  # the thread running it, from its start until counted out (pool lock)


def _is_stop_request(item: object) -> bool:
    """:return: True for ``(W.stop,)`` with W any WorkerThread class (PoolWorker too)."""
    if not isinstance(item, tuple) or len(item) != 1:
        return False
    return getattr(item[0], "__func__", None) is getattr(WorkerThread.stop, "__func__", None)


class InputHandle:
    """What ``fill_inputs`` needs of a task's input to produce it ahead of a chunk: the
    reader handle of another pool task (``PoolReader`` implements it)."""

    def start_upstream(self, need: int) -> _Chunk | None:
        """For a chunk about to read ``need`` items (``ALL``: every item) through this
        handle: if the channel lacks some of them, make sure they are being produced, as
        a read would; :return: a chunk of the input's task that produces them, started in
        this thread (its ``count`` is what it reads in turn), or None if the channel holds
        them, is closed, its task is gone or done, or the production is in flight
        elsewhere."""
        raise NotImplementedError


class ChunkQueue:
    """The pool's queue of chunks, shared by its workers and its readers.

    Its state is guarded by the pool lock it is given: the queued chunks, the workers
    that belong to the pool (its size), the number of live worker threads and which of
    them took a chunk. Which chunks a thread is running is that thread's own
    (``_chunks_here``), shared with no other thread. Workers wait on ``work_ready``;
    ``chunk_done`` is notified whenever a chunk ends and whenever a worker exits.
    """

    _chunks: deque[_Chunk]  # guarded by the pool lock, as every field below

    def __init__(self, lock: Lock, owner: weakref.ref[Pool]) -> None:
        self._owner = owner
        self._reset(lock)

    def reset_in_child(self, lock: Lock) -> None:
        """In a forked child: a fresh lock and conditions, no workers, nothing in flight;
        the queued chunks stay queued (the child's readers run them)."""
        chunks = self._chunks
        self._reset(lock)
        self._chunks = chunks

    def queued_unbounded_locked(self, state: _TaskState) -> int:
        """:return: how many count-0 ("everything") chunks of the task are queued."""
        return sum(1 for c in self._chunks if c.state is state and c.count == ALL)

    def _reset(self, lock: Lock) -> None:
        self._lock = lock
        self.work_ready = HSCondition(lock, "Pool.work_ready")
        self.chunk_done = HSCondition(lock, "Pool.chunk_done")
        self._chunks = deque()
        # The pool's workers: started, alive, not asked to leave. Its length is size().
        self._members: list[PoolWorker] = []
        self.live_workers = 0  # worker threads started and not exited
        # The workers that took a chunk and have not asked for the next one (pool lock;
        # changed by get and worker_exited, read by shrink_locked).
        self._working: set[threading.Thread] = set()

    @property
    def workers(self) -> int:
        """The pool's size: its workers that are alive and not asked to leave."""
        return len(self._members)

    # -- scheduling (pool lock held) --

    def ensure_production_locked(
        self, state: _TaskState, need: int, limits: tuple[int, int]
    ) -> None:
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
            counts = plan_chunks(min(state.deferred_items, max_chunksize * room), 0, max_chunksize)
        state.deferred_items -= sum(counts)
        self._queue_locked(state, counts)

    def _queue_locked(self, state: _TaskState, counts: list[int]) -> None:
        for count in counts:
            self._chunks.append(_Chunk(state, count, self))
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

    def runs_chunk_here(self) -> bool:
        """:return: True if the calling thread is inside a chunk of this pool."""
        return any(chunk.queue is self for chunk in _chunks_here.chunks)

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

    def start_locked(self, state: _TaskState, need: int, block: bool) -> _Chunk | None:
        """Plan ``need`` items of ``state.task`` unless planned (``ensure_production_locked``);
        :return: a chunk of it, started, if the calling thread should run one: on a pool
        without workers always, in a blocking thread inside a chunk when one is queued
        (it helps), never in a thread outside every chunk of a pool with workers. On a
        pool without workers, a bounded ``need`` of a task with nothing queued or
        deferred, that one chunk covers, starts that chunk without the chunk queue (the
        one that queueing then ``take_for_locked`` would give, P19).

        :raise RuntimeError: if a chunk of the task runs in this thread (it would wait
            for itself, P22)
        :raise DemandLimitError: the one a worker met running a chunk of the task
        """
        task = state.task
        if state.running and threading.get_ident() in state.running:
            raise RuntimeError(
                f"a chunk of task {task.id!r} reads the task's own output: it would "
                "wait for itself (a task function must not read its own task)"
            )
        error, state.limit_error = state.limit_error, None
        if error is not None:
            raise error
        workers = len(self._members)
        limits = task.limits_unless_done()  # None: done
        if limits is not None:
            nothing_planned = not (state.pending or state.deferred_items or state.unbounded)
            if workers == 0 and need != ALL and nothing_planned:
                total = max(need - state.inflight_items, limits[0])
                if need > state.inflight_items and (not limits[1] or total <= limits[1]):
                    chunk = _Chunk(state, total, self)
                    self._run_here_locked(chunk)
                    return chunk
            self.ensure_production_locked(state, need, limits)
        if workers == 0 or (block and inside_chunk()):
            return self.take_for_locked(state)
        return None

    # -- running --

    def run(self, chunk: _Chunk, inputs_filled: bool = False) -> bool:
        """Process a started chunk (no lock held), then count it out (``finish``). Unless
        ``inputs_filled`` (the caller is ``fill_inputs``, which produced this chunk's
        input first), the chunk's input is filled first (``fill_inputs``).

        :return: True if chunks of the task were queued or deferred when it ended (a
            serial reader then runs them before it returns, ``Pool.run_planned_if_serial``)
        """
        task = chunk.state.task
        here = _chunks_here.chunks
        here.append(chunk)
        try:
            if len(here) > MAX_NESTED_CHUNKS:
                raise DemandLimitError(
                    f"a read of task {task.id!r} needs chunks nested more than "
                    f"{MAX_NESTED_CHUNKS} deep in one thread (inputs read through set_read "
                    "functions); no task failed and no item was lost"
                )
            if not inputs_filled:
                fill_inputs(task, chunk.count)
            task.process(chunk.count)
        finally:
            here.pop()
            left = self.finish(chunk)
        return left

    def finish(self, chunk: _Chunk) -> bool:
        """Count out a started chunk, whether it ran or not (once: a second call does
        nothing), queue the next deferred chunk of its task, and poke the task's channel
        if readers of the task wait for it to change, so that they re-evaluate.

        :return: True if chunks of the task were queued or deferred when it ended
        """
        state = chunk.state
        left = True
        # Accounting for the chunk always completes, or its readers would wait for it
        # forever: an interrupt from the hook at the pool lock waits until the block is
        # done (Lock.completing), the threads waiting for a chunk to end are woken
        # whatever the hook raises inside it, and the poke always follows (F10).
        poke = False
        try:
            with self._lock.completing:
                ident = chunk.ident
                if not ident:
                    return left  # counted out already
                chunk.ident = 0
                state.inflight -= 1
                state.inflight_items -= chunk.count
                if chunk.count == ALL:
                    state.unbounded -= 1
                state.running.remove(ident)
                left = bool(state.pending or state.deferred_items)
                poke = state.waiting > 0
                if state.deferred_items or self.chunk_done._waiters:
                    self._end_chunk_locked(state)
        finally:
            if poke:
                poke_readers([state.task])
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
        """``run`` for a worker: a limit of the library (``DemandLimitError``, or a
        ``RecursionError`` or ``MemoryError`` that no task function raised, since a
        chunk keeps those) goes to the task's next read; any other BaseException that
        reaches here (one a task function raised, which the task also keeps, or an
        interrupt) is reported through ``threading.excepthook``, and the worker lives
        on, as the workers of ``ThreadPoolExecutor`` do."""
        try:
            self.run(chunk)
        except (DemandLimitError, RecursionError, MemoryError) as exc:
            with self._lock:
                chunk.state.limit_error = as_limit_error(exc, chunk.state.task)
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
            self._working.discard(me)
            timed_out = False
            while True:
                if me not in self._members:
                    return (WorkerThread.stop,)  # asked to leave (or not one of ours)
                if self._chunks:
                    chunk = self._chunks.popleft()
                    self._start_locked(chunk)
                    self._working.add(me)
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
        poke_readers(stranded)

    # -- membership (pool lock held unless said otherwise) --

    def shrink_locked(self, count: int) -> list[AnyTask]:
        """Ask ``count`` workers to leave (idle ones first); each exits once it has
        finished its current chunk. :return: the tasks whose queued chunks no worker
        will run any more (their readers must be poked, without the lock)."""
        idle = [w for w in self._members if w not in self._working]
        busy = [w for w in self._members if w in self._working]
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
        poke_readers(stranded)

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
            self._working.discard(worker)
            if worker in self._members:
                self._members.remove(worker)
                if not self._members:
                    stranded = self.queued_tasks_locked()
            self.chunk_done.notify_all_locked()
        poke_readers(stranded)


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

    def exited_locked(self) -> bool:
        """:return: True once the thread has reported its end (pool lock held)."""
        return self._exited


def as_limit_error(exc: BaseException, task: AnyTask | None) -> DemandLimitError:
    """:return: ``exc`` if it is a ``DemandLimitError``, else one saying that a read of
    ``task`` met ``exc`` (a ``RecursionError`` or ``MemoryError`` of the library's own
    machinery: a task function's failure is kept by its chunk and never reaches here)."""
    if isinstance(exc, DemandLimitError):
        return exc
    error = DemandLimitError(
        f"a read of task {getattr(task, 'id', None)!r} hit a limit of "
        f"the interpreter: {exc!r}; no task failed and no item was lost"
    )
    error.__cause__ = exc
    return error


def poke_readers(tasks: list[AnyTask]) -> None:
    """Wake the readers waiting on the tasks' channels, so that they re-evaluate who runs
    the queued chunks (call without the pool lock)."""
    for task in dict.fromkeys(tasks):
        writer = task.writer()
        if isinstance(writer, ChannelWriter):
            writer.channel.queue.poke()


def fill_inputs(task: AnyTask, count: int) -> None:
    """Before a chunk of ``task`` reading ``count`` items (0: all) runs in this thread:
    make the channel of its input (a ``PoolReader``) hold them, running the upstream
    chunks they need in this thread, the most upstream first. The walk upstream starts
    one chunk per stage, sized by the chunk below it (its ``count`` is what it reads in
    turn); then the started chunks run, the most upstream first, each leaving in its
    channel what the next one reads. Both are loops, so a chain of any depth costs no
    stack. A chunk whose input still lacks items (a function returning fewer results
    than items, a chunk size limit, chunks in flight elsewhere, items taken by a
    concurrent reader) demands the rest in its own read, and the chunks that read runs
    fill their own inputs first. If anything raises, the chunks started and not run
    are counted out unrun."""
    started: list[_Chunk] = []
    try:
        source: object = task.input_reader()
        need = count or ALL
        while isinstance(source, InputHandle):
            chunk = source.start_upstream(need)
            if chunk is None:
                break
            started.append(chunk)
            source = chunk.state.task.input_reader()
            need = chunk.count or ALL
        for chunk in reversed(started):
            chunk.queue.run(chunk, True)
    except BaseException:
        for chunk in started:
            try:
                chunk.queue.finish(chunk)  # nothing if it ran
            except BaseException:
                pass  # an interrupt while counting out: the exception below ends the read
        raise
