"""pytest entry points of the stress harness.

* ``test_short_budget`` is what ``make test`` runs: 500 instances across every scenario
  kind, the fault kinds included (``--faults``); about 80 s on an idle 2-core machine. It
  is bounded by its instance count, not by time, so a loaded machine makes it slower,
  never red (the time limit only turns a hang into a failure).
* ``test_scenario_batch`` is parametrized per kind; repeat it for long CI stress runs:
  ``pytest stress -k scenario_batch --count 50 -p repeat``.
"""

from __future__ import annotations

import gc
import os
import random
from typing import Iterator

import pytest

from stress.harness import repro_line
from stress.runner import format_summary, run_many
from stress.scenarios import ALL_SCENARIOS

PROFILE = os.environ.get("STRESS_PROFILE", "heavy")
SHORT_INSTANCES = 500
SHORT_CEILING_S = 400.0  # a guard, not a budget: 500 instances take ~80 s idle


@pytest.fixture(autouse=True)
def frozen_heap() -> Iterator[None]:
    """Move the earlier tests' objects to the permanent generation for the run: the pool
    oracles' ``gc.collect()`` then scans only the scenarios' objects (over a whole test
    session's heap one collection took 0.2-0.6 s, a third of a pool instance's budget)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.mark.timeout(SHORT_CEILING_S + 30)
def test_short_budget() -> None:
    master = random.randrange(1 << 32)
    summary = run_many(list(ALL_SCENARIOS), master, PROFILE, seconds=SHORT_CEILING_S,
                       instances=SHORT_INSTANCES)
    print(f"master seed {master}\n{format_summary(summary)}")
    reruns = [repro_line(f.scenario, f.seed, PROFILE) for f in summary.failures]
    assert not summary.failures, (
        f"master seed {master}: {len(summary.failures)} failures; rerun with:\n"
        + "\n".join(reruns) + "\n\n" + summary.failures[0].message[:8000])
    assert summary.runs == SHORT_INSTANCES, (
        f"only {summary.runs} instances ran in {SHORT_CEILING_S} s")
    for name, stats in summary.stats.items():
        assert stats.runs >= SHORT_INSTANCES // len(ALL_SCENARIOS), (name, stats)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("scenario", sorted(ALL_SCENARIOS))
def test_scenario_batch(scenario: str) -> None:
    master = random.randrange(1 << 32)
    summary = run_many([scenario], master, PROFILE, seconds=20.0, instances=25)
    reruns = [repro_line(f.scenario, f.seed, PROFILE) for f in summary.failures]
    assert not summary.failures, (
        f"master seed {master}: rerun with:\n" + "\n".join(reruns) + "\n\n"
        + summary.failures[0].message[:8000])
    assert summary.runs >= 1
