"""Controlled exploration: a deterministic scheduler at refasync's synchronization points.

Every lock, condition, wait, thread start and join in refasync reports to one hook
(:func:`refasync.util.set_sync_hook`). While a run is explored, that hook parks the calling
thread and a *director* decides which parked thread goes next, so exactly one thread runs
between two points and the interleaving is a list of choices:

* a thread parked before taking a lock is runnable only while the explorer's model says
  the lock is free (the model records every grant and release);
* a thread parked in a condition wait (``SyncPoint.BLOCK``) is runnable once a notify
  reached it (the condition's own FIFO decides who), or when the director chooses to fire
  its timeout (the virtual clock jumps to its deadline), to wake it spuriously, or to
  interrupt it with an injected fault;
* a thread joining another is runnable once that thread ended.

Time is virtual (``util.set_clock``): it moves only when a timeout fires, and timeouts
fire in deadline order (the clock jumps to the deadline), so an explored run never sleeps. A schedule prints as a short string (``0*4,1,0,2t``: thread 0 four
times, then 1, then 0, then thread 2's timeout fires) that replays the run exactly,
because choices are taken at library points, not bytecodes.

Strategies: ``random`` (seeded uniform choice), ``pct`` (Burckhardt et al., probabilistic
concurrency testing with depth d) and ``dfs`` (exhaustive within a preemption bound,
pruning reorderings of independent steps with sleep sets). See :func:`explore`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import re
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol, Sequence

from . import util
from .util import Blocked, HSCondition, Lock, SyncPoint, SyncPrimitive

__all__ = (
    "Choice",
    "ExploreFailure",
    "InjectedFault",
    "Report",
    "Session",
    "explore",
    "format_schedule",
    "parse_schedule",
    "replay",
)

#: How long a controlled thread may run between two points before the run fails as
#: "uncontrolled blocking" (a blocking call outside refasync.util), in wall seconds.
STALL_S = 10.0
#: Poll interval of the director while it waits for a running thread (detects exits).
_POLL_S = 0.002

# Object ids and process-wide serials (pool worker names) differ between two runs of one
# schedule: the determinism check compares names without them.
_ID_RE = re.compile(r"[0-9a-f]{6,}|\d+")

KINDS = {"run": "", "timeout": "t", "spurious": "s", "fault": "f"}
_KIND_OF_SUFFIX = {suffix: kind for kind, suffix in KINDS.items()}


class InjectedFault(BaseException):
    """The interrupt the explorer raises into a thread (``--faults``): a BaseException,
    like KeyboardInterrupt, arriving before a lock acquisition or while blocked."""


class _Abandoned(BaseException):
    """Raised into parked threads when a run is given up (after a failure)."""


class _Divergence(Exception):
    """A replayed choice was not available: the run is not deterministic."""


@dataclass(frozen=True, order=True)
class Choice:
    """One scheduling decision: run thread ``tid`` (kind "run"), or resume it from a wait
    by firing its timeout, as a spurious wake-up, or with an injected fault."""

    tid: int
    kind: str = "run"

    def __str__(self) -> str:
        return f"{self.tid}{KINDS[self.kind]}"


def format_schedule(choices: Sequence[Choice]) -> str:
    """:return: ``choices`` as a schedule string (runs of one choice as ``c*n``)."""
    parts: list[str] = []
    i = 0
    while i < len(choices):
        j = i
        while j < len(choices) and choices[j] == choices[i]:
            j += 1
        n = j - i
        parts.append(str(choices[i]) + (f"*{n}" if n > 1 else ""))
        i = j
    return ",".join(parts)


def parse_schedule(text: str) -> list[Choice]:
    """:return: the choices of a schedule string written by :func:`format_schedule`.

    :raise ValueError: naming the bad part
    """
    choices: list[Choice] = []
    for part in text.strip().split(","):
        if not part:
            continue
        token, _, times = part.partition("*")
        kind = "run"
        if token and token[-1] in _KIND_OF_SUFFIX:
            kind = _KIND_OF_SUFFIX[token[-1]]
            token = token[:-1]
        if not token.isdigit() or (times and not times.isdigit()):
            raise ValueError(f"bad schedule part {part!r} in {text!r}")
        choices.extend([Choice(int(token), kind)] * (int(times) if times else 1))
    return choices


@dataclass(frozen=True)
class Event:
    """One step of a run's trace."""

    step: int
    thread: str
    point: str
    primitive: str
    time: float  # virtual seconds since the run began
    choice: str  # the choice that let the thread continue ("" for recorded-only points)

    def line(self) -> str:
        return (f"{self.step:5d}  t={self.time:<8.4g} {self.thread:<24} {self.point:<13} "
                f"{self.primitive}" + (f"  [{self.choice}]" if self.choice else ""))


