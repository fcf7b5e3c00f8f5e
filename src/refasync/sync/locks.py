"""Locks: :class:`Lock` (reports its points to the hook through its ``held`` and
``completing`` guards while one is installed), its fork stand-in, and :class:`DummyLock`."""

from __future__ import annotations

import _thread
import os
from collections import deque
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Protocol

from refasync.sync import hooks, registry
from refasync.sync.hooks import SyncPoint

__all__ = ("DummyLock", "ForkedLockError", "HeldAtFork", "Lock", "RawLock")


class ForkedLockError(RuntimeError):
    """Raised in a child process made by ``os.fork()`` when an operation needs a
    refasync lock that was held, by any thread, when the process forked: the state it
    guards may be half-changed, so the operation fails at once instead of waiting for a
    thread that does not exist in the child."""


class RawLock(Protocol):
    """What a :class:`Lock` takes and releases: a ``_thread`` lock, or after a fork the
    stand-in of a lock that was held then."""

    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...

    def release(self) -> None: ...

    def locked(self) -> bool: ...

    def __enter__(self) -> bool: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


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

    __slots__ = ("raw", "name", "held", "completing", "waiter_queues", "__weakref__")

    held: AbstractContextManager[object]
    completing: AbstractContextManager[object]

    def __init__(self, name: str = "lock", *, raw: _thread.LockType | None = None) -> None:
        self.raw: RawLock = _thread.allocate_lock() if raw is None else raw
        self.name = name
        # The waiter queues of the conditions on this lock (woken after a fork).
        self.waiter_queues: list[deque[_thread.LockType]] = []
        with registry.guard:
            registry.register_locked(self)
            if hooks.installed is None:  # as use_guards(False) does, without a call
                self.held = self.completing = self.raw
            else:
                self.use_guards(True)

    def use_guards(self, hooked: bool) -> None:
        """Set ``held`` and ``completing`` for the hook's presence (``registry.guard``
        held, or in the forking thread)."""
        raw = self.raw
        if hooked:
            self.held = self
            self.completing = Completing(self)
        elif isinstance(raw, HeldAtFork):
            self.held = self.completing = self  # its acquire raises ForkedLockError
        else:
            self.held = self.completing = raw

    def fail_in_forked_child(self, why: str) -> None:
        """From now on every acquisition raises :class:`ForkedLockError` saying that the
        lock ``why``, as for a lock held at the fork. For an after-fork handler in the
        child, when a thread gone with the fork was changing the state this lock guards
        outside it (a pool: the channel of a task whose chunk was running in another
        thread)."""
        with registry.guard:
            self.raw = HeldAtFork(self.name, why)
            self.use_guards(hooks.installed is not None)

    def wake_waiters_if_free(self) -> bool:
        """Wake every thread waiting on a condition of this lock, as a spurious wake-up
        (each re-checks its predicate), if the lock is free; a lock held is left alone.
        For a harness that must release threads stranded by a planted defect.

        :return: whether the lock was free"""
        raw = self.raw
        if not raw.acquire(False):
            return False
        try:
            for waiters in self.waiter_queues:
                while waiters:
                    waiters.popleft().release()
        finally:
            raw.release()
        return True

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        hook = hooks.installed
        if hook is not None:
            hook(SyncPoint.ACQUIRE if blocking and timeout < 0 else SyncPoint.TRY_ACQUIRE, self)
        return self.raw.acquire(blocking, timeout)

    def release(self) -> None:
        self.raw.release()
        hook = hooks.installed
        if hook is not None:
            hook(SyncPoint.RELEASE, self)

    def locked(self) -> bool:
        return self.raw.locked()

    def __enter__(self) -> bool:
        hook = hooks.installed
        if hook is not None:
            hook(SyncPoint.ACQUIRE, self)
        return self.raw.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.raw.release()
        hook = hooks.installed
        if hook is not None:
            hook(SyncPoint.RELEASE, self)

    def __repr__(self) -> str:
        if isinstance(self.raw, HeldAtFork):
            state = "held when the process forked"
        else:
            state = "locked" if self.locked() else "unlocked"
        return f"<refasync.util.Lock {self.name!r} {state}>"


class Completing:
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
        interrupt = hooks.report_deferred(SyncPoint.ACQUIRE, lock)
        lock.raw.acquire()
        self._pending = interrupt

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        lock = self._owner
        interrupt, self._pending = self._pending, None
        lock.raw.release()
        late = hooks.report_deferred(SyncPoint.RELEASE, lock)
        if interrupt is None:
            interrupt = late
        if interrupt is not None and exc is None:
            raise interrupt


class HeldAtFork:
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
            "make new channels, tasks and pools in the child"
        )

    def release(self) -> None:
        pass

    def locked(self) -> bool:
        return True

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        pass


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
