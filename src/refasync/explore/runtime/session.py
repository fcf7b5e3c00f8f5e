"""What an explored body gets: thread spawning, joining, invariants and the model's view."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ... import util
from ...util import HSCondition, Lock, SyncPoint
from .threads import POLL, current_record

if TYPE_CHECKING:
    from .run import Run

__all__ = ("Session",)


class Session:
    """What an explored function gets: thread spawning, joining and invariants."""

    def __init__(self, run: Run) -> None:
        self._run = run

    def spawn(self, name: str, fn: Callable[[], object]) -> threading.Thread:
        """Start ``fn`` in a controlled thread; an exception in it fails the run."""
        return self._run.spawn(name, fn)

    def join(self, thread: threading.Thread) -> None:
        """Wait until ``thread`` ended (``thread.join()``: a scheduling point for a
        thread of the run)."""
        thread.join()

    def invariant(self, check: Callable[[], str | None]) -> None:
        """Check ``check`` at every switch: it returns None, or a message that fails the run.
        It runs in the director while every controlled thread is parked."""
        self._run.invariants.append(check)

    def waiting_on(self, condition: HSCondition) -> int:
        """:return: how many parked threads wait on ``condition`` and were not notified
        (for invariants such as "a writer waits only on a full channel")."""
        return self._run.waiting_on(condition)

    def in_flight(self, lock: Lock) -> int:
        """:return: how many parked threads are on their way into ``lock``: parked before
        taking it, just after releasing it, or notified by a condition on it and not yet
        back."""
        return self._run.in_flight(lock)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Faults (``faults=True``) are injected only inside these blocks: wrap the
        operations whose interruption the caller handles (e.g. retries).

        :raise RuntimeError: outside the run's own threads
        """
        record = current_record()
        if record is None or record.run is not self._run:
            raise RuntimeError("Session.interruptible() is for the threads of the run")
        record.interruptible += 1
        try:
            yield
        finally:
            record.interruptible -= 1

    def pause(self) -> None:
        """A polling loop's step: let other threads run (pct lowers this thread)."""
        hook = util.get_sync_hook()
        if hook is not None:
            hook(SyncPoint.YIELD, POLL)

    def now(self) -> float:
        """:return: the run's virtual time."""
        return self._run.now

    @property
    def step(self) -> int:
        return self._run.steps
