"""Threads entering and leaving a run: spawned, adopted, joined, asleep, ended, abandoned.

A run controls exactly the threads it registered before they started: the body's own
(:meth:`Lifecycle.spawn`) and every ``threading.Thread`` that one of them starts
(:meth:`Lifecycle.adopt`, called by the patched ``Thread.start``). Each runs inside a
wrapper that parks at ``THREAD_START`` before the thread's first instruction, turns an
exception into the run's failure, and marks the thread done as its last step, under the
director's lock: a thread is over only when the director saw it finish (never because
``is_alive()`` says False, which it does between a thread's ident and its start).
"""

from __future__ import annotations

import _thread
import os
import sys
import threading
import traceback
from collections.abc import Callable

from ...thread import TerminatableThread
from ...util import Blocked, SyncPoint, SyncPrimitive
from ..errors import Abandoned
from ..settings import Settings
from .model import THREADS, Model, StdlibCondition
from .threads import Joining, Named, ThreadRecord, current_record, set_current_record
from .watch import describe_blocking, interrupt

__all__ = ("GRACE_S", "DirectorCondition", "Lifecycle", "real_start")

#: Wall seconds the threads of an abandoned run get to end, before the ones looping in
#: Python code are stopped; then STOP_S for those, before the rest are reported.
GRACE_S = 1.0
STOP_S = 0.5

_SLEEP_0 = Named("time.sleep(0)")

#: ``threading.Thread.start`` itself (the explorer patches it while a run is on).
real_start = threading.Thread.start


_EXPLORER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_THREADING_FILE = os.path.abspath(threading.__file__)


def _machinery(filename: str) -> bool:
    """:return: whether a stack frame is the explorer's or threading's own (the stacks in
    a failure show the body's frames and the library's)."""
    path = os.path.abspath(filename)
    return path.startswith(_EXPLORER_DIR + os.sep) or path == _THREADING_FILE


class DirectorCondition(threading.Condition):
    """The condition the director and its parked threads wait on: the standard library's,
    whatever the explorer patches on ``threading.Condition`` while a run is on."""

    wait = threading.Condition.wait


