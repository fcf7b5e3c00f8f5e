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
   scheduled: chunks (``plan_chunks``) are queued for the task unless the items already
   queued or in flight cover the demand.
3. If the thread may run chunks (above) and a chunk of that task is queued, it runs it.
   The chunk reads its input through the input task's PoolReader, so upstream work is
   demanded, and possibly run, the same way.
4. Otherwise the reader waits until the channel changes: an item is written, it is
   closed, a chunk of the task finishes, or the pool's size drops to 0 (these last two
   poke the channel). Then it loops.
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
  runs a chunk, which ends. If the pool's size drops to 0 meanwhile, ``set_size`` pokes
  the channels of the tasks with queued chunks, and their readers run them themselves.
* Without helping this fails: two pools of one worker each, a chain A -> B -> A; A's
  worker waits for B's chunk, which waits for a chunk queued behind A's busy worker
  (``stress/broken.py`` variant ``no_helping``; ``tests/test_pool.py``).

Lifetime: every PoolReader is a *handle* of its task. When the last handle is collected,
its ``weakref.finalize`` posts the task to the pool's orphan mailbox; the pool removes
orphans at the start of every call into it (add_task, remove_task, num_tasks, set_size,
size, and every read). A ChannelThreadTask added to a pool gets a handle of its own on
its input (``PoolReader.duplicate``); removing the task releases that handle, so inputs
nobody else holds follow, recursively, in whichever pool they live.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, ClassVar, TypeVar

from . import util
from .channel import CallbackChannelReader, Channel, ChannelWriter
from .graph import Graph
from .plan import plan_chunks, plan_unbounded
from .task import ChannelThreadTask, Task
from .thread import WorkerThread, WorkItem
from .util import ALL, HSCondition, Lock, Mailbox, SyncQueue, normalize_count, normalize_timeout

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ("ChunkQueue", "Pool", "PoolReader", "PoolWorker", "ThreadPool")

T = TypeVar("T")

# Any: a pool holds tasks of every item type; it only moves them, never their items.
AnyTask = Task[Any, Any]


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

    __slots__ = ("task", "handles", "pending", "pending_items", "inflight", "inflight_items",
                 "unbounded", "running")

    def __init__(self, task: AnyTask) -> None:
        self.task = task
        self.handles = 0  # live PoolReaders of this task that were not released
        self.pending = 0  # chunks queued, not started
        self.pending_items = 0  # items those chunks will process (count-0 chunks: 0)
        self.inflight = 0  # chunks being processed
        self.inflight_items = 0
        self.unbounded = 0  # count-0 ("everything") chunks pending or in flight
        self.running: list[int] = []  # thread idents processing a chunk of the task


class _Chunk:
    __slots__ = ("state", "count")

    def __init__(self, state: _TaskState, count: int) -> None:
        self.state = state
        self.count = count  # items to process; 0: all that are left


