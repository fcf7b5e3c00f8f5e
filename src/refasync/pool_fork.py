"""Fork handling for pools: every pool's lock is held across ``os.fork()`` (so no
thread holds it at the fork), released in the parent, and in the child each pool is
reset (``Pool.reset_in_child``): no workers, a fresh lock, the parent's chunks in
flight forgotten. The sync layer's own fork handlers protect every other refasync lock
(rule S10)."""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING

from .util import Lock

if TYPE_CHECKING:
    from .pool import Pool

__all__ = ("register_for_fork",)

_registry_lock = Lock("refasync.pool.registry")
_registry: list[weakref.ref[Pool]] = []  # guarded by _registry_lock
_held_across_fork: list[Pool] = []  # owned by the forking thread, between its handlers
_pools_registered = 0  # guarded by _registry_lock


def register_for_fork(pool: Pool) -> int:
    """:return: the pool's serial number, unique in the process (its workers' names
    carry it: ``id()`` is reused once a pool is collected, while its workers may still
    be ending)."""
    global _pools_registered
    with _registry_lock:
        _registry[:] = [ref for ref in _registry if ref() is not None]
        _registry.append(weakref.ref(pool))
        _pools_registered += 1
        return _pools_registered


def _before_fork() -> None:
    _registry_lock.acquire()
    pools = [pool for pool in (ref() for ref in _registry) if pool is not None]
    pools.sort(key=id)  # one order for every pool lock (they are never nested otherwise)
    for pool in pools:
        pool.hold_for_fork()
    _held_across_fork[:] = pools


def _after_fork_in_parent() -> None:
    pools = list(_held_across_fork)
    _held_across_fork.clear()
    for pool in reversed(pools):
        pool.release_after_fork()
    _registry_lock.release()


def _after_fork_in_child() -> None:
    global _registry_lock
    pools = list(_held_across_fork)
    _held_across_fork.clear()
    for pool in pools:
        pool.reset_in_child()
    _registry_lock = Lock("refasync.pool.registry")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
