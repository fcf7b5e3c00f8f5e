"""S8: every refasync critical section takes its lock in a ``with`` block, because a
signal handler raising just after ``acquire()`` returns leaves an explicitly acquired
lock held, and never a lock taken by ``with`` (benchmarks/signal_window.py)."""

from __future__ import annotations

import ast
import pathlib
import signal
import threading

import pytest

import refasync
from benchmarks.signal_window import _explicit, _with_block, leaks


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer (POSIX)")
def test_a_signal_leaves_an_explicitly_acquired_lock_held_never_a_with_block() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run in the main thread only")
    assert leaks(_with_block, 300) == 0
    assert leaks(_explicit, 300) > 0  # the check has teeth: the window exists


#: Where refasync calls ``acquire()`` itself: the sync layer's primitives (a ``Lock``'s own
#: methods, ``completing``, ``HSCondition``'s acquire and its waits, which re-take the lock
#: in a ``finally``) and the fork handler that holds every pool lock across ``os.fork()``.
ALLOWED_ACQUIRES = {
    "sync.Lock.acquire", "sync.Lock.__enter__", "sync.completing.__enter__",
    "sync.HSCondition.acquire", "sync.HSCondition.wait", "sync.HSCondition._reacquire_after_wait",
    "pool._before_fork",
}


def explicit_acquires(source: str, module: str) -> set[str]:
    """:return: the qualified names of the functions in ``source`` that call ``acquire``."""
    found: set[str] = set()

    def visit(node: ast.AST, scope: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, scope + [child.name])
                continue
            if (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                    and child.func.attr == "acquire"):
                found.add(".".join([module] + scope))
            visit(child, scope)

    visit(ast.parse(source), [])
    return found


def test_refasync_takes_its_locks_in_with_blocks_outside_the_sync_primitives() -> None:
    # The check has teeth: an explicit acquire in a critical section is found.
    assert explicit_acquires(
        "class Q:\n    def put(self):\n        self.mutex.acquire()\n        try:\n"
        "            pass\n        finally:\n            self.mutex.release()\n",
        "queues") == {"queues.Q.put"}
    package = pathlib.Path(refasync.__file__).parent
    found = set().union(*(explicit_acquires(path.read_text(), path.stem)
                          for path in sorted(package.glob("*.py"))))
    assert found <= ALLOWED_ACQUIRES, sorted(found - ALLOWED_ACQUIRES)