class ExploreFailure(AssertionError):
    """An explored run failed; the message holds the shrunk schedule, the replay line
    and the trace."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


# --- threads and the run ------------------------------------------------------------------


class _Thread:
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
        self.spared: tuple[str, ...] = ()  # name prefixes of primitives never interrupted


class Strategy(Protocol):
    def choose(self, run: _Run, options: list[Choice]) -> Choice: ...


# Points at which a thread parks and the director chooses; the others are only traced.
# RELEASE is one too, except under dfs (``switch_on_release=False``): there a step runs
# from one acquisition to the next, which halves the tree; a bug that needs a switch
# between a release and the next acquisition (e.g. a waiter registering after it let go
# of the lock) is then left to random and pct.
#: How many timeouts may fire in one run while some thread could run instead (an "early"
#: timeout: a timed wait expiring before the work it waits for). Beyond that, a timeout
#: fires only when no thread can run. Without a bound, idle workers' periodic checks and
#: timed readers' expiries compete with progress at every step, and a run's length grows
#: with virtual time instead of with its work. Under dfs an early timeout is also a
#: preemption.
EARLY_TIMEOUTS = 3

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


class _ControlledThread(threading.Thread):
    """A thread of :meth:`Session.spawn`: its ``join`` is a scheduling point."""

    def join(self, timeout: float | None = None) -> None:
        hook = util.get_sync_hook()
        if hook is not None:
            hook(SyncPoint.JOIN, self)
        super().join(timeout)


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name


_POLL = _Named("poll")


class Session:
    """What an explored function gets: thread spawning, joining and invariants."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    def spawn(self, name: str, fn: Callable[[], object]) -> threading.Thread:
        """Start ``fn`` in a controlled thread; an exception in it fails the run."""
        return self._run.spawn(name, fn)

    def join(self, thread: threading.Thread) -> None:
        """Wait until a thread of :meth:`spawn` ended (a scheduling point; the thread's
        own ``join`` is one too)."""
        if not isinstance(thread, _ControlledThread):
            hook = util.get_sync_hook()
            if hook is not None:
                hook(SyncPoint.JOIN, thread)
        thread.join()

    def invariant(self, check: Callable[[], str | None]) -> None:
        """Check ``check`` at every switch: it returns None, or a message that fails the run.
        It runs in the director while every controlled thread is parked."""
        self._run.invariants.append(check)

    def waiting_on(self, condition: HSCondition) -> int:
        """:return: how many parked threads wait on ``condition`` and were not notified
        (for invariants such as "a writer waits only on a full channel")."""
        return self._run.waiting_on(condition)

    def in_flight(self, lock: Lock) -> int:
        """:return: how many parked threads are on their way into ``lock``: parked before
        taking it, just after releasing it, or notified by a condition on it and not yet
        back."""
        return self._run.in_flight(lock)

    @contextlib.contextmanager
    def interruptible(self, spare: tuple[str, ...] = ()) -> Iterator[None]:
        """Faults (``faults=True``) are injected only inside these blocks: wrap the
        operations whose interruption the caller handles (e.g. retries). ``spare``: name
        prefixes of locks and conditions never interrupted inside the block."""
        record = self._run.current_record()
        record.interruptible += 1
        spared, record.spared = record.spared, record.spared + spare
        try:
            yield
        finally:
            record.interruptible -= 1
            record.spared = spared

    def pause(self) -> None:
        """A polling loop's step: let other threads run (pct lowers this thread)."""
        hook = util.get_sync_hook()
        if hook is not None:
            hook(SyncPoint.YIELD, _POLL)

    def now(self) -> float:
        """:return: the run's virtual time."""
        return self._run.now

    @property
    def step(self) -> int:
        return self._run.steps


