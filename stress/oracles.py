"""Oracles shared by the scenarios: each returns an error message, or "" when it holds."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

from refasync.pool import Pool

__all__ = (
    "exactly_once",
    "linearizable",
    "orphans_removed",
    "per_source_order",
)

H = TypeVar("H", bound=Hashable)


def exactly_once(expected: Iterable[H], got: Iterable[H], what: str) -> str:
    """Every expected item delivered exactly once: the multisets are equal."""
    want, have = Counter(expected), Counter(got)
    if want == have:
        return ""
    missing = sorted(map(repr, (want - have).elements()))[:10]
    extra = sorted(map(repr, (have - want).elements()))[:10]
    return (
        f"{what}: items not delivered exactly once: {sum((want - have).values())} missing "
        f"(e.g. {missing}), {sum((have - want).values())} extra or duplicated (e.g. {extra})"
    )


def at_most_once(allowed: Iterable[H], got: Iterable[H], what: str) -> str:
    """No item delivered twice, and none that was not produced."""
    want, have = Counter(allowed), Counter(got)
    extra = have - want
    if not extra:
        return ""
    return f"{what}: items duplicated or invented: {sorted(map(repr, extra.elements()))[:10]}"


def per_source_order(reads: Sequence[tuple[int, int]], what: str) -> str:
    """In one reader's sequence of ``(source, seq)`` items, each source's items come in
    increasing ``seq`` order (a FIFO channel hands each reader a subsequence of it)."""
    last: dict[int, int] = {}
    for source, seq in reads:
        if seq <= last.get(source, -1):
            return f"{what}: source {source} item {seq} came after item {last[source]}"
        last[source] = seq
    return ""


def orphans_removed(pools: Sequence[Pool], rounds: int = 1) -> str:
    """After the caller dropped every handle: ``gc.collect()`` and every pool's
    ``num_tasks()`` is 0. Pools are checked downstream first (a downstream pool's removal
    releases handles on upstream pools). ``rounds`` > 1 allows tasks whose input is not a
    PoolReader (their inputs are freed by the collector, one level per round)."""
    counts: list[int] = []
    for _ in range(rounds):
        gc.collect()
        counts = [pool.num_tasks() for pool in reversed(pools)]
        if not any(counts):
            return ""
    # Debug detail only: which tasks are left (a private peek at the pools' graphs).
    left = [[repr(task) for task in pool._tasks.nodes] for pool in pools]
    return (
        f"num_tasks() after gc.collect() is {list(reversed(counts))}, not 0 "
        f"(rounds={rounds}); tasks left per pool: {left}"
    )


def linearizable(
    ops: Sequence[object], maxsize: int, what: str, deadline: float | None = None
) -> str:
    """The recorded channel history is linearizable (models.linearizability).

    :raise models.linearizability.CheckTimeout: undecided at ``deadline`` (monotonic)."""
    from models.linearizability import Op, check_channel_history

    typed = [op for op in ops if isinstance(op, Op)]
    result = check_channel_history(typed, maxsize, deadline)
    if result.ok:
        return ""
    return f"{what}: history of {len(typed)} ops is not linearizable:\n{result.explanation}"
