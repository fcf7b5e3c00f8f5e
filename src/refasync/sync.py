"""The synchronization layer: the hook, the library clock, locks and the condition.

Every lock, condition and wait in refasync is created and taken through this module, so
that one hook (:func:`set_sync_hook`) sees every synchronization point, and every
deadline is read from one clock (:func:`monotonic`, replaceable with :func:`set_clock`).
The stress harness installs a hook that injects delays and spurious wake-ups; the
controlled scheduler (:mod:`refasync.explore`) takes over scheduling there.

The hook observes; it never decides. Library code outside this module never tests
whether a hook is installed: a critical section is ``with lock.held:`` (or ``with
lock.completing:``, for bookkeeping that must complete), and what ``held`` and
``completing`` are is decided here, for every live lock at once, by
:func:`set_sync_hook`: the raw lock while no hook is installed (no Python frame, nothing
reported), a guard that reports the lock's points while one is. The logic inside the
block is the same either way.

After ``os.fork()`` every lock that was free at the fork is renewed in the child, and
every lock that was held (by any thread) fails the child's acquisitions at once with
:class:`ForkedLockError`; see :func:`_after_fork_in_child`.

The queues built on this layer are in :mod:`refasync.queues`; :mod:`refasync.util`
re-exports both (the seed's names).
"""

from __future__ import annotations

import enum
import os
import queue as _stdlib_queue
import threading
import time
import weakref
from collections import deque
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Callable, Generic, Protocol, TypeVar

import _thread

__all__ = (
    "Blocked",
    "DummyLock",
    "ForkedLockError",
    "HSCondition",
    "Lock",
    "Mailbox",
    "SyncHook",
    "SyncPoint",
    "SyncPrimitive",
    "TIMEOUT_MAX",
    "check_block",
    "get_sync_hook",
    "monotonic",
    "report",
    "set_clock",
    "set_sync_hook",
)

T = TypeVar("T")

#: Timeouts at or above this (``float('inf')`` included) mean "no limit": a lock cannot
#: wait longer, and ``acquire`` would raise ``OverflowError`` deep inside a read.
TIMEOUT_MAX = threading.TIMEOUT_MAX

# --- the synchronization-point hook ---------------------------------------------------


class SyncPoint(enum.Enum):
    """The named points at which the hook is called."""

    ACQUIRE = "acquire"  # before a lock is taken (blocking, no timeout)
    TRY_ACQUIRE = "try_acquire"  # before a non-blocking or timed lock acquisition
    RELEASE = "release"  # after a lock was released
    WAIT = "wait"  # before a thread waits on a condition (lock held)
    WAKE = "wake"  # after a waiting thread woke and re-took the lock
    NOTIFY = "notify"  # when a condition with waiters is notified (lock held)
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

_hook: SyncHook | None = None  # changed only under _registry_guard


def set_sync_hook(hook: SyncHook | None) -> SyncHook | None:
    """Install ``hook`` at every synchronization point (None removes it).

    Installing the first hook, or removing the last, switches every live lock's
    ``held`` and ``completing`` guards; an operation already inside a lock block keeps
    the guard it entered with (install a hook before the threads it must see start).

    :return: the previously installed hook. The hook is called from any thread, possibly
        with a refasync lock held, so it must not take refasync locks itself.
    :raise TypeError: if ``hook`` is neither callable nor None (nothing is installed)

    A hook may raise: that is an interrupt at that point, and refasync handles one per
    operation as it handles ``KeyboardInterrupt`` in a wait (docs/semantics.md, Faults).
    """
    global _hook
    if hook is not None and not callable(hook):
        raise TypeError(f"hook must be a callable(point, primitive) or None, got {hook!r}")
    with _registry_guard:
        previous = _hook
        _hook = hook
        if (previous is None) != (hook is None):
            hooked = hook is not None
            for ref in _live_locks:
                lock = ref()
                if lock is not None:
                    lock._use_guards(hooked)
    return previous


def get_sync_hook() -> SyncHook | None:
    """:return: the installed hook, or None."""
    return _hook


