"""The library's clock: every deadline in refasync is read from :func:`monotonic`, which a
controlled scheduler can make virtual with :func:`set_clock`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ("TIMEOUT_MAX", "monotonic", "set_clock")

#: Timeouts at or above this (``float('inf')`` included) mean "no limit": a lock cannot
#: wait longer, and ``acquire`` would raise ``OverflowError`` deep inside a read.
TIMEOUT_MAX = threading.TIMEOUT_MAX

_clock: Callable[[], float] = time.monotonic


def monotonic() -> float:
    """:return: the library's clock, in seconds. Every deadline in refasync is computed
    from it, so a controlled scheduler can make time virtual with :func:`set_clock`."""
    return _clock()


def set_clock(clock: Callable[[], float] | None) -> Callable[[], float]:
    """Make ``clock`` the library's clock (None restores ``time.monotonic``).

    :return: the previous clock
    """
    global _clock
    if clock is not None and not callable(clock):
        raise TypeError(f"clock must be a callable returning seconds or None, got {clock!r}")
    previous = _clock
    _clock = time.monotonic if clock is None else clock
    return previous
