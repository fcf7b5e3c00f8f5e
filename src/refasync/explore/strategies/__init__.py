"""The strategies: one module each, all with the per-run lifecycle of :mod:`.base`.

* ``random`` (:mod:`.random`): seeded uniform choice;
* ``pct`` (:mod:`.pct`): probabilistic concurrency testing with depth d;
* ``dfs`` (:mod:`.dfs`): exhaustive within a preemption bound, with source-DPOR
  (:mod:`.dpor`) and sleep sets;
* replay (:mod:`.replay`): follow a recorded schedule.
"""

from __future__ import annotations

from .base import P_FAULT, P_SPURIOUS, P_TIMEOUT, Strategy, StrategyBase, side_choice
from .dfs import SHARD_DEPTH, DFSStrategy
from .pct import PCTStrategy, pct_bound
from .random import RandomStrategy
from .replay import ReplayStrategy

__all__ = (
    "NAMES",
    "P_FAULT",
    "P_SPURIOUS",
    "P_TIMEOUT",
    "SHARD_DEPTH",
    "DFSStrategy",
    "PCTStrategy",
    "RandomStrategy",
    "ReplayStrategy",
    "Strategy",
    "StrategyBase",
    "make_strategy",
    "pct_bound",
    "side_choice",
)

#: The search strategies :func:`refasync.explore.explore` accepts by name.
NAMES = ("random", "pct", "dfs")


def make_strategy(
    name: str, *, seed: int, depth: int, preemptions: int, shard: tuple[int, int]
) -> Strategy:
    """:return: the strategy ``name`` (one of NAMES) for one exploration."""
    if name == "random":
        return RandomStrategy(seed, shard)
    if name == "pct":
        return PCTStrategy(seed, depth, shard=shard)
    if name == "dfs":
        return DFSStrategy(preemptions, shard)
    raise ValueError(f"strategy must be one of {', '.join(map(repr, NAMES))}, got {name!r}")
