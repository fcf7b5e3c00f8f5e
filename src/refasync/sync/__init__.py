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

from refasync.sync.clock import TIMEOUT_MAX, monotonic, set_clock
from refasync.sync.condition import Blocked, HSCondition, check_block, check_notify_count
from refasync.sync.fork import install_fork_handlers
from refasync.sync.hooks import (
    SyncHook,
    SyncPoint,
    SyncPrimitive,
    get_sync_hook,
    report,
    set_sync_hook,
)
from refasync.sync.locks import DummyLock, ForkedLockError, Lock
from refasync.sync.mailbox import Mailbox

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
    "check_notify_count",
    "get_sync_hook",
    "monotonic",
    "report",
    "set_clock",
    "set_sync_hook",
)

install_fork_handlers()
