"""Telling a controlled thread that runs from one stuck outside the explorer's control.

While a controlled thread runs (between two points) the director waits for it. A thread
that has been asleep in the operating system, using no CPU time, for ``blocked_s``
seconds is blocked on something the explorer does not control (a lock
created outside the body, an outside thread's join, a socket): the run fails at once,
naming the object. On systems without ``/proc/self/task`` only the ``stall_s`` bound
applies: a thread that runs that long without reaching a point (a long computation, or
a loop that polls outside the explorer) fails the run too.
"""

from __future__ import annotations

import linecache
import os
import re
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

from .threads import ThreadRecord

__all__ = ("Watch", "describe_blocking", "interrupt")

#: How often the director samples the state of a running thread, in wall seconds.
SAMPLE_S = 0.02

# The standard library's blocking calls sit in these modules: a stuck thread is
# described by the object it called, in the first frame outside them.
_STDLIB_MODULES = frozenset({"threading", "queue"})
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z_0-9]*(?:\.[A-Za-z_][A-Za-z_0-9]*)*")

_wall_clock = time.monotonic  # the director's own clock: never the virtual one


def _os_state(thread: threading.Thread) -> tuple[str, int] | None:
    """:return: the thread's scheduler state letter (R running, S or D asleep) and the
    CPU time it used so far (clock ticks), or None where the system does not tell."""
    native_id = thread.native_id
    if native_id is None:
        return None
    try:
        with open(f"/proc/self/task/{native_id}/stat", encoding="ascii") as f:
            text = f.read()
    except (OSError, ValueError):
        return None
    fields = text[text.rfind(")") + 2 :].split()
    if len(fields) < 13 or not (fields[11].isdigit() and fields[12].isdigit()):
        return None
    return fields[0], int(fields[11]) + int(fields[12])  # state, utime + stime


class Watch:
    """Samples the running threads while the director waits for them to reach a point."""

    def __init__(self, stall_s: float, blocked_s: float) -> None:
        self.stall_s = stall_s
        self.blocked_s = blocked_s
        self.reset()

    def reset(self) -> None:
        """The director starts waiting for the threads it let run."""
        self.started = _wall_clock()
        self._next_sample = self.started + SAMPLE_S
        # tid -> (CPU ticks used, since when the thread sleeps without using more)
        self._asleep: dict[int, tuple[int, float]] = {}

    def check(self, busy: Sequence[ThreadRecord]) -> str | None:
        """:return: why the run fails (uncontrolled blocking), or None to keep waiting."""
        now = _wall_clock()
        if now - self.started > self.stall_s:
            where = "; ".join(f"{t.label} at {describe_blocking(t.thread)[1]}" for t in busy)
            return (
                f"uncontrolled blocking: {where}: ran {self.stall_s} s without reaching "
                f"a scheduling point (a long computation, or a wait outside the "
                f"explorer's control)"
            )
        if now < self._next_sample:
            return None
        self._next_sample = now + SAMPLE_S
        # Never the threads' frames here: a frame object referenced while its function
        # returns keeps the function's locals alive until it is dropped, and would free
        # them later, in this thread, at a moment no schedule decides.
        for t in busy:
            state = _os_state(t.thread)
            if state is None or state[0] not in "SD":
                self._asleep.pop(t.tid, None)
                continue
            used = state[1]
            previous = self._asleep.get(t.tid)
            if previous is None or previous[0] != used:
                self._asleep[t.tid] = (used, now)
            elif now - previous[1] >= self.blocked_s:
                what, site = describe_blocking(t.thread)
                return (
                    f"uncontrolled blocking: {t.label} is blocked at {site} on {what}, "
                    f"which the explorer does not control (an object created outside "
                    f"the explored body, or through a name bound before it, such as "
                    f"`from threading import Lock`)"
                )
        return None


def describe_blocking(thread: threading.Thread) -> tuple[str, str]:
    """:return: what ``thread`` is blocked on and where (``file:line `source```), from
    its stack: the standard-library object it called, or the objects its line names."""
    frame = sys._current_frames().get(thread.ident or 0)
    return describe_frame(frame)


def describe_frame(frame: FrameType | None) -> tuple[str, str]:
    """:return: (what, where) for a thread stopped in ``frame`` (see describe_blocking)."""
    called: object = None
    while frame is not None and frame.f_globals.get("__name__") in _STDLIB_MODULES:
        called = frame.f_locals.get("self", called)
        frame = frame.f_back
    if frame is None:
        return ("?", "?")
    code = frame.f_code
    line = linecache.getline(code.co_filename, frame.f_lineno).strip()
    site = f"{os.path.basename(code.co_filename)}:{frame.f_lineno} `{line}`"
    if called is not None:
        return (_kind(called), site)
    for name in _NAME_RE.findall(line):
        value = _resolve(frame, name)
        if value is not None and _blocks(value):
            return (f"{name} ({_kind(value)})", site)
    return (f"a call at {site}", site)


def _resolve(frame: FrameType, dotted: str) -> object | None:
    first, *rest = dotted.split(".")
    scopes = (frame.f_locals, frame.f_globals)
    value = next((scope[first] for scope in scopes if first in scope), None)
    for attribute in rest:
        if value is None:
            return None
        value = getattr(value, attribute, None)
    return value


def _blocks(value: object) -> bool:
    return isinstance(value, threading.Thread) or any(
        callable(getattr(value, method, None)) for method in ("acquire", "wait", "get")
    )


def _kind(value: object) -> str:
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if isinstance(value, threading.Thread):
        return f"{kind} {value.name!r}"
    return f"a {kind}"


def interrupt(thread: threading.Thread, exc: type[BaseException]) -> bool:
    """Raise ``exc`` in ``thread`` at its next bytecode (CPython's
    ``PyThreadState_SetAsyncExc``): stops a thread that loops in Python code, not one
    blocked in a C call. :return: whether the exception was set."""
    ident = thread.ident
    if ident is None or not thread.is_alive():
        return False
    import ctypes

    set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    return int(set_async_exc(ctypes.c_ulong(ident), ctypes.py_object(exc))) == 1