class ChunkQueue:
    """The pool's queue of chunks, shared by its workers and its readers.

    Its state is guarded by the pool lock it is given: the queued chunks, the number of
    stop requests, the number of live workers and which threads are running chunks.
    Workers wait on ``work_ready``; ``chunk_done`` is notified whenever a chunk ends and
    whenever a worker exits.
    """

    def __init__(self, lock: Lock, owner: weakref.ref[Pool]) -> None:
        self._lock = lock
        self._owner = owner
        self.work_ready = HSCondition(lock, "Pool.work_ready")
        self.chunk_done = HSCondition(lock, "Pool.chunk_done")
        self._chunks: deque[_Chunk] = deque()
        self._stops = 0  # workers asked to stop that have not taken the request yet
        self.live_workers = 0  # started and not exited
        self._busy: dict[int, int] = {}  # thread ident -> chunks on that thread's stack

    # -- scheduling (pool lock held) --

    def ensure_production_locked(self, state: _TaskState, need: int, workers: int) -> None:
        """Queue chunks of ``state.task`` unless queued and in-flight ones cover ``need``."""
        min_count, max_chunksize = state.task.chunk_limits()
        if need == ALL:
            # Keep every thread (the workers and this reader) fed: top up with a batch
            # whenever no more than one chunk per worker is left queued.
            if state.unbounded or state.pending > workers:
                return
            counts = plan_unbounded(max_chunksize, workers + 1)
        else:
            if state.unbounded:
                return
            outstanding = state.pending_items + state.inflight_items
            if outstanding >= need:
                return
            counts = plan_chunks(need - outstanding, min_count, max_chunksize)
        for count in counts:
            self._chunks.append(_Chunk(state, count))
            state.pending += 1
            state.pending_items += count
            if count == ALL:
                state.unbounded += 1
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
        """Forget the queued chunks of a removed task."""
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

    def request_stops_locked(self, count: int) -> None:
        self._stops += count
        self.work_ready.notify_all_locked()

    def runs_chunk_locked(self) -> bool:
        """:return: True if the calling thread is inside a chunk of this pool."""
        return threading.get_ident() in self._busy

    def _start_locked(self, chunk: _Chunk) -> None:
        state = chunk.state
        state.pending -= 1
        state.pending_items -= chunk.count
        state.inflight += 1
        state.inflight_items += chunk.count
        ident = threading.get_ident()
        state.running.append(ident)
        self._busy[ident] = self._busy.get(ident, 0) + 1

    # -- running --

    def run(self, chunk: _Chunk) -> None:
        """Process a started chunk (no lock held), then account for it and poke the task's
        channel so that its readers re-evaluate."""
        state = chunk.state
        task = state.task
        _chunk_depth.depth += 1
        try:
            task.process(chunk.count)
        finally:
            _chunk_depth.depth -= 1
            ident = threading.get_ident()
            with self._lock:
                state.inflight -= 1
                state.inflight_items -= chunk.count
                if chunk.count == ALL:
                    state.unbounded -= 1
                state.running.remove(ident)
                if self._busy[ident] == 1:
                    del self._busy[ident]
                else:
                    self._busy[ident] -= 1
                self.chunk_done.notify_all_locked()
            _poke_readers([task])

    # -- the worker side (WorkQueue protocol) --

    def get(self, block: bool = True, timeout: float | None = None) -> WorkItem:
        """:return: the next work item for a worker: a stop request, else the oldest chunk.

        :raise util.Empty: if there is nothing after ``timeout`` (the worker then checks
            whether it should terminate, and asks again).
        """
        with self._lock:
            timed_out = False
            while True:
                if self._stops:
                    self._stops -= 1
                    return (WorkerThread.stop,)
                if self._chunks:
                    chunk = self._chunks.popleft()
                    self._start_locked(chunk)
                    return (self.run, (chunk,))
                if self._owner() is None:
                    return (WorkerThread.stop,)  # the pool was collected
                if not block or timed_out:
                    raise util.Empty("no chunk queued")
                timed_out = not self.work_ready.wait(timeout) and timeout is not None

    def put(self, item: WorkItem, block: bool = True, timeout: float | None = None) -> None:
        """Accept a stop request (``WorkerThread.stop_and_join`` sends one)."""
        if item != (WorkerThread.stop,):
            raise ValueError(f"a pool's queue only takes stop requests, got {item!r}")
        with self._lock:
            self.request_stops_locked(1)

    def worker_started_locked(self) -> None:
        self.live_workers += 1

    def worker_exited(self) -> None:
        with self._lock:
            self.live_workers -= 1
            self.chunk_done.notify_all_locked()


class PoolWorker(WorkerThread):
    """A pool's worker thread: a WorkerThread that reports its exit to the pool's queue."""

    def __init__(self, inq: ChunkQueue, name: str | None = None) -> None:
        super().__init__(inq, name)
        self._chunk_queue = inq

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._chunk_queue.worker_exited()


