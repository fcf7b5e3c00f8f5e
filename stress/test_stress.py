"""pytest entry points of the stress harness.

* ``test_short_budget`` is what ``make test`` runs: 500 instances across every scenario
  kind under the delay injector, the fault kinds included (``--faults``), and 1,000 with
  no hook installed (``--strategy none``, the program users run): 15-28 s and 6-9 s on
  the shared 2-core machine under a load of about 9. Each is bounded by its instance
  count, not by time, so a loaded machine makes it slower, never red (the time limit
  only turns a hang into a failure).
* ``test_scenario_batch`` is parametrized per kind and OS-scheduled strategy; repeat it
  for long CI stress runs:
  ``pytest stress -m batch --count 50 -p repeat`` (marker ``batch``: left out of a plain
  ``pytest`` run).
"""

from __future__ import annotations

import os
import random

import pytest

from stress.runner import Summary, format_summary, run_many
from stress.scenarios import ALL_SCENARIOS
from stress.strategies import Delays, NoHook, Strategy

PROFILE = os.environ.get("STRESS_PROFILE", "heavy")
#: Instances of the short budget per strategy, and its ceiling (a guard, not a budget).
SHORT_INSTANCES = {"delays": 500, "none": 1000}
SHORT_CEILING_S = 400.0


def _strategy(name: str) -> Strategy:
    return Delays(PROFILE) if name == "delays" else NoHook()


def _failures(master: int, summary: Summary) -> str:
    return (
        f"master seed {master}: {len(summary.failures)} failures; rerun with:\n"
        + "\n".join(summary.repros)
        + "\n\n"
        + summary.failures[0].message[:8000]
    )


#: The pool oracles' ``gc.collect()`` scans only the scenarios' objects (conftest.py's
#: ``frozen_heap``; over a whole test session's heap one collection took 0.2-0.6 s, a
#: third of a pool instance's budget).
pytestmark = pytest.mark.usefixtures("frozen_heap")


@pytest.mark.timeout(SHORT_CEILING_S + 30)
@pytest.mark.parametrize("strategy", sorted(SHORT_INSTANCES))
def test_short_budget(strategy: str) -> None:
    master = random.randrange(1 << 32)
    instances = SHORT_INSTANCES[strategy]
    summary = run_many(
        list(ALL_SCENARIOS),
        master,
        _strategy(strategy),
        seconds=SHORT_CEILING_S,
        instances=instances,
    )
    print(f"master seed {master}\n{format_summary(summary)}")
    assert not summary.failures, _failures(master, summary)
    assert summary.instances == instances, (
        f"only {summary.instances} instances ran in {SHORT_CEILING_S} s"
    )
    for name, stats in summary.stats.items():
        assert stats.instances >= instances // len(ALL_SCENARIOS), (name, stats)


@pytest.mark.batch
@pytest.mark.timeout(120)
@pytest.mark.parametrize("strategy", sorted(SHORT_INSTANCES))
@pytest.mark.parametrize("scenario", sorted(ALL_SCENARIOS))
def test_scenario_batch(scenario: str, strategy: str) -> None:
    master = random.randrange(1 << 32)
    summary = run_many([scenario], master, _strategy(strategy), seconds=20.0, instances=25)
    assert not summary.failures, _failures(master, summary)
    assert summary.runs >= 1
