"""Why refasync takes every lock in a ``with`` block, though an explicit ``acquire()`` then
``try``/``finally: release()`` costs about half as much (``benchmarks.bounds``): a signal
handler that raises (``KeyboardInterrupt``) just after ``acquire()`` returns, before the
``try`` begins, leaves the lock held. ``with`` leaves no such window.

``python -m benchmarks.signal_window [--trials 2000]`` interrupts each pattern with a
SIGALRM every 0.1 ms and counts the interrupts after which the lock was still held. Main
thread only (signal handlers run there); POSIX only (``setitimer``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence

__all__ = ("leaks", "main")


class _Interrupt(BaseException):
    pass


def _raise(signum: int, frame: object) -> None:
    raise _Interrupt


def _explicit(lock: threading.Lock) -> None:
    while True:
        lock.acquire()
        try:
            pass
        finally:
            lock.release()


def _with_block(lock: threading.Lock) -> None:
    while True:
        with lock:
            pass


def leaks(pattern: Callable[[threading.Lock], None], trials: int) -> int:
    """:return: how many of ``trials`` interrupts of ``pattern`` left its lock held."""
    lock = threading.Lock()
    previous = signal.signal(signal.SIGALRM, _raise)
    held = 0
    try:
        for _ in range(trials):
            try:
                signal.setitimer(signal.ITIMER_REAL, 0.0001)
                pattern(lock)
            except _Interrupt:
                pass
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if lock.locked():
                held += 1
                lock.release()
    finally:
        signal.signal(signal.SIGALRM, previous)
    return held


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.signal_window")
    parser.add_argument("--trials", type=int, default=2000)
    args = parser.parse_args(argv)
    if not hasattr(signal, "setitimer"):
        print("needs signal.setitimer (POSIX)")
        return 2
    print(f"Python {sys.version.split()[0]}: interrupts after which the lock stayed held")
    for name, pattern in (
        ("acquire(); try: ... finally: release()", _explicit),
        ("with lock: ...", _with_block),
    ):
        print(f"  {leaks(pattern, args.trials):5d} of {args.trials}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
