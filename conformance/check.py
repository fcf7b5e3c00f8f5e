"""``python -m conformance.check HISTORY.jsonl``: is a recorded history linearizable?

Checks a JSON Lines history (format: conformance/HISTORY.md) against the channel
specification of ``models/channel_spec.py``, with the Wing-Gong/Lowe search of
``models/linearizability.py``. Channels (keys) are independent, so each is checked on its
own (P-compositionality). Prints ``linearizable``, ``not linearizable`` with the smallest
failing window, or ``unknown`` when ``--timeout`` expired.

Exit status: 0 linearizable, 1 not linearizable, 2 unknown, 3 unreadable history or bad
arguments.

Examples::

    python -m conformance.check run.jsonl
    python -m conformance.check run.jsonl --timeout 30 --html failure.html
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import NoReturn, Sequence, TextIO

from models.linearizability import CheckTimeout, Op, check_channel_history

from .history import ChannelHistory, HistoryError, read_history, read_history_file

__all__ = ("Verdict", "Window", "check_channel", "failing_window", "main")

LINEARIZABLE, NOT_LINEARIZABLE, UNKNOWN, BAD_INPUT = 0, 1, 2, 3
_SHOWN_OPS = 40  # a window shows at most this many operations


@dataclass(frozen=True)
class Window:
    """The smallest failing window of a channel's history: ``end`` is the return of the
    operation whose completion first makes the history non-linearizable (every shorter
    prefix is linearizable); ``start`` is the earliest call among the operations the
    search could not place in that prefix. ``ops`` are the indices of the operations
    overlapping [start, end]; ``culprit`` the one the search names."""

    start: int
    end: int
    ops: list[int]
    culprit: int | None
    explanation: str


@dataclass(frozen=True)
class Verdict:
    channel: ChannelHistory
    status: str  # "linearizable" | "not linearizable" | "unknown"
    window: Window | None  # when not linearizable
    detail: str  # when unknown: why; when not linearizable: the search's explanation


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


def failing_window(ops: Sequence[Op], maxsize: int, deadline: float | None,
                   hint: int | None = None) -> Window:
    """Search the return times for the shortest failing prefix (``ops`` must not be
    linearizable; ``hint``: the culprit its check named, if known).
    :raise CheckTimeout: past the deadline."""
    cutoffs = sorted({op.ret for op in ops if op.ret is not None})
    if not cutoffs:  # nothing returned: nothing can fail (kept for callers' mistakes)
        return Window(0, 0, [], None, "no operation returned")
    low, high = 0, len(cutoffs) - 1  # the prefix at cutoffs[high] fails

    def fails(index: int) -> bool:
        return not check_channel_history(prefix(ops, cutoffs[index])[1], maxsize, deadline).ok

    # The failure is usually just before the full search's culprit returned: start there
    # and gallop back (each check costs about a whole history, so few checks matter).
    if hint is None:
        hint = check_channel_history(ops, maxsize, deadline).culprit
    ret = None if hint is None else ops[hint].ret
    if ret is not None and fails(index := cutoffs.index(ret)):
        high, step = index, 1
        while high - step >= low:
            if not fails(high - step):
                low = high - step + 1
                break
            high -= step
            step *= 2
    while low < high:
        mid = (low + high) // 2
        if fails(mid):
            high = mid
        else:
            low = mid + 1
    end = cutoffs[high]
    kept, cut = prefix(ops, end)
    result = check_channel_history(cut, maxsize, deadline)
    placed = {kept[i] for i in result.placed}
    culprit = None if result.culprit is None else kept[result.culprit]
    unplaced = [i for i in kept if i not in placed and _returned_by(ops[i], end)]
    if culprit is not None and culprit not in unplaced:
        unplaced.append(culprit)
    start = min((ops[i].call for i in unplaced), default=end)
    inside = [i for i in kept if not _returned_by(ops[i], start - 1)]
    return Window(start, end, inside, culprit, result.explanation)


def _returned_by(op: Op, moment: int) -> bool:
    return op.ret is not None and op.ret <= moment


def check_channel(channel: ChannelHistory, deadline: float | None = None) -> Verdict:
    try:
        result = check_channel_history(channel.ops, channel.maxsize, deadline)
        if result.ok:
            return Verdict(channel, "linearizable", None, "")
        window = failing_window(channel.ops, channel.maxsize, deadline, result.culprit)
    except CheckTimeout as exc:
        return Verdict(channel, "unknown", None, f"timeout: {exc}")
    return Verdict(channel, "not linearizable", window, window.explanation)


def check_channels(channels: Sequence[ChannelHistory], timeout: float | None = None) -> list[Verdict]:
    """Check every channel (independent, so one by one) within ``timeout`` seconds in all."""
    deadline = None if timeout is None else time.monotonic() + timeout
    return [check_channel(channel, deadline) for channel in channels]


def describe_op(channel: ChannelHistory, index: int) -> str:
    op = channel.ops[index]
    invoke, done = channel.lines[index]
    where = f"line {invoke}" + ("" if done is None else f"-{done}")
    if op.kind == "read":
        assert isinstance(op.arg, tuple)
        timeout = f", timeout={op.arg[2]}" if len(op.arg) == 3 else ""
        call = f"read({op.arg[0]}, block={op.arg[1]}{timeout})"
    elif op.kind == "write":
        call = f"write({op.arg!r})"
    else:
        call = "close()"
    if op.ret is None:
        outcome = "unknown (info)"
    elif op.kind == "read":
        outcome = repr(op.result)
    else:
        outcome = "ok" if op.result is None else str(op.result)
    return f"{where}: process {op.thread} {call} -> {outcome} [{op.call}, {'?' if op.ret is None else op.ret}]"


def format_verdict(verdict: Verdict, several: bool) -> str:
    channel = verdict.channel
    head = f"key {channel.key!r}: " if several else ""
    lines = [f"{head}{verdict.status} ({len(channel.ops)} operations, maxsize {channel.maxsize})"]
    if verdict.status == "unknown":
        lines.append(f"  {verdict.detail}")
    window = verdict.window
    if window is not None:
        lines.append(f"  smallest failing window: {window.start} .. {window.end} ns "
                     f"({len(window.ops)} operations)")
        for i in window.ops[:_SHOWN_OPS]:
            mark = "  <- could not be placed" if i == window.culprit else ""
            lines.append(f"    {describe_op(channel, i)}{mark}")
        if len(window.ops) > _SHOWN_OPS:
            lines.append(f"    ... {len(window.ops) - _SHOWN_OPS} more")
        lines.append("  the search's deepest point, in the shortest failing prefix:")
        lines.extend("    " + line for line in window.explanation.splitlines()[-12:])
    return "\n".join(lines)


def overall(verdicts: Sequence[Verdict]) -> tuple[str, int]:
    statuses = {v.status for v in verdicts}
    if "not linearizable" in statuses:
        return "not linearizable", NOT_LINEARIZABLE
    if "unknown" in statuses:
        return "unknown", UNKNOWN
    return "linearizable", LINEARIZABLE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # bad arguments: 3, as 2 means "unknown"
        self.print_usage(sys.stderr)
        self.exit(BAD_INPUT, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m conformance.check", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("history", help="a JSON Lines history (conformance/HISTORY.md); - for stdin")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="give up after S seconds: prints unknown, exits 2")
    p.add_argument("--html", metavar="FILE", default=None,
                   help="when not linearizable: write a timeline of the failure to FILE")
    p.add_argument("--maxsize", type=int, default=0,
                   help="capacity of channels whose events carry no maxsize (default 0: unbounded)")
    return p


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(argv)
    if args.timeout is not None and args.timeout <= 0:
        _parser().error(f"--timeout must be > 0, got {args.timeout}")
    if args.maxsize < 0:
        _parser().error(f"--maxsize must be >= 0, got {args.maxsize}")
    try:
        if args.history == "-":
            channels = read_history(sys.stdin, args.maxsize)
        else:
            channels = read_history_file(args.history, args.maxsize)
    except (OSError, HistoryError) as exc:
        sys.stderr.write(f"python -m conformance.check: {args.history}: {exc}\n")
        return BAD_INPUT
    verdicts = check_channels(channels, args.timeout)
    status, code = overall(verdicts)
    out.write(status + "\n")
    several = len(channels) > 1
    for verdict in verdicts:
        if several or verdict.status != "linearizable":
            out.write(format_verdict(verdict, several) + "\n")
    if args.html is not None:
        from .html import render_verdicts

        with open(args.html, "w", encoding="utf-8") as f:
            f.write(render_verdicts(verdicts, title=f"{args.history}: {status}"))
        out.write(f"timeline written to {args.html}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
