"""The synchronization-point hook: the points, the installed hook, and reporting to it.

Whether a lock block reports its points is decided here, for every live lock at once
(:func:`set_sync_hook` switches the locks' guards); library code never tests the hook.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Protocol

from refasync.sync import registry

__all__ = (
    "SyncHook",
    "SyncPoint",
    "SyncPrimitive",
    "get_sync_hook",
    "installed",
    "report",
    "report_deferred",
    "set_sync_hook",
)


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

#: The installed hook, or None. Read it here; change it only with set_sync_hook.
installed: SyncHook | None = None  # changed only under registry.guard


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
    global installed
    if hook is not None and not callable(hook):
        raise TypeError(f"hook must be a callable(point, primitive) or None, got {hook!r}")
    with registry.guard:
        previous = installed
        installed = hook
        if (previous is None) != (hook is None):
            hooked = hook is not None
            for ref in registry.live_locks:
                lock = ref()
                if lock is not None:
                    lock.use_guards(hooked)
    return previous


def get_sync_hook() -> SyncHook | None:
    """:return: the installed hook, or None."""
    return installed


def report(point: SyncPoint, primitive: SyncPrimitive) -> None:
    """Tell the installed hook, if any, that the calling thread is at ``point`` (for
    points outside locks and conditions: ``THREAD_START``, ``JOIN``)."""
    hook = installed
    if hook is not None:
        hook(point, primitive)


def report_deferred(point: SyncPoint, primitive: SyncPrimitive) -> BaseException | None:
    """Report a point whose interrupt must wait: :return: what the hook raised, or None."""
    hook = installed
    if hook is not None:
        try:
            hook(point, primitive)
        except BaseException as exc:
            return exc
    return None
