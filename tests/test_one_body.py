"""The hook observes; it never decides (S5): library code outside ``refasync.sync`` never
tests whether a hook is installed, so the program the checks run under a hook is the
program users run without one.

The check parses the library's sources: a module that reads the hook (``_hook``,
``get_sync_hook``, a mirror of it) could branch on it. It is shown to catch planted
branches, in snippets and in a copy of a real module.
"""

from __future__ import annotations

import ast
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

import refasync
from refasync.sync import Lock, SyncHook, SyncPoint, SyncPrimitive, registry, set_sync_hook

SRC = Path(refasync.__file__).parent

#: The library: every module users run. ``sync`` is the one place that decides what a
#: lock block reports; ``explore``, ``pytest_plugin`` and ``testing`` are tools that
#: install hooks, not code under test.
NOT_LIBRARY = {"explore.py", "pytest_plugin.py", "testing.py"}

#: Names through which a module could see the installed hook.
HOOK_NAMES = {"_hook", "installed", "get_sync_hook", "mirror_hook", "_hook_mirrors"}


def hook_reads(source: str, filename: str = "<source>") -> list[str]:
    """:return: ``file:line name`` for every read of the hook in ``source`` (imports are
    not reads: ``util`` re-exports ``get_sync_hook`` for users)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Name) and node.id in HOOK_NAMES:
            found.append(f"{filename}:{node.lineno} {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in HOOK_NAMES:
            found.append(f"{filename}:{node.lineno} {node.attr}")
    return found


def library_modules() -> list[Path]:
    return sorted(p for p in SRC.glob("*.py") if p.name not in NOT_LIBRARY)


def test_no_library_module_outside_sync_tests_whether_a_hook_is_installed() -> None:
    modules = library_modules()
    assert {"queues.py", "channel.py", "task.py", "pool.py", "thread.py"} <= {
        p.name for p in modules
    }
    found = [read for path in modules for read in hook_reads(path.read_text(), path.name)]
    assert found == [], "library code reads the sync hook (decide in refasync.sync):\n" + "\n".join(
        found
    )


@pytest.mark.parametrize(
    "planted",
    [
        "def put(self):\n    with self._raw if _hook is None else self.mutex:\n        pass\n",
        "from . import util\nif util.get_sync_hook() is not None:\n    report()\n",
        "from . import sync\ndef poke(self):\n    if sync._hook:\n        notify()\n",
        "from .sync import get_sync_hook\nhook = get_sync_hook()\n",
        "_sync.mirror_hook(globals())\n",
    ],
)
def test_the_check_finds_a_planted_hook_branch(planted: str) -> None:
    assert hook_reads(planted)


def test_the_check_finds_a_branch_planted_in_a_real_module() -> None:
    source = (SRC / "queues.py").read_text()
    site = "        with self.mutex.held:\n            if not self._writable:"
    assert source.count(site) == 1
    planted = source.replace(
        site,
        (
            "        from refasync import sync\n"
            "        with self.mutex.raw if sync.get_sync_hook() is None else self.mutex:\n"
            "            if not self._writable:"
        ),
    )
    assert hook_reads(source, "queues.py") == []
    assert hook_reads(planted, "queues.py") == [
        "queues.py:"
        + str(planted[: planted.index("sync.get_sync_hook")].count("\n") + 1)
        + " get_sync_hook"
    ]


# --- the one place that decides: Lock.held and Lock.completing ---------------------------


class Interrupt(BaseException):
    """Raised by the test hooks below."""


def recording_hook(
    events: list[tuple[SyncPoint, str]], raise_at: SyncPoint | None = None
) -> SyncHook:
    def hook(point: SyncPoint, primitive: SyncPrimitive) -> bool:
        events.append((point, primitive.name))
        if point is raise_at:
            raise Interrupt(point.value)
        return False

    return hook


@pytest.fixture
def restore_hook() -> Iterator[None]:
    previous = set_sync_hook(None)
    try:
        yield
    finally:
        set_sync_hook(previous)


@pytest.mark.usefixtures("restore_hook")
def test_set_sync_hook_switches_the_guards_of_every_live_lock() -> None:
    locks = [Lock(f"l{i}") for i in range(3)]
    for lock in locks:  # no hook: the raw lock itself, nothing between
        assert lock.held is lock.completing is lock.raw
    events: list[tuple[SyncPoint, str]] = []
    set_sync_hook(recording_hook(events))
    later = Lock("later")  # made while a hook is installed
    for lock in [*locks, later]:
        assert lock.held is lock
        with lock.held:
            assert lock.locked()
        with lock.completing:
            pass
        assert events[-4:] == [(SyncPoint.ACQUIRE, lock.name), (SyncPoint.RELEASE, lock.name)] * 2
    set_sync_hook(recording_hook(events))  # another hook: the guards stay reporting
    assert later.held is later
    set_sync_hook(None)
    for lock in [*locks, later]:
        assert lock.held is lock.completing is lock.raw
    count = len(events)
    with later.held:
        pass
    assert len(events) == count


@pytest.mark.usefixtures("restore_hook")
@pytest.mark.parametrize("point", [SyncPoint.ACQUIRE, SyncPoint.RELEASE])
def test_completing_raises_the_hooks_interrupt_after_the_block(point: SyncPoint) -> None:
    lock = Lock("l")
    events: list[tuple[SyncPoint, str]] = []
    set_sync_hook(recording_hook(events, raise_at=point))
    done = []
    with pytest.raises(Interrupt, match=point.value):
        with lock.completing:
            done.append(True)
    assert done == [True] and not lock.locked()
    with pytest.raises(ValueError):  # the block's own exception wins
        with lock.completing:
            raise ValueError("from the block")
    assert not lock.locked()
    with pytest.raises(Interrupt):  # held: the interrupt comes at once, at its point
        with lock.held:
            done.append(True)
    assert done == [True, True] if point is SyncPoint.RELEASE else done == [True]
    assert not lock.locked()


def test_collected_locks_leave_the_registry() -> None:
    # Enough locks to reach the pruning length whatever earlier tests left it at (it is
    # twice the locks alive at the last pruning: a test with 10,000 tasks raises it).
    made = registry.limit() + 2 * 1024
    for _ in range(made):
        Lock("short-lived")
    gc.collect()
    Lock("one more")
    assert sum(1 for ref in registry.live_locks if ref() is None) <= registry.limit()
    assert len(registry.live_locks) < made
