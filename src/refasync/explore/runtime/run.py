"""One explored run: the hook that parks controlled threads, and the director that picks
which parked thread goes next.

Every lock, condition, wait, thread start and join in refasync reports to one hook
(:func:`refasync.util.set_sync_hook`), and so do the standard library's primitives
created inside the body (:mod:`refasync.explore.stdlib`). While a run is explored, that
hook parks the calling thread and the director (the thread that called :func:`run_once`)
decides which parked thread goes next, so exactly one thread runs between two points and
the interleaving is a list of choices. Time is virtual for the run's threads: it moves
only when a timeout fires, and timeouts fire in deadline order (the clock jumps to the
deadline), so an explored run never sleeps.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...util import Lock, SyncPoint, SyncPrimitive
from ..errors import Abandoned, Divergence, InjectedFault
from ..schedule import Choice, Event
from ..settings import Settings
from .lifecycle import Lifecycle
from .model import step_object, touched_object
from .threads import ThreadRecord, current_record, lock_of
from .watch import Watch

if TYPE_CHECKING:
    from ..strategies.base import Strategy
    from .session import Session

__all__ = ("Run", "RunResult")

#: Poll interval of the director while it waits for a running thread (detects exits).
_POLL_S = 0.002

# Points at which a thread parks and the director chooses; the others are only traced.
# RELEASE is one too, except under dfs (``switch_on_release=False``): there a step runs
# from one acquisition to the next, which halves the tree; a bug that needs a switch
# between a release and the next acquisition (e.g. a waiter registering after it let go
# of the lock) is then left to random and pct.
_SWITCH_POINTS = frozenset(
    {
        SyncPoint.ACQUIRE,
        SyncPoint.TRY_ACQUIRE,
        SyncPoint.YIELD,
        SyncPoint.BLOCK,
        SyncPoint.THREAD_START,
        SyncPoint.JOIN,
    }
)

# Points at which the running thread touches an object other threads may be waiting for
# (it lets a lock go, notifies, or leaves or re-enters a condition's lock): the step's
# record of what it touched (``Run.touched``) includes their objects.
_TOUCHING = frozenset({SyncPoint.RELEASE, SyncPoint.WAIT, SyncPoint.WAKE, SyncPoint.NOTIFY})


@dataclass
class RunResult:
    """What one run did."""

    choices: list[Choice]
    events: list[Event]
    failure: str | None
    kind: str
    steps: int
    preemptions: int
    threads: int
    preempt_steps: list[int]
    touched: list[frozenset[int]] = field(default_factory=list)
    counted: bool = True  # the strategy counts and reports this run (end_run)


class Run(Lifecycle):
    """One explored run: the hook, the director and the model of locks and waits.

    The explorer is the hook's implementation, so its own lock (``cv``) and clock are
    the standard library's, never refasync's: a hook must not take refasync locks, and
    the director's wall-clock checks must not read the virtual clock it drives."""

    def __init__(self, strategy: Strategy, settings: Settings) -> None:
        super().__init__(settings)
        self.strategy = strategy
        self.switch_on_release = settings.switch_on_release
        self.max_steps = settings.max_steps
        self.steps = 0
        self.choices: list[Choice] = []
        self.events: list[Event] = []
        self.invariants: list[Callable[[], str | None]] = []
        self.counted = True
        self.preemptions = 0
        self.preempt_steps: list[int] = []
        # What each step touched: the object its choice resumed the thread at, and every
        # object of a _TOUCHING point the thread passed before it parked again (dfs's
        # dependency relation: two steps are dependent when these sets meet, or one holds
        # EVERYTHING).
        self.touched: list[frozenset[int]] = []
        self.starts: list[int] = []  # the object each step started with (it took a lock...)
        self._faulted_lock: Lock | None = None  # a lock whose acquisition was interrupted
        self._watch = Watch(settings.stall_s, settings.blocked_s)

    # -- the hook: runs in controlled threads --

    def hook(self, point: SyncPoint, primitive: SyncPrimitive) -> bool:
        me = current_record()
        if me is None or me.run is not self:
            return False  # a thread this run does not control (the director included)
        resume = self.step(me, point, primitive)
        if resume == "fault":
            raise InjectedFault(f"injected at {point.value} {primitive.name}")
        return resume is not None and point is SyncPoint.BLOCK

    def step(self, me: ThreadRecord, point: SyncPoint, primitive: SyncPrimitive) -> str | None:
        """Report ``point`` for the calling thread ``me``: park it there if it is a switch
        point. :return: how the director resumed it ("run", "timeout", "spurious",
        "fault"), or None if it did not park (a traced point, or the run was given up).

        :raise Abandoned: into a user thread parked when the run is given up
        """
        with self.cv:
            if self.given_up():
                return None
            if point is SyncPoint.RELEASE:
                self.owners.pop(id(primitive), None)  # a standard Lock: any thread may
            if point in _TOUCHING:
                self._touching.add(touched_object(primitive))
            if point not in _SWITCH_POINTS and not (
                point is SyncPoint.RELEASE and self.switch_on_release
            ):
                self._trace(me, point, primitive, "")
                return None
            me.park_at(point, primitive, self.now)
            self.cv.notify()
            while not me.go and not self.given_up():
                me.wakeup.wait()
            me.state = "running"
            if self.given_up():
                if me.user:
                    raise Abandoned()
                return None  # a refasync thread goes on uncontrolled (and ends itself)
            return me.resume

    def given_up(self) -> bool:
        """:return: whether the run was abandoned (cv held)."""
        return self.abandoned

    def _trace(
        self, me: ThreadRecord, point: SyncPoint, primitive: SyncPrimitive, choice: str
    ) -> None:
        self.events.append(
            Event(self.steps, me.label, point.value, primitive.name, self.now, choice)
        )

    # -- the director --

    def _settle(self) -> None:
        """Wait (cv held) until no controlled thread runs: each parked, or ended."""
        self._watch.reset()
        while self.failure is None:
            busy = [t for t in self.threads if t.state in ("running", "starting")]
            if not busy:
                lock, self._faulted_lock = self._faulted_lock, None
                if lock is not None and not lock.locked():
                    self.owners.pop(id(lock), None)  # the interrupted thread did not take it
                return
            problem = self._watch.check(busy)
            if problem is not None:
                self.failure_kind = "uncontrolled"
                self.failure = f"{problem}\n{self.stacks()}"
                return
            self.cv.wait(_POLL_S)

    def _apply(self, choice: Choice, options: list[Choice]) -> None:
        t = self.threads[choice.tid]
        self._trace(t, t.point or SyncPoint.ACQUIRE, t.primitive or t.thread, str(choice))
        lock = lock_of(t.primitive)
        if (
            choice.kind == "run"
            and t.point in (SyncPoint.ACQUIRE, SyncPoint.TRY_ACQUIRE)
            and id(lock) not in self.owners
        ):
            assert isinstance(lock, Lock)
            self.owners[id(lock)] = t.tid
            self.locks[id(lock)] = lock
        elif choice.kind == "timeout":
            self.now = max(self.now, t.deadline or self.now)
            if any(c.kind == "run" for c in options):
                self.early_timeouts_left -= 1
        elif choice.kind == "fault":
            self.faults_left -= 1
            if t.point is SyncPoint.ACQUIRE and isinstance(t.primitive, Lock):
                # The interrupted thread may take the lock anyway (see options): the
                # model grants it, and _settle withdraws the grant if it did not.
                self.owners[id(t.primitive)] = t.tid
                self.locks[id(t.primitive)] = t.primitive
                self._faulted_lock = t.primitive
        self.starts.append(step_object(t, choice.kind))
        self._touching = {self.starts[-1]}
        t.resume = choice.kind
        t.go = True
        t.state = "running"
        self.last = t.tid
        t.wakeup.notify()

    def direct(self, body: Callable[[Session], object]) -> None:
        """Run ``body`` in controlled thread 0 and schedule until every thread ended."""
        from .session import Session

        session = Session(self)
        self.spawn("main", lambda: body(session))
        with self.cv:
            self._schedule()
            try:
                self.counted = self.strategy.end_run(self)
            except Divergence as exc:
                if self.failure is None:
                    self.failure_kind = "nondeterminism"
                    self.failure = f"nondeterminism: {exc}"

    def _schedule(self) -> None:
        while True:
            self._settle()
            if len(self.touched) < self.steps:  # the step is over
                self.touched.append(frozenset(self._touching))
            if self.failure is not None:
                return
            if all(t.state == "done" for t in self.threads):
                return
            for check in self.invariants:
                try:
                    message = check()
                except Exception:
                    message = f"invariant raised:\n{traceback.format_exc()}"
                if message:
                    self.failure_kind = "invariant"
                    self.failure = f"invariant violated at step {self.steps}: {message}"
                    return
            options = self.options()
            if not options:
                self.failure_kind = "deadlock"
                self.failure = (
                    "deadlock: no thread can run and no timeout can fire\n"
                    + self.wait_for_graph()
                    + "\n"
                    + self.stacks()
                )
                return
            if self.steps >= self.max_steps:
                self.failure_kind = "livelock"
                self.failure = (
                    f"livelock: still running after {self.max_steps} steps "
                    f"(step bound)\n" + self.wait_for_graph()
                )
                return
            try:
                choice = self.strategy.choose(self, options)
            except Divergence as exc:
                self.failure_kind = "nondeterminism"
                self.failure = f"nondeterminism: {exc}"
                return
            if self.is_preemption(choice, options):
                self.preemptions += 1
                self.preempt_steps.append(self.steps)
            self.choices.append(choice)
            self._apply(choice, options)
            self.steps += 1

    def result(self) -> RunResult:
        return RunResult(
            self.choices,
            self.events,
            self.failure,
            self.failure_kind,
            self.steps,
            self.preemptions,
            len(self.threads),
            self.preempt_steps,
            self.touched,
            self.counted,
        )
