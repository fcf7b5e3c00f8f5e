"""The registry of scenario kinds, in the order a run cycles through them."""

from __future__ import annotations

from .harness import Scenario
from .scenarios_channel import channel_close_blocked, channel_mpmc
from .scenarios_pool import (
    cross_pool_chain,
    orphan_churn,
    pool_failure,
    pool_pipeline,
    pool_timed_reads,
    set_size_churn,
)

__all__ = ("SCENARIOS",)

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
