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


#: The signal :func:`hang_guard` interrupts the main thread with.
GUARD_SIGNAL = getattr(signal, "SIGUSR1", signal.SIGTERM)
#: The name of :func:`hang_guard`'s watcher thread (not a leak: it ends with the block).
GUARD_THREAD_NAME = "refasync-hang-guard"


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
    ``seconds``. Main thread only; elsewhere it only times nothing.

    A watcher thread sends the main thread ``GUARD_SIGNAL`` (SIGUSR1) when the time is up,
    which interrupts a blocking wait there as a real signal does; SIGALRM and the
    interval timer stay free for the code under test and for other plugins
    (pytest-timeout's ``signal`` method).

    Once it has fired, the cleanup on the way out of the block (``finally`` clauses, the
    exits of ``with`` statements: a pool's ``close()``) gets ``cleanup_s`` seconds (by
    default ``seconds``, at most 10), then fails with :class:`Hang` again, as often as it
    takes: the block always ends."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "pthread_kill"
    ):
        yield
        return
    cleanup = min(seconds, 10.0) if cleanup_s is None else cleanup_s
    fired = 0
    over = threading.Event()  # set when the block has ended: a late signal is ignored
    main = threading.get_ident()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if over.is_set():
            return
        fired += 1
        if fired == 1:
            raise Hang(f"{what}: still running after {seconds} s\n{dump_stacks()}")
        stacks = f"\n{dump_stacks()}" if fired == 2 else ""
        raise Hang(
            f"{what}: the cleanup after the hang still running after {cleanup} s "
            f"(interrupted {fired - 1} times){stacks}"
        )

    def watch() -> None:
        limit = seconds
        while not over.wait(limit):
            signal.pthread_kill(main, GUARD_SIGNAL)
            limit = cleanup  # the cleanup's own bound

    previous = signal.signal(GUARD_SIGNAL, on_signal)
    watcher = threading.Thread(target=watch, name=GUARD_THREAD_NAME, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        over.set()
        watcher.join()
        signal.signal(GUARD_SIGNAL, previous)