class _Run:
    """One explored run: the hook, the director and the model of locks and waits."""

    def __init__(self, strategy: Strategy, faults: int, spurious: bool,
                 max_steps: int, switch_on_release: bool = True,
                 early_timeouts: int = EARLY_TIMEOUTS) -> None:
        self.strategy = strategy
        # Timeouts that may still fire while some thread could run (see EARLY_TIMEOUTS).
        self.early_timeouts_left = early_timeouts
        self.switch_on_release = switch_on_release
        self.faults_left = faults
        self.spurious = spurious
        self.max_steps = max_steps
        # Guards every field of the director below (threads, owners, clock, trace, failure):
        # controlled threads park on it and the director waits on it to settle.
        self.cv = threading.Condition(threading.Lock())
        self.threads: list[_Thread] = []
        self._by_ident: dict[int, _Thread] = {}
        self.owners: dict[int, int] = {}  # id(Lock) -> tid of the thread the model granted
        self._locks: dict[int, Lock] = {}
        self.now = 0.0
        self._epoch = 0.0
        self.steps = 0
        self.last: int | None = None  # the thread that ran last
        self.choices: list[Choice] = []
        self.option_log: list[list[Choice]] = []
        self.events: list[Event] = []
        self.invariants: list[Callable[[], str | None]] = []
        self.failure: str | None = None
        self.failure_kind = ""
        self.abandoned = False
        self.preemptions = 0
        self.preempt_steps: list[int] = []
        self._faulted_lock: Lock | None = None  # a lock whose acquisition was interrupted
        self.director: threading.Thread | None = None
        # Threads alive before the run (e.g. idle workers of other pools) are never
        # adopted: only threads started during the run are controlled.
        self.outsiders = frozenset(threading.enumerate())

    # -- thread bookkeeping (cv held) --

    def _register(self, thread: threading.Thread, user: bool) -> _Thread:
        record = _Thread(len(self.threads), thread, user)
        self.threads.append(record)
        if thread.ident is not None:
            self._by_ident[thread.ident] = record
        return record

    def current_record(self) -> _Thread:
        with self.cv:
            return self._record_of(threading.current_thread())

    def _record_of(self, thread: threading.Thread) -> _Thread:
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
            except _Abandoned:
                pass
            except BaseException:
                self._fail("error", f"thread {record.name} raised:\n{traceback.format_exc()}")
            finally:
                with self.cv:
                    record.state = "done"
                    self.cv.notify_all()

        thread = _ControlledThread(target=target, name=name, daemon=True)
        parent = self._by_ident.get(threading.get_ident())
        with self.cv:
            self._register(thread, user=True)
        thread.start()
        if parent is not None:
            self.hook(SyncPoint.THREAD_START, thread)
        return thread

    def _fail(self, kind: str, message: str) -> None:
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
            while not me.go and not self.abandoned:
                self.cv.wait()
            me.state = "running"
            resume = me.resume
            if self._given_up():
                if me.user:
                    raise _Abandoned()
                return False  # a refasync thread goes on uncontrolled (and ends itself)
        if resume == "fault":
            raise InjectedFault(f"injected at {point.value} {primitive.name}")
        return point is SyncPoint.BLOCK

    def _given_up(self) -> bool:
        return self.abandoned

    def _trace(self, me: _Thread, point: SyncPoint, primitive: SyncPrimitive,
               choice: str) -> None:
        self.events.append(Event(self.steps, f"{me.tid}:{me.name}", point.value,
                                 primitive.name, self.now, choice))

    # -- the director --

    def _settle(self) -> None:
        """Wait (cv held) until no controlled thread runs: each parked, or ended."""
        started = time.monotonic()
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
            if time.monotonic() - started > STALL_S:
                names = ", ".join(t.name for t in busy)
                self.failure_kind = "uncontrolled"
                self.failure = (f"uncontrolled blocking: {names} ran {STALL_S} s without "
                                f"reaching a refasync point (a blocking call outside "
                                f"refasync.util?)\n{self._stacks()}")
                return
            self.cv.wait(_POLL_S)

    def options(self) -> list[Choice]:
        """:return: the choices available now (cv held), in a canonical order."""
        out: list[Choice] = []
        faults = self.faults_left > 0
        for t in self.threads:
            if t.state != "parked":
                continue
            point, primitive = t.point, t.primitive
            if point is SyncPoint.ACQUIRE:
                if id(primitive) not in self.owners:
                    out.append(Choice(t.tid))
                    # Only before a free lock: an interrupted acquisition may still take
                    # the lock (util.completing, a wait re-taking its lock), which must
                    # not block outside the model.
                    if faults and t.interruptible and not self._spared(t):
                        out.append(Choice(t.tid, "fault"))
            elif point is SyncPoint.BLOCK:
                assert isinstance(primitive, Blocked)
                if primitive.notified():
                    out.append(Choice(t.tid))
                else:
                    if primitive.timeout is not None:
                        out.append(Choice(t.tid, "timeout"))
                    if self.spurious:
                        out.append(Choice(t.tid, "spurious"))
                if faults and t.interruptible and not primitive.notified() \
                        and not self._spared(t):
                    out.append(Choice(t.tid, "fault"))
            elif point is SyncPoint.JOIN:
                target = next((r for r in self.threads if r.thread is primitive), None)
                if (target.state == "done" if target is not None
                        else not (isinstance(primitive, threading.Thread)
                                  and primitive.is_alive())):
                    out.append(Choice(t.tid))
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
            out = [c for c in out if c.kind != "timeout"
                   or self.threads[c.tid].deadline == first]
        # A poller that yielded runs only when no other thread can.
        polling = {t.tid for t in self.threads
                   if t.state == "parked" and t.point is SyncPoint.YIELD}
        if polling and any(c.kind == "run" and c.tid not in polling for c in out):
            out = [c for c in out if c.tid not in polling]
        return out

    @staticmethod
    def _spared(t: _Thread) -> bool:
        return t.primitive is not None and t.primitive.name.startswith(t.spared)

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

    def is_preemption(self, choice: Choice, options: list[Choice]) -> bool:
        return (self.last is not None and choice.tid != self.last
                and Choice(self.last) in options) or (
            choice.kind != "run" and any(c.kind == "run" for c in options))

    def waiting_on(self, condition: HSCondition) -> int:
        return sum(1 for t in self.threads if t.state == "parked"
                   and isinstance(t.primitive, Blocked) and t.primitive.condition is condition
                   and not t.primitive.notified())

    def in_flight(self, lock: Lock) -> int:
        count = 0
        for t in self.threads:
            if t.state != "parked":
                continue
            primitive = t.primitive
            if t.point in (SyncPoint.ACQUIRE, SyncPoint.TRY_ACQUIRE, SyncPoint.RELEASE) \
                    and primitive is lock:  # RELEASE: maybe a notified waiter not yet blocked
                count += 1
            elif (isinstance(primitive, Blocked) and primitive.condition.lock is lock
                  and primitive.notified()):
                count += 1
        return count

    def _apply(self, choice: Choice, options: list[Choice]) -> None:
        t = self.threads[choice.tid]
        self._trace(t, t.point or SyncPoint.ACQUIRE, t.primitive or t.thread, str(choice))
        if choice.kind == "run" and t.point in (SyncPoint.ACQUIRE, SyncPoint.TRY_ACQUIRE) \
                and id(t.primitive) not in self.owners:
            self.owners[id(t.primitive)] = t.tid
            assert isinstance(t.primitive, Lock)
            self._locks[id(t.primitive)] = t.primitive
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
                self._locks[id(t.primitive)] = t.primitive
                self._faulted_lock = t.primitive
        t.resume = choice.kind
        t.go = True
        t.state = "running"
        self.last = t.tid
        self.cv.notify_all()

    def direct(self, body: Callable[[Session], object]) -> None:
        """Run ``body`` in controlled thread 0 and schedule until every thread ended."""
        session = Session(self)
        self.director = threading.current_thread()
        self.spawn("main", lambda: body(session))
        with self.cv:
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
                        + self.wait_for_graph() + "\n" + self._stacks()
                    return
                if self.steps >= self.max_steps:
                    self.failure_kind = "livelock"
                    self.failure = (f"livelock: still running after {self.max_steps} steps "
                                    f"(step bound)\n" + self.wait_for_graph())
                    return
                try:
                    choice = self.strategy.choose(self, options)
                except _Divergence as exc:
                    self.failure_kind = "nondeterminism"
                    self.failure = f"nondeterminism: {exc}"
                    return
                if self.is_preemption(choice, options):
                    self.preemptions += 1
                    self.preempt_steps.append(self.steps)
                self.option_log.append(options)
                self.choices.append(choice)
                self._apply(choice, options)
                self.steps += 1

    def wait_for_graph(self) -> str:
        """:return: who holds which lock, and what every live thread waits for."""
        lines = ["wait-for graph:"]
        names = {t.tid: f"{t.tid}:{t.name}" for t in self.threads}
        for lock_id, tid in sorted(self.owners.items(), key=lambda kv: kv[1]):
            lock = self._locks.get(lock_id)
            lines.append(f"  {names[tid]} holds lock {lock.name if lock else '?'}")
        for t in self.threads:
            if t.state == "done":
                continue
            primitive = t.primitive
            what = primitive.name if primitive is not None else "?"
            if t.point is SyncPoint.ACQUIRE:
                holder = self.owners.get(id(primitive))
                held = f" held by {names[holder]}" if holder is not None else " (free)"
                lines.append(f"  {names[t.tid]} waits for lock {what}{held}")
            elif t.point is SyncPoint.BLOCK and isinstance(primitive, Blocked):
                timeout = "" if primitive.timeout is None else f", timeout {primitive.timeout}"
                state = "notified" if primitive.notified() else "not notified"
                lines.append(f"  {names[t.tid]} waits on condition {what} ({state}{timeout})")
            elif t.point is SyncPoint.JOIN:
                lines.append(f"  {names[t.tid]} joins {what}")
            else:
                lines.append(f"  {names[t.tid]} {t.state} at {t.point.value if t.point else '?'}"
                             f" {what}")
        return "\n".join(lines)

    def _stacks(self) -> str:
        frames = sys._current_frames()
        parts = []
        for t in self.threads:
            if t.state == "done" or t.thread.ident not in frames:
                continue
            stack = traceback.format_stack(frames[t.thread.ident])
            parts.append(f"--- thread {t.tid}:{t.name} ---\n" + "".join(stack[-12:]))
        return "".join(parts)

    def abandon(self) -> None:
        """Give up the run: release every parked thread with _Abandoned; never control
        any of them again."""
        with self.cv:
            self.abandoned = True
            live = [t.thread for t in self.threads if t.state != "done"]
            self.cv.notify_all()
        with _ignored_lock:
            _ignored[:] = [t for t in _ignored if t.is_alive()] + live
        for thread in live:
            thread.join(0.5)


