"""The history checker's speed, counted in steps (the same on every machine; the seconds
are in HISTORY.md), and what its text verdict shows of a long history."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from models.linearizability import check_channel_history

from .check import prefix
from .check_support import READ_ALL, ev, jsonl, run
from .history import ChannelHistory

# --- speed, in steps (the same on every machine; the seconds are in HISTORY.md) -----------


@pytest.mark.timeout(300)
def test_long_read_alls_are_decided_in_few_steps() -> None:
    """A 10,000-operation history with two read-alls spanning it takes about 1.6 steps
    per operation to accept, and its tampered copy about as many to reject and 2 more
    prefix checks to find the window (before, the accepted one explored each node's
    every candidate, and the tampered one did not finish in 15 minutes)."""
    from .bench_check import read_all_history, tamper
    from .check import failing_window

    history = read_all_history(10_000, 4, 1)
    assert len(history.ops) > 10_000
    result = check_channel_history(history.ops, history.maxsize)
    assert result.ok and result.steps < 2 * len(history.ops), result.steps
    bad = tamper(history, "swap", 1)
    result = check_channel_history(bad.ops, bad.maxsize)
    assert not result.ok and result.steps < 2 * len(bad.ops), result.steps
    window = failing_window(bad.ops, bad.maxsize, None, result.culprit)
    assert window.searches <= 3 and window.steps < 3 * len(bad.ops), (window.searches, window.steps)
    assert len(window.ops) < 20


def test_a_long_read_is_shown_once_and_abbreviated(tmp_path: Path) -> None:
    """A port's failure with a 400-item read: the text names the window once, the read
    as its first and last items and a count, and stays short."""
    events = []
    for i in range(400):
        events += [
            ev("w", "invoke", "write", f"item-{i}", 10 * i),
            ev("w", "ok", "write", None, 10 * i + 5),
        ]
    events += [
        ev("r", "invoke", "read", READ_ALL, 5000),
        ev("r", "ok", "read", [f"item-{i}" for i in range(400)] + ["ghost"], 5001),
    ]
    code, out = run(jsonl(tmp_path, events))
    assert code == 1
    assert out.count("smallest failing window") == 1
    assert out.count("process r read(") == 1
    assert (
        '["item-0", "item-1", "item-2", ... 395 more ..., "item-398", "item-399", "ghost"] (401 items)'
        in out
    )
    assert "item-200" not in out
    assert len(out) < 2500, len(out)
    assert all(line.isprintable() for line in out.splitlines())


def spec_run(seed: int, writes: int, read_all: bool) -> ChannelHistory:
    """A small history: two writers that wait for room, two readers of mixed reads (and a
    read-all), a close, on a channel of capacity 2."""
    from models.spec_runs import Program, run_programs

    from .bench_check import SHORT_READS

    rng = random.Random(seed)
    programs = [
        Program(f"w{w}", [("write", (f"w{w}:{i}", True)) for i in range(writes)]) for w in range(2)
    ]
    programs += [
        Program("r0", reads=SHORT_READS),
        Program("r1", reads=SHORT_READS),
        Program("closer", [("close", None)], after=("w0", "w1")),
    ]
    if read_all:
        programs.append(Program("all", [("read", (0, True))]))
    return ChannelHistory(None, 2, run_programs(programs, 2, rng.randrange))


@pytest.mark.timeout(300)
def test_failing_prefixes_are_those_from_some_cut_on() -> None:
    """The window search bisects over cuts, so the prefixes that fail must be those from
    some cut on. On runs of the specification, every cut is checked: none fails on the
    run itself, and on a tampered copy the failing cuts are those from one on. (A
    shortcut that loses linearizations of cut histories, whose reads in flight are
    bounded, breaks this; it found one.)"""
    from .bench_check import tamper

    for seed in range(40):
        history = spec_run(seed, 10, seed % 2 == 0)
        for tampered, ops in enumerate(
            [history.ops, tamper(history, ("swap", "duplicate", "drop")[seed % 3], seed).ops]
        ):
            cutoffs = sorted({op.ret for op in ops if op.ret is not None})
            fails = [
                not check_channel_history(prefix(ops, c)[1], history.maxsize).ok for c in cutoffs
            ]
            if not tampered:
                assert True not in fails, (seed, fails.index(True))
            elif True in fails:
                first = fails.index(True)
                assert all(fails[first:]), (seed, first, fails.index(False, first))
