"""random: seeded uniform choice among the runnable threads."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from ..schedule import Choice
from .base import StrategyBase, side_choice

if TYPE_CHECKING:
    from ..runtime.run import Run

__all__ = ("RandomStrategy", "SeededRuns")


class SeededRuns(StrategyBase):
    """Runs drawn from a master seed: run ``i`` draws from ``random.Random(seed *
    1_000_003 + i)``; a shard ``(k, n)`` does only the runs whose seed is k modulo n."""

    def __init__(self, seed: int, shard: tuple[int, int]) -> None:
        self.seed = seed
        self.shard = shard
        self.index = 0
        self.rng = random.Random(seed)

    def new_run(self) -> bool:
        k, n = self.shard
        while True:
            run_seed = self.seed * 1_000_003 + self.index
            self.index += 1
            if run_seed % n == k:
                self.rng = random.Random(run_seed)
                self.start(run_seed)
                return True

    def start(self, run_seed: int) -> None:
        """Set up the run drawn from ``run_seed``."""


class RandomStrategy(SeededRuns):
    """Seeded uniform choice among the runnable threads (timeouts, spurious wake-ups and
    faults at small odds, or when nothing else can run)."""

    def __init__(self, seed: int, shard: tuple[int, int] = (0, 1)) -> None:
        super().__init__(seed, shard)

    def choose(self, run: Run, options: list[Choice]) -> Choice:
        runs = [c for c in options if c.kind == "run"]
        side = side_choice(self.rng, options)
        if side is not None or not runs:
            return side if side is not None else self.rng.choice(options)
        return self.rng.choice(runs)