# --- strategies -----------------------------------------------------------------------------

#: Odds of a non-"run" choice when some thread could run (random and pct).
P_TIMEOUT = 0.05
P_SPURIOUS = 0.02
P_FAULT = 0.01


def _side_choice(rng: random.Random, options: list[Choice]) -> Choice | None:
    """Seeded decision to fire a timeout, a spurious wake-up or a fault now."""
    for kind, odds in (("timeout", P_TIMEOUT), ("spurious", P_SPURIOUS), ("fault", P_FAULT)):
        these = [c for c in options if c.kind == kind]
        if these and rng.random() < odds:
            return rng.choice(these)
    return None


class RandomStrategy:
    """Seeded uniform choice among the runnable threads (timeouts, spurious wake-ups and
    faults at small odds, or when nothing else can run)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def choose(self, run: _Run, options: list[Choice]) -> Choice:
        runs = [c for c in options if c.kind == "run"]
        side = _side_choice(self.rng, options)
        if side is not None or not runs:
            return side if side is not None else self.rng.choice(options)
        return self.rng.choice(runs)


class PCTStrategy:
    """Probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte,
    ASPLOS 2010): random distinct thread priorities, the highest-priority runnable thread
    runs, and at ``depth - 1`` random steps the running thread drops to the lowest
    priorities. For a bug of depth d in a run of n threads and k steps, one run finds
    it with probability at least 1/(n*k^(d-1))."""

    def __init__(self, seed: int, depth: int, steps_hint: int) -> None:
        self.rng = random.Random(seed)
        self.depth = depth
        self.k = max(1, steps_hint)
        self.change_points = sorted(self.rng.sample(range(1, self.k + 1),
                                                    min(self.k, max(0, depth - 1))))
        self.priority: dict[int, float] = {}
        self.drops = 0

    def choose(self, run: _Run, options: list[Choice]) -> Choice:
        for t in run.threads:
            if t.tid not in self.priority:
                self.priority[t.tid] = self.depth + self.rng.random()  # above every drop
        if self.change_points and run.steps >= self.change_points[0] and run.last is not None:
            self.change_points.pop(0)
            self.drops += 1
            self.priority[run.last] = -float(self.drops)  # below every earlier priority
        if run.last is not None and run.threads[run.last].point is SyncPoint.YIELD:
            self.priority[run.last] = min(self.priority.values()) - 1.0  # a poller yields
        runs = [c for c in options if c.kind == "run"]
        side = _side_choice(self.rng, options)
        if side is not None:
            return side
        pool = runs or options
        return max(pool, key=lambda c: (self.priority[c.tid], -c.tid))


class ReplayStrategy:
    """Follow ``choices``; then the non-preemptive default. ``strict``: a recorded choice
    that is not available is a divergence; otherwise the default replaces it."""

    def __init__(self, choices: Sequence[Choice], strict: bool) -> None:
        self.choices = list(choices)
        self.strict = strict

    def choose(self, run: _Run, options: list[Choice]) -> Choice:
        if run.steps < len(self.choices):
            wanted = self.choices[run.steps]
            if wanted in options:
                return wanted
            if self.strict:
                raise _Divergence(f"step {run.steps}: recorded choice {wanted} is not "
                                  f"available (options {format_schedule(options)})")
        return run.default(options)


def _independent(run: _Run, a: Choice, b: Choice) -> bool:
    """Two pending steps of different threads are independent when they touch different
    objects (a lock and a condition on it count as one object)."""
    if a.tid == b.tid:
        return False
    x, y = _object_of(run.threads[a.tid]), _object_of(run.threads[b.tid])
    return x != y and x != -1 and y != -1


def _object_of(t: _Thread) -> int:
    primitive = t.primitive
    if isinstance(primitive, Blocked):
        return id(primitive.condition.lock)
    if isinstance(primitive, HSCondition):
        return id(primitive.lock)
    if t.point in (SyncPoint.THREAD_START, SyncPoint.JOIN):
        return -1  # thread lifecycle: treated as touching everything
    return id(primitive)


#: dfs shards split the tree at this many branching nodes from the root.
SHARD_DEPTH = 3


@dataclass
class _Node:
    options: list[Choice]
    chosen: Choice
    done: list[Choice]  # choices explored at this node, the current one last
    sleep: list[Choice]  # choices asleep on entry (already covered by a sibling)
    preemptions: int  # preemptions on the path before this node
    last: int | None  # the thread that ran before this node


class DFSStrategy:
    """Bounded exhaustive search, one run per schedule: replay the path to the deepest
    node with an untried choice, take it, then go on non-preemptively. Choices that would
    exceed the preemption bound are not tried; sleep sets skip orders of independent
    steps already covered. ``shard=(k, n)``: only the choices at the first branching node
    whose index is k modulo n."""

    def __init__(self, preemptions: int, shard: tuple[int, int] = (0, 1)) -> None:
        self.bound = preemptions
        self.stack: list[_Node] = []
        self.prefix: list[Choice] = []
        self.shard = shard
        self.start_run()

    def start_run(self) -> None:
        self.depth = 0
        self.preempted = 0
        self.sleep: list[Choice] = []
        self.redundant = False  # every choice asleep: the rest was covered already

    def choose(self, run: _Run, options: list[Choice]) -> Choice:
        i = self.depth
        self.depth += 1
        if i < len(self.prefix):
            node = self.stack[i]
            choice = self.prefix[i]
            asleep = node.sleep + node.done[:-1]
        elif self.redundant:
            return run.default(options)
        else:
            awake = [c for c in options if c not in self.sleep]
            if not any(c.kind == "run" for c in awake) and any(c.kind == "run" for c in options):
                awake = []  # only sleeping threads could run: this order was covered
            if not awake:
                self.redundant = True
                return run.default(options)
            choice = run.default(awake)
            self.stack.append(_Node(options, choice, [choice], list(self.sleep),
                                    self.preempted, run.last))
            asleep = self.sleep
        if run.is_preemption(choice, options):
            self.preempted += 1
        self.sleep = [c for c in asleep if c in options and _independent(run, c, choice)]
        return choice

    def _branches(self) -> list[int]:
        """:return: the stack indices of the first SHARD_DEPTH branching nodes."""
        return [i for i, x in enumerate(self.stack) if len(x.options) > 1][:SHARD_DEPTH]

    def owns_path(self) -> bool:
        """:return: whether the current path belongs to this shard: the sum of the option
        indices chosen at the first SHARD_DEPTH branching nodes, modulo n, is k (a path
        with fewer branching nodes belongs to shard 0)."""
        k, n = self.shard
        branches = self._branches()
        if len(branches) < SHARD_DEPTH:
            return k == 0 or n == 1
        total = sum(self.stack[i].options.index(self.stack[i].chosen) for i in branches)
        return total % n == k

    def next_prefix(self) -> bool:
        """Set up the next schedule; :return: False when the bound is exhausted."""
        k, n = self.shard
        branches = self._branches()
        while self.stack:
            at = len(self.stack) - 1
            node = self.stack[at]
            before = sum(self.stack[i].options.index(self.stack[i].chosen)
                         for i in branches if i < at)
            for index, option in enumerate(node.options):
                if option in node.done or option in node.sleep:
                    continue
                if n > 1 and len(branches) == SHARD_DEPTH and at == branches[-1] \
                        and (before + index) % n != k:
                    continue  # another shard's subtree
                preempts = (node.last is not None and option.tid != node.last
                            and Choice(node.last) in node.options) or (
                    option.kind != "run" and any(c.kind == "run" for c in node.options))
                if node.preemptions + preempts > self.bound:
                    continue
                node.done.append(option)
                node.chosen = option
                self.prefix = [x.chosen for x in self.stack]
                return True
            self.stack.pop()
        return False


# --- running and reporting ---------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What every run of one exploration shares (a replay needs the same)."""

    faults: int = 0  # injected faults per run (0 or 1)
    spurious: bool = False  # spurious wake-ups are choices
    max_steps: int = 2000  # the livelock bound
    switch_on_release: bool = True  # RELEASE is a switch point (not under dfs)
    early_timeouts: int = EARLY_TIMEOUTS  # timeouts that may fire while a thread could run


