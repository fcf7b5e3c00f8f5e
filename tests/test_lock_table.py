"""The lock table of docs/semantics.md ("Lock blocks per item and stage") is what the
serial chain takes: a counting sync hook counts the lock blocks of the benchmarks' chain,
and each lock's count per task per item must be the table's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.chain_profile import count_sync_points

SEMANTICS = Path(__file__).resolve().parents[1] / "docs" / "semantics.md"
HEADING = "### Lock blocks per item and stage"
STAGES = 5  # identity tasks after the feeder, as the table says
ITEMS = 600  # a multiple of the 6 tasks: the counts per task per item come out exact


def lock_table(text: str) -> dict[str, float]:
    """:return: the table's blocks per task per item by the lock's owner (``AsyncQueue``
    for ``AsyncQueue.mutex``)."""
    section = text.split(HEADING, 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `(\w+)\.\w+` \| ([0-9.]+) \|", section, re.MULTILINE)
    return {owner: float(blocks) for owner, blocks in rows}


def test_the_lock_table_is_read_whole() -> None:
    table = lock_table(SEMANTICS.read_text(encoding="utf-8"))
    assert set(table) == {"AsyncQueue", "Task", "Pool", "CallbackReader", "IteratorReader"}


@pytest.mark.timeout(120)
def test_the_serial_chain_takes_the_lock_blocks_of_the_lock_table() -> None:
    table = lock_table(SEMANTICS.read_text(encoding="utf-8"))
    points = count_sync_points(0, STAGES, ITEMS)
    per_task_item = {
        owner: count / ITEMS / (STAGES + 1)
        for (point, owner), count in points.items()
        if point == "ACQUIRE"
    }
    measured = {
        owner: round(blocks, 2) for owner, blocks in per_task_item.items() if blocks >= 0.01
    }
    assert measured == pytest.approx(table, abs=0.011)
