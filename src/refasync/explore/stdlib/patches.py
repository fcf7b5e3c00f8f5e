"""Putting the explorer's versions of the standard library in place while a run is on.

Only the threads of the run see them; every other thread (the test's, another pool's
idle workers) keeps the real clock and real locks:

* ``threading.Lock``, ``RLock`` and ``Condition`` and ``queue.SimpleQueue`` become
  factories that make the explorer's versions for a thread of the run (and the standard
  library's for any other thread, for refasync itself and for a ``Thread``'s own
  bookkeeping); ``isinstance`` accepts both;
* ``time.sleep``, ``time.monotonic``, ``time.time`` and ``time.perf_counter`` (and their
  ``_ns`` forms) read and advance the run's virtual clock in its threads; so do the
  standard library's own names for the clock (``threading._time``, ``queue.time``), so
  ``Event``, ``Semaphore``, ``Barrier`` and ``queue.Queue`` time out virtually;
* ``threading.Thread.start`` adopts a thread that a thread of the run starts,
  ``Thread.join`` of an adopted thread is a scheduling point (with a virtual timeout),
  and its ``is_alive`` says what the director saw;
* a thread of the run that would block in the wait of a ``threading.Condition`` the
  explorer does not control (an ``Event``, ``Queue`` or ``Semaphore`` created outside
  the body) fails the run at once, naming the object, instead of blocking.

Only names looked up at call time are replaced: a name bound before the exploration
(``from threading import Lock``, ``from time import sleep``) keeps the real object.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

from ...thread import TerminatableThread
from ..errors import Abandoned
from ..runtime import StdlibLock, current_record
from ..runtime.lifecycle import real_start
from ..runtime.watch import describe_frame
from .primitives import ControlledCondition, ControlledLock, ControlledRLock, ControlledSimpleQueue

__all__ = ("VIRTUAL_EPOCH", "controlled_origin", "installed")

#: What ``time.time()`` returns at the start of every explored run: a fixed instant, so
#: that a run is a function of its schedule.
VIRTUAL_EPOCH = 1_700_000_000.0

_real_monotonic = time.monotonic
_real_sleep = time.sleep
_real_join = threading.Thread.join
_real_is_alive = threading.Thread.is_alive
_RealCondition = threading.Condition
_real_wait = _RealCondition.wait
_REAL_FACTORIES = (
    (threading, "Lock", threading.Lock, ControlledLock),
    (threading, "RLock", threading.RLock, ControlledRLock),
    (threading, "Condition", _RealCondition, ControlledCondition),
    (queue, "SimpleQueue", queue.SimpleQueue, ControlledSimpleQueue),
)

# Frames of the standard library's threading and queue modules: the object a controlled
# thread creates or waits on is described by the outermost of them.
_STDLIB_MODULES = frozenset({"threading", "queue"})
# A Thread's own bookkeeping (its "started" Event) stays the standard library's.
_BOOKKEEPING = frozenset({threading.Thread.__init__.__code__})


def controlled_origin(kind: str, depth: int = 2) -> str | None:
    """:return: where a primitive that the caller ``depth`` frames up creates comes from
    (``"threading.Event@test_x.py:12"``), if it is to be the explorer's version: a thread
    of a run creates it, outside refasync and outside a Thread's bookkeeping; else None."""
    record = current_record()
    if record is None:
        return None
    frame: FrameType | None = sys._getframe(depth)
    while frame is not None and frame.f_globals.get("__name__") in _STDLIB_MODULES:
        if frame.f_code in _BOOKKEEPING:
            return None
        owner = frame.f_locals.get("self")
        if owner is not None:
            kind = f"{type(owner).__module__}.{type(owner).__qualname__}"
        frame = frame.f_back
    if frame is None:
        return None
    module = str(frame.f_globals.get("__name__", ""))
    if module == "refasync" or module.startswith("refasync."):
        return None
    return f"{kind}@{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


class _Factory(type):
    """The type of a stand-in for a standard-library primitive: calling it makes the
    explorer's version in a thread of a run, the standard library's otherwise."""

    kind: str
    real: Callable[..., object]
    controlled: type

    def __call__(cls, *args: object, **kwargs: object) -> object:
        origin = controlled_origin(cls.kind)
        record = current_record()
        if origin is None or record is None:
            return cls.real(*args, **kwargs)
        lock = args[0] if args else kwargs.get("lock")
        # A Condition over one of the explorer's locks is named after it: an Event's
        # lock and condition read as one object in a trace.
        name = lock.name if isinstance(lock, StdlibLock) else record.run.unique_name(origin)
        return cls.controlled(*args, name=name, **kwargs)

    def __instancecheck__(cls, instance: object) -> bool:
        real = cls.real
        return isinstance(instance, cls.controlled) or (
            isinstance(real, type) and isinstance(instance, real)
        )


def _factory(kind: str, real: Callable[..., object], controlled: type) -> type:
    return _Factory(
        kind.rpartition(".")[2],
        (),
        {
            "kind": kind,
            "real": real,
            "controlled": controlled,
            "__module__": kind.rpartition(".")[0],
            "__doc__": getattr(real, "__doc__", None),
        },
    )


_FACTORIES: list[tuple[object, str, object]] = [
    (module, name, _factory(f"{module.__name__}.{name}", real, controlled))
    for module, name, real, controlled in _REAL_FACTORIES
]