def report(point: SyncPoint, primitive: SyncPrimitive) -> None:
    """Tell the installed hook, if any, that the calling thread is at ``point`` (for
    points outside locks and conditions: ``THREAD_START``, ``JOIN``)."""
    hook = _hook
    if hook is not None:
        hook(point, primitive)


def _report(point: SyncPoint, primitive: SyncPrimitive) -> BaseException | None:
    # Report a point whose interrupt must wait: :return: what the hook raised, or None.
    hook = _hook
    if hook is not None:
        try:
            hook(point, primitive)
        except BaseException as exc:
            return exc
    return None


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


# --- locks ----------------------------------------------------------------------------


class ForkedLockError(RuntimeError):
    """Raised in a child process made by ``os.fork()`` when an operation needs a
    refasync lock that was held, by any thread, when the process forked: the state it
    guards may be half-changed, so the operation fails at once instead of waiting for a
    thread that does not exist in the child."""


class _RawLock(Protocol):
    """What a :class:`Lock` takes and releases: a ``_thread`` lock, or after a fork the
    stand-in of a lock that was held then."""

    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...

    def release(self) -> None: ...

    def locked(self) -> bool: ...

    def __enter__(self) -> bool: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class Lock:
    """A non-reentrant lock that reports ``ACQUIRE`` (``TRY_ACQUIRE``) and ``RELEASE`` to
    the hook.

    ``with lock:`` and ``acquire``/``release`` always go through this object. Library
    code enters ``lock.held`` instead: the raw lock itself while no hook is installed
    (no Python frame), this object while one is. ``lock.completing`` is the same
    critical section for bookkeeping that must complete: with a hook installed, an
    exception the hook raises at its ``ACQUIRE`` or ``RELEASE`` point is raised only
    after the block ran and the lock was released (an exception from the block itself
    wins). :func:`set_sync_hook` switches both for every live lock. In a child process
    made by ``os.fork()`` a lock that some thread held at the fork raises
    :class:`ForkedLockError` at every acquisition.

    :param raw: the lock to take, e.g. a ``threading.Lock()`` (a new one by default)
    """

    __slots__ = ("_lock", "name", "held", "completing", "_waiter_queues", "__weakref__")

    held: AbstractContextManager[object]
    completing: AbstractContextManager[object]

    def __init__(self, name: str = "lock", *, raw: _thread.LockType | None = None) -> None:
        self._lock: _RawLock = _thread.allocate_lock() if raw is None else raw
        self.name = name
        # The waiter queues of the conditions on this lock (woken after a fork).
        self._waiter_queues: list[deque[_thread.LockType]] = []
        ref = _weak_reference(self)
        with _registry_guard:
            _live_locks.append(ref)
            if len(_live_locks) >= _live_locks_limit:
                _forget_collected_locks_locked()
            if _hook is None:  # as _use_guards(False) does, without a call
                self.held = self.completing = self._lock
            else:
                self._use_guards(True)

    def _use_guards(self, hooked: bool) -> None:
        """Set ``held`` and ``completing`` for the hook's presence (``_registry_guard``
        held, or in the forking thread)."""
        raw = self._lock
        if hooked:
            self.held = self
            self.completing = _Completing(self)
        elif isinstance(raw, _HeldAtFork):
            self.held = self.completing = self  # its acquire raises ForkedLockError
        else:
            self.held = self.completing = raw

    def fail_in_forked_child(self, why: str) -> None:
        """From now on every acquisition raises :class:`ForkedLockError` saying that the
        lock ``why``, as for a lock held at the fork. For an after-fork handler in the
        child, when a thread gone with the fork was changing the state this lock guards
        outside it (a pool: the channel of a task whose chunk was running in another
        thread)."""
        with _registry_guard:
            self._lock = _HeldAtFork(self.name, why)
            self._use_guards(_hook is not None)

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
        if isinstance(self._lock, _HeldAtFork):
            state = "held when the process forked"
        else:
            state = "locked" if self.locked() else "unlocked"
        return f"<refasync.util.Lock {self.name!r} {state}>"


