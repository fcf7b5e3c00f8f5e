"""What every strategy is: a per-run lifecycle, like shuttle's ``Scheduler`` trait.

:func:`refasync.explore.explore` drives any strategy the same way::

    while strategy.new_run():        # False: nothing left to run (dfs: exhausted)
        run_once(body, strategy)     # the director calls choose() at every switch,
                                     # then end_run() when the run is over

``choose`` and ``end_run`` raise :class:`~refasync.explore.errors.Divergence` when the
run left the path the strategy recorded or replays: the director turns that into the
run's failure (kind "nondeterminism"), so a search never counts a diverged run.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Protocol

from ..schedule import Choice

if TYPE_CHECKING:
    from ..runtime.run import Run

__all__ = ("P_FAULT", "P_SPURIOUS", "P_TIMEOUT", "Strategy", "StrategyBase", "side_choice")


class Strategy(Protocol):
    def new_run(self) -> bool:
        """Prepare the next run; :return: False if there is none (the search is over)."""

    def choose(self, run: Run, options: list[Choice]) -> Choice:
        """:return: one of ``options`` (never empty), the choice at step ``run.steps``."""

    def end_run(self, run: Run) -> bool:
        """The run is over (every thread ended, or it failed). :return: whether the run
        is this strategy's to count and report (a dfs shard drops the others')."""

    def guarantee(self) -> str:
        """:return: what one run guarantees, as text (pct's probability bound), or ""."""

    def skipped(self) -> tuple[int, int]:
        """:return: the branches the search skipped so far: those its reduction did not
        need, and those beyond its preemption bound (dfs; others (0, 0))."""


class StrategyBase:
    """Defaults for the lifecycle: any number of runs, each counted, no guarantee."""

    def new_run(self) -> bool:
        return True

    def end_run(self, run: Run) -> bool:
        return True

    def guarantee(self) -> str:
        return ""

    def skipped(self) -> tuple[int, int]:
        return 0, 0


#: Odds of a non-"run" choice when some thread could run (random and pct).
P_TIMEOUT = 0.05
P_SPURIOUS = 0.02
P_FAULT = 0.01


def side_choice(rng: random.Random, options: list[Choice]) -> Choice | None:
    """Seeded decision to fire a timeout, a spurious wake-up or a fault now."""
    for kind, odds in (("timeout", P_TIMEOUT), ("spurious", P_SPURIOUS), ("fault", P_FAULT)):
        these = [c for c in options if c.kind == kind]
        if these and rng.random() < odds:
            return rng.choice(these)
    return None
