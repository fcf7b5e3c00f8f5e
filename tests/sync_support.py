"""What the unit tests of blocking code share: a recording sync hook, the fixture that
runs a test both without a hook and under one, and how a test learns that a thread is
blocked without a hook (its waiter is registered with the condition).

Every test that blocks runs twice (``sync_hook``): with no hook installed, the program
users run, and under a recording hook, the program the stress harness and the explorer
see; the assertions are the same. Waits on other threads are bounded; "the thread is
now blocked" is learnt from the condition's registered waiters, never from a sleep.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable

from refasync.testing import Hang, dump_stacks
from refasync.util import HSCondition, SyncPoint, SyncPrimitive

__all__ = ("BOUND_S", "HookRecorder", "join_or_fail", "start_thread", "wait_for_waiters")

BOUND_S = 10.0  # generous bound for anything another thread must do


class HookRecorder:
    """A sync hook that records (point, primitive name, thread) and can signal once a
    point on a named primitive was reached a given number of times, optionally by one
    thread (other tests may leave threads that wait on primitives of the same name).

    It takes only stdlib locks (a hook must not take refasync locks). With
    ``keep_events=False`` it only counts (for long tests run under it: ``sync_hook``)."""

    def __init__(self, spurious_waits: bool = False, keep_events: bool = True) -> None:
        self.events: list[tuple[SyncPoint, str, int]] = []
        self.keep_events = keep_events
        self.spurious_waits = spurious_waits  # True: every WAIT becomes a spurious wake-up
        self._watches: list[tuple[SyncPoint, str, int | None, int, threading.Event]] = []
        # (point, name, thread ident or None for all threads) -> times seen.
        self._counts: Counter[tuple[SyncPoint, str, int | None]] = Counter()
        self._guard = threading.Lock()  # guards events, _watches and _counts
        if hasattr(os, "register_at_fork"):  # a forked child may call it: a fresh guard
            os.register_at_fork(after_in_child=functools.partial(_renew_guard, weakref.ref(self)))

    def __call__(self, point: SyncPoint, primitive: SyncPrimitive) -> bool:
        with self._guard:
            me = threading.get_ident()
            if self.keep_events:
                self.events.append((point, primitive.name, me))
            self._counts[(point, primitive.name, me)] += 1
            self._counts[(point, primitive.name, None)] += 1
            for w_point, w_name, w_ident, times, event in self._watches:
                if self._count_locked(w_point, w_name, w_ident) >= times:
                    event.set()
        return self.spurious_waits and point is SyncPoint.WAIT

    def watch(
        self, point: SyncPoint, name: str, times: int = 1, thread: threading.Thread | None = None
    ) -> threading.Event:
        """:return: an event set once ``point`` on ``name`` was seen ``times`` times in
        total (counting those already seen), from ``thread`` if given."""
        event = threading.Event()
        ident = None if thread is None else thread.ident
        with self._guard:
            if self._count_locked(point, name, ident) >= times:
                event.set()
            self._watches.append((point, name, ident, times, event))
        return event

    def count(self, point: SyncPoint, name: str, thread: threading.Thread | None = None) -> int:
        with self._guard:
            return self._count_locked(point, name, None if thread is None else thread.ident)

    def _count_locked(self, point: SyncPoint, name: str, ident: int | None) -> int:
        return self._counts[(point, name, ident)]

    def points(self) -> set[SyncPoint]:
        with self._guard:
            return {point for point, _, _ in self.events}

    def by_thread(self, thread: threading.Thread) -> list[tuple[SyncPoint, str]]:
        with self._guard:
            return [(p, n) for p, n, t in self.events if t == thread.ident]


def _renew_guard(recorder: weakref.ref[HookRecorder]) -> None:
    alive = recorder()
    if alive is not None:
        alive._guard = threading.Lock()


def start_thread(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def join_or_fail(thread: threading.Thread, what: str) -> None:
    thread.join(BOUND_S)
    assert not thread.is_alive(), f"{what}: thread still running after {BOUND_S} s"


def wait_for_waiters(condition: HSCondition, count: int = 1, what: str = "waiters") -> None:
    """Return once at least ``count`` threads wait on ``condition``: each registered as a
    waiter and released the lock inside ``wait()``, so a notify from now on reaches it.
    This needs no hook; a thread that has not got there within BOUND_S fails the test
    with every thread's stack."""
    deadline = time.monotonic() + BOUND_S
    while True:
        with condition:
            if len(condition._waiters) >= count:
                return
        if time.monotonic() > deadline:
            raise Hang(
                f"{what}: fewer than {count} waiting on {condition.name} after "
                f"{BOUND_S} s\n{dump_stacks()}"
            )
        time.sleep(0.001)  # polling a state, not waiting for a time to pass
