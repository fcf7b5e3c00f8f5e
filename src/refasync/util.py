"""Synchronization primitives, queues and small helpers used by every refasync module.

Every lock, condition and wait in refasync is created and taken through this module, so
that one hook (:func:`set_sync_hook`) sees every synchronization point. The stress
harness installs a hook that injects delays and spurious wake-ups; the controlled
scheduler (:mod:`refasync.explore`) takes over scheduling there. With no hook installed each point costs
one global load and one ``is None`` test.
"""

from __future__ import annotations

import enum
import os
import queue as _stdlib_queue
import threading
import time
from collections import deque
from typing import Callable, Generic, Iterable, Protocol, TypeVar

import _thread

__all__ = (
    "AsyncQueue",
    "DummyLock",
    "Empty",
    "Full",
    "HSCondition",
    "ItemQueue",
    "Lock",
    "Mailbox",
    "ReadOnly",
    "Blocked",
    "SyncHook",
    "SyncPoint",
    "SyncQueue",
    "check_block",
    "completing",
    "cpu_count",
    "get_sync_hook",
    "monotonic",
    "normalize_count",
    "normalize_timeout",
    "set_clock",
    "set_sync_hook",
)

T = TypeVar("T")

#: Read size meaning "every item until the channel is closed" after normalization.
ALL = 0


# --- the synchronization-point hook ---------------------------------------------------


class SyncPoint(enum.Enum):
    """The named points at which the hook is called."""

    ACQUIRE = "acquire"  # before a lock is taken (blocking, no timeout)
    TRY_ACQUIRE = "try_acquire"  # before a non-blocking or timed lock acquisition
    RELEASE = "release"  # after a lock was released
    WAIT = "wait"  # before a thread waits on a condition (lock held)
    WAKE = "wake"  # after a waiting thread woke and re-took the lock
    NOTIFY = "notify"  # when a condition is notified (lock held)
    BLOCK = "block"  # a waiter released the lock and is about to block (a Blocked record)
    THREAD_START = "thread_start"  # in the parent, after a refasync thread was started
    JOIN = "join"  # before a thread joins a refasync thread
    YIELD = "yield"  # a polling loop lets other threads run (primitive: what it polls)


class SyncPrimitive(Protocol):
    """What the hook is told about: a named lock or condition."""

    @property
    def name(self) -> str: ...


#: ``hook(point, primitive)``. The return value matters at two points. ``True`` at
#: ``SyncPoint.WAIT`` makes the wait return at once as a spurious wake-up (the lock is
#: still released and re-taken), which every ``while predicate`` loop must survive.
#: ``True`` at ``SyncPoint.BLOCK`` means the hook itself waited until the wait's outcome
#: was decided (a controlled scheduler): the waiter then only checks, without blocking,
#: whether a notify reached it; otherwise the waiter blocks on its own.
SyncHook = Callable[[SyncPoint, SyncPrimitive], bool]

_hook: SyncHook | None = None


def set_sync_hook(hook: SyncHook | None) -> SyncHook | None:
    """Install ``hook`` at every synchronization point (None removes it).

    :return: the previously installed hook. The hook is called from any thread, possibly
        with a refasync lock held, so it must not take refasync locks itself.
    :raise TypeError: if ``hook`` is neither callable nor None (nothing is installed)

    A hook may raise: that is an interrupt at that point, and refasync handles one per
    operation as it handles ``KeyboardInterrupt`` in a wait (docs/semantics.md, Faults).
    """
    global _hook
    if hook is not None and not callable(hook):
        raise TypeError(f"hook must be a callable(point, primitive) or None, got {hook!r}")
    previous = _hook
    _hook = hook
    return previous


def get_sync_hook() -> SyncHook | None:
    """:return: the installed hook, or None."""
    return _hook


# --- the clock ------------------------------------------------------------------------

_clock: Callable[[], float] = time.monotonic


