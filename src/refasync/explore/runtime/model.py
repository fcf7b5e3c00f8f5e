"""The explorer's model of a run: who holds which lock, what each parked thread may do
next, what object each step touches, and the wait-for graph of a stuck run.

The model is fed by the hook (:mod:`.run`): a thread parked before taking a lock may run
only while the model says the lock is free (the model records every grant and release); a
thread parked in a condition wait (``SyncPoint.BLOCK``) may run once a notify reached it
(the condition's own FIFO decides who), or when the director fires its timeout, wakes it
spuriously or interrupts it; a thread joining another may run once that thread ended.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ...util import Blocked, HSCondition, Lock, SyncPoint, SyncPrimitive
from ..schedule import Choice, is_preemption
from ..settings import Settings
from .threads import Joining, ThreadRecord, TimedAcquire, lock_of

__all__ = (
    "EVERYTHING",
    "THREADS",
    "Model",
    "StdlibCondition",
    "StdlibLock",
    "step_object",
    "touched_object",
)


class StdlibLock(Lock):
    """The lock of one of the explorer's standard-library versions (a ``threading.Lock``,
    a ``queue.SimpleQueue``): never interrupted by an injected fault, as faults test
    refasync's own operations."""

    __slots__ = ()


class StdlibCondition(HSCondition):
    """A condition of the explorer's standard-library versions (and of ``time.sleep``):
    says what its waiters wait for in the wait-for graph ("threading.Lock@x.py:3 held by
    1:worker"), and is never interrupted by an injected fault."""

    def __init__(self, lock: Lock | None, name: str, describe: Callable[[], str]) -> None:
        super().__init__(lock, name)
        self.describe = describe


