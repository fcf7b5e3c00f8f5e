"""A history cut at a time: what the checker's smallest failing window is made of
(``python -m conformance.check``), and what the cross-checks of the search cut runs
with (``models/test_linearizability.py``)."""

from __future__ import annotations

from collections.abc import Sequence

from .linearizability import Op

__all__ = ("prefix",)


def prefix(ops: Sequence[Op], cutoff: int) -> tuple[list[int], list[Op]]:
    """The history as it stood at time ``cutoff``, with what the operations in flight
    then did afterwards: operations called later are dropped; an operation in flight
    becomes pending (it may take effect before the cut or not), a read keeping its
    result as the bound of what it took by then (a prefix of it: it takes items in
    order), a write that failed dropped (it had no effect).

    The failing prefixes are those from some cutoff on: in a linearization of a longer
    prefix, the steps up to the last one of an operation returned by ``cutoff`` are a
    linearization of this one. :return: the indices (in ``ops``) of the operations kept,
    and their operations."""
    kept: list[int] = []
    out: list[Op] = []
    for i, op in enumerate(ops):
        if op.call > cutoff:
            continue
        if op.ret is not None and op.ret > cutoff:
            if op.kind == "write" and op.result is not None:
                continue
            result = op.result if op.kind == "read" else None
            op = Op(op.thread, op.kind, op.arg, result, op.call, None)
        kept.append(i)
        out.append(op)
    return kept, out
