"""Module with threading utilities: threads that can be asked to terminate, and a worker
thread that runs calls taken from a queue."""

from __future__ import annotations

import functools
import queue as _stdlib_queue
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import ParamSpec, Protocol, TypeVar

from .sync import report
from .util import AsyncQueue, Lock, SyncPoint

__all__ = (
    "StopProcessing",
    "TerminatableThread",
    "WorkQueue",
    "WorkerThread",
    "do_terminate_threads",
    "report_to_excepthook",
    "terminate_threads",
)

P = ParamSpec("P")
R = TypeVar("R")

#: What a WorkerThread runs: a callable, or ``(routine[, args[, kwargs]])``.
WorkItem = (
    Callable[[], object]
    | tuple[Callable[..., object]]
    | tuple[Callable[..., object], Sequence[object]]
    | tuple[Callable[..., object], Sequence[object], Mapping[str, object]]
)


class WorkQueue(Protocol):
    """The queue a WorkerThread takes its work from."""

    def get(self, block: bool = True, timeout: float | None = None) -> WorkItem: ...

    def put(self, item: WorkItem, block: bool = True, timeout: float | None = None) -> None: ...


def do_terminate_threads(whitelist: Iterable[threading.Thread] = ()) -> None:
    """Terminate all of our threads (every live TerminatableThread).

    :param whitelist: If given, only the given threads will be terminated
    """
    chosen = set(whitelist)
    for thread in threading.enumerate():
        if not isinstance(thread, TerminatableThread):
            continue
        if chosen and thread not in chosen:
            continue
        thread.schedule_termination()
        thread.stop_and_join()


def terminate_threads(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator: terminate every TerminatableThread that ``func`` started, when it
    returns or raises."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        before = set(threading.enumerate())
        try:
            return func(*args, **kwargs)
        finally:
            started = set(threading.enumerate()) - before
            if started:
                do_terminate_threads(started)

    return wrapper


class TerminatableThread(threading.Thread):
    """A simple thread able to terminate itself on behalf of the user.

    Terminate a thread as follows: ``t.stop_and_join()``. Derived classes call
    ``_should_terminate()`` to determine whether they should abort gracefully.
    """

    def __init__(self, name: str | None = None, daemon: bool | None = True) -> None:
        super().__init__(name=name, daemon=daemon)
        self._terminate_lock = Lock("TerminatableThread.terminate")
        self._terminate = False  # guarded by _terminate_lock; never reset

    def _should_terminate(self) -> bool:
        """:return: True if this thread should terminate its operation immediately"""
        with self._terminate_lock.held:
            return self._terminate

    def _terminated(self) -> None:
        """Called once the thread terminated, in the thread that joined it."""

    def start(self) -> TerminatableThread:  # type: ignore[override]  # returns self, as the seed's does
        """Start the thread and return self."""
        super().start()
        report(SyncPoint.THREAD_START, self)  # a controlled scheduler adopts the thread
        return self

    def join(self, timeout: float | None = None) -> None:
        """Wait until the thread ends (or ``timeout`` seconds passed)."""
        report(SyncPoint.JOIN, self)
        super().join(timeout)

    def schedule_termination(self) -> None:
        """Schedule this thread to be terminated as soon as possible.

        :note: this method does not block.
        """
        with self._terminate_lock.held:
            self._terminate = True

    def stop_and_join(self) -> None:
        """Ask the thread to stop its operation and wait for it to terminate."""
        self.schedule_termination()
        self.join()
        self._terminated()


class StopProcessing(Exception):
    """If raised in a function run by a WorkerThread, the thread terminates."""


class WorkerThread(TerminatableThread):
    """A thread that runs work items taken from its input queue ``inq`` until it takes
    ``WorkerThread.stop`` or is asked to terminate. Results are the callee's business.

    A work item is a callable, or a tuple ``(routine, args, kwargs)`` where args (a
    sequence) and kwargs (a mapping) are optional::

        inq = AsyncQueue()
        w = WorkerThread(inq).start()
        inq.put((print, ("hello",)))
        inq.put((WorkerThread.stop,))

    Any exception raised by a work item (``KeyboardInterrupt`` and ``SystemExit``
    included, as a ``ThreadPoolExecutor`` worker survives them) is reported through
    ``threading.excepthook`` and the thread carries on.
    """

    # How often a worker waiting on an empty queue checks for a termination request.
    shutdown_check_time_s = 0.5

    def __init__(self, inq: WorkQueue | None = None, name: str | None = None) -> None:
        if inq is not None and not (
            callable(getattr(inq, "get", None)) and callable(getattr(inq, "put", None))
        ):
            raise TypeError(f"inq must be a queue with get() and put(), or None, got {inq!r}")
        super().__init__(name=name)
        self.inq: WorkQueue = AsyncQueue() if inq is None else inq

    @classmethod
    def stop(cls, *args: object) -> None:
        """If sent via the inq of the thread, it will stop once it took this item."""
        raise StopProcessing

    def run(self) -> None:
        """Process work items until we take the stop item or are asked to terminate."""
        while not self._should_terminate():
            try:
                item = self.inq.get(True, self.shutdown_check_time_s)
            except _stdlib_queue.Empty:
                continue
            try:
                _call(item)
            except StopProcessing:
                break
            except BaseException:
                report_to_excepthook()
            finally:
                del item  # drop references before waiting for the next item

    def stop_and_join(self) -> None:
        """Send the stop item to ourselves. This does not block: the thread terminates
        once it has taken the items queued before it."""
        self.inq.put((self.stop,))


def report_to_excepthook() -> None:
    """Report the exception being handled, which a worker survives, through
    ``threading.excepthook`` with the current thread, as an uncaught exception of a
    thread is reported (the default hook prints it to stderr and ignores ``SystemExit``).
    A hook that raises is ignored: the worker lives on."""
    exc_type, exc, tb = sys.exc_info()
    if exc_type is None:
        return
    try:
        threading.excepthook(
            threading.ExceptHookArgs((exc_type, exc, tb, threading.current_thread()))
        )
    except BaseException:
        pass
    finally:
        del exc, tb  # no cycle through this frame


def _call(item: WorkItem) -> object:
    if callable(item):
        return item()
    if isinstance(item, tuple) and 1 <= len(item) <= 3 and callable(item[0]):
        routine = item[0]
        args: Sequence[object] = item[1] if len(item) > 1 else ()
        kwargs: Mapping[str, object] = item[2] if len(item) > 2 else {}
        return routine(*args, **kwargs)
    raise TypeError(f"not a work item (a callable or (routine, args, kwargs)): {item!r}")
