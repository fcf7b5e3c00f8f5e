"""The races of one run, for source-DPOR (Abdulla, Aronis, Jonsson, Sagonas, POPL 2014).

A run is a sequence of steps; step ``k`` is taken by thread ``tids[k]`` and touched the
objects ``touched[k]`` (:attr:`refasync.explore.Run.touched`). Two steps are dependent
when they are of one thread, or their objects meet, or one of them touched EVERYTHING.
Happens-before is the transitive closure of "an earlier dependent step", kept as one
vector clock per step. Two steps race when they are dependent, of different threads, and
nothing happens between them in happens-before order; reversing a race needs, at the
state before the first step, one of the *initials* of the steps after it that do not
happen after it, followed by the second step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..runtime.model import EVERYTHING

__all__ = ("HappensBefore", "Race", "dependent")


def dependent(a: frozenset[int], b: frozenset[int]) -> bool:
    """:return: whether two steps of different threads that touched ``a`` and ``b`` are
    dependent."""
    return EVERYTHING in a or EVERYTHING in b or not a.isdisjoint(b)


@dataclass(frozen=True)
class Race:
    """Step ``first`` races with step ``second``; ``initials`` are the steps whose threads
    can start the reversed order at the state before ``first`` (the second step's own
    thread first, when it is one of them)."""

    first: int
    second: int
    initials: tuple[int, ...]


class HappensBefore:
    """The happens-before order of one run's steps, as one vector clock per step."""

    def __init__(self, tids: Sequence[int], touched: Sequence[frozenset[int]]) -> None:
        self.tids = list(tids)
        threads = max(self.tids, default=-1) + 1
        self.clocks: list[list[int]] = []  # [k][u]: the latest step of u happening before k
        # preds[k]: per thread, its latest step before k that k depends on
        self.preds: list[dict[int, int]] = []
        last_any = [-1] * threads  # per thread: its latest step
        last_everything = [-1] * threads  # per thread: its latest step touching EVERYTHING
        last_on: list[dict[int, int]] = [{} for _ in range(threads)]  # per thread, object
        for j, (t, objects) in enumerate(zip(self.tids, touched, strict=False)):
            everything = EVERYTHING in objects
            preds: dict[int, int] = {}
            for u in range(threads):
                if u == t or everything:
                    d = last_any[u]
                else:
                    d = max([last_everything[u]] + [last_on[u].get(o, -1) for o in objects])
                if d >= 0:
                    preds[u] = d
            clock = [-1] * threads
            for d in preds.values():
                clock = [max(x, y) for x, y in zip(clock, self.clocks[d], strict=False)]
            clock[t] = j
            self.clocks.append(clock)
            self.preds.append(preds)
            last_any[t] = j
            if everything:
                last_everything[t] = j
            for o in objects:
                last_on[t][o] = j

    def races(self, start: int = 0) -> Iterator[Race]:
        """:return: the races whose second step is at ``start`` or later (the earlier
        ones were reported when their steps first ran)."""
        for j in range(start, len(self.tids)):
            preds = self.preds[j]
            for u, i in preds.items():
                if u == self.tids[j] or any(
                    self.clocks[d][u] >= i for w, d in preds.items() if w != u
                ):
                    continue  # the same thread, or i happens before another predecessor
                yield Race(i, j, self.initials(i, j))

    def initials(self, i: int, j: int) -> tuple[int, ...]:
        """:return: the steps that start the reversal of ``i`` and ``j``: among the steps
        between them that do not happen after ``i``, then ``j``, each thread's first one
        that nothing earlier in that sequence happens before (``j``'s thread first)."""
        u = self.tids[i]
        first: dict[int, int] = {}  # thread -> its first step in the sequence
        out: list[int] = []
        for k in [k for k in range(i + 1, j) if self.clocks[k][u] < i] + [j]:
            t = self.tids[k]
            if t in first:
                continue
            if all(self.clocks[k][w] < f for w, f in first.items()):
                out.append(k)
            first[t] = k
        mine = [k for k in out if self.tids[k] == self.tids[j]]
        return tuple(mine + [k for k in out if k not in mine])
