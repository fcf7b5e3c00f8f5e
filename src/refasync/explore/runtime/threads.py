"""The director's record of each controlled thread, and how a thread knows its record.

A thread is controlled by a run only if the run registered it before it started: the
body's thread (``Session.spawn``) and every ``threading.Thread`` a controlled thread
starts (adopted by :meth:`Run.adopt`). Its wrapper stores the record in a thread-local
at its first instruction and marks it done as its last step, so the thread itself never
has to be found by ident, and a thread nobody registered is never controlled.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ...util import Blocked, Lock, SyncPoint, SyncPrimitive

if TYPE_CHECKING:
    from .lifecycle import Lifecycle

__all__ = (
    "POLL",
    "Joining",
    "Named",
    "ThreadRecord",
    "TimedAcquire",
    "current_record",
    "lock_of",
    "set_current_record",
)


class ThreadRecord:
    """The director's record of one controlled thread. Guarded by the run's ``cv``,
    except ``run`` and ``user``, which never change."""

    def __init__(
        self,
        run: Lifecycle,
        tid: int,
        thread: threading.Thread,
        user: bool,
        wakeup: threading.Condition,
    ) -> None:
        self.run = run
        self.wakeup = wakeup  # the thread parks on it; the director notifies it
        self.tid = tid
        self.thread = thread
        self.name = thread.name
        # Runs user code, not a refasync thread: Abandoned is raised into it when the run
        # is given up (a refasync thread goes on uncontrolled and ends itself).
        self.user = user
        self.state = "starting"  # starting | running | parked | done
        self.point: SyncPoint | None = None
        self.primitive: SyncPrimitive | None = None
        self.deadline: float | None = None
        self.go = False
        self.resume = "run"
        self.interruptible = 0  # depth of Session.interruptible() blocks (owner thread only)

    @property
    def label(self) -> str:
        return f"{self.tid}:{self.name}"

    def park_at(self, point: SyncPoint, primitive: SyncPrimitive, now: float) -> None:
        """Record that the thread parks at ``point`` (cv held)."""
        self.point, self.primitive = point, primitive
        timeout = (
            primitive.timeout if isinstance(primitive, (Blocked, Joining, TimedAcquire)) else None
        )
        self.deadline = None if timeout is None else now + timeout
        self.state = "parked"
        self.go = False


_local = threading.local()


def current_record() -> ThreadRecord | None:
    """:return: the calling thread's record in the run that controls it, or None (a
    thread no run controls, or whose run is over)."""
    record: ThreadRecord | None = getattr(_local, "record", None)
    if record is None or not record.run.live:
        return None
    return record


def set_current_record(record: ThreadRecord | None) -> None:
    """Make ``record`` the calling thread's (its wrapper does, first and last)."""
    _local.record = record


class Named:
    """A primitive that is only a name (what a yield point polls)."""

    def __init__(self, name: str) -> None:
        self.name = name


POLL = Named("poll")


class TimedAcquire:
    """The primitive of a timed acquisition of one of the explorer's standard-library
    locks: the lock and the timeout."""

    def __init__(self, lock: Lock, timeout: float) -> None:
        self.lock = lock
        self.timeout = timeout
        self.name = lock.name


def lock_of(primitive: SyncPrimitive | None) -> SyncPrimitive | None:
    """:return: the lock an ACQUIRE point is about (a timed acquisition's lock)."""
    return primitive.lock if isinstance(primitive, TimedAcquire) else primitive


class Joining:
    """The primitive of a timed join: the thread joined and the join's timeout."""

    def __init__(self, thread: threading.Thread, timeout: float) -> None:
        self.thread = thread
        self.timeout = timeout
        self.name = thread.name
