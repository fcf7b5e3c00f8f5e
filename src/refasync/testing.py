"""Helpers for tests, models and the stress harness: turn a hang into a failure that
shows every thread's stack.

Nothing in the library proper imports this module.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TypeVar

__all__ = ("Hang", "dump_stacks", "hang_guard", "run_bounded", "wait_or_fail")

R = TypeVar("R")


class Hang(AssertionError):
    """A bounded wait expired: the message holds every thread's stack."""


def dump_stacks() -> str:
    """:return: the current stack of every thread, as text."""
    names = {t.ident: t.name for t in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        parts.append(f"--- thread {names.get(ident, '?')} ({ident}) ---\n")
        parts.append("".join(traceback.format_stack(frame)))
    return "".join(parts)


def wait_or_fail(event: threading.Event, seconds: float, what: str) -> None:
    """Wait for ``event``; after ``seconds`` raise :class:`Hang` with every stack."""
    if not event.wait(seconds):
        raise Hang(f"{what}: not done after {seconds} s\n{dump_stacks()}")


def run_bounded(fn: Callable[[], R], seconds: float, what: str) -> R:
    """Run ``fn`` in a daemon thread; :return: its result, re-raise its exception, or
    raise :class:`Hang` with every stack if it has not finished after ``seconds``."""
    done = threading.Event()
    result: list[R] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller
            error.append(exc)
        finally:
            done.set()

    threading.Thread(target=target, name=f"bounded:{what}", daemon=True).start()
    wait_or_fail(done, seconds, what)
    if error:
        raise error[0]
    return result[0]


@contextlib.contextmanager
def hang_guard(
    seconds: float, what: str = "test", cleanup_s: float | None = None
) -> Iterator[None]:
    """Fail the block with :class:`Hang` (and every thread's stack) if it runs longer than
    ``seconds``. Main thread only (it uses SIGALRM); elsewhere it only times nothing.

    Once it has fired, the cleanup on the way out of the block (``finally`` clauses, the
    exits of ``with`` statements: a pool's ``close()``) gets ``cleanup_s`` seconds (by
    default ``seconds``, at most 10), then fails with :class:`Hang` again, as often as it
    takes: the block always ends."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return
    cleanup = min(seconds, 10.0) if cleanup_s is None else cleanup_s
    fired = 0

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        fired += 1
        signal.setitimer(signal.ITIMER_REAL, cleanup)  # the cleanup's own bound
        if fired == 1:
            raise Hang(f"{what}: still running after {seconds} s\n{dump_stacks()}")
        stacks = f"\n{dump_stacks()}" if fired == 2 else ""
        raise Hang(
            f"{what}: the cleanup after the hang still running after {cleanup} s "
            f"(interrupted {fired - 1} times){stacks}"
        )

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
