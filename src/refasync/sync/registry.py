"""The registry of live locks: every :class:`~refasync.sync.locks.Lock` registers a weak
reference here, so that installing a hook can switch its guards and the fork handlers can
reach it. References to collected locks are dropped whenever the list has doubled since the
last time (no callback: a finalizer would have to post somewhere, and a registration costs
less without one).
"""

from __future__ import annotations

import _thread
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from refasync.sync.locks import Lock

__all__ = ("guard", "limit", "live_locks", "live_locks_now", "register_locked")

#: Guards ``live_locks`` and every change of the installed hook.
guard = _thread.allocate_lock()
#: Weak references to every lock made so far (some collected).
live_locks: list[weakref.ref[Lock]] = []
_limit = 1024  # the length at which collected locks are dropped next


def register_locked(lock: Lock) -> None:
    """Add ``lock`` (``guard`` held)."""
    global _limit
    live_locks.append(weakref.ref(lock))
    if len(live_locks) >= _limit:
        live_locks[:] = [ref for ref in live_locks if ref() is not None]
        _limit = max(1024, 2 * len(live_locks))


def limit() -> int:
    """:return: the length at which references to collected locks are dropped next."""
    return _limit


def live_locks_now() -> list[Lock]:
    """:return: every lock alive now (a snapshot taken under ``guard``)."""
    with guard:
        return [lock for lock in (ref() for ref in live_locks) if lock is not None]
