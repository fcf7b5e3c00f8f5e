"""The dfs figures of docs/semantics.md (source-DPOR's run counts, the shards') are
recomputed: every row marked "test" must match what ``python -m stress.explore_figures
--cheap`` prints, and the reduction keeps its promise (at least 5x fewer schedules than
sleep sets alone from bound 2 on; the shards execute about the total between them)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stress.explore_figures import DPOR_HEADER, SHARD_HEADER, main

SEMANTICS = Path(__file__).resolve().parent.parent / "docs" / "semantics.md"

#: The schedules an audit measured for dfs with sleep sets alone over a relation in which
#: every thread start and join depended on every step, by preemption bound: dfs must run
#: at least 5x fewer from bound 2 on.
SLEEP_SETS_OVER_THE_COARSE_RELATION = {0: 20, 1: 324, 2: 3167, 3: 21044}


def documented(header: str) -> list[list[str]]:
    """:return: the cells of the rows of the table under ``header`` in the docs."""
    lines = [line.strip() for line in SEMANTICS.read_text(encoding="utf-8").splitlines()]
    rows = []
    for line in lines[lines.index(header) + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _number(cell: str) -> int:
    return int(cell.replace(",", ""))


def test_the_documented_rows_keep_the_promises() -> None:
    """Every documented row: dfs runs at least 5x fewer schedules than the audit's dfs
    from bound 2 on, and fewer than sleep sets alone; N shards execute at most 1.5 times
    the unsharded total between them."""
    rows = documented(DPOR_HEADER)
    assert [int(row[0]) for row in rows] == [0, 1, 2, 3]
    for bound, sleep, dpor, _, _ in rows:
        assert _number(dpor) < _number(sleep)
        if int(bound) >= 2:
            assert SLEEP_SETS_OVER_THE_COARSE_RELATION[int(bound)] >= 5 * _number(dpor)
    for _, _, _, _, executed, whole, _ in documented(SHARD_HEADER):
        assert _number(executed) <= 1.5 * _number(whole), (executed, whole)


@pytest.mark.campaign
@pytest.mark.timeout(300)
def test_the_cheap_rows_are_recomputed() -> None:
    out = io.StringIO()
    assert main(["--cheap"], out) == 0
    printed = {line.strip() for line in out.getvalue().splitlines()}
    for header in (DPOR_HEADER, SHARD_HEADER):
        rows = [row for row in documented(header) if row[-1] == "test"]
        assert rows, header
        for row in rows:
            assert "| " + " | ".join(row) + " |" in printed, (row, out.getvalue())


def test_a_bad_argument_exits_2() -> None:
    assert main(["--rows"], io.StringIO()) == 2
