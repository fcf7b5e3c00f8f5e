"""The explorer's versions of ``threading.Lock``, ``RLock``, ``Condition`` and
``queue.SimpleQueue``.

A ``Lock`` is a lock of the explorer's model, like refasync's own (one scheduling point
per acquisition; a timed acquisition times out in virtual time). An ``RLock`` adds an
owner and a count. A ``Condition`` is the standard library's algorithm (a waiter
registers a locked token under the lock, releases the lock, blocks until a notify
releases its token, and takes the lock back), blocking at the explorer's points. The
standard library's ``Event``, ``Semaphore``, ``Barrier`` and ``queue.Queue`` need no
version of their own: they are built on ``threading.Lock`` and ``threading.Condition``,
looked up when they are created, so one created by a thread of a run is made of these.
Used by a thread no run controls (or after the run), each behaves as the standard
library's.
"""

from __future__ import annotations

import _thread
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from ... import util
from ...util import Blocked, Lock, SyncPoint
from ..runtime import StdlibCondition, StdlibLock, current_record
from ..runtime.threads import TimedAcquire

__all__ = ("ControlledCondition", "ControlledLock", "ControlledRLock", "ControlledSimpleQueue")

T = TypeVar("T")


def _check_acquire(blocking: bool, timeout: float) -> None:
    """The standard library's argument checks of ``Lock.acquire``."""
    if not blocking and timeout != -1:
        raise ValueError("can't specify a timeout for a non-blocking call")
    if timeout < 0 and timeout != -1:
        raise ValueError("timeout value must be a non-negative number")


class ControlledLock(StdlibLock):
    """``threading.Lock``: held or free, released by any thread."""

    __slots__ = ()

    def __init__(self, *, name: str = "threading.Lock") -> None:
        super().__init__(name)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        _check_acquire(blocking, timeout)
        record = current_record()
        if record is None or not blocking or timeout < 0:
            return super().acquire(blocking, timeout)
        resume = record.run.step(record, SyncPoint.ACQUIRE, TimedAcquire(self, timeout))
        if resume is None:  # the run was given up
            return self.raw.acquire(True, timeout)
        return resume != "timeout" and self.raw.acquire()

    def __enter__(self) -> bool:
        return self.acquire()

    # What threading.Condition asks of its lock (it would otherwise try acquire(False)).
    def _is_owned(self) -> bool:
        return self.raw.locked()

    def _release_save(self) -> object:
        self.release()
        return None

    def _acquire_restore(self, saved: object) -> None:
        self.acquire()

    def _at_fork_reinit(self) -> None:
        self.raw = _thread.allocate_lock()

    def __repr__(self) -> str:
        return f"<explored {self.name} {'locked' if self.locked() else 'unlocked'}>"


class ControlledRLock(ControlledLock):
    """``threading.RLock``: its owner may take it again. ``_owner`` and ``_count`` are
    written only by the thread that holds the lock (as in the standard library's)."""

    __slots__ = ("_count", "_owner")

    def __init__(self, *, name: str = "threading.RLock") -> None:
        super().__init__(name=name)
        self._owner: int | None = None
        self._count = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = threading.get_ident()
        if self._owner == me:
            _check_acquire(blocking, timeout)
            self._count += 1
            return True
        if not super().acquire(blocking, timeout):
            return False
        self._owner, self._count = me, 1
        return True

    def release(self) -> None:
        if self._owner != threading.get_ident():
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if not self._count:
            self._owner = None
            super().release()

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def _is_owned(self) -> bool:
        return self._owner == threading.get_ident()

    def _release_save(self) -> tuple[int, int | None]:
        if not self._is_owned():
            raise RuntimeError("cannot release un-acquired lock")
        saved = (self._count, self._owner)
        self._owner, self._count = None, 0
        super().release()
        return saved

    def _acquire_restore(self, saved: object) -> None:
        super().acquire()
        assert isinstance(saved, tuple)
        self._count, self._owner = saved

    def _recursion_count(self) -> int:
        return self._count if self._is_owned() else 0

    def _at_fork_reinit(self) -> None:
        super()._at_fork_reinit()
        self._owner, self._count = None, 0


