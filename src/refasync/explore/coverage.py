"""What an exploration covered: distinct schedules, and distinct interleavings of lock
acquisitions (the sequence of (thread, lock) pairs of a run's granted acquisitions)."""

from __future__ import annotations

import hashlib
import re

from .checkpoint import Fields
from .runtime import RunResult
from .schedule import format_schedule

__all__ = ("Coverage",)

_ACQUISITIONS = ("acquire", "try_acquire")

# Object ids and process-wide serials differ between two runs of one schedule.
_ID_RE = re.compile(r"[0-9a-f]{6,}|\d+")


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class Coverage:
    """The distinct schedules and lock-acquisition interleavings of the runs seen, kept
    as 64-bit digests (so a checkpoint can carry them)."""

    def __init__(self) -> None:
        self.schedules: set[int] = set()
        self.interleavings: set[int] = set()

    def add(self, result: RunResult) -> None:
        self.schedules.add(_digest(format_schedule(result.choices)))
        # Threads by their index in the run: names may carry process-wide serials.
        pairs = [
            f"{e.thread.split(':', 1)[0]}/{_ID_RE.sub('#', e.primitive)}"
            for e in result.events
            if e.point in _ACQUISITIONS and e.choice
        ]
        self.interleavings.add(_digest(",".join(pairs)))

    def state(self) -> dict[str, object]:
        return {"schedules": sorted(self.schedules), "interleavings": sorted(self.interleavings)}

    def restore(self, fields: Fields) -> None:
        self.schedules = set(fields.integers("schedules"))
        self.interleavings = set(fields.integers("interleavings"))
