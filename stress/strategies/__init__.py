"""The strategies of the stress campaign, one file each, behind one interface
(:class:`~stress.strategies.base.Strategy`): how the threads of a scenario instance are
scheduled.

* ``delays`` (the default): the OS schedules, a seeded delay injector on the sync hook;
* ``none``: the OS schedules, no hook at all (the program users run);
* ``random``, ``pct``, ``dfs``: ``refasync.explore``'s controlled scheduler;
* replay (``--replay``): one run following a schedule one of those printed.
"""

from __future__ import annotations

from .base import RunOptions, Strategy
from .delays import Delays
from .dfs import Dfs
from .explored import Explored
from .none import NoHook
from .pct import Pct
from .random import Random
from .replay import Replay

__all__ = (
    "EXPLORED",
    "NAMES",
    "Delays",
    "Dfs",
    "Explored",
    "NoHook",
    "Pct",
    "Random",
    "Replay",
    "RunOptions",
    "Strategy",
)

#: The explorer's strategies, by ``--strategy`` name.
EXPLORED: dict[str, type[Explored]] = {"random": Random, "pct": Pct, "dfs": Dfs}

#: Every ``--strategy`` name.
NAMES = ("delays", "none", *EXPLORED)