def monotonic() -> float:
    """:return: the library's clock, in seconds. Every deadline in refasync is computed
    from it, so a controlled scheduler can make time virtual with :func:`set_clock`."""
    return _clock()


def set_clock(clock: Callable[[], float] | None) -> Callable[[], float]:
    """Make ``clock`` the library's clock (None restores ``time.monotonic``).

    :return: the previous clock
    """
    global _clock
    if clock is not None and not callable(clock):
        raise TypeError(f"clock must be a callable returning seconds or None, got {clock!r}")
    previous = _clock
    _clock = time.monotonic if clock is None else clock
    return previous


# --- locks and conditions -------------------------------------------------------------


class Lock:
    """A non-reentrant lock reporting ``ACQUIRE`` and ``RELEASE`` to the hook."""

    __slots__ = ("_lock", "name")

    def __init__(self, name: str = "lock") -> None:
        self._lock = _thread.allocate_lock()
        self.name = name

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        hook = _hook
        if hook is not None:
            hook(SyncPoint.ACQUIRE if blocking and timeout < 0 else SyncPoint.TRY_ACQUIRE, self)
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()
        hook = _hook
        if hook is not None:
            hook(SyncPoint.RELEASE, self)

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        hook = _hook
        if hook is not None:
            hook(SyncPoint.ACQUIRE, self)
        return self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()
        hook = _hook
        if hook is not None:
            hook(SyncPoint.RELEASE, self)

    def __repr__(self) -> str:
        return f"<refasync.util.Lock {self.name!r} {'locked' if self.locked() else 'unlocked'}>"


class completing:
    """``with completing(lock):`` takes ``lock`` like ``with lock:``, but an exception the
    hook raises at its ACQUIRE or RELEASE point (an injected interrupt) is raised only
    once the block has run and the lock is released, so bookkeeping that must not be
    skipped (closing a channel, counting a chunk out) always completes. An exception from
    the block itself wins. With ``reraise=False`` the exception is left in ``deferred``
    for the caller to raise where it can handle it."""

    __slots__ = ("_lock", "_interrupt", "_reraise", "deferred")

    def __init__(self, lock: Lock, reraise: bool = True) -> None:
        self._lock = lock
        self._interrupt: BaseException | None = None
        self._reraise = reraise
        self.deferred: BaseException | None = None

    def __enter__(self) -> None:
        hook = _hook
        if hook is not None:
            try:
                hook(SyncPoint.ACQUIRE, self._lock)
            except BaseException as exc:
                self._interrupt = exc
        self._lock._lock.acquire()

    def defer(self, exc: BaseException) -> None:
        """Raise ``exc`` when the block ends (the first deferred exception wins)."""
        if self._interrupt is None:
            self._interrupt = exc

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._lock._lock.release()
        hook = _hook
        if hook is not None:
            try:
                hook(SyncPoint.RELEASE, self._lock)
            except BaseException as error:
                self.defer(error)
        interrupt, self._interrupt = self._interrupt, None
        if interrupt is not None and exc is None:
            if not self._reraise:
                self.deferred = interrupt
                return
            raise interrupt


def _notify_all_completing(condition: HSCondition, block: completing) -> None:
    # Inside a completing block: every waiter is woken; a hook exception at NOTIFY waits.
    try:
        condition.notify_all_locked()
    except BaseException as exc:
        block.defer(exc)


class DummyLock:
    """An object providing a do-nothing lock interface for use in sync mode."""

    __slots__ = ()
    name = "dummy"

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return True

    def release(self) -> None:
        pass

    def __enter__(self) -> bool:
        return True

    def __exit__(self, *exc_info: object) -> None:
        pass


