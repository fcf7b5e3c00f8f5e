"""``python -m stress.explore_figures``: the dfs figures of docs/semantics.md, recomputed.

Two tables, on ``channel_mpmc`` instance seed 0 at the dfs sizes (``LIMITS_DFS``, the
standard library not controlled, as the exhaustion figures): the schedules dfs runs to
exhaust each preemption bound with sleep sets alone and with source-DPOR and sleep sets
(what ``explore(strategy="dfs")`` runs), and the runs of N shards of one search.
``--cheap`` prints only the rows marked "test" (stress/test_explore_figures.py
recomputes those); exit status 0, or 2 for a bad argument.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from refasync.explore import Settings, run_once
from refasync.explore.strategies import DFSStrategy
from stress.strategies.explored import LIMITS_DFS, instance_body

__all__ = ("DPOR_HEADER", "SHARD_HEADER", "Search", "dpor_rows", "main", "search", "shard_rows")

SCENARIO, SEED = "channel_mpmc", 0

#: The header rows of the two tables in docs/semantics.md.
DPOR_HEADER = (
    "| preemption bound | sleep sets alone | source-DPOR and sleep sets | "
    "fewer by | recomputed by |"
)
SHARD_HEADER = (
    "| preemption bound | shards | runs counted per shard | runs executed "
    "per shard | executed in all | unsharded | recomputed by |"
)

#: The rows: (bound, "test" or "command"); shards: (bound, shards, "test" or "command").
DPOR_ROWS = ((0, "test"), (1, "test"), (2, "test"), (3, "command"))
SHARD_ROWS = ((2, 4, "test"), (3, 4, "command"))


@dataclass
class Search:
    """One dfs search driven to its end: the runs it counted and executed."""

    counted: int
    executed: int
    exhausted: bool


def search(
    bound: int, reduction: str = "dpor", shard: tuple[int, int] = (0, 1), limit: int = 10**7
) -> Search:
    """:return: dfs over the instance at ``bound`` with ``reduction``, to its end."""
    body = instance_body(SCENARIO, SEED, LIMITS_DFS)
    dfs = DFSStrategy(bound, shard, reduction)
    settings = Settings.of("dfs", stdlib=False)
    counted = executed = 0
    while counted < limit:
        if not dfs.new_run():
            return Search(counted, executed, True)
        result = run_once(body, dfs, settings)
        executed += 1
        if result.failure is not None:
            raise RuntimeError(f"{SCENARIO} seed {SEED} failed: {result.failure}")
        counted += result.counted
    return Search(counted, executed, False)


def dpor_rows(cheap: bool) -> list[str]:
    lines = []
    for bound, by in DPOR_ROWS:
        if cheap and by != "test":
            continue
        sleep, dpor = search(bound, "sleep"), search(bound)
        lines.append(
            f"| {bound} | {sleep.counted:,} | {dpor.counted:,} | "
            f"{sleep.counted / dpor.counted:.1f}x | {by} |"
        )
    return lines


def shard_rows(cheap: bool) -> list[str]:
    lines = []
    for bound, n, by in SHARD_ROWS:
        if cheap and by != "test":
            continue
        whole = search(bound)
        parts = [search(bound, shard=(k, n)) for k in range(n)]
        counted = ", ".join(f"{p.counted:,}" for p in parts)
        executed = ", ".join(f"{p.executed:,}" for p in parts)
        lines.append(
            f"| {bound} | {n} | {counted} | {executed} | "
            f"{sum(p.executed for p in parts):,} | {whole.counted:,} | {by} |"
        )
    return lines


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stress.explore_figures", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--cheap", action="store_true", help="only the rows marked 'test' (seconds, not minutes)"
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    started = time.monotonic()
    for header, rows in ((DPOR_HEADER, dpor_rows), (SHARD_HEADER, shard_rows)):
        out.write(header + "\n|" + "---|" * (header.count("|") - 1) + "\n")
        for line in rows(args.cheap):
            out.write(line + "\n")
            out.flush()
        out.write("\n")
    out.write(
        f"({SCENARIO} instance seed {SEED}, LIMITS_DFS sizes; {time.monotonic() - started:.0f} s)\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