class _Completing:
    """``lock.completing`` while a hook is installed: takes the lock as ``with lock:``
    does, but an exception the hook raises at ``ACQUIRE`` or ``RELEASE`` is raised once
    the block has run and the lock is released. One per lock, shared by its threads: the
    deferred exception is kept while the lock is held, so only its holder touches it."""

    __slots__ = ("_owner", "_pending")

    def __init__(self, lock: Lock) -> None:
        self._owner = lock
        self._pending: BaseException | None = None  # guarded by the lock

    def __enter__(self) -> None:
        lock = self._owner
        interrupt = _report(SyncPoint.ACQUIRE, lock)
        lock._lock.acquire()
        self._pending = interrupt

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        lock = self._owner
        interrupt, self._pending = self._pending, None
        lock._lock.release()
        late = _report(SyncPoint.RELEASE, lock)
        if interrupt is None:
            interrupt = late
        if interrupt is not None and exc is None:
            raise interrupt


class _HeldAtFork:
    """What a :class:`Lock` takes in a child process when its lock was held at the fork:
    every acquisition raises :class:`ForkedLockError`; a release (the forking thread
    leaving a critical section it was in) does nothing."""

    __slots__ = ("_name", "_why")

    def __init__(self, name: str, why: str) -> None:
        self._name = name
        self._why = why

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        raise ForkedLockError(
            f"lock {self._name!r} {self._why} (pid {os.getpid()} is the child): the state "
            "it guards may be half-changed, so this operation fails instead of waiting "
            "for a thread that does not exist here. Fork outside refasync operations, or "
            "make new channels, tasks and pools in the child")

    def release(self) -> None:
        pass

    def locked(self) -> bool:
        return True

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        pass


# --- the registry of live locks, and os.fork() ------------------------------------------

# Every Lock registers a weak reference here, so that set_sync_hook can switch its
# guards and the fork handlers can reach it. References to collected locks are dropped
# whenever the list has doubled since the last time (no callback: a finalizer would have
# to post somewhere, and a registration costs less without one).
_weak_reference = weakref.ref
_registry_guard = _thread.allocate_lock()  # guards the three below and the hook's changes
_live_locks: list[weakref.ref[Lock]] = []
_live_locks_limit = 1024  # the length at which collected locks are dropped next


def _forget_collected_locks_locked() -> None:
    global _live_locks_limit
    _live_locks[:] = [ref for ref in _live_locks if ref() is not None]
    _live_locks_limit = max(1024, 2 * len(_live_locks))


# Owned by the forking thread between its fork handlers: the locks that were free at the
# fork, their raw locks (taken across the fork; two Locks may share one, a standard lock
# given to two conditions), and the locks that some thread held.
_free_at_fork: list[Lock] = []
_raws_taken_for_fork: list[_RawLock] = []
_held_at_fork: list[Lock] = []


def _before_fork() -> None:
    """Take every free lock, so that the child sees no critical section half done, and
    note the locks some thread holds. Never wait for one: its holder may be waiting for
    the forking thread (a hook that forks while its thread holds another lock)."""
    _registry_guard.acquire()
    taken: dict[int, _RawLock] = {}
    for ref in _live_locks:
        lock = ref()
        if lock is None or isinstance(lock._lock, _HeldAtFork):
            continue  # collected, or unusable for good (held at an earlier fork)
        raw = lock._lock
        if id(raw) in taken or raw.acquire(False):
            taken[id(raw)] = raw
            _free_at_fork.append(lock)
        else:
            _held_at_fork.append(lock)
    _raws_taken_for_fork.extend(taken.values())


def _release_after_fork() -> None:
    for raw in _raws_taken_for_fork:
        raw.release()
    _raws_taken_for_fork.clear()
    _free_at_fork.clear()
    _held_at_fork.clear()
    _registry_guard.release()