@dataclass
class RunResult:
    choices: list[Choice]
    events: list[Event]
    failure: str | None
    kind: str
    steps: int
    preemptions: int
    threads: int
    preempt_steps: list[int]


@dataclass
class Report:
    """What :func:`explore` found."""

    strategy: str
    runs: int = 0
    failed: bool = False
    message: str = ""
    schedule: str = ""
    replay_line: str = ""
    trace: list[Event] = field(default_factory=list)
    exhausted: bool = False
    schedules: int = 0
    bound: str = ""
    seconds: float = 0.0
    nondeterministic: bool = False
    kind: str = ""

    def to_json(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["trace"] = [dataclasses.asdict(e) for e in self.trace]
        return data


def run_once(body: Callable[[Session], object], strategy: Strategy,
             settings: Settings = Settings()) -> RunResult:
    """Run ``body`` once under ``strategy``; never raises for a failure of the run."""
    run = _Run(strategy, settings.faults, settings.spurious, settings.max_steps,
               settings.switch_on_release, settings.early_timeouts)
    previous_hook = util.set_sync_hook(run.hook)
    previous_clock = util.set_clock(lambda: run.now)
    try:
        run.direct(body)
    finally:
        failed = run.failure is not None
        if failed or any(t.state != "done" for t in run.threads):
            run.abandon()
        util.set_sync_hook(previous_hook)
        util.set_clock(previous_clock)
    return RunResult(run.choices, run.events, run.failure, run.failure_kind, run.steps,
                     run.preemptions, len(run.threads), run.preempt_steps)


def _shrink(body: Callable[[Session], object], result: RunResult, settings: Settings,
            budget_s: float) -> RunResult:
    """Shrink a failing run to the fewest preemptions, then the fewest steps, within
    ``budget_s``: greedy steps first (candidates cut the schedule at a preemption and go
    on non-preemptively, let the preempted thread go on there instead, or drop the
    preempting choice), then a bounded dfs with 0, 1, ... preemptions below the greedy
    result, whose first failure has the fewest preemptions any failing schedule has; then
    greedy again. A candidate must fail the same way (same kind of failure) and be
    smaller in (preemptions, steps)."""
    deadline = time.monotonic() + budget_s
    best = _shrink_greedily(body, result, settings, deadline)
    for bound in range(best.preemptions):
        if time.monotonic() > deadline:
            break
        found = _first_failure_within(body, best.kind, settings, bound, deadline)
        if found is not None:
            if _key(found) < _key(best):
                best = _shrink_greedily(body, found, settings, deadline)
            break
    return best


def _key(r: RunResult) -> tuple[int, int]:
    return (r.preemptions, r.steps)


def _shrink_greedily(body: Callable[[Session], object], result: RunResult,
                     settings: Settings, deadline: float) -> RunResult:
    best = result
    improved = True
    while improved and time.monotonic() < deadline:
        improved = False
        for i in _preemption_steps(best):
            choices = best.choices
            go_on = [choices[:i] + [Choice(choices[i - 1].tid)] + choices[i + 1:]] if i else []
            for candidate in [choices[:i], *go_on, choices[:i] + choices[i + 1:]]:
                if time.monotonic() > deadline:
                    return best
                r = run_once(body, ReplayStrategy(candidate, strict=False), settings)
                if r.failure is not None and r.kind == best.kind and _key(r) < _key(best):
                    best = r
                    improved = True
                    break
            if improved:
                break
    return best


def _first_failure_within(body: Callable[[Session], object], kind: str, settings: Settings,
                          bound: int, deadline: float) -> RunResult | None:
    """:return: the first run failing as ``kind`` that dfs with preemption bound
    ``bound`` finds before ``deadline`` (None: none, or out of time)."""
    dfs = DFSStrategy(bound)
    while time.monotonic() < deadline:
        dfs.start_run()
        r = run_once(body, dfs, settings)
        if r.failure is not None and r.kind == kind and r.preemptions <= bound:
            return r
        del dfs.stack[r.steps:]
        if not dfs.next_prefix():
            return None
    return None


def _preemption_steps(result: RunResult) -> list[int]:
    return list(result.preempt_steps)


def _deterministic(body: Callable[[Session], object], result: RunResult,
                   settings: Settings) -> str | None:
    """Replay ``result`` strictly and compare event traces; :return: None if identical."""
    again = run_once(body, ReplayStrategy(result.choices, strict=True), settings)
    if again.kind == "nondeterminism":
        return again.failure
    # Threads compare by their index in the run ("1:..."): names may carry process-wide
    # serials (pool workers) or addresses that differ between two runs of one schedule.
    a = [(e.thread.split(":", 1)[0], e.point, _ID_RE.sub("#", e.primitive))
         for e in result.events]
    b = [(e.thread.split(":", 1)[0], e.point, _ID_RE.sub("#", e.primitive))
         for e in again.events]
    if a != b:
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        return (f"the replay's trace differs from event {first} on: "
                f"{a[first] if first < len(a) else 'end'} vs {b[first] if first < len(b) else 'end'}")
    if again.failure is None:
        return "the replay did not fail"
    return None


def pct_bound(threads: int, steps: int, depth: int) -> str:
    """:return: the PCT guarantee per run, ``1/(n*k^(d-1))``, as text."""
    denominator = threads * steps ** (depth - 1)
    return f"1/(n*k^(d-1)) = 1/({threads}*{steps}^{depth - 1}) = {1 / denominator:.3g}"


def explore(
    body: Callable[[Session], object],
    *,
    strategy: str = "pct",
    runs: int = 500,
    seconds: float | None = None,
    seed: int = 0,
    depth: int = 3,
    preemptions: int = 2,
    faults: bool = False,
    spurious: bool = True,
    max_steps: int = 2000,
    early_timeouts: int = EARLY_TIMEOUTS,
    shard: tuple[int, int] = (0, 1),
    replay_hint: str = "",
    shrink_s: float = 20.0,
    raise_on_failure: bool = True,
) -> Report:
    """Explore ``body(session)`` under ``strategy`` ("random", "pct" or "dfs").

    ``body`` runs in controlled thread 0; it starts more threads with
    ``session.spawn`` and may register invariants. Anything raised in a controlled thread,
    a deadlock, a violated invariant or ``max_steps`` steps fail the run. The failing
    schedule is shrunk, checked for determinism and reported with the line that replays
    it (``replay_hint`` is that command without ``--replay``).

    :param runs: at most this many runs (dfs: schedules)
    :param seconds: optional time budget
    :param early_timeouts: how many timeouts may fire in a run while some thread could
        run instead; after that a timeout fires only when no thread can run
    :param shard: ``(k, n)``: random/pct do the runs whose number is k modulo n; dfs
        explores the subtrees whose first branching choice is k modulo n
    :raise ExploreFailure: on a failure, if ``raise_on_failure``
    """
    if strategy not in ("random", "pct", "dfs"):
        raise ValueError(f"strategy must be 'random', 'pct' or 'dfs', got {strategy!r}")
    k, n = shard
    if not (0 <= k < n):
        raise ValueError(f"shard must be (k, n) with 0 <= k < n, got {shard!r}")
    settings = Settings(1 if faults else 0, spurious and (faults or strategy != "dfs"),
                        max_steps, strategy != "dfs", early_timeouts)
    report = Report(strategy)
    started = time.monotonic()
    steps_hint = 50
    threads_seen = 1
    failing: RunResult | None = None
    dfs = DFSStrategy(preemptions, shard) if strategy == "dfs" else None
    index = 0
    while report.runs < runs:
        if seconds is not None and time.monotonic() - started > seconds:
            break
        if dfs is not None:
            dfs.start_run()
            chosen: Strategy = dfs
        else:
            run_seed = seed * 1_000_003 + index
            index += 1
            if run_seed % n != k:
                continue
            chosen = (RandomStrategy(run_seed) if strategy == "random"
                      else PCTStrategy(run_seed, depth, steps_hint))
        result = run_once(body, chosen, settings)
        owned = dfs is None or dfs.owns_path()
        if owned:
            report.runs += 1
        steps_hint = max(steps_hint, result.steps)
        threads_seen = max(threads_seen, result.threads)
        if result.failure is not None and owned:
            failing = result
            break
        if dfs is not None:
            del dfs.stack[result.steps:]
            if not dfs.next_prefix():
                report.exhausted = True
                break
    report.schedules = report.runs
    if strategy == "pct":
        report.bound = pct_bound(threads_seen, steps_hint, depth)
    if failing is not None:
        shrunk = _shrink(body, failing, settings, shrink_s)
        problem = _deterministic(body, shrunk, settings)
        report.failed = True
        report.kind = shrunk.kind
        report.schedule = format_schedule(shrunk.choices)
        report.replay_line = f"{replay_hint} --replay '{report.schedule}'" if replay_hint \
            else f"refasync.explore.replay(body, {report.schedule!r})"
        report.trace = shrunk.events
        report.nondeterministic = problem is not None
        report.message = _failure_text(shrunk, report, problem)
    report.seconds = time.monotonic() - started
    if report.failed and raise_on_failure:
        raise ExploreFailure(report.message, report)
    return report


def _failure_text(result: RunResult, report: Report, problem: str | None) -> str:
    lines = [f"explore ({report.strategy}) failed after {report.runs} run(s): "
             f"{result.failure}",
             f"schedule ({result.preemptions} preemption(s), {result.steps} steps): "
             f"{report.schedule}",
             f"replay: {report.replay_line}"]
    if problem is not None:
        lines.append(f"NOT DETERMINISTIC (uncontrolled nondeterminism?): {problem}")
    lines.append("trace (step, virtual time, thread, point, primitive, [choice]):")
    lines.extend(e.line() for e in result.events[-80:])
    return "\n".join(lines)


def replay(body: Callable[[Session], object], schedule: str, *, strategy: str = "pct",
           faults: bool = False, spurious: bool = True, max_steps: int = 2000,
           early_timeouts: int = EARLY_TIMEOUTS) -> RunResult:
    """Run ``body`` once following ``schedule`` exactly, with the settings ``explore``
    used for ``strategy`` (a divergence is the run's failure, kind "nondeterminism")."""
    settings = Settings(1 if faults else 0, spurious and (faults or strategy != "dfs"),
                        max_steps, strategy != "dfs", early_timeouts)
    return run_once(body, ReplayStrategy(parse_schedule(schedule), strict=True), settings)