# -- virtual time ----------------------------------------------------------------------


def _virtual_now() -> float | None:
    record = current_record()
    return None if record is None else record.run.now


def monotonic() -> float:
    """``time.monotonic``: the run's virtual clock in its threads."""
    now = _virtual_now()
    return _real_monotonic() if now is None else now


def _virtual(real: Callable[[], float], offset: float) -> Callable[[], float]:
    def clock() -> float:
        now = _virtual_now()
        return real() if now is None else offset + now

    clock.__name__ = real.__name__
    clock.__doc__ = real.__doc__
    return clock


def _virtual_ns(real: Callable[[], int], offset: float) -> Callable[[], int]:
    def clock() -> int:
        now = _virtual_now()
        return real() if now is None else round((offset + now) * 1e9)

    clock.__name__ = real.__name__
    clock.__doc__ = real.__doc__
    return clock


def sleep(seconds: float) -> None:
    """``time.sleep``: a wait in virtual time in a thread of a run."""
    record = current_record()
    if record is None:
        _real_sleep(seconds)
        return
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        _real_sleep(seconds)  # the standard library's TypeError
        return
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    record.run.sleep(record, float(seconds))


# -- threads ---------------------------------------------------------------------------


def _start(thread: threading.Thread) -> None:
    record = current_record()
    if record is not None:
        record.run.adopt(thread)
    real_start(thread)


def _join(thread: threading.Thread, timeout: float | None = None) -> None:
    record = current_record()
    if record is None or isinstance(thread, TerminatableThread):
        return _real_join(thread, timeout)  # a refasync thread reports its own join
    run = record.run
    with run.cv:
        adopted = run.record_of(thread) is not None
    ended = run.join_thread(record, thread, timeout) if adopted else None
    if ended is None:
        _real_join(thread, timeout)
    elif ended:
        _real_join(thread)  # its wrapper ended: only the interpreter's bookkeeping is left


def _is_alive(thread: threading.Thread) -> bool:
    """``Thread.is_alive``: for a thread of the run, asked by a thread of the run, what
    the director saw (the thread is over once its wrapper said so, not once the
    interpreter finished it, which happens later in real time)."""
    record = current_record()
    if record is not None:
        with record.run.cv:
            target = record.run.record_of(thread)
            if target is not None:
                return target.state != "done"
    return _real_is_alive(thread)


def _starting_a_thread(frame: FrameType | None) -> bool:
    """:return: whether ``frame`` is in ``Thread.start`` (waiting for the new thread's
    "started" Event), or called from it within the threading module."""
    while frame is not None and frame.f_globals.get("__name__") == "threading":
        if frame.f_code is real_start.__code__:
            return True
        frame = frame.f_back
    return False


def _uncontrolled_wait(condition: threading.Condition, timeout: float | None = None) -> bool:
    record = current_record()
    if (
        record is None
        or (timeout is not None and timeout <= 0)
        or _starting_a_thread(sys._getframe(1))
    ):
        return _real_wait(condition, timeout)
    what, site = describe_frame(sys._getframe(1))
    record.run.fail(
        "uncontrolled",
        (
            f"uncontrolled blocking: {record.label} would block at {site} on {what}, which "
            f"the explorer does not control (created outside the explored body, or through "
            f"a name bound before it, such as `from threading import Condition`)"
        ),
    )
    raise Abandoned()


# -- installing ------------------------------------------------------------------------

_exclusive = threading.Lock()  # held while a run's patches are in place


def _replacements(stdlib: bool) -> list[tuple[object, str, object]]:
    """:return: (owner, attribute, replacement) for every name the explorer replaces."""
    out: list[tuple[object, str, object]] = [
        (threading.Thread, "start", _start),
        (threading.Thread, "join", _join),
        (threading.Thread, "is_alive", _is_alive),
    ]
    if not stdlib:
        return out
    out += _FACTORIES
    out += [
        (_RealCondition, "wait", _uncontrolled_wait),
        (time, "sleep", sleep),
        (time, "monotonic", monotonic),
        (time, "time", _virtual(time.time, VIRTUAL_EPOCH)),
        (time, "perf_counter", _virtual(time.perf_counter, 0.0)),
        (time, "monotonic_ns", _virtual_ns(time.monotonic_ns, 0.0)),
        (time, "time_ns", _virtual_ns(time.time_ns, VIRTUAL_EPOCH)),
        (time, "perf_counter_ns", _virtual_ns(time.perf_counter_ns, 0.0)),
    ]
    out += [
        (module, name, monotonic)
        for module, name in ((threading, "_time"), (queue, "time"))
        if getattr(module, name, None) is _real_monotonic
    ]
    return out


@contextlib.contextmanager
def installed(stdlib: bool) -> Iterator[None]:
    """Put the replacements in place for one run (``stdlib``: the primitives and the
    clock too, not only thread adoption), and restore the originals after.

    :raise RuntimeError: if another run's are in place (one exploration at a time)
    """
    if not _exclusive.acquire(False):
        raise RuntimeError(
            "refasync.explore runs one exploration at a time per process "
            "(explore() was called while another run was on)"
        )
    saved: list[tuple[object, str, object]] = []
    try:
        for owner, name, replacement in _replacements(stdlib):
            saved.append((owner, name, vars(owner)[name]))
            setattr(owner, name, replacement)
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)
        _exclusive.release()