class PoolReader(CallbackChannelReader[T]):
    """A reader of a task's output channel, and the handle that keeps the task alive.

    Reading triggers the production of the items it needs (see the module docstring).
    It is safe from any thread; concurrent readers get each item exactly once. A handle
    keeps its pool alive; when the last handle of a task is gone the task is removed.
    """

    def __init__(self, channel: Channel[T], task: Task[Any, T], pool: Pool) -> None:
        super().__init__(channel)
        self._task_ref: weakref.ref[Task[Any, T]] = weakref.ref(task)
        self._pool = pool  # a handle keeps its pool alive
        self._release: Callable[[], object] = pool._adopt_handle(self, task)

    def task(self) -> Task[Any, T]:
        """:return: task we read from

        :raise ValueError: If the instance is not attached to a task anymore
        """
        task = self._task_ref()
        if task is None:
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
        twin = PoolReader(self.channel, self.task(), self._pool)
        with self._cb_lock:
            pre_cb, post_cb = self._pre_cb, self._post_cb
        twin.set_pre_cb(pre_cb)
        twin.set_post_cb(post_cb)
        return twin

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
        chunk that is running."""
        return self._with_callbacks(self._demand_read, count, block, timeout)

    def _demand_read(self, count: int, block: bool, timeout: float | None) -> list[T]:
        count = normalize_count(count)
        timeout = normalize_timeout(timeout)
        task = self._task_ref()
        try:
            return self._read_until_served(task, count, block, timeout)
        finally:
            if task is not None:
                # Without workers nobody else would run the rest of what this read
                # planned (e.g. the min_count surplus): run it before returning.
                self._pool._run_planned_if_serial(task)

    def _read_until_served(
        self, task: Task[Any, T] | None, count: int, block: bool, timeout: float | None
    ) -> list[T]:
        queue = self.channel.queue
        pool = self._pool
        out: list[T] = []
        deadline: float | None = None
        while True:
            need = count - len(out) if count else ALL
            items, generation, drained = queue.take_nowait(need)
            if items:
                out.extend(items)
                deadline = None  # the timeout is per item: it restarts
                if count and len(out) >= count:
                    return out
            if drained:
                return out
            need = count - len(out) if count else ALL
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


def _poke_readers(tasks: list[AnyTask]) -> None:
    """Wake the readers waiting on the tasks' channels, so that they re-evaluate who runs
    the queued chunks (call without the pool lock)."""
    for task in tasks:
        writer = task.writer()
        if isinstance(writer, ChannelWriter):
            writer.channel.queue.poke()


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
        # Guarded by _lock: the task graph, each task's state, the requested worker
        # count and the worker threads started (some may have exited).
        self._tasks: Graph[AnyTask] = Graph()
        self._states: dict[AnyTask, _TaskState] = {}
        self._num_workers = 0
        self._threads: list[WorkerThread] = []
        # Self-synchronized (finalizers post here from any thread, holding any lock).
        self._orphans: Mailbox[_TaskState] = Mailbox()
        self.set_size(size)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} size={self.size()} tasks={self.num_tasks()}>"

    # -- interface --

    def size(self) -> int:
        """:return: amount of workers in the pool"""
        with self._lock:
            self._collect_orphans_locked()
            return self._num_workers

    def set_size(self, size: int = 0) -> Pool:
        """Set the amount of workers. New workers start at once; when reducing, a worker
        finishes its chunk before it exits. With 0, every read does its work in the
        reading thread. Safe from any thread.

        :return: self
        :raise ValueError: if size is negative
        """
        size = _check_size(size)
        stranded: list[AnyTask] = []
        with self._lock:
            self._collect_orphans_locked()
            self._threads = [t for t in self._threads if t.is_alive()]
            current = self._num_workers
            for index in range(current, size):
                worker = self._worker_cls(self._queue, f"refasync-worker-{id(self):x}-{index}")
                self._queue.worker_started_locked()
                worker.start()
                self._threads.append(worker)
            if size < current:
                self._queue.request_stops_locked(current - size)
            self._num_workers = size
            if size == 0 and current:
                stranded = self._queue.queued_tasks_locked()
        _poke_readers(stranded)
        return self

    def close(self) -> None:
        """End every worker: ``set_size(0)``, then wait until they have exited (each
        finishes its current chunk first). The pool stays usable in serial mode."""
        self.set_size(0)
        me = threading.current_thread()
        with self._lock:
            own = 1 if me in self._threads else 0
            while self._queue.live_workers > own:
                self._queue.chunk_done.wait()
            threads = [t for t in self._threads if t is not me]
        for thread in threads:
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
        :raise ValueError: if the task was added to a pool before, has no input, or
            writes to a bounded or serial channel
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
        task._claim(self)
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
        with self._lock:
            self._collect_orphans_locked()
            self._states[task] = _TaskState(task)
            self._tasks.add_node(task)
            if isinstance(task, ChannelThreadTask):
                source = task.reader()
                if isinstance(source, PoolReader) and source._pool is self:
                    upstream = source._task_ref()
                    if upstream is not None and upstream in self._states:
                        self._tasks.add_edge(upstream, task)
        return PoolReader(channel, task, self)

    def remove_task(self, task: AnyTask, _from_destructor_: bool = False) -> Pool:
        """Remove the task, and the tasks orphaned by it, recursively: it is done, its
        queued chunks are dropped and its channel closes once no chunk writes to it.

        Blocks until the chunks of removed tasks in flight in other threads have
        finished (not when called from inside a chunk of this pool).

        :return: self
        """
        with self._lock:
            self._collect_orphans_locked()
            state = self._states.get(task)
            if state is None:
                return self
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

    def _adopt_handle(self, reader: PoolReader[T], task: Task[Any, T]) -> Callable[[], object]:
        """Count ``reader`` as a handle of ``task``; :return: its release function, which
        the reader's finalizer also calls when it is collected."""
        with self._lock:
            state = self._states.get(task)
            if state is None:
                raise ValueError(f"task {task.id!r} is not a task of this pool")
            state.handles += 1
            return weakref.finalize(reader, self._orphans.post, state)

    def _demand(self, task: AnyTask, need: int, block: bool) -> _Chunk | None:
        """Make sure ``need`` items of ``task`` are being produced; :return: a queued chunk
        of the task for the calling thread to run, if it should run one."""
        with self._lock:
            self._collect_orphans_locked()
            state = self._states.get(task)
            if state is None:
                return None
            workers = self._num_workers
            if not task.is_done():
                self._queue.ensure_production_locked(state, need, workers)
            # Who runs chunks: nobody else on a serial pool; a thread inside a chunk
            # helps; a thread outside every chunk leaves them to the workers.
            if workers == 0 or (block and inside_chunk()):
                return self._queue.take_for_locked(state)
            return None

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
            for state in messages:
                state.handles -= 1
                if state.handles == 0 and self._states.get(state.task) is state:
                    self._remove_locked(state)
                    removed.append(state)

    def _remove_locked(self, state: _TaskState) -> None:
        task = state.task
        del self._states[task]
        self._tasks.remove_node(task)
        self._queue.discard_locked(state)
        task.set_done()
        if isinstance(task, ChannelThreadTask):
            source = task.reader()
            if isinstance(source, PoolReader):
                source.release()


class ThreadPool(Pool):
    """A pool using threads as workers."""

    LockCls = Lock
    TaskQueueCls = ChunkQueue
    WorkerCls = PoolWorker
