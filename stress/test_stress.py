"""pytest entry points of the stress harness.

* ``test_short_budget`` is what ``make test`` runs: >= 500 instances across every
  scenario kind, the fault kinds included (``--faults``), well under 2 minutes.
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
SHORT_INSTANCES = 600
SHORT_MIN_INSTANCES = 500
SHORT_BUDGET_S = 95.0


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


@pytest.mark.timeout(115)
def test_short_budget() -> None:
    master = random.randrange(1 << 32)
    # The orphan oracles call gc.collect(); inside `make test` the heap left by earlier
    # tests (about 100k objects) made each call cost ~0.15 s and starved the budget.
    # Freeze what exists now: the scenarios' own objects are still collected.
    gc.collect()
    gc.freeze()
    try:
        summary = run_many(list(ALL_SCENARIOS), master, PROFILE, seconds=SHORT_BUDGET_S,
                           instances=SHORT_INSTANCES)
    finally:
        gc.unfreeze()
    print(f"master seed {master}\n{format_summary(summary)}")
    reruns = [repro_line(f.scenario, f.seed, PROFILE) for f in summary.failures]
    assert not summary.failures, (
        f"master seed {master}: {len(summary.failures)} failures; rerun with:\n"
        + "\n".join(reruns) + "\n\n" + summary.failures[0].message[:8000])
    assert summary.runs >= SHORT_MIN_INSTANCES, (
        f"only {summary.runs} instances ran in {SHORT_BUDGET_S} s")
    for name, stats in summary.stats.items():
        assert stats.runs >= SHORT_MIN_INSTANCES // len(ALL_SCENARIOS) - 1, (name, stats)


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
