"""Proof of power: under the ``heavy`` profile the harness catches every broken variant
of the delay harness (stress/broken.py), and the variants are undone afterwards."""

from __future__ import annotations

import random

import pytest

from models.defects import site_of
from stress.broken import BROKEN, broken
from stress.runner import run_many
from stress.scenarios import FAULT_SCENARIOS, SCENARIOS

#: The pool oracles' ``gc.collect()`` (one or more per instance) scans only the test's
#: objects, not the session's heap (conftest.py's ``frozen_heap``).
pytestmark = pytest.mark.usefixtures("frozen_heap")

#: Budget per variant; the median time-to-detect is a few seconds (see the report).
DETECT_BUDGET_S = 60.0


@pytest.mark.campaign
@pytest.mark.timeout(DETECT_BUDGET_S + 30)
@pytest.mark.parametrize("name", sorted(n for n, v in BROKEN.items() if v.delays))
def test_broken_variant_is_caught(name: str) -> None:
    master = random.randrange(1 << 32)
    kinds = list(FAULT_SCENARIOS if BROKEN[name].faults else SCENARIOS)
    with broken(name):
        summary = run_many(
            kinds, master, "heavy", seconds=DETECT_BUDGET_S, stall_s=3.0, stop_on_failure=True
        )
    assert summary.failures, (
        f"{name} ({BROKEN[name].description}) not caught in {DETECT_BUDGET_S} s, "
        f"{summary.runs} instances, master seed {master}"
    )


def test_variants_are_installed_and_undone() -> None:
    for name, variant in BROKEN.items():
        owner, attr, original = site_of(variant)
        with broken(name):
            assert vars(owner)[attr] is not original
        assert vars(owner)[attr] is original


def test_only_the_stress_view_is_offered() -> None:
    with pytest.raises(KeyError, match="no broken variant 'no_cycle_check'"):
        with broken("no_cycle_check"):
            pass  # pragma: no cover