def _block(condition: StdlibCondition, waiter: _thread.LockType, timeout: float | None) -> bool:
    """Wait until ``waiter`` is released (a notify chose the thread) or ``timeout``:
    at the explorer's BLOCK point in a thread of a run, on the token itself otherwise.
    :return: whether a notify released it."""
    record = current_record()
    if record is not None and (timeout is None or timeout > 0):
        resume = record.run.step(record, SyncPoint.BLOCK, Blocked(condition, waiter, timeout))
        if resume is not None:
            return waiter.acquire(False)
    if timeout is None:
        return waiter.acquire()
    if timeout > 0:
        return waiter.acquire(True, timeout)
    return waiter.acquire(False)


class ControlledCondition:
    """``threading.Condition``: the waiters' tokens are guarded by the condition's lock,
    which every caller of ``wait`` and ``notify`` holds."""

    def __init__(self, lock: object = None, *, name: str = "threading.Condition") -> None:
        self.name = name
        self._lock = ControlledRLock(name=name) if lock is None else lock
        self.acquire: Callable[..., bool] = getattr(self._lock, "acquire")
        self.release: Callable[[], None] = getattr(self._lock, "release")
        self._waiters: deque[_thread.LockType] = deque()  # guarded by self._lock
        # What the explorer's model sees of a wait: the lock it depends on, and a name.
        model_lock = self._lock if isinstance(self._lock, Lock) else StdlibLock(name)
        self._handle = StdlibCondition(model_lock, name, lambda: f"{name} (a notify)")

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def _is_owned(self) -> bool:
        owned: Callable[[], bool] | None = getattr(self._lock, "_is_owned", None)
        if owned is not None:
            return owned()
        if self.acquire(False):
            self.release()
            return False
        return True

    def _release_save(self) -> object:
        save: Callable[[], object] | None = getattr(self._lock, "_release_save", None)
        if save is not None:
            return save()
        self.release()
        return None

    def _acquire_restore(self, saved: object) -> None:
        restore: Callable[[object], None] | None = getattr(self._lock, "_acquire_restore", None)
        if restore is not None:
            restore(saved)
        else:
            self.acquire()

    def wait(self, timeout: float | None = None) -> bool:
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        waiter = _thread.allocate_lock()
        waiter.acquire()
        self._waiters.append(waiter)
        saved = self._release_save()
        notified = False
        try:
            notified = _block(self._handle, waiter, timeout)
            return notified
        finally:
            self._acquire_restore(saved)
            if not notified:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass

    def wait_for(self, predicate: Callable[[], T], timeout: float | None = None) -> T:
        deadline = None if timeout is None else util.monotonic() + timeout
        result = predicate()
        while not result:
            remaining = None
            if deadline is not None:
                remaining = deadline - util.monotonic()
                if remaining <= 0:
                    break
            self.wait(remaining)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        record = current_record()
        if record is not None:
            record.run.step(record, SyncPoint.NOTIFY, self._handle)  # traced, not a switch
        while self._waiters and n > 0:
            self._waiters.popleft().release()
            n -= 1

    def notify_all(self) -> None:
        self.notify(len(self._waiters))

    notifyAll = notify_all

    def __repr__(self) -> str:
        return f"<explored {self.name} over {self._lock!r}, {len(self._waiters)} waiting>"


class ControlledSimpleQueue(Generic[T]):
    """``queue.SimpleQueue``: an unbounded FIFO queue whose ``get`` may block."""

    def __init__(self, *, name: str = "queue.SimpleQueue") -> None:
        self.name = name
        self._mutex = StdlibLock(name)  # guards _items
        self._not_empty = StdlibCondition(self._mutex, name, lambda: f"{name} (an item)")
        self._items: deque[T] = deque()

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        with self._mutex:
            self._items.append(item)
            self._not_empty.notify_locked()

    def put_nowait(self, item: T) -> None:
        self.put(item, False)

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        if block and timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        deadline = None if timeout is None else util.monotonic() + timeout
        with self._mutex:
            while not self._items:
                remaining = None if deadline is None else deadline - util.monotonic()
                if not block or (remaining is not None and remaining <= 0):
                    raise queue.Empty
                self._not_empty.wait(remaining)
            return self._items.popleft()

    def get_nowait(self) -> T:
        return self.get(False)

    def empty(self) -> bool:
        with self._mutex:
            return not self._items

    def qsize(self) -> int:
        with self._mutex:
            return len(self._items)
