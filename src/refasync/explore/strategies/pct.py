"""pct: probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte,
ASPLOS 2010)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...util import SyncPoint
from ..schedule import Choice
from .base import side_choice
from .random import SeededRuns

if TYPE_CHECKING:
    from ..runtime.run import Run

__all__ = ("PCTStrategy", "pct_bound")

#: The run length pct assumes before it has seen a run.
FIRST_STEPS_HINT = 50


def pct_bound(threads: int, steps: int, depth: int) -> str:
    """:return: the PCT guarantee per run, ``1/(n*k^(d-1))``, as text."""
    denominator = threads * steps ** (depth - 1)
    return f"1/(n*k^(d-1)) = 1/({threads}*{steps}^{depth - 1}) = {1 / denominator:.3g}"


class PCTStrategy(SeededRuns):
    """Random distinct thread priorities, the highest-priority runnable thread runs, and
    at ``depth - 1`` random steps the running thread drops to the lowest priorities. For
    a bug of depth d in a run of n threads and k steps, one run finds it with probability
    at least 1/(n*k^(d-1)). k is learnt: the longest run so far (at least 50)."""

    def __init__(
        self,
        seed: int,
        depth: int,
        steps_hint: int = FIRST_STEPS_HINT,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        super().__init__(seed, shard)
        self.depth = depth
        self.k = max(1, steps_hint)
        self.threads_seen = 1
        self.start(seed)

    def start(self, run_seed: int) -> None:
        self.change_points = sorted(
            self.rng.sample(range(1, self.k + 1), min(self.k, max(0, self.depth - 1)))
        )
        self.priority: dict[int, float] = {}
        self.drops = 0

    def choose(self, run: Run, options: list[Choice]) -> Choice:
        for t in run.threads:
            if t.tid not in self.priority:
                self.priority[t.tid] = self.depth + self.rng.random()  # above every drop
        if self.change_points and run.steps >= self.change_points[0] and run.last is not None:
            self.change_points.pop(0)
            self.drops += 1
            self.priority[run.last] = -float(self.drops)  # below every earlier priority
        if run.last is not None and run.threads[run.last].point is SyncPoint.YIELD:
            self.priority[run.last] = min(self.priority.values()) - 1.0  # a poller yields
        runs = [c for c in options if c.kind == "run"]
        side = side_choice(self.rng, options)
        if side is not None:
            return side
        pool = runs or options
        return max(pool, key=lambda c: (self.priority[c.tid], -c.tid))

    def end_run(self, run: Run) -> bool:
        self.k = max(self.k, run.steps)
        self.threads_seen = max(self.threads_seen, len(run.threads))
        return True

    def guarantee(self) -> str:
        return pct_bound(self.threads_seen, self.k, self.depth)