class Blocked:
    """The primitive reported at ``SyncPoint.BLOCK``: a thread that registered as a waiter
    of ``condition`` and released its lock. ``token`` is unlocked once a notify reached
    the waiter; ``timeout`` is the wait's timeout in seconds (None: no timeout)."""

    __slots__ = ("condition", "token", "timeout")

    def __init__(
        self, condition: HSCondition, token: _thread.LockType, timeout: float | None
    ) -> None:
        self.condition = condition
        self.token = token
        self.timeout = timeout

    @property
    def name(self) -> str:
        return self.condition.name

    def notified(self) -> bool:
        """:return: True once a notify reached the waiter."""
        return not self.token.locked()


class HSCondition:
    """The library's condition variable.

    ``wait`` and ``notify_locked`` are called with the lock held, as with
    ``threading.Condition``. ``notify`` and ``notify_all`` take the lock themselves (the
    seed's contract): call them with the lock *not* held. Waits block on a per-waiter
    lock, never by polling; a timed wait is one timed lock acquisition.
    """

    __slots__ = ("_lock", "_waiters", "name")

    def __init__(self, lock: Lock | None = None, name: str = "condition") -> None:
        self._lock = Lock(name + ".lock") if lock is None else lock
        self.name = name
        # One locked waiter lock per thread in wait(); guarded by self._lock.
        self._waiters: deque[_thread.LockType] = deque()

    @property
    def lock(self) -> Lock:
        """The lock this condition waits with."""
        return self._lock

    def acquire(self, block: bool | None = None) -> bool:
        if block is None:
            return self._lock.acquire()
        return self._lock.acquire(block)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self._lock.__enter__()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.__exit__()

    def wait(self, timeout: float | None = None) -> bool:
        """Release the lock, wait for a notify or ``timeout`` seconds, re-take the lock.

        Callers hold the lock and call this inside ``while predicate:``. It returns or
        raises with the lock held again, whatever interrupts it (``KeyboardInterrupt``, a
        raising hook); a waiter that is interrupted after a notify chose it passes that
        notify on, so no other waiter is stranded.

        :return: True if woken by a notify, False on timeout or a spurious wake-up.
        :raise RuntimeError: if the lock is not held (nothing changes then)
        """
        raw = self._lock._lock
        if not raw.locked():
            raise RuntimeError(f"{self.name}: wait() needs the condition's lock held")
        hook = _hook
        if hook is not None and hook(SyncPoint.WAIT, self):
            # An injected spurious wake-up: let other threads run, then return.
            raw.release()
            try:
                hook(SyncPoint.RELEASE, self._lock)
                hook(SyncPoint.ACQUIRE, self._lock)
            finally:
                raw.acquire()
            hook(SyncPoint.WAKE, self)
            return False
        waiter = _thread.allocate_lock()
        waiter.acquire()
        self._waiters.append(waiter)
        raw.release()
        notified = False
        try:
            if hook is not None:
                hook(SyncPoint.RELEASE, self._lock)
            hook = _hook
            if (hook is not None and (timeout is None or timeout > 0)
                    and hook(SyncPoint.BLOCK, Blocked(self, waiter, timeout))):
                # The hook decided the outcome (notified, timed out or spurious).
                notified = waiter.acquire(False)
            elif timeout is None:
                notified = waiter.acquire()
            elif timeout > 0:
                notified = waiter.acquire(True, timeout)
            else:
                notified = waiter.acquire(False)
        except BaseException:
            self._reacquire_after_wait(waiter, interrupted=True)
            raise
        if not self._reacquire_after_wait(waiter, interrupted=False):
            notified = True
        hook = _hook
        if hook is not None:
            try:
                hook(SyncPoint.WAKE, self)
            except BaseException:
                if notified:
                    self._pass_notify_on()
                raise
        return notified

    def _reacquire_after_wait(self, waiter: _thread.LockType, interrupted: bool) -> bool:
        """Re-take the lock (always, even if the hook raises) and withdraw ``waiter``.

        :return: True if the waiter was still registered (nobody notified it). An
            interrupted waiter that a notify already chose passes the notify on.
        """
        hook = _hook
        registered = True
        try:
            if hook is not None:
                hook(SyncPoint.ACQUIRE, self._lock)
        except BaseException:
            interrupted = True
            raise
        finally:
            self._lock._lock.acquire()
            try:
                self._waiters.remove(waiter)
            except ValueError:
                registered = False
            if interrupted and not registered:
                self._pass_notify_on()
        return registered

    def _pass_notify_on(self) -> None:
        # A waiter chosen by a notify leaves with an exception: wake the next one instead
        # (at worst a spurious wake-up, which every wait loop survives).
        if self._waiters:
            self._waiters.popleft().release()

    def has_waiters(self) -> bool:
        """:return: True if a thread waits on this condition. Call with the lock held."""
        return bool(self._waiters)

    def notify_locked(self, n: int = 1) -> None:
        """Wake up to ``n`` waiters. Call with the lock held. The waiters are woken even
        if the hook raises at ``NOTIFY`` (the exception then propagates)."""
        hook = _hook
        try:
            if hook is not None:
                hook(SyncPoint.NOTIFY, self)
        finally:
            waiters = self._waiters
            while waiters and n > 0:
                waiters.popleft().release()
                n -= 1

    def notify_all_locked(self) -> None:
        """Wake every waiter. Call with the lock held."""
        self.notify_locked(len(self._waiters))

    def notify(self, n: int = 1) -> None:
        """Take the lock and wake up to ``n`` waiters.

        Taking the lock first is vital: a waiter appends itself under the lock, so a
        notifier that looked without it could miss a waiter about to block forever.
        """
        n = _check_notify_count(n)
        with self._lock:
            self.notify_locked(n)

    def notify_all(self) -> None:
        """Take the lock and wake every waiter."""
        with self._lock:
            self.notify_locked(len(self._waiters))