class Lifecycle(Model):
    """The run's threads and the state the director shares with them (under ``cv``)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.settings = settings
        # The lock of ``cv`` guards every field of the run (threads, owners, clock,
        # trace, failure). The director waits on ``cv``; each thread parks on its own
        # condition over the same lock, so a step wakes exactly the thread chosen.
        self._guard = _thread.allocate_lock()
        self.cv = DirectorCondition(self._guard)
        self.now = 0.0  # virtual seconds; written by the director while every thread parks
        self.failure: str | None = None
        self.failure_kind = ""
        self.abandoned = False
        self.live = True  # False once the run is over: its threads go on uncontrolled
        self._records: dict[int, ThreadRecord] = {}  # id(thread) -> its record
        self._names: dict[str, int] = {}  # how many objects got each name so far
        # The objects the running step touched so far (see Run.touched).
        self._touching: set[int] = set()

    def step(self, me: ThreadRecord, point: SyncPoint, primitive: SyncPrimitive) -> str | None:
        raise NotImplementedError  # the hook's (Run.step)

    def fail(self, kind: str, message: str) -> None:
        """Fail the run (the first failure wins)."""
        with self.cv:
            if self.failure is None:
                self.failure = message
                self.failure_kind = kind
            self.cv.notify_all()

    def unique_name(self, name: str) -> str:
        """:return: ``name`` for the first object of the run that asks for it, then
        ``name#2``, ``name#3``... (two locks created on one line)."""
        with self.cv:
            count = self._names[name] = self._names.get(name, 0) + 1
        return name if count == 1 else f"{name}#{count}"

    # -- threads entering --

    def record_of(self, thread: threading.Thread) -> ThreadRecord | None:
        """:return: ``thread``'s record in this run, or None (cv held)."""
        return self._records.get(id(thread))

    def _register(self, thread: threading.Thread, user: bool) -> ThreadRecord:
        record = ThreadRecord(self, len(self.threads), thread, user, DirectorCondition(self._guard))
        self.threads.append(record)
        self._records[id(thread)] = record
        self._touching.update((THREADS, id(thread)))
        return record

    def _wrapped(self, record: ThreadRecord, run: Callable[[], object]) -> Callable[[], None]:
        holder = [run]

        def wrapper() -> None:
            set_current_record(record)
            try:
                self.step(record, SyncPoint.THREAD_START, record.thread)
                holder[0]()
            except Abandoned:
                pass
            except BaseException:
                self.fail("error", f"thread {record.label} raised:\n{traceback.format_exc()}")
            finally:
                # Drop what the body gave the thread (as Thread.run drops its target)
                # before the thread counts as done: the objects only it held are freed
                # now, at this point of the schedule, not later in real time (their
                # finalizers change what the other threads see).
                holder.clear()
                vars(record.thread).pop("run", None)
                set_current_record(None)
                with self.cv:
                    record.state = "done"
                    self._touching.add(id(record.thread))
                    self.cv.notify_all()

        return wrapper

    def spawn(self, name: str, fn: Callable[[], object]) -> threading.Thread:
        """Start ``fn`` in a new controlled thread (``Session.spawn``); a parent that is
        a thread of the run parks after starting it (THREAD_START)."""
        thread = threading.Thread(name=name, daemon=True)
        with self.cv:
            record = self._register(thread, user=True)
        setattr(thread, "run", self._wrapped(record, fn))
        real_start(thread)
        parent = current_record()
        if parent is not None and parent.run is self:
            self.step(parent, SyncPoint.THREAD_START, thread)
        return thread

    def adopt(self, thread: threading.Thread) -> None:
        """Control ``thread``, which a thread of the run is about to start."""
        with self.cv:
            if self.record_of(thread) is not None:
                return
            record = self._register(thread, user=not isinstance(thread, TerminatableThread))
        setattr(thread, "run", self._wrapped(record, thread.run))

    # -- threads waiting --

    def join_thread(
        self, me: ThreadRecord, thread: threading.Thread, timeout: float | None
    ) -> bool | None:
        """Park ``me`` until ``thread`` ended, or until ``timeout`` virtual seconds
        passed. :return: True (it ended), False (timed out), or None (the run was given
        up: the caller joins for real)."""
        primitive: SyncPrimitive = thread if timeout is None else Joining(thread, max(0.0, timeout))
        resume = self.step(me, SyncPoint.JOIN, primitive)
        if resume is None:
            return None
        return resume != "timeout"

    def sleep(self, me: ThreadRecord, seconds: float) -> None:
        """``time.sleep(seconds)`` in virtual time: a wait nobody notifies, whose timeout
        the director fires (``sleep(0)`` is a yield point)."""
        if seconds <= 0:
            self.step(me, SyncPoint.YIELD, _SLEEP_0)
            return
        deadline = self.now + seconds
        condition = StdlibCondition(None, "time.sleep", lambda: f"time.sleep until t={deadline}")
        while self.now < deadline:
            token = _thread.allocate_lock()
            token.acquire()
            resume = self.step(me, SyncPoint.BLOCK, Blocked(condition, token, deadline - self.now))
            if resume is None:
                return  # the run was given up

    # -- threads leaving --

    def stacks(self) -> str:
        """:return: the stack of every live controlled thread."""
        frames = sys._current_frames()
        parts = []
        for t in self.threads:
            if t.state == "done" or t.thread.ident not in frames:
                continue
            stack = [
                f
                for f in traceback.extract_stack(frames[t.thread.ident])
                if not _machinery(f.filename)
            ]
            parts.append(
                f"--- thread {t.label} ---\n" + "".join(traceback.format_list(stack[-12:]))
            )
        return "".join(parts)

    def abandon(self) -> None:
        """Give up the run: every parked user thread gets Abandoned, refasync threads go
        on uncontrolled. Threads still running after GRACE_S that loop in Python code are
        stopped with Abandoned; the ones left STOP_S after that (blocked in a C call on an
        object the explorer does not control) are named in the failure."""
        with self.cv:
            self.abandoned = True
            self.live = False
            for t in self.threads:
                t.wakeup.notify()
        left = self._wait_for_end(GRACE_S)
        if not left:
            return
        for t in left:
            if t.user:
                interrupt(t.thread, Abandoned)
        left = [t for t in self._wait_for_end(STOP_S) if t.thread.is_alive()]
        if left:
            names = "; ".join(f"{t.label} at {describe_blocking(t.thread)[1]}" for t in left)
            with self.cv:
                self.failure = (self.failure or "") + f"\nthreads left running: {names}"

    def _wait_for_end(self, seconds: float) -> list[ThreadRecord]:
        """Wait up to ``seconds`` for every thread of the run to end; :return: the rest."""
        with self.cv:
            self.cv.wait_for(lambda: all(t.state == "done" for t in self.threads), seconds)
            return [t for t in self.threads if t.state != "done"]
