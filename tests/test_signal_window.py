"""Why every refasync lock is taken in a ``with`` block (benchmarks/bounds.py, S8): a
signal handler raising just after ``acquire()`` returns leaves an explicitly acquired
lock held, and never a lock taken by ``with``."""

from __future__ import annotations

import signal
import threading

import pytest

from benchmarks.signal_window import _explicit, _with_block, leaks


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer (POSIX)")
def test_a_signal_leaves_an_explicitly_acquired_lock_held_never_a_with_block() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run in the main thread only")
    assert leaks(_with_block, 300) == 0
    assert leaks(_explicit, 300) > 0  # the check has teeth: the window exists