class Model:
    """The state the model keeps (guarded by the run's ``cv``) and what it derives."""

    def __init__(self, settings: Settings) -> None:
        self.threads: list[ThreadRecord] = []
        self.owners: dict[int, int] = {}  # id(Lock) -> tid of the thread the model granted
        self.locks: dict[int, Lock] = {}  # id(Lock) -> the lock, for the wait-for graph
        self.last: int | None = None  # the thread that ran last
        self.faults_left = settings.faults
        self.spurious = settings.spurious
        # Timeouts that may still fire while some thread could run (see EARLY_TIMEOUTS).
        self.early_timeouts_left = settings.early_timeouts

    def options(self) -> list[Choice]:
        """:return: the choices available now (cv held), in a canonical order."""
        out: list[Choice] = []
        faults = self.faults_left > 0
        for t in self.threads:
            if t.state != "parked":
                continue
            point, primitive = t.point, t.primitive
            if point is SyncPoint.ACQUIRE:
                lock = lock_of(primitive)
                if id(lock) not in self.owners:
                    out.append(Choice(t.tid))
                    # Only before a free lock: an interrupted acquisition may still take
                    # the lock (util.completing, a wait re-taking its lock), which must
                    # not block outside the model.
                    if faults and t.interruptible and not isinstance(lock, StdlibLock):
                        out.append(Choice(t.tid, "fault"))
                elif isinstance(primitive, TimedAcquire):
                    out.append(Choice(t.tid, "timeout"))
            elif point is SyncPoint.BLOCK:
                assert isinstance(primitive, Blocked)
                if primitive.notified():
                    out.append(Choice(t.tid))
                else:
                    if primitive.timeout is not None:
                        out.append(Choice(t.tid, "timeout"))
                    # The standard library's waits never wake spuriously.
                    if self.spurious and not isinstance(primitive.condition, StdlibCondition):
                        out.append(Choice(t.tid, "spurious"))
                if (
                    faults
                    and t.interruptible
                    and not primitive.notified()
                    and not isinstance(primitive.condition, StdlibCondition)
                ):
                    out.append(Choice(t.tid, "fault"))
            elif point is SyncPoint.JOIN:
                if self._ended(primitive):
                    out.append(Choice(t.tid))
                elif isinstance(primitive, Joining):
                    out.append(Choice(t.tid, "timeout"))
            else:
                out.append(Choice(t.tid))
        # Spurious wake-ups and faults never rescue a run in which nothing else can go
        # on: that is a deadlock.
        if not any(c.kind in ("run", "timeout") for c in out):
            return []
        # Once the run's early timeouts are spent, a timeout fires only when no thread
        # can run: an idle worker's periodic check or a timed read then never competes
        # with progress, so a run's length stays bounded by its work (rule X15).
        if self.early_timeouts_left <= 0 and any(c.kind == "run" for c in out):
            out = [c for c in out if c.kind != "timeout"]
        # Timers fire in deadline order: only the earliest pending timeouts can fire.
        deadlines = [self.threads[c.tid].deadline for c in out if c.kind == "timeout"]
        if deadlines:
            first = min(d for d in deadlines if d is not None)
            out = [c for c in out if c.kind != "timeout" or self.threads[c.tid].deadline == first]
        # A poller that yielded runs only when no other thread can.
        polling = {
            t.tid for t in self.threads if t.state == "parked" and t.point is SyncPoint.YIELD
        }
        if polling and any(c.kind == "run" and c.tid not in polling for c in out):
            out = [c for c in out if c.tid not in polling]
        return out

    def _ended(self, joined: object) -> bool:
        """:return: whether the thread a JOIN point waits for ended: for a thread of the
        run, the director saw it finish; another thread (started outside the run) is
        only asked."""
        thread = joined.thread if isinstance(joined, Joining) else joined
        target = next((r for r in self.threads if r.thread is thread), None)
        if target is not None:
            return target.state == "done"
        return not (isinstance(thread, threading.Thread) and thread.is_alive())

    def default(self, options: list[Choice]) -> Choice:
        """The non-preemptive choice: the last thread goes on if it can; else the lowest
        runnable thread; else the earliest timeout; else the first option."""
        runs = [c for c in options if c.kind == "run"]
        for c in runs:
            if c.tid == self.last:
                return c
        if runs:
            return runs[0]
        timeouts = [c for c in options if c.kind == "timeout"]
        if timeouts:
            return min(timeouts, key=lambda c: (self.threads[c.tid].deadline or 0.0, c.tid))
        return options[0]

    def may_touch(self, choice: Choice) -> frozenset[int]:
        """:return: what the step ``choice`` would take may touch (cv held): the object it
        starts with, every lock its thread holds (it may release them or notify under
        them), its thread (it may end) and THREADS (it may start one)."""
        t = self.threads[choice.tid]
        held = [lock for lock, owner in self.owners.items() if owner == t.tid]
        return frozenset([step_object(t, choice.kind), id(t.thread), *held])

    def is_preemption(self, choice: Choice, options: list[Choice]) -> bool:
        return is_preemption(self.last, choice, options)

    def waiting_on(self, condition: HSCondition) -> int:
        """:return: how many parked threads wait on ``condition``, not notified."""
        return sum(
            1
            for t in self.threads
            if t.state == "parked"
            and isinstance(t.primitive, Blocked)
            and t.primitive.condition is condition
            and not t.primitive.notified()
        )

    def in_flight(self, lock: Lock) -> int:
        """:return: how many parked threads are on their way into ``lock``."""
        count = 0
        for t in self.threads:
            if t.state != "parked":
                continue
            primitive = t.primitive
            if (
                t.point in (SyncPoint.ACQUIRE, SyncPoint.TRY_ACQUIRE, SyncPoint.RELEASE)
                and lock_of(primitive) is lock
            ):  # RELEASE: maybe a notified waiter not yet blocked
                count += 1
            elif (
                isinstance(primitive, Blocked)
                and primitive.condition.lock is lock
                and primitive.notified()
            ):
                count += 1
        return count

    def wait_for_graph(self) -> str:
        """:return: who holds which lock, and what every live thread waits for."""
        lines = ["wait-for graph:"]
        names = {t.tid: t.label for t in self.threads}
        for lock_id, tid in sorted(self.owners.items(), key=lambda kv: kv[1]):
            lock = self.locks.get(lock_id)
            lines.append(f"  {names[tid]} holds lock {lock.name if lock else '?'}")
        for t in self.threads:
            if t.state == "done":
                continue
            primitive = t.primitive
            what = primitive.name if primitive is not None else "?"
            if t.point is SyncPoint.ACQUIRE:
                holder = self.owners.get(id(lock_of(primitive)))
                held = f" held by {names[holder]}" if holder is not None else " (free)"
                timeout = (
                    f", timeout {primitive.timeout}" if isinstance(primitive, TimedAcquire) else ""
                )
                lines.append(f"  {names[t.tid]} waits for lock {what}{held}{timeout}")
            elif t.point is SyncPoint.BLOCK and isinstance(primitive, Blocked):
                timeout = "" if primitive.timeout is None else f", timeout {primitive.timeout}"
                state = "notified" if primitive.notified() else "not notified"
                condition = primitive.condition
                what = (
                    condition.describe()
                    if isinstance(condition, StdlibCondition)
                    else f"condition {what}"
                )
                lines.append(f"  {names[t.tid]} waits on {what} ({state}{timeout})")
            elif t.point is SyncPoint.JOIN:
                lines.append(f"  {names[t.tid]} joins {what}")
            else:
                lines.append(
                    f"  {names[t.tid]} {t.state} at {t.point.value if t.point else '?'} {what}"
                )
        return "\n".join(lines)


#: The object of a step that is dependent with every other step: a poller's yield
#: (runnable only when nobody else is), a timeout (it moves the virtual clock and spends
#: the run's early timeouts) and a fault (it spends the run's).
EVERYTHING = -1

#: The object every step that registers a thread touches: registering numbers threads.
THREADS = -2


def step_object(t: ThreadRecord, kind: str) -> int:
    """:return: the object the step that resumes ``t`` (parked, cv held) with a choice of
    ``kind`` starts with: the lock it takes or the condition's lock it waits on (a lock
    and a condition on it count as one object), its own thread when it starts or goes on
    after starting one (registering a thread touches that thread), the thread it joins
    (which that thread's last step touches), or EVERYTHING."""
    if kind in ("timeout", "fault") or t.point is SyncPoint.YIELD:
        return EVERYTHING
    if t.point is SyncPoint.THREAD_START:
        return id(t.thread)  # its first step, or its parent going on after a start
    return touched_object(t.primitive)


def touched_object(point_primitive: SyncPrimitive | None) -> int:
    """:return: the object a point about ``primitive`` touches (see :func:`step_object`)."""
    primitive = lock_of(point_primitive)
    if isinstance(primitive, Blocked):
        return id(primitive.condition.lock)
    if isinstance(primitive, HSCondition):
        return id(primitive.lock)
    if isinstance(primitive, Joining):
        return id(primitive.thread)
    return id(primitive)