def _after_fork_in_child() -> None:
    """Only the forking thread exists now. A lock that was free is released (renewed,
    with nobody waiting); a lock that some thread held fails every acquisition from now
    on (:class:`ForkedLockError`): its holder is gone, maybe halfway through a change.
    Every waiter of every condition is woken: the threads behind them are gone, except
    perhaps the forking thread itself (a hook that forked inside a wait), which sees a
    spurious wake-up."""
    hooked = _hook is not None
    for lock in _held_at_fork:
        lock._lock = _HeldAtFork(lock.name, "was held when this process was forked")
        lock._use_guards(hooked)
    for lock in _free_at_fork + _held_at_fork:
        for waiters in lock._waiter_queues:
            while waiters:
                waiters.popleft().release()
    _release_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_release_after_fork,
                        after_in_child=_after_fork_in_child)


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

    :param lock: a :class:`Lock`; a standard ``threading.Lock()``, which becomes the raw
        lock of a :class:`Lock` made for the condition (``self.lock``; a ``with`` on the
        standard lock itself works too, unreported); or None for a new lock. Anything
        else raises ``TypeError`` here: an ``RLock`` (``wait`` would have to release
        every level of it), a ``threading.Condition``, a ``DummyLock``.
    """

    __slots__ = ("_lock", "_waiters", "name")

    def __init__(self, lock: Lock | _thread.LockType | None = None,
                 name: str = "condition") -> None:
        if lock is None:
            lock = Lock(name + ".lock")
        elif isinstance(lock, _thread.LockType):
            lock = Lock(name + ".lock", raw=lock)
        elif not isinstance(lock, Lock):
            raise TypeError("lock must be a refasync.util.Lock, a threading.Lock() or None, "
                            f"got {type(lock).__name__}: {lock!r}")
        self._lock = lock
        self.name = name
        # One locked waiter lock per thread in wait(); guarded by self._lock.
        self._waiters: deque[_thread.LockType] = deque()
        lock._waiter_queues.append(self._waiters)

    @property
    def lock(self) -> Lock:
        """The lock this condition waits with."""
        return self._lock

    def acquire(self, block: bool | None = None) -> bool:
        if block is None:
            return self._lock.acquire()
        return self._lock.acquire(check_block(block))

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
        :raise ForkedLockError: in a forked child, if the lock was held at the fork
            (nobody could ever notify the wait)
        """
        raw = self._lock._lock
        if not raw.locked():
            raise RuntimeError(f"{self.name}: wait() needs the condition's lock held")
        if isinstance(raw, _HeldAtFork):
            raw.acquire()  # raises ForkedLockError
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
        if not self._reacquire_after_wait(waiter, interrupted=False, acquired=notified):
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

    def _reacquire_after_wait(self, waiter: _thread.LockType, interrupted: bool,
                              acquired: bool = False) -> bool:
        """Re-take the lock (always, even if the hook raises) and withdraw ``waiter``.

        ``acquired``: the wait took ``waiter``. Every release of a waiter lock follows its
        ``popleft`` from ``_waiters`` (under the lock), so it is registered no more, and
        the search (a ``ValueError`` on this, the common path) is skipped.

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
            if acquired:
                registered = False
            else:
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


def _check_notify_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int (the number of waiters to wake), got {n!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return n


def check_block(block: object) -> bool:
    """:return: ``block`` as a bool. A flag is a bool, or the int 0 or 1 as
    ``queue.Queue`` takes them. :raise TypeError: for anything else (a float there is
    almost always a timeout passed positionally: ``read(5, 0.5)``)."""
    if block is True or block is False:
        return block
    if type(block) is int and (block == 0 or block == 1):
        return block == 1
    raise TypeError(f"block must be a bool (or 0 or 1), got {type(block).__name__}: "
                    f"{block!r} (pass a timeout as timeout=...)")


class Mailbox(Generic[T]):
    """A multi-producer queue whose ``post`` is safe inside a finalizer.

    A ``weakref.finalize`` callback runs in whatever thread dropped the last reference,
    possibly while that thread holds a refasync lock, so it must not take one.
    ``queue.SimpleQueue.put`` is documented as reentrant for exactly this use. This is the
    one synchronization object in refasync that is not hooked: a hook could block inside
    a finalizer. A port uses a lock-free MPSC queue.
    """

    __slots__ = ("_queue", "is_empty")

    def __init__(self) -> None:
        self._queue: _stdlib_queue.SimpleQueue[T] = _stdlib_queue.SimpleQueue()
        #: ``is_empty()``: True if nothing was posted since the last ``take_all`` (the
        #: queue's own method: no Python frame on a hot path that only checks).
        self.is_empty: Callable[[], bool] = self._queue.empty

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
