"""Controlled exploration: a deterministic scheduler at refasync's synchronization points.

Every lock, condition, wait, thread start and join in refasync reports to one hook
(:func:`refasync.util.set_sync_hook`). While a run is explored, that hook parks the calling
thread and a *director* decides which parked thread goes next, so exactly one thread runs
between two points and the interleaving is a list of choices (a *schedule*):

* a thread parked before taking a lock is runnable only while the explorer's model says
  the lock is free (the model records every grant and release);
* a thread parked in a condition wait (``SyncPoint.BLOCK``) is runnable once a notify
  reached it (the condition's own FIFO decides who), or when the director chooses to fire
  its timeout (the virtual clock jumps to its deadline), to wake it spuriously, or to
  interrupt it with an injected fault;
* a thread joining another is runnable once that thread ended.

Time is virtual: it moves only when a timeout fires, and timeouts fire in deadline order,
so an explored run never sleeps. A schedule prints as a short string (``0*4,1,0,2t``)
that replays the run exactly, because choices are taken at library points, not bytecodes.

The package: :mod:`.schedule` (choices and their string form), :mod:`.runtime` (the hook,
the director, the lock model, the wait-for graph), :mod:`.strategies` (random, pct, dfs,
replay, one per-run lifecycle; dfs's source-DPOR in :mod:`.strategies.dpor`),
:mod:`.stdlib` (the standard library's primitives and clock under control), :mod:`.shrink`,
:mod:`.coverage` (distinct schedules and lock interleavings), :mod:`.checkpoint` (a dfs
search's file), :mod:`.checks` and :mod:`.api` (:func:`explore`, :func:`replay`,
:func:`reproduce`).
"""

from .api import Report, explore, replay, reproduce
from .errors import CheckpointError, Divergence, ExploreFailure, InjectedFault, ReplayDidNotFail
from .runner import run_once
from .runtime import Run, RunResult, Session
from .schedule import KINDS, Choice, Event, format_schedule, is_preemption, parse_schedule
from .settings import BLOCKED_S, EARLY_TIMEOUTS, MAX_STEPS, STALL_S, Settings
from .strategies import (
    P_FAULT,
    P_SPURIOUS,
    P_TIMEOUT,
    SHARD_DEPTH,
    DFSStrategy,
    PCTStrategy,
    RandomStrategy,
    ReplayStrategy,
    Strategy,
    StrategyBase,
    pct_bound,
)

__all__ = (
    "BLOCKED_S",
    "EARLY_TIMEOUTS",
    "KINDS",
    "MAX_STEPS",
    "P_FAULT",
    "P_SPURIOUS",
    "P_TIMEOUT",
    "SHARD_DEPTH",
    "STALL_S",
    "CheckpointError",
    "Choice",
    "DFSStrategy",
    "Divergence",
    "Event",
    "ExploreFailure",
    "InjectedFault",
    "PCTStrategy",
    "RandomStrategy",
    "ReplayDidNotFail",
    "ReplayStrategy",
    "Report",
    "Run",
    "RunResult",
    "Session",
    "Settings",
    "Strategy",
    "StrategyBase",
    "explore",
    "format_schedule",
    "is_preemption",
    "parse_schedule",
    "pct_bound",
    "replay",
    "reproduce",
    "run_once",
)