def _report_quietly(hook: SyncHook, point: SyncPoint, primitive: SyncPrimitive) -> None:
    # Report a point while another exception propagates: that one wins.
    try:
        hook(point, primitive)
    except BaseException:
        pass


def _check_notify_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int (the number of waiters to wake), got {n!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return n


class Mailbox(Generic[T]):
    """A multi-producer queue whose ``post`` is safe inside a finalizer.

    A ``weakref.finalize`` callback runs in whatever thread dropped the last reference,
    possibly while that thread holds a refasync lock, so it must not take one.
    ``queue.SimpleQueue.put`` is documented as reentrant for exactly this use. This is the
    one synchronization object in refasync that is not hooked: a hook could block inside
    a finalizer. A port uses a lock-free MPSC queue.
    """

    __slots__ = ("_queue",)

    def __init__(self) -> None:
        self._queue: _stdlib_queue.SimpleQueue[T] = _stdlib_queue.SimpleQueue()

    def post(self, message: T) -> None:
        self._queue.put(message)

    def take_all(self) -> list[T]:
        """:return: every message posted so far, oldest first; never blocks."""
        if self._queue.empty():  # the common case, without raising Empty
            return []
        messages: list[T] = []
        while True:
            try:
                messages.append(self._queue.get_nowait())
            except _stdlib_queue.Empty:
                return messages


# --- argument normalization -------------------------------------------------------------


def normalize_count(count: int) -> int:
    """:return: the count as given, or ``ALL`` (0) for any count below 1.

    :raise TypeError: if ``count`` is not an int (bool included: it is almost always a
        misplaced ``block`` argument).

    post: __return__ >= 0
    post: (count < 1) == (__return__ == 0)
    post: count < 1 or __return__ == count
    """
    if type(count) is not int:
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(f"count must be an int, got {type(count).__name__}: {count!r}")
    return count if count > 0 else ALL


#: Timeouts at or above this (``float('inf')`` included) mean "no limit": a lock cannot
#: wait longer, and ``acquire`` would raise ``OverflowError`` deep inside a read.
TIMEOUT_MAX = threading.TIMEOUT_MAX


def normalize_timeout(timeout: float | None) -> float | None:
    """:return: ``timeout`` as a float, or None for "wait as long as it takes" (also for
        timeouts of ``TIMEOUT_MAX`` or more, such as ``float('inf')``).

    :raise TypeError: if ``timeout`` is not a real number or None.
    :raise ValueError: if ``timeout`` is negative (or NaN).

    pre: timeout is None or timeout >= 0
    post: (__return__ is None) == (timeout is None or timeout >= TIMEOUT_MAX)
    post: __return__ is None or (__return__ >= 0 and __return__ == timeout)
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
    if not timeout >= 0:
        raise ValueError(f"timeout must be >= 0 seconds or None, got {timeout!r}")
    if timeout >= TIMEOUT_MAX:
        return None
    return float(timeout)


def check_block(block: object) -> bool:
    """:return: ``block``; :raise TypeError: unless it is True or False (a number there is
    almost always a timeout passed positionally: ``read(5, 0.5)``)."""
    if block is not True and block is not False:
        raise TypeError(f"block must be a bool, got {type(block).__name__}: {block!r} "
                        "(pass a timeout as timeout=...)")
    return True if block else False


# --- queues -------------------------------------------------------------------------------


class ReadOnly(Exception):
    """Thrown when trying to write to a read-only (closed) queue or channel."""


class Empty(_stdlib_queue.Empty):
    """Raised by ``get`` when no item can be had (also a ``queue.Empty``)."""


class Full(_stdlib_queue.Full):
    """Raised by ``put`` on a full bounded queue when it may not wait, or its timeout
    expired (also a ``queue.Full``)."""


class ItemQueue(Generic[T]):
    """The interface a channel needs from its queue. ``get_many`` is the bulk read: it
    returns up to ``count`` items (``ALL``: until closed) and never raises ``Empty``."""

    __slots__ = ()
    maxsize: int  # 0: unbounded

    def __init__(self, maxsize: int = 0) -> None:
        raise NotImplementedError

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        raise NotImplementedError

    def put_many(self, items: Iterable[T]) -> None:
        """Append ``items`` in order, atomically; the queue must be unbounded.

        :raise ReadOnly: if the queue is closed (then nothing is added)
        """
        raise NotImplementedError

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        raise NotImplementedError

    def get_many(self, count: int, block: bool = True, timeout: float | None = None) -> list[T]:
        raise NotImplementedError

    def take_nowait(self, count: int) -> tuple[list[T], int, bool]:
        """:return: (up to ``count`` items, the change generation, closed-and-now-empty)."""
        raise NotImplementedError

    def wait_for_change(self, generation: int, timeout: float | None) -> None:
        """Wait until the generation differs from ``generation`` or the queue is closed."""
        raise NotImplementedError

    def poke(self) -> None:
        """Advance the generation and wake every reader waiting for a change."""
        raise NotImplementedError

    def put_back(self, items: list[T]) -> None:
        """Return ``items`` to the front of the queue, in order (even when closed)."""
        raise NotImplementedError

    def qsize(self) -> int:
        raise NotImplementedError

    def empty(self) -> bool:
        raise NotImplementedError

    def writable(self) -> bool:
        raise NotImplementedError

    def set_writable(self, state: bool) -> bool:
        raise NotImplementedError


def _check_maxsize(maxsize: int) -> int:
    if isinstance(maxsize, bool) or not isinstance(maxsize, int):
        raise TypeError(f"maxsize must be an int, got {maxsize!r}")
    if maxsize < 0:
        raise ValueError(f"maxsize must be >= 0 (0 means unbounded), got {maxsize}")
    return maxsize


class AsyncQueue(ItemQueue[T]):
    """A thread-safe FIFO with a writable flag and an optional capacity.

    Closing (``set_writable(False)``) wakes every reader and every blocked writer; readers
    then drain what is left, writers raise ``ReadOnly``. All state below is guarded by
    ``mutex``; ``not_empty`` and ``not_full`` are conditions on it.
    """

    __slots__ = ("_items", "_writable", "_generation", "maxsize", "mutex", "_raw_mutex",
                 "not_empty", "not_full")

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = _check_maxsize(maxsize)  # 0: unbounded; immutable
        self.mutex = Lock("AsyncQueue.mutex")
        self._raw_mutex = self.mutex._lock
        # Readers wait here for: an item, close, or a generation change.
        self.not_empty = HSCondition(self.mutex, "AsyncQueue.not_empty")
        # Writers of a bounded queue wait here for: space, or close.
        self.not_full = HSCondition(self.mutex, "AsyncQueue.not_full")
        self._items: deque[T] = deque()
        self._writable = True  # False once closed; never True again after close()
        self._generation = 0  # bumped by every put, close and poke

    # -- writing --

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        """Append ``item``; on a full bounded queue wait for space when ``block``.

        :raise ReadOnly: if the queue is closed, or closes while we wait for space.
        :raise Full: if the queue is full and ``block`` is False or ``timeout`` expired.
        """
        given: object = block  # checked without a call when it is a bool
        if given is not True and given is not False:
            check_block(block)
        if timeout is not None:
            timeout = normalize_timeout(timeout)
        # The hot paths (put, get_many, take_nowait) take the raw lock inside ``mutex``
        # and report to the hook themselves: same lock, same points, fewer calls.
        hook = _hook
        if hook is not None:
            hook(SyncPoint.ACQUIRE, self.mutex)
        try:
            with self._raw_mutex:
                if not self._writable:
                    raise ReadOnly("write to a closed channel")
                if self.maxsize and len(self._items) >= self.maxsize:
                    self._wait_for_space(block, timeout)
                self._items.append(item)
                self._generation += 1
                if self.not_empty._waiters:
                    self.not_empty.notify_locked()
        finally:
            if hook is not None:
                hook(SyncPoint.RELEASE, self.mutex)

    def put_many(self, items: Iterable[T]) -> None:
        if self.maxsize:
            raise ValueError("put_many needs an unbounded queue; use put on a bounded one")
        if not isinstance(items, list):
            items = list(items)  # an iterable that raises adds nothing
        # An interrupt from the hook is raised after the items are in: never half done.
        block = completing(self.mutex)
        with block:
            if not self._writable:
                raise ReadOnly("write to a closed channel")
            self._items.extend(items)
            self._generation += 1
            if self.not_empty._waiters:
                try:
                    self.not_empty.notify_locked(len(items))
                except BaseException as exc:
                    block.defer(exc)

    def _wait_for_space(self, block: bool, timeout: float | None) -> None:
        # Called with the mutex held on a full, open queue.
        if not block:
            raise Full(f"channel is full ({self.maxsize} items) and block is False")
        deadline = None if timeout is None else monotonic() + timeout
        while len(self._items) >= self.maxsize and self._writable:
            if deadline is None:
                self.not_full.wait()
            else:
                remaining = deadline - monotonic()
                if remaining <= 0:
                    raise Full(f"channel stayed full ({self.maxsize} items) for {timeout} s")
                self.not_full.wait(remaining)
        if not self._writable:
            raise ReadOnly("channel was closed while a writer waited for space")

    def set_writable(self, state: bool) -> bool:
        """Set the writable flag; closing wakes every reader and blocked writer.

        :return: the previous state
        """
        # Closing always completes, even if the hook raises (the exception comes after).
        block = completing(self.mutex)
        with block:
            previous = self._writable
            if not state and previous:
                self._writable = False
                self._generation += 1
                _notify_all_completing(self.not_empty, block)
                _notify_all_completing(self.not_full, block)
            elif state and not previous:
                raise ValueError("a closed queue cannot be reopened")
        return previous

    def writable(self) -> bool:
        with self.mutex:
            return self._writable

    def poke(self) -> None:
        block = completing(self.mutex)
        with block:
            self._generation += 1
            _notify_all_completing(self.not_empty, block)

    def put_back(self, items: list[T]) -> None:
        if not items:
            return
        # Recovery path (a read that failed after taking items): an exception the hook
        # raises now must not lose the items, so it is raised after them.
        with completing(self.mutex):
            self._put_back_locked(items)

    def _put_back_locked(self, items: list[T]) -> None:
        # A put-back may leave a bounded queue above maxsize until it is read: the items
        # were in it before, and dropping them would lose them.
        self._items.extendleft(reversed(items))
        self._generation += 1
        waiters = self.not_empty._waiters
        while waiters:  # wake every reader without the NOTIFY point: nothing may raise
            waiters.popleft().release()

    # -- reading --

    def qsize(self) -> int:
        with self.mutex:
            return len(self._items)

    def empty(self) -> bool:
        with self.mutex:
            return not self._items

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        """:return: the oldest item.

        :raise Empty: if none arrives (not ``block``, timeout, or closed and drained).
        """
        given: object = block  # checked without a call when it is a bool
        if given is not True and given is not False:
            check_block(block)
        if timeout is not None:
            timeout = normalize_timeout(timeout)
        items = self.get_many(1, block, timeout)
        if not items:
            raise Empty("channel is empty" if block else "channel is empty and block is False")
        return items[0]

    def get_many(self, count: int, block: bool = True, timeout: float | None = None) -> list[T]:
        """Take up to ``count`` items (``ALL``: every item until closed).

        Available items are taken in one critical section. When ``block``, wait for the
        rest; the ``timeout`` is per item: it restarts whenever an item arrives. If the
        read is interrupted after taking items (``KeyboardInterrupt`` in the wait, a
        raising hook), the items go back to the front of the queue, in order.
        """
        hook = _hook
        if hook is not None:
            hook(SyncPoint.ACQUIRE, self.mutex)
            try:
                with self._raw_mutex:
                    out = self._get_many_locked(count, block, timeout)
            except BaseException:
                _report_quietly(hook, SyncPoint.RELEASE, self.mutex)
                raise
            self._report_release_keeping(hook, out)
            return out
        with self._raw_mutex:
            items = self._items
            if count == 1 and items:  # the common case, kept short
                out = [items.popleft()]
                if self.maxsize and self.not_full._waiters:
                    self.not_full.notify_locked(1)
                return out
            return self._get_many_locked(count, block, timeout)

    def _report_release_keeping(self, hook: SyncHook, out: list[T]) -> None:
        """Report RELEASE after a read that took ``out``; if the hook raises there, the
        items go back to the front before the exception propagates."""
        try:
            hook(SyncPoint.RELEASE, self.mutex)
        except BaseException:
            with self._raw_mutex:
                self._put_back_locked(out)
            raise

    def _get_many_locked(self, count: int, block: bool, timeout: float | None) -> list[T]:
        out: list[T] = []
        try:
            return self._get_many_into_locked(out, count, block, timeout)
        except BaseException:
            # Interrupted in a wait (the condition re-took the lock): nothing is lost.
            self._put_back_locked(out)
            raise

    def _get_many_into_locked(
        self, out: list[T], count: int, block: bool, timeout: float | None
    ) -> list[T]:
        items = self._items
        deadline = None
        while True:
            if items:
                taken = self._take_locked(out, count)
                if taken and deadline is not None and timeout is not None:
                    deadline = monotonic() + timeout  # per item: restart
            if (count and len(out) >= count) or not self._writable or not block:
                return out
            if timeout is None:
                self.not_empty.wait()
            else:
                if deadline is None:
                    deadline = monotonic() + timeout
                remaining = deadline - monotonic()
                if remaining <= 0:
                    return out
                self.not_empty.wait(remaining)

    def _take_locked(self, out: list[T], count: int) -> int:
        # Move up to count - len(out) items (all when count is ALL) into out.
        items = self._items
        if count == ALL or count - len(out) >= len(items):
            taken = len(items)
            out.extend(items)
            items.clear()
        else:
            taken = count - len(out)
            popleft = items.popleft
            out.extend([popleft() for _ in range(taken)])
        if taken and self.maxsize and self.not_full._waiters:
            self.not_full.notify_locked(taken)
        return taken

    def take_nowait(self, count: int) -> tuple[list[T], int, bool]:
        out: list[T] = []
        hook = _hook
        if hook is not None:
            hook(SyncPoint.ACQUIRE, self.mutex)
        with self._raw_mutex:
            if self._items:
                try:
                    self._take_locked(out, count)
                except BaseException:  # the hook raised at NOTIFY: keep the items
                    self._put_back_locked(out)
                    raise
            result = out, self._generation, not self._writable and not self._items
        if hook is not None:
            self._report_release_keeping(hook, out)
        return result

    def wait_for_change(self, generation: int, timeout: float | None) -> None:
        with self.mutex:
            deadline = None if timeout is None else monotonic() + timeout
            while self._generation == generation and self._writable:
                if deadline is None:
                    self.not_empty.wait()
                else:
                    remaining = deadline - monotonic()
                    if remaining <= 0:
                        return
                    self.not_empty.wait(remaining)


class SyncQueue(ItemQueue[T]):
    """Adapter to allow using a deque like a queue, without locking.

    For one thread only: it never waits, because no other thread could ever wake it. A
    read takes what is there; a write to a full queue raises ``Full`` even when blocking.
    """

    __slots__ = ("_items", "_writable", "_generation", "maxsize")

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = _check_maxsize(maxsize)
        self._items: deque[T] = deque()
        self._writable = True
        self._generation = 0

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        given: object = block  # checked without a call when it is a bool
        if given is not True and given is not False:
            check_block(block)
        if timeout is not None:
            normalize_timeout(timeout)
        if not self._writable:
            raise ReadOnly("write to a closed channel")
        if self.maxsize and len(self._items) >= self.maxsize:
            raise Full(f"serial channel is full ({self.maxsize} items); it cannot wait")
        self._items.append(item)
        self._generation += 1

    def put_many(self, items: Iterable[T]) -> None:
        if self.maxsize:
            raise ValueError("put_many needs an unbounded queue; use put on a bounded one")
        if not isinstance(items, list):
            items = list(items)  # an iterable that raises adds nothing
        if not self._writable:
            raise ReadOnly("write to a closed channel")
        self._items.extend(items)
        self._generation += 1

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        given: object = block  # checked without a call when it is a bool
        if given is not True and given is not False:
            check_block(block)
        if timeout is not None:
            normalize_timeout(timeout)
        try:
            return self._items.popleft()
        except IndexError:
            raise Empty("serial channel is empty") from None

    def get_many(self, count: int, block: bool = True, timeout: float | None = None) -> list[T]:
        items = self._items
        if count == ALL or count >= len(items):
            out = list(items)
            items.clear()
            return out
        popleft = items.popleft
        return [popleft() for _ in range(count)]

    def take_nowait(self, count: int) -> tuple[list[T], int, bool]:
        out = self.get_many(count)
        return out, self._generation, not self._writable and not self._items

    def wait_for_change(self, generation: int, timeout: float | None) -> None:
        return None

    def poke(self) -> None:
        self._generation += 1

    def put_back(self, items: list[T]) -> None:
        self._items.extendleft(reversed(items))

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def writable(self) -> bool:
        return self._writable

    def set_writable(self, state: bool) -> bool:
        previous = self._writable
        if state and not previous:
            raise ValueError("a closed queue cannot be reopened")
        self._writable = state
        return previous


def cpu_count() -> int:
    """:return: number of CPUs usable by this process (at least 1)."""
    sched_getaffinity = getattr(os, "sched_getaffinity", None)
    if sched_getaffinity is not None:
        try:
            return max(1, len(sched_getaffinity(0)))
        except OSError:
            pass
    return max(1, os.cpu_count() or 1)
