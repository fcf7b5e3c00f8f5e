"""One explored run: the hook that parks controlled threads, and the director that picks
which parked thread goes next.

Every lock, condition, wait, thread start and join in refasync reports to one hook
(:func:`refasync.util.set_sync_hook`). While a run is explored, that hook parks the
calling thread and the director (the thread that called :func:`run_once`) decides which
parked thread goes next, so exactly one thread runs between two points and the
interleaving is a list of choices. Time is virtual (``util.set_clock``): it moves only
when a timeout fires, and timeouts fire in deadline order (the clock jumps to the
deadline), so an explored run never sleeps.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ... import util
from ...util import Blocked, Lock, SyncPoint, SyncPrimitive
from ..errors import Abandoned, Divergence, InjectedFault
from ..schedule import Choice, Event
from ..settings import Settings
from .model import Model
from .threads import ControlledThread, ThreadRecord

if TYPE_CHECKING:
    from ..strategies.base import Strategy
    from .session import Session

__all__ = ("Run", "RunResult", "run_once")

#: Poll interval of the director while it waits for a running thread (detects exits).
_POLL_S = 0.002

# Points at which a thread parks and the director chooses; the others are only traced.
# RELEASE is one too, except under dfs (``switch_on_release=False``): there a step runs
# from one acquisition to the next, which halves the tree; a bug that needs a switch
# between a release and the next acquisition (e.g. a waiter registering after it let go
# of the lock) is then left to random and pct.
_SWITCH_POINTS = frozenset({SyncPoint.ACQUIRE, SyncPoint.TRY_ACQUIRE, SyncPoint.YIELD,
                            SyncPoint.BLOCK, SyncPoint.THREAD_START, SyncPoint.JOIN})

# The explorer is the hook's implementation, so its own locks, waits and clock reads are
# the standard library's, deliberately outside refasync.util: a hook must not take refasync
# locks (set_sync_hook), and the director's wall-clock stall and budget checks must not
# read the virtual clock it drives.
_ignored_lock = threading.Lock()  # guards _ignored
_ignored: list[threading.Thread] = []  # threads of given-up runs: never controlled again


def _is_ignored(thread: threading.Thread) -> bool:
    with _ignored_lock:
        return any(t is thread for t in _ignored)


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
    counted: bool = True  # the strategy counts and reports this run (end_run)


class Run(Model):
    """One explored run: the hook, the director and the model of locks and waits."""

    def __init__(self, strategy: Strategy, settings: Settings) -> None:
        super().__init__(settings)
        self.strategy = strategy
        self.settings = settings
        self.switch_on_release = settings.switch_on_release
        self.max_steps = settings.max_steps
        # Guards every field of the director and of the model (threads, owners, clock,
        # trace, failure): controlled threads park on it and the director waits on it.
        self.cv = threading.Condition(threading.Lock())
        self._by_ident: dict[int, ThreadRecord] = {}
        self.now = 0.0
        self.steps = 0
        self.choices: list[Choice] = []
        self.events: list[Event] = []
        self.invariants: list[Callable[[], str | None]] = []
        self.failure: str | None = None
        self.failure_kind = ""
        self.abandoned = False
        self.counted = True
        self.preemptions = 0
        self.preempt_steps: list[int] = []
        self._faulted_lock: Lock | None = None  # a lock whose acquisition was interrupted
        self.director: threading.Thread | None = None
        # Threads alive before the run (e.g. idle workers of other pools) are never
        # adopted: only threads started during the run are controlled.
        self.outsiders = frozenset(threading.enumerate())

    # -- thread bookkeeping (cv held) --

    def _register(self, thread: threading.Thread, user: bool) -> ThreadRecord:
        record = ThreadRecord(len(self.threads), thread, user)
        self.threads.append(record)
        if thread.ident is not None:
            self._by_ident[thread.ident] = record
        return record

    def current_record(self) -> ThreadRecord:
        with self.cv:
            return self._record_of(threading.current_thread())

    def _record_of(self, thread: threading.Thread) -> ThreadRecord:
        """:return: the record of ``thread``, registering it if new (cv held). Idents
        are reused by the OS, so a record is found by its Thread object."""
        ident = thread.ident or 0
        record = self._by_ident.get(ident)
        if record is None or record.thread is not thread:
            record = next((r for r in self.threads if r.thread is thread), None)
            if record is None:
                record = self._register(thread, user=False)
            self._by_ident[ident] = record
        return record

    def spawn(self, name: str, fn: Callable[[], object]) -> threading.Thread:
        def target() -> None:
            me = threading.current_thread()
            with self.cv:
                record = self._record_of(me)
            try:
                self.hook(SyncPoint.THREAD_START, me)  # park until first chosen
                fn()
            except Abandoned:
                pass
            except BaseException:
                self.fail("error", f"thread {record.name} raised:\n{traceback.format_exc()}")
            finally:
                with self.cv:
                    record.state = "done"
                    self.cv.notify_all()

        thread = ControlledThread(target=target, name=name, daemon=True)
        parent = self._by_ident.get(threading.get_ident())
        with self.cv:
            self._register(thread, user=True)
        thread.start()
        if parent is not None:
            self.hook(SyncPoint.THREAD_START, thread)
        return thread

    def fail(self, kind: str, message: str) -> None:
        """Fail the run (the first failure wins)."""
        with self.cv:
            if self.failure is None:
                self.failure = message
                self.failure_kind = kind
            self.cv.notify_all()

    # -- the hook: runs in controlled threads --

    def hook(self, point: SyncPoint, primitive: SyncPrimitive) -> bool:
        me_thread = threading.current_thread()
        if me_thread is self.director:
            return False  # an invariant reading state: not a controlled thread
        with self.cv:
            if self.abandoned:
                return False
            me = self._by_ident.get(threading.get_ident())
            if me is None or me.thread is not me_thread:
                if _is_ignored(me_thread) or me_thread in self.outsiders:
                    return False  # not started in this run: goes on uncontrolled
                me = self._record_of(me_thread)  # a refasync thread starting
            if point is SyncPoint.THREAD_START and primitive is not me_thread:
                assert isinstance(primitive, threading.Thread)
                self._record_of(primitive)
            elif point is SyncPoint.RELEASE:
                if self.owners.get(id(primitive)) == me.tid:
                    del self.owners[id(primitive)]
            if point not in _SWITCH_POINTS and not (
                    point is SyncPoint.RELEASE and self.switch_on_release):
                self._trace(me, point, primitive, "")
                return False
            me.point, me.primitive = point, primitive
            me.deadline = None
            if isinstance(primitive, Blocked) and primitive.timeout is not None:
                me.deadline = self.now + primitive.timeout
            me.state = "parked"
            me.go = False
            self.cv.notify_all()
            while not me.go and not self.given_up():
                self.cv.wait()
            me.state = "running"
            resume = me.resume
            if self.given_up():
                if me.user:
                    raise Abandoned()
                return False  # a refasync thread goes on uncontrolled (and ends itself)
        if resume == "fault":
            raise InjectedFault(f"injected at {point.value} {primitive.name}")
        return point is SyncPoint.BLOCK

    def given_up(self) -> bool:
        """:return: whether the run was abandoned (cv held)."""
        return self.abandoned

    def _trace(self, me: ThreadRecord, point: SyncPoint, primitive: SyncPrimitive,
               choice: str) -> None:
        self.events.append(Event(self.steps, me.label, point.value, primitive.name,
                                 self.now, choice))

    # -- the director --

    def _settle(self) -> None:
        """Wait (cv held) until no controlled thread runs: each parked, or ended."""
        started = time.monotonic()
        stall_s = self.settings.stall_s
        while self.failure is None:
            busy = [t for t in self.threads if t.state in ("running", "starting")]
            for t in busy:
                if t.thread.ident is not None and not t.thread.is_alive():
                    t.state = "done"
            busy = [t for t in busy if t.state != "done"]
            if not busy:
                lock, self._faulted_lock = self._faulted_lock, None
                if lock is not None and not lock.locked():
                    self.owners.pop(id(lock), None)  # the interrupted thread did not take it
                return
            if time.monotonic() - started > stall_s:
                names = ", ".join(t.name for t in busy)
                self.failure_kind = "uncontrolled"
                self.failure = (f"uncontrolled blocking: {names} ran {stall_s} s without "
                                f"reaching a refasync point (a blocking call outside "
                                f"refasync.util?)\n{self.stacks()}")
                return
            self.cv.wait(_POLL_S)

    def _apply(self, choice: Choice, options: list[Choice]) -> None:
        t = self.threads[choice.tid]
        self._trace(t, t.point or SyncPoint.ACQUIRE, t.primitive or t.thread, str(choice))
        if choice.kind == "run" and t.point in (SyncPoint.ACQUIRE, SyncPoint.TRY_ACQUIRE) \
                and id(t.primitive) not in self.owners:
            assert isinstance(t.primitive, Lock)
            self.owners[id(t.primitive)] = t.tid
            self.locks[id(t.primitive)] = t.primitive
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
        t.resume = choice.kind
        t.go = True
        t.state = "running"
        self.last = t.tid
        self.cv.notify_all()

    def direct(self, body: Callable[[Session], object]) -> None:
        """Run ``body`` in controlled thread 0 and schedule until every thread ended."""
        from .session import Session

        session = Session(self)
        self.director = threading.current_thread()
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
                self.failure = "deadlock: no thread can run and no timeout can fire\n" \
                    + self.wait_for_graph() + "\n" + self.stacks()
                return
            if self.steps >= self.max_steps:
                self.failure_kind = "livelock"
                self.failure = (f"livelock: still running after {self.max_steps} steps "
                                f"(step bound)\n" + self.wait_for_graph())
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

    def stacks(self) -> str:
        """:return: the stack of every live controlled thread."""
        frames = sys._current_frames()
        parts = []
        for t in self.threads:
            if t.state == "done" or t.thread.ident not in frames:
                continue
            stack = traceback.format_stack(frames[t.thread.ident])
            parts.append(f"--- thread {t.label} ---\n" + "".join(stack[-12:]))
        return "".join(parts)

    def abandon(self) -> None:
        """Give up the run: release every parked thread with Abandoned; never control
        any of them again."""
        with self.cv:
            self.abandoned = True
            live = [t.thread for t in self.threads if t.state != "done"]
            self.cv.notify_all()
        with _ignored_lock:
            _ignored[:] = [t for t in _ignored if t.is_alive()] + live
        for thread in live:
            thread.join(0.5)

    def result(self) -> RunResult:
        return RunResult(self.choices, self.events, self.failure, self.failure_kind,
                         self.steps, self.preemptions, len(self.threads),
                         self.preempt_steps, self.counted)


def run_once(body: Callable[[Session], object], strategy: Strategy,
             settings: Settings = Settings()) -> RunResult:
    """Run ``body`` once under ``strategy`` (its current run: the caller called
    ``new_run``); never raises for a failure of the run."""
    run = Run(strategy, settings)
    previous_hook = util.set_sync_hook(run.hook)
    previous_clock = util.set_clock(lambda: run.now)
    try:
        run.direct(body)
    finally:
        if run.failure is not None or any(t.state != "done" for t in run.threads):
            run.abandon()
        util.set_sync_hook(previous_hook)
        util.set_clock(previous_clock)
    return run.result()
