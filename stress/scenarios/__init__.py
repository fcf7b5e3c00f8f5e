"""The registry of scenario kinds, in the order a run cycles through them."""

from __future__ import annotations

from ..harness import Scenario
from .channel import channel_close_blocked, channel_mpmc
from .faults import fault_channel, fault_tasks
from .pool import (
    cross_pool_chain,
    orphan_churn,
    pool_failure,
    pool_pipeline,
    pool_timed_reads,
    set_size_churn,
)

__all__ = ("ALL_SCENARIOS", "FAULT_SCENARIOS", "SCENARIOS")

SCENARIOS: dict[str, Scenario] = {
    "channel_mpmc": channel_mpmc,
    "channel_close_blocked": channel_close_blocked,
    "pool_pipeline": pool_pipeline,
    "pool_failure": pool_failure,
    "orphan_churn": orphan_churn,
    "set_size_churn": set_size_churn,
    "pool_timed_reads": pool_timed_reads,
    "cross_pool_chain": cross_pool_chain,
}

#: The fault dimension (``python -m stress --faults``; on in ``make test``'s short budget).
FAULT_SCENARIOS: dict[str, Scenario] = {
    "fault_channel": fault_channel,
    "fault_tasks": fault_tasks,
}

#: Every kind, for looking one up by name.
ALL_SCENARIOS: dict[str, Scenario] = {**SCENARIOS, **FAULT_SCENARIOS}
