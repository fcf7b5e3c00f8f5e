"""The director's record of each controlled thread, and the explorer's own threads."""

from __future__ import annotations

import threading

from ... import util
from ...util import SyncPoint, SyncPrimitive

__all__ = ("POLL", "ControlledThread", "Named", "ThreadRecord")


class ThreadRecord:
    """The director's record of one controlled thread. Guarded by the run's ``cv``."""

    def __init__(self, tid: int, thread: threading.Thread, user: bool) -> None:
        self.tid = tid
        self.thread = thread
        self.name = thread.name
        self.user = user  # spawned by the explorer: faults may be injected into it
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


class ControlledThread(threading.Thread):
    """A thread of :meth:`Session.spawn`: its ``join`` is a scheduling point."""

    def join(self, timeout: float | None = None) -> None:
        hook = util.get_sync_hook()
        if hook is not None:
            hook(SyncPoint.JOIN, self)
        super().join(timeout)


class Named:
    """A primitive that is only a name (what a yield point polls)."""

    def __init__(self, name: str) -> None:
        self.name = name


POLL = Named("poll")
