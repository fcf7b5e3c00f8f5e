"""``python -m conformance.check HISTORY.jsonl``: is a recorded history linearizable?

Checks a JSON Lines history (format: conformance/HISTORY.md) against the channel
specification of ``models/channel_spec.py``, with the Wing-Gong/Lowe search of
``models/linearizability.py``. Channels (keys) are independent, so each is checked on its
own (P-compositionality). Prints ``linearizable``, ``not linearizable`` with the smallest
failing window, or ``unknown`` when ``--timeout`` expired.

Exit status: 0 linearizable, 1 not linearizable, 2 unknown (the timeout expired first),
3 unreadable history or bad arguments (one line on standard error, naming the line),
130 interrupted.

Examples::

    python -m conformance.check run.jsonl
    python -m conformance.check run.jsonl --timeout 30 --html timeline.html
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn, TextIO

from models.cuts import prefix
from models.linearizability import CheckTimeout, LinearizabilityResult, Op, check_channel_history

from .history import (
    TIME_MAX,
    ChannelHistory,
    HistoryError,
    identity,
    lines_of,
    read_history,
    read_history_file,
)
from .text import call_label, items, outcome_label, printable, value

__all__ = (
    "Verdict",
    "Window",
    "check_channel",
    "check_channels",
    "failing_window",
    "format_verdict",
    "main",
    "prefix",
)

LINEARIZABLE, NOT_LINEARIZABLE, UNKNOWN, BAD_INPUT, INTERRUPTED = 0, 1, 2, 3, 130
#: A window lists at most this many operations: the first and last halves, and the
#: operation the search could not place.
SHOWN_OPS = 40
#: The deepest point shows its last this many events.
SHOWN_EVENTS = 8
PROG = "python -m conformance.check"


@dataclass(frozen=True)
class Window:
    """The smallest failing window of a channel's history: ``end`` is the return of the
    operation whose completion first makes the history non-linearizable (every shorter
    prefix is linearizable); ``start`` is the earliest call among the operations the
    search could not place in that prefix. ``ops`` are the indices of the operations
    overlapping [start, end]; ``culprit`` the one the search names; ``deepest`` the
    search's deepest point in that prefix, its indices mapped to the channel's."""

    start: int
    end: int
    ops: list[int]
    culprit: int | None
    deepest: LinearizabilityResult
    prefix_ops: int  # how many operations that prefix has
    searches: int = 0  # how many prefixes were checked to find it
    steps: int = 0  # the steps those searches tried


@dataclass(frozen=True)
class Verdict:
    channel: ChannelHistory
    status: str  # "linearizable" | "not linearizable" | "unknown"
    window: Window | None  # when not linearizable and the window was found in time
    detail: str  # why the window is missing, or why the verdict is unknown


def failing_window(
    ops: Sequence[Op], maxsize: int, deadline: float | None, hint: int | None = None
) -> Window:
    """Search the return times for the shortest failing prefix (``ops`` must not be
    linearizable; ``hint``: the culprit its check named, if known).
    :raise CheckTimeout: past the deadline."""
    cutoffs = sorted({op.ret for op in ops if op.ret is not None})
    if not cutoffs:
        raise ValueError("a history in which no operation returned cannot fail")
    low, high = 0, len(cutoffs) - 1  # the prefix at cutoffs[high] fails
    failed: dict[int, tuple[list[int], LinearizabilityResult]] = {}
    work = [0, 0]  # searches, steps

    def fails(index: int) -> bool:
        kept, cut = prefix(ops, cutoffs[index])
        result = check_channel_history(cut, maxsize, deadline)
        work[0] += 1
        work[1] += result.steps
        if not result.ok:
            failed[index] = (kept, result)
        return not result.ok

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
    if high not in failed:  # the whole history: the one prefix not checked above
        fails(high)
    end = cutoffs[high]
    kept, result = failed[high]
    placed = {kept[i] for i in result.placed}
    culprit = None if result.culprit is None else kept[result.culprit]
    unplaced = [i for i in kept if i not in placed and _returned_by(ops[i], end)]
    if culprit is not None and culprit not in unplaced:
        unplaced.append(culprit)
    start = min((ops[i].call for i in unplaced), default=end)
    inside = [i for i in kept if not _returned_by(ops[i], start - 1)]
    deepest = LinearizabilityResult(
        False,
        None,
        result.explanation,
        sorted(placed),
        culprit,
        [(kept[i], what, took) for i, what, took in result.deepest],
        result.items_then,
        result.closed_then,
    )
    return Window(start, end, inside, culprit, deepest, len(kept), work[0], work[1])


def _returned_by(op: Op, moment: int) -> bool:
    return op.ret is not None and op.ret <= moment


def check_channel(channel: ChannelHistory, deadline: float | None = None) -> Verdict:
    try:
        result = check_channel_history(channel.ops, channel.maxsize, deadline)
    except CheckTimeout as exc:
        return Verdict(channel, "unknown", None, f"timeout: {exc}")
    if result.ok:
        return Verdict(channel, "linearizable", None, "")
    try:
        window = failing_window(channel.ops, channel.maxsize, deadline, result.culprit)
    except CheckTimeout as exc:
        return Verdict(
            channel,
            "not linearizable",
            None,
            f"the smallest failing window was not found in time ({exc})",
        )
    return Verdict(channel, "not linearizable", window, "")


def check_channels(
    channels: Sequence[ChannelHistory], timeout: float | None = None, deadline: float | None = None
) -> list[Verdict]:
    """Check every channel (independent, so one by one) within ``timeout`` seconds in all,
    or until ``deadline`` (a ``time.monotonic()`` value)."""
    if timeout is not None:
        deadline = time.monotonic() + timeout
    return [check_channel(channel, deadline) for channel in channels]


# --- the text verdict --------------------------------------------------------------------


def _lines(channel: ChannelHistory, index: int) -> str:
    invoke, done = channel.lines[index] if index < len(channel.lines) else (0, None)
    if not invoke:
        return f"#{index}"
    return f"line {invoke}" if done is None else f"lines {invoke}-{done}"


def describe_op(channel: ChannelHistory, index: int) -> str:
    """One operation on one line: where it is in the file, who called, the call, what it
    returned, and its interval."""
    op = channel.ops[index]
    interval = f"[{op.call}, {'?' if op.ret is None else op.ret}]"
    return (
        f"{_lines(channel, index)}: process {printable(op.thread)} {call_label(op)} "
        f"-> {outcome_label(op)} {interval}"
    )


def format_verdict(verdict: Verdict, several: bool) -> str:
    """The channel's verdict; when not linearizable, its smallest failing window (each
    operation in it once) and the search's deepest point there (naming operations by
    their lines, not again in full)."""
    channel = verdict.channel
    head = f"key {value(channel.key)}: " if several else ""
    lines = [f"{head}{verdict.status} ({len(channel.ops)} operations, maxsize {channel.maxsize})"]
    if verdict.detail:
        lines.append(f"  {verdict.detail}")
    window = verdict.window
    if window is None:
        return "\n".join(lines)
    lines.append(
        f"  smallest failing window: {window.start} .. {window.end} ns "
        f"({_count(len(window.ops), 'operation')})"
    )
    shown = window.ops
    if len(shown) > SHOWN_OPS:
        half = SHOWN_OPS // 2
        keep = set(shown[:half]) | set(shown[-half:]) | {window.culprit}
        shown = [i for i in shown if i in keep]
    previous = None
    for i in shown:
        if previous is not None and window.ops.index(i) - window.ops.index(previous) > 1:
            lines.append(f"    ... {window.ops.index(i) - window.ops.index(previous) - 1} more")
        mark = "  <- could not be placed" if i == window.culprit else ""
        lines.append(f"    {describe_op(channel, i)}{mark}")
        previous = i
    deepest = window.deepest
    lines.append(
        f"  the search's deepest point in the history up to {window.end} ns: "
        f"{len(deepest.placed)} of its {window.prefix_ops} operations placed"
    )
    events = deepest.deepest
    if events:
        shown_events = events[-SHOWN_EVENTS:]
        lines.append(
            f"    its last {_count(len(shown_events), 'event')} (of {len(events)}):"
            if len(events) > len(shown_events)
            else "    its events:"
        )
        lines.extend(f"      {_event(channel, i, what, took)}" for i, what, took in shown_events)
    closed = ", closed" if deepest.closed_then else ", open"
    lines.append(f"    the channel then: {items(deepest.items_then)}{closed}")
    if window.culprit is not None:
        lines.append(
            f"    could not place: {_lines(channel, window.culprit)}"
            f"{_difference(channel.ops[window.culprit], window)}"
        )
    return "\n".join(lines)


def _difference(op: Op, window: Window) -> str:
    """For a read that could not be placed: where its result parts from what the channel
    held at the deepest point."""
    if op.kind != "read" or not isinstance(op.result, list):
        return ""
    deepest = window.deepest
    taken = sum(len(took) for i, _, took in deepest.deepest if i == window.culprit)
    rest, held = op.result[taken:], deepest.items_then
    same = 0
    while same < min(len(rest), len(held)) and identity(rest[same]) == identity(held[same]):
        same += 1
    got = value(rest[same]) if same < len(rest) else "nothing more"
    there = value(held[same]) if same < len(held) else "nothing more"
    start = f"from its item {taken + 1} on, " if taken else ""
    return (
        f"; {start}its result and the channel then agree on {_count(same, 'item')}, "
        f"then it returned {got} where the channel held {there}"
    )


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _event(channel: ChannelHistory, index: int, what: str, took: list[object]) -> str:
    ref = _lines(channel, index)
    op = channel.ops[index]
    if op.kind != "read":
        return f"{ref} {op.kind}"
    if what == "step":
        return f"{ref} read took {items(took)}"
    return f"{ref} read took {items(took)} and returned" if took else f"{ref} read returned"


def overall(verdicts: Sequence[Verdict]) -> tuple[str, int]:
    statuses = {v.status for v in verdicts}
    if "not linearizable" in statuses:
        return "not linearizable", NOT_LINEARIZABLE
    if "unknown" in statuses:
        return "unknown", UNKNOWN
    return "linearizable", LINEARIZABLE


# --- the command -------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # bad arguments: 3, as 2 means "unknown"
        self.print_usage(sys.stderr)
        self.exit(BAD_INPUT, f"{PROG}: error: {printable(message)}\n")


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return seconds


def _capacity(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= number <= TIME_MAX:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, {TIME_MAX}], got {text!r}")
    return number


def _page_path(text: str) -> str:
    """An output path that can be written: its directory exists and is writable, and it
    is not itself a directory (checked before the history is read)."""
    directory = os.path.dirname(text) or "."
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a directory")
    if not os.path.isdir(directory):
        raise argparse.ArgumentTypeError(f"no directory {directory!r} to write {text!r} in")
    if not os.access(directory, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write in {directory!r}")
    return text


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("history", help="a JSON Lines history (conformance/HISTORY.md); - for stdin")
    p.add_argument(
        "--timeout",
        type=_seconds,
        default=None,
        metavar="S",
        help="give up after S seconds in all, reading included: prints unknown, exits 2",
    )
    p.add_argument(
        "--html",
        metavar="FILE",
        type=_page_path,
        default=None,
        help="write a timeline of every channel to FILE (zoomed to a failure)",
    )
    p.add_argument(
        "--maxsize",
        type=_capacity,
        default=0,
        help="capacity of channels whose events carry no maxsize (default 0: unbounded)",
    )
    return p


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    started = time.monotonic()
    args = _parser().parse_args(argv)
    deadline = None if args.timeout is None else started + args.timeout
    name = printable(args.history)
    try:
        return _run(args, deadline, name, out)
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: {name}: interrupted\n")
        return INTERRUPTED


def _run(args: argparse.Namespace, deadline: float | None, name: str, out: TextIO) -> int:
    try:
        if args.history != "-":
            channels = read_history_file(args.history, args.maxsize, deadline)
        elif hasattr(sys.stdin, "buffer"):
            channels = read_history(lines_of(sys.stdin.buffer), args.maxsize, deadline)
        else:  # a text stream without bytes beneath (a test's StringIO)
            channels = read_history(sys.stdin, args.maxsize, deadline)
    except (OSError, HistoryError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        sys.stderr.write(f"{PROG}: {name}: {printable(reason)}\n")
        return BAD_INPUT
    except CheckTimeout as exc:
        out.write(f"unknown\n  timeout: {exc}\n")
        return UNKNOWN
    verdicts = check_channels(channels, deadline=deadline)
    status, code = overall(verdicts)
    out.write(status + "\n")
    several = len(channels) > 1
    texts = [format_verdict(verdict, several) for verdict in verdicts]
    for verdict, text in zip(verdicts, texts, strict=False):
        if several or verdict.status != "linearizable":
            out.write(text + "\n")
    if args.html is not None:
        from .html import render_verdicts

        page = render_verdicts(verdicts, texts, title=f"{name}: {status}")
        try:
            with open(args.html, "w", encoding="utf-8") as f:
                f.write(page)
        except OSError as exc:
            sys.stderr.write(
                f"{PROG}: {printable(args.html)}: {printable(exc.strerror or str(exc))}\n"
            )
            return BAD_INPUT
        out.write(f"timeline written to {printable(args.html)}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
