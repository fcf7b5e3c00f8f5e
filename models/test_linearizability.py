"""The linearizability checker on hand-written histories it must accept or reject, and on
real concurrent histories."""

from __future__ import annotations

import pytest

from .history_cases import ACCEPT, REJECT, r, record_concurrent_history, w
from .linearizability import (
    Op,
    check_channel_history,
)


@pytest.mark.parametrize("name", sorted(ACCEPT))
def test_accepts(name: str) -> None:
    ops, maxsize = ACCEPT[name]
    result = check_channel_history(ops, maxsize)
    assert result.ok, result.explanation
    assert result.order is not None
    finished = [op for op in ops if op.ret is not None]
    assert all(op in result.order for op in finished)


@pytest.mark.parametrize("name", sorted(REJECT))
def test_rejects(name: str) -> None:
    ops, maxsize = REJECT[name]
    result = check_channel_history(ops, maxsize)
    assert not result.ok
    assert result.order is None
    assert "could not place" in result.explanation or not ops


def test_explanation_names_the_culprit() -> None:
    ops = [w("a", 1, 0, 1), w("a", 2, 2, 3), r("b", 1, False, [2], 4, 5)]
    result = check_channel_history(ops)
    assert "longest linearizable prefix" in result.explanation
    assert "could not place: #2" in result.explanation


def test_witness_order_is_a_legal_sequential_run() -> None:
    ops, _ = ACCEPT["a blocking read takes items in steps around another reader"]
    result = check_channel_history(ops)
    assert result.order is not None
    kinds = [(op.kind, op.thread) for op in result.order]
    assert kinds.index(("read", "s")) < kinds.index(("read", "r"))


@pytest.mark.parametrize(
    "bad",
    [
        Op("a", "peek", None, None, 0, 1),
        Op("a", "read", 3, [], 0, 1),
        Op("a", "read", (1, True), "x", 0, 1),
        Op("a", "write", 1, "Boom", 0, 1),
    ],
)
def test_malformed_ops_raise(bad: Op) -> None:
    with pytest.raises(ValueError):
        check_channel_history([bad])


# --- real concurrent histories --------------------------------------------------------


@pytest.mark.parametrize("threads,maxsize", [(4, 0), (8, 0), (6, 3)])
def test_real_histories_are_linearizable(threads: int, maxsize: int) -> None:
    ops = record_concurrent_history(threads, 300 // threads, maxsize)
    result = check_channel_history(ops, maxsize)
    assert result.ok, result.explanation


def test_real_history_with_a_duplicated_item_is_rejected() -> None:
    ops = record_concurrent_history(4, 60, 0)
    index = next(
        i
        for i, op in enumerate(ops)
        if op.kind == "read" and isinstance(op.result, list) and op.result
    )
    op = ops[index]
    assert isinstance(op.result, list)
    ops[index] = Op(op.thread, op.kind, op.arg, op.result + op.result[:1], op.call, op.ret)
    assert not check_channel_history(ops).ok
