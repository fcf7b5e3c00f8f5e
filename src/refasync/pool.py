"""Implementation of a thread-pool working with channels: the ``Pool`` keeps the task
graph, each task's handles and the orphans to remove, and serves the demand of its
readers. The chunk scheduler and the workers are in ``refasync.scheduler``, the reader
handle in ``refasync.reader``, fork handling in ``refasync.pool_fork``; their names are
importable from here too.

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
  runs a chunk, which ends. If the pool loses workers meanwhile (``set_size``,
  ``close()``, a worker that ends), the channels of the tasks with queued chunks, and
  of those readers wait for, are poked, and their readers run those chunks themselves.
* Without helping this fails: two pools of one worker each, a chain A -> B -> A; A's
  worker waits for B's chunk, which waits for a chunk queued behind A's busy worker
  (``stress/broken.py`` variant ``no_helping``; ``tests/test_pool_policy.py``).

Worker threads are named ``refasync-worker-<pool serial>-<k>``, unique in the process.
After ``os.fork()`` a child's pools have no workers and fresh locks
(``refasync.pool_fork``).

Lifetime: every PoolReader is a *handle* of its task. When the last handle is collected,
its ``weakref.finalize`` posts the task's key (never the task, so that a removed task
is freed while readers of it live) to the pool's orphan mailbox; the pool removes
orphans at the start of every call into it (add_task, remove_task, num_tasks, set_size,
size, and every read). A ChannelThreadTask added to a pool gets a handle of its own on
its input (``PoolReader.duplicate``); removing the task releases that handle, so inputs
nobody else holds follow, recursively, in whichever pool they live.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .channel import Channel, ChannelWriter
from .graph import Graph
from .pool_fork import register_for_fork
from .reader import PoolReader
from .scheduler import ChunkQueue, PoolWorker, _Chunk, poke_readers
from .scheduler import _TaskState as _TaskState  # the models' variants subclass with it
from .task import ChannelThreadTask, DemandLimitError, Task
from .util import ALL, AsyncQueue, Lock, Mailbox, SyncQueue

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ("ChunkQueue", "DemandLimitError", "Pool", "PoolReader", "PoolWorker", "ThreadPool")

T = TypeVar("T")

# Any: a pool holds tasks of every item type; it only moves them, never their items.
AnyTask = Task[Any, Any]


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
        self._worker_prefix = f"refasync-worker-{register_for_fork(self)}-"
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
        raise TypeError(
            f"a {type(self).__name__} cannot be copied: its workers, tasks and "
            "handles belong to it alone"
        )

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
            poke_readers(stranded)
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
            ending = [
                t for t in self._threads if t is not me and not self._queue.is_member_locked(t)
            ]
            while any(not t.exited_locked() for t in ending):
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
        if not task.has_input():
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
                raise ValueError(
                    f"task {task.id!r} writes to a serial channel; a pool "
                    "needs a thread-safe Channel"
                )
            if channel.queue.maxsize:
                raise ValueError(
                    f"task {task.id!r} writes to a bounded channel; a pool "
                    "task's output must be unbounded (it would block the "
                    "thread that produces for its reader)"
                )
        with self._lock.held:
            self._collect_orphans_locked()
            other = self._channels.get(id(channel))
            if other is not None and self._states.get(other.task) is other:
                raise ValueError(
                    f"task {task.id!r} writes to the channel of task "
                    f"{other.task.id!r} of this pool; give each task its own "
                    "writer (the first to finish would close the other's)"
                )
            task.claim(self)  # raises ValueError if the task was added before
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
                    task.use_input(source.duplicate())
                except ValueError:
                    pass  # the input task is gone: read what its channel still holds
                if source.pool() is self:
                    upstream = source.producer()
                    with self._lock.held:
                        if (
                            upstream is not None
                            and upstream in self._states
                            and task in self._states
                        ):
                            self._tasks.add_edge(upstream, task)
        return PoolReader(channel, task, self)

    def remove_task(self, task: AnyTask) -> Pool:
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
            state = self._state_locked(task)
            if state is None:
                if task.owner() is self:
                    return self
                raise ValueError(f"task {task.id!r} is not a task of this pool")
            removed = [state]
            self._remove_locked(state)
            removed.extend(self._collect_orphans_locked())
            if self._queue.runs_chunk_here():
                return self
            me = threading.get_ident()
            while any(ident != me for s in removed for ident in s.running):
                self._queue.chunk_done.wait()
        return self

    # -- internals --

    def _state_locked(self, task: AnyTask) -> _TaskState | None:
        """:return: the state of ``task``, or None if it is not a task of this pool
        (orphans removed first)."""
        if not self._orphans.is_empty():
            self._collect_orphans_locked()
        return self._states.get(task)

    def _waiting_locked(self) -> list[AnyTask]:
        """:return: the tasks that readers are counted as waiting for."""
        return [state.task for state in self._states.values() if state.waiting]

    def _new_key_locked(self) -> int:
        self._next_key += 1
        return self._next_key

    # -- what its readers call (refasync.reader) --

    def has_task(self, task: AnyTask) -> bool:
        """:return: True if ``task`` is a task of this pool (orphans removed first)."""
        with self._lock:
            return self._state_locked(task) is not None

    def adopt_handle(self, reader: PoolReader[T], task: Task[Any, T]) -> Callable[[], object]:
        """Count ``reader`` as a handle of ``task``; :return: its release function, which
        the reader's finalizer also calls when it is collected. The finalizer holds the
        task's key, never the task, so a removed task is freed while readers remain."""
        with self._lock.held:
            state = self._state_locked(task)
            if state is None:
                raise ValueError(f"task {task.id!r} is not a task of this pool")
            state.handles += 1
            return weakref.finalize(reader, self._orphans.post, state.key)

    def _demand(self, task: AnyTask, need: int, block: bool, was_waiting: bool) -> _Chunk | None:
        """Make sure ``need`` items of ``task`` are being produced; :return: a queued chunk
        of the task for the calling thread to run, if it should run one. A blocking
        caller that gets None is counted as waiting for the task's channel (chunk ends
        then poke it) until its next call, with ``was_waiting``, or ``stop_waiting``."""
        with self._lock.held:
            state = self._state_locked(task)
            if state is None:
                return None
            if was_waiting:
                state.waiting -= 1
            chunk = self._queue.start_locked(state, need, block)
            if chunk is None and block:
                state.waiting += 1
            return chunk

    def start_for_input(self, task: AnyTask, need: int) -> _Chunk | None:
        """For ``fill_inputs``, in a thread about to run a chunk that reads ``need`` items
        of ``task`` (``ALL``: every item): if the task's channel lacks some, make sure
        they are being produced, as a read would (``_demand``); :return: a chunk of
        ``task``, started, for this thread to run, or None (the channel holds
        them, the production is in flight elsewhere, or the task is done or was
        removed). One pool-lock block; the channel's lock is taken inside it."""
        with self._lock.held:
            state = self._state_locked(task)
            if state is None:
                return None
            writable, size = state.channel.queue.writable_and_size()
            if not writable or (need != ALL and need <= size):
                return None  # it holds them, or no more can come
            return self._queue.start_locked(state, ALL if need == ALL else need - size, True)

    def stop_waiting(self, task: AnyTask) -> None:
        """The calling reader no longer waits for ``task``'s channel (see ``_demand``)."""
        with self._lock:
            state = self._states.get(task)
            if state is not None:
                state.waiting -= 1

    def run_planned_if_serial(self, task: AnyTask) -> None:
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

    # -- orphans and removal --

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

    def hold_for_fork(self) -> None:
        """Before ``os.fork()``: take the pool lock, so no thread holds it at the fork."""
        self._lock.acquire()

    def release_after_fork(self) -> None:
        """In the parent, after ``os.fork()``: release what ``hold_for_fork`` took."""
        self._lock.release()

    def reset_in_child(self) -> None:
        """In a forked child (only its forking thread exists): no workers, fresh locks;
        chunks that were in flight in the parent's threads are forgotten."""
        cls = type(self)
        assert cls.LockCls is not None
        self._lock = cls.LockCls("Pool.lock")
        self._queue.reset_in_child(self._lock)
        self._threads = []
        me = threading.get_ident()
        for state in self._states.values():
            queue = state.channel.queue
            if isinstance(queue, AsyncQueue) and any(t != me for t in state.running):
                # A chunk in another thread was writing to this channel and would have
                # closed it: its reads in the child fail at once instead of waiting.
                queue.mutex.fail_in_forked_child(
                    f"guards the channel of task {state.task.id!r}, which a chunk in "
                    "another thread was writing to when this process was forked"
                )
            state.inflight = state.inflight_items = 0
            state.running = []
            state.waiting = 0  # the parent's waiting readers are not in the child
            state.unbounded = self._queue.queued_unbounded_locked(state)


class ThreadPool(Pool):
    """A pool using threads as workers."""

    LockCls = Lock
    TaskQueueCls = ChunkQueue
    WorkerCls = PoolWorker
