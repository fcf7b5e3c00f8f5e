"""``os.fork()`` and refasync's locks: the handlers that take every free lock across the
fork, so the child sees no critical section half done; in the child a lock that was free
is renewed and a lock that some thread held fails every acquisition with
:class:`~refasync.sync.locks.ForkedLockError`. :mod:`refasync.sync` installs them."""

from __future__ import annotations

import os

from refasync.sync import hooks, registry
from refasync.sync.locks import HeldAtFork, Lock, RawLock

__all__ = ("install_fork_handlers",)

# Owned by the forking thread between its fork handlers: the locks that were free at the
# fork, their raw locks (taken across the fork; two Locks may share one, a standard lock
# given to two conditions), and the locks that some thread held.
_free_at_fork: list[Lock] = []
_raws_taken_for_fork: list[RawLock] = []
_held_at_fork: list[Lock] = []


def _before_fork() -> None:
    """Take every free lock, so that the child sees no critical section half done, and
    note the locks some thread holds. Never wait for one: its holder may be waiting for
    the forking thread (a hook that forks while its thread holds another lock)."""
    registry.guard.acquire()
    taken: dict[int, RawLock] = {}
    for ref in registry.live_locks:
        lock = ref()
        if lock is None or isinstance(lock.raw, HeldAtFork):
            continue  # collected, or unusable for good (held at an earlier fork)
        raw = lock.raw
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
    registry.guard.release()


def _after_fork_in_child() -> None:
    """Only the forking thread exists now. A lock that was free is released (renewed,
    with nobody waiting); a lock that some thread held fails every acquisition from now
    on (:class:`ForkedLockError`): its holder is gone, maybe halfway through a change.
    Every waiter of every condition is woken: the threads behind them are gone, except
    perhaps the forking thread itself (a hook that forked inside a wait), which sees a
    spurious wake-up."""
    hooked = hooks.installed is not None
    for lock in _held_at_fork:
        lock.raw = HeldAtFork(lock.name, "was held when this process was forked")
        lock.use_guards(hooked)
    for lock in _free_at_fork + _held_at_fork:
        for waiters in lock.waiter_queues:
            while waiters:
                waiters.popleft().release()
    _release_after_fork()


def install_fork_handlers() -> None:
    """Register the handlers with ``os.register_at_fork`` (where the platform forks)."""
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(
            before=_before_fork,
            after_in_parent=_release_after_fork,
            after_in_child=_after_fork_in_child,
        )
