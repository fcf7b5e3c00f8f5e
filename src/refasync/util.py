"""The seed's ``util`` module: every name of the synchronization layer and the queues,
plus small helpers.

The code lives in two modules that each do one thing: :mod:`refasync.sync` (the hook,
the library clock, locks, the condition, the finalizer mailbox) and
:mod:`refasync.queues` (the channel queues and the argument checks). Every name they
define is re-exported here, private helpers included, so ``from refasync.util import X``
keeps working. The hook and the clock are state of :mod:`refasync.sync`: read and change
them through ``get_sync_hook``/``set_sync_hook`` and ``monotonic``/``set_clock``.
"""

from __future__ import annotations

import os

from .queues import (
    ALL as ALL,
)
from .queues import (
    AsyncQueue as AsyncQueue,
)
from .queues import (
    Empty as Empty,
)
from .queues import (
    Full as Full,
)
from .queues import (
    ItemQueue as ItemQueue,
)
from .queues import (
    ReadOnly as ReadOnly,
)
from .queues import (
    SyncQueue as SyncQueue,
)
from .queues import (
    _check_maxsize as _check_maxsize,
)
from .queues import (
    check_read_args as check_read_args,
)
from .queues import (
    check_wait_args as check_wait_args,
)
from .queues import (
    normalize_count as normalize_count,
)
from .queues import (
    normalize_timeout as normalize_timeout,
)
from .sync import (
    TIMEOUT_MAX as TIMEOUT_MAX,
)
from .sync import (
    Blocked as Blocked,
)
from .sync import (
    DummyLock as DummyLock,
)
from .sync import (
    ForkedLockError as ForkedLockError,
)
from .sync import (
    HSCondition as HSCondition,
)
from .sync import (
    Lock as Lock,
)
from .sync import (
    Mailbox as Mailbox,
)
from .sync import (
    SyncHook as SyncHook,
)
from .sync import (
    SyncPoint as SyncPoint,
)
from .sync import (
    SyncPrimitive as SyncPrimitive,
)
from .sync import (
    check_block as check_block,
)
from .sync import (
    get_sync_hook as get_sync_hook,
)
from .sync import (
    monotonic as monotonic,
)
from .sync import (
    set_clock as set_clock,
)
from .sync import (
    set_sync_hook as set_sync_hook,
)

__all__ = (
    "AsyncQueue",
    "DummyLock",
    "Empty",
    "ForkedLockError",
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
    "check_read_args",
    "check_wait_args",
    "cpu_count",
    "get_sync_hook",
    "monotonic",
    "normalize_count",
    "normalize_timeout",
    "set_clock",
    "set_sync_hook",
)


def cpu_count() -> int:
    """:return: number of CPUs usable by this process (at least 1)."""
    sched_getaffinity = getattr(os, "sched_getaffinity", None)
    if sched_getaffinity is not None:
        try:
            return max(1, len(sched_getaffinity(0)))
        except OSError:
            pass
    return max(1, os.cpu_count() or 1)
