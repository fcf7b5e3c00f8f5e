"""Proof of power: under the ``heavy`` profile the harness catches every broken variant
(stress/broken.py), and the patches are undone afterwards."""

from __future__ import annotations

import random

import pytest

from refasync.channel import IteratorReader
from refasync.pool import ChunkQueue, Pool, PoolReader
from refasync.task import Task
from refasync.util import AsyncQueue, HSCondition
from stress.broken import BROKEN, broken
from stress.runner import run_many
from stress.scenarios import FAULT_SCENARIOS, SCENARIOS

#: Budget per variant; the median time-to-detect is a few seconds (see the report).
DETECT_BUDGET_S = 60.0


@pytest.mark.timeout(DETECT_BUDGET_S + 30)
@pytest.mark.parametrize("name", sorted(n for n, v in BROKEN.items() if v.delays))
def test_broken_variant_is_caught(name: str) -> None:
    master = random.randrange(1 << 32)
    kinds = list(FAULT_SCENARIOS if BROKEN[name].faults else SCENARIOS)
    with broken(name):
        summary = run_many(kinds, master, "heavy", seconds=DETECT_BUDGET_S,
                           stall_s=3.0, stop_on_failure=True)
    assert summary.failures, (
        f"{name} ({BROKEN[name].description}) not caught in {DETECT_BUDGET_S} s, "
        f"{summary.runs} instances, master seed {master}")


def test_patches_are_restored() -> None:
    originals = {(v.owner, v.method): v.owner.__dict__[v.method] for v in BROKEN.values()}
    for name in BROKEN:
        with broken(name):
            variant = BROKEN[name]
            assert variant.owner.__dict__[variant.method] is variant.replacement
    for (owner, method), original in originals.items():
        assert owner.__dict__[method] is original
    assert {v.owner for v in BROKEN.values()} <= {AsyncQueue, HSCondition, Task, Pool,
                                                  PoolReader, IteratorReader, ChunkQueue}
