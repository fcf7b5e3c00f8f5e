"""Histories of channel operations as JSON Lines, in the Jepsen shape (conformance/HISTORY.md).

One event per line::

    {"process": "w0", "type": "invoke", "f": "write", "value": 7, "time": 1200}
    {"process": "w0", "type": "ok", "f": "write", "value": null, "time": 1450}

An operation is an ``invoke`` followed by the next ``ok``, ``fail`` or ``info`` of the same
process (one operation in flight per process). ``info``, or no completion at all, means
the outcome is unknown: the operation is *pending* to the checker. Events may carry
``"key"`` (the channel) and ``"maxsize"`` (that channel's capacity); other fields are
ignored.

:func:`read_history` turns a file into one :class:`ChannelHistory` per key (operations as
:class:`models.linearizability.Op`); :func:`write_history` does the reverse.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from models.linearizability import CheckTimeout, Op

from .jsonline import MAX_LINE_BYTES, Refused, decode
from .text import value as show

__all__ = (
    "ChannelHistory",
    "HistoryError",
    "events_of",
    "identity",
    "read_history",
    "read_history_file",
    "write_history",
    "write_history_file",
)

TYPES = ("invoke", "ok", "fail", "info")
FUNCTIONS = ("write", "read", "close")
WRITE_ERRORS = ("ReadOnly", "Full")
Scalar = str | int | float | bool | None
#: Times are nanoseconds on a 64-bit signed clock.
TIME_MIN, TIME_MAX = -(1 << 63), (1 << 63) - 1
_DEADLINE_EVERY = 4096  # the reader looks at the clock every this many lines


class HistoryError(ValueError):
    """A malformed history; the message names the line."""


@dataclass
class ChannelHistory:
    """The operations of one channel, in invoke order."""

    key: Scalar
    maxsize: int = 0
    ops: list[Op] = field(default_factory=list)
    # per operation: the line numbers (1-based) of its invoke and its completion (None)
    lines: list[tuple[int, int | None]] = field(default_factory=list)


def identity(scalar: object) -> tuple[bool, object]:
    """What makes two JSON scalars the same key, process or item: equal values of the
    same JSON type. ``true`` is not ``1`` (Python says True == 1); numbers compare by
    value, so ``1`` and ``1.0`` are the same."""
    return isinstance(scalar, bool), scalar


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _fail(number: int, message: str) -> HistoryError:
    return HistoryError(f"line {number}: {message}")


def _int_in(number: int, what: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _fail(number, f"{what} must be an integer in [{low}, {high}], got {show(value)}")
    return value


def _invoke_arg(number: int, f: str, value: object) -> object:
    """The Op arg of an invoke: write -> the item, read -> (count, block[, timeout])."""
    if f == "write":
        if not _scalar(value):
            raise _fail(number, f"a written item must be a JSON scalar, got {show(value)}")
        return value
    if f == "close":
        if value is not None:
            raise _fail(number, f"a close's value must be null, got {show(value)}")
        return None
    if not isinstance(value, dict):
        raise _fail(
            number, f'a read\'s value must be {{"count", "block", "timeout"}}, got {show(value)}'
        )
    count, block, timeout = value.get("count"), value.get("block"), value.get("timeout")
    if not isinstance(count, int) or isinstance(count, bool):
        raise _fail(number, f"a read's count must be an integer, got {show(count)}")
    count = _int_in(number, "a read's count", count, TIME_MIN, TIME_MAX)
    if not isinstance(block, bool):
        raise _fail(number, f"a read's block must be true or false, got {show(block)}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
        raise _fail(number, f"a read's timeout must be seconds or null, got {show(timeout)}")
    return (count, block) if timeout is None else (count, block, float(timeout))


def _result(number: int, f: str, kind: str, value: object, item: object) -> object:
    """The Op result of a completion (``ok`` or ``fail``)."""
    if f == "write":
        if kind == "fail":
            error = value.get("error") if isinstance(value, dict) else None
            if error not in WRITE_ERRORS:
                raise _fail(
                    number,
                    'a failed write\'s value must be {"error": "ReadOnly"|"Full"}, '
                    f"got {show(value)}",
                )
            return error
        if value is not None and identity(value) != identity(item):
            raise _fail(number, f"a written write's value must be null, got {show(value)}")
        return None
    if kind == "fail":
        raise _fail(number, f"a {f} never fails (record an unknown outcome as info)")
    if f == "close":
        if value is not None:
            raise _fail(number, f"a close's value must be null, got {show(value)}")
        return None
    if not isinstance(value, list) or not all(_scalar(x) for x in value):
        raise _fail(number, f"a read's value must be a list of JSON scalars, got {show(value)}")
    return list(value)


class _Threads:
    """The name each process gets as an operation's ``thread``: a string process its own
    text, any other its JSON spelling; a process whose name another already took gets its
    JSON spelling in full (``"1"`` for the string 1 when the number 1 came first)."""

    def __init__(self) -> None:
        self._names: dict[tuple[bool, object], str] = {}
        self._taken: set[str] = set()

    def __call__(self, process: object) -> str:
        known = self._names.get(identity(process))
        if known is not None:
            return known
        name = process if isinstance(process, str) else json.dumps(process)
        spelled = json.dumps(process)
        while name in self._taken:
            name = spelled if name != spelled else name + "'"
        self._names[identity(process)] = name
        self._taken.add(name)
        return name


def read_history(
    lines: Iterable[str | bytes], default_maxsize: int = 0, deadline: float | None = None
) -> list[ChannelHistory]:
    """Parse JSON Lines (blank lines skipped) into one :class:`ChannelHistory` per key, in
    order of first appearance.

    :param deadline: a ``time.monotonic()`` value; reading past it raises CheckTimeout.
    :raise HistoryError: on a malformed event, naming its line.
    :raise CheckTimeout: past the deadline (the message names the line reached).
    """
    channels: dict[tuple[bool, object], ChannelHistory] = {}
    said: set[tuple[bool, object]] = set()  # keys whose maxsize an event gave
    # per process: (channel, index of its op in flight)
    in_flight: dict[tuple[bool, object], tuple[ChannelHistory, int]] = {}
    thread_of = _Threads()
    for number, line in enumerate(lines, 1):
        if deadline is not None and number % _DEADLINE_EVERY == 0 and time.monotonic() > deadline:
            raise CheckTimeout(f"still reading the history at line {number}")
        raw = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a UTF-8 byte order mark
        if not raw.strip(b" \t\r\n"):
            continue
        try:
            event = decode(raw)
        except Refused as exc:
            raise _fail(number, str(exc)) from None
        if not isinstance(event, dict):
            raise _fail(number, f"an event must be a JSON object, got {show(event)}")
        for name in ("process", "type", "f", "time"):
            if name not in event:
                raise _fail(number, f"missing field {show(name)}")
        process, kind, f, when = event["process"], event["type"], event["f"], event["time"]
        value, key = event.get("value"), event.get("key")
        if not _scalar(process):
            raise _fail(number, f"process must be a JSON scalar, got {show(process)}")
        if kind not in TYPES:
            raise _fail(number, f"type must be one of {', '.join(TYPES)}, got {show(kind)}")
        if f not in FUNCTIONS:
            raise _fail(number, f"f must be one of {', '.join(FUNCTIONS)}, got {show(f)}")
        when = _int_in(number, "time (nanoseconds)", when, TIME_MIN, TIME_MAX)
        if not _scalar(key):
            raise _fail(number, f"key must be a JSON scalar, got {show(key)}")
        channel = channels.get(identity(key))
        if channel is None:
            channel = channels[identity(key)] = ChannelHistory(key, default_maxsize)
        if "maxsize" in event:
            maxsize = _int_in(number, "maxsize", event["maxsize"], 0, TIME_MAX)
            if identity(key) in said and channel.maxsize != maxsize:
                raise _fail(
                    number,
                    f"maxsize {maxsize} contradicts {channel.maxsize} said before for key "
                    f"{show(key)}",
                )
            said.add(identity(key))
            channel.maxsize = maxsize
        who = identity(process)
        if kind == "invoke":
            if who in in_flight:
                raise _fail(
                    number,
                    f"process {show(process)} invoked while its previous operation is in flight",
                )
            arg = _invoke_arg(number, f, value)
            channel.ops.append(Op(thread_of(process), f, arg, None, when, None))
            channel.lines.append((number, None))
            in_flight[who] = (channel, len(channel.ops) - 1)
            continue
        if who not in in_flight:
            raise _fail(number, f"{kind} of process {show(process)} without an invoke")
        owner, index = in_flight.pop(who)
        if owner is not channel:
            raise _fail(
                number, f"{kind} for key {show(key)} completes an invoke for key {show(owner.key)}"
            )
        op = owner.ops[index]
        if op.kind != f:
            raise _fail(number, f"{kind} of {f} completes an invoke of {op.kind}")
        if when < op.call:
            raise _fail(number, f"completion time {when} is before its invoke's {op.call}")
        owner.lines[index] = (owner.lines[index][0], number)
        if kind == "info":
            continue  # outcome unknown: stays pending
        result = _result(number, f, kind, value, op.arg)
        owner.ops[index] = Op(op.thread, op.kind, op.arg, result, op.call, when)
    return list(channels.values())


def lines_of(stream: BinaryIO) -> Iterator[bytes]:
    """The lines of a byte stream, each refused once past MAX_LINE_BYTES (without reading
    more of it than that)."""
    number = 0
    while True:
        number += 1
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES:
            raise _fail(number, f"longer than {MAX_LINE_BYTES} bytes")
        yield line


def read_history_file(
    path: str, default_maxsize: int = 0, deadline: float | None = None
) -> list[ChannelHistory]:
    with open(path, "rb") as f:
        return read_history(lines_of(f), default_maxsize, deadline)


def encode_item(item: object) -> Scalar:
    """Items that are not JSON scalars (the stress harness writes ``(writer, seq)``
    tuples) are written as their ``repr``: equal items stay equal, distinct ones distinct."""
    if item is None or isinstance(item, (str, int, float, bool)):
        return item
    return repr(item)


_Timed = tuple[int, int, int, dict[str, object]]  # (time, rank, op index, event)


def events_of(
    ops: Sequence[Op], key: Scalar = None, maxsize: int | None = None
) -> list[dict[str, object]]:
    """The events of ``ops`` (one channel) in time order. At equal times completions come
    first (they cannot follow a call that had not started), except an operation's own.
    A pending operation gets an ``info`` at the history's last time."""
    return [t[3] for t in sorted(_timed_events(ops, key, maxsize), key=lambda t: t[:3])]


def _timed_events(ops: Sequence[Op], key: Scalar, maxsize: int | None) -> list[_Timed]:
    end = max([op.call for op in ops] + [op.ret for op in ops if op.ret is not None], default=0)
    timed: list[_Timed] = []
    for index, op in enumerate(ops):
        invoke: dict[str, object] = {"process": op.thread, "type": "invoke", "f": op.kind}
        if op.kind == "write":
            invoke["value"] = encode_item(op.arg)
        elif op.kind == "read":
            arg = op.arg
            assert isinstance(arg, tuple)
            invoke["value"] = {
                "count": arg[0],
                "block": bool(arg[1]),
                "timeout": arg[2] if len(arg) == 3 else None,
            }
        else:
            invoke["value"] = None
        invoke["time"] = op.call
        done: dict[str, object] = {"process": op.thread, "f": op.kind}
        if op.ret is None:
            done.update(type="info", value=None, time=end)
        elif op.kind == "write" and op.result is not None:
            done.update(type="fail", value={"error": op.result}, time=op.ret)
        elif op.kind == "read":
            assert isinstance(op.result, list)
            done.update(type="ok", value=[encode_item(x) for x in op.result], time=op.ret)
        else:
            done.update(type="ok", value=None, time=op.ret)
        for event in (invoke, done):
            if key is not None:
                event["key"] = key
            if maxsize:
                event["maxsize"] = maxsize
        ret = end if op.ret is None else op.ret
        timed.append((op.call, 1, index, invoke))
        timed.append((ret, 2 if ret == op.call else 0, index, done))
    return timed


def write_history(out: IO[str], channels: Sequence[ChannelHistory]) -> None:
    """Write every channel's events, merged in time order; keys are written only when
    there are several channels."""
    timed: list[tuple[int, int, int, int, dict[str, object]]] = []
    for number, channel in enumerate(channels):
        key = channel.key if len(channels) > 1 else None
        for at, rank, index, event in _timed_events(channel.ops, key, channel.maxsize):
            timed.append((at, rank, number, index, event))
    for *_, event in sorted(timed, key=lambda t: t[:4]):
        out.write(json.dumps(event, separators=(",", ":")) + "\n")


def write_history_file(path: str, channels: Sequence[ChannelHistory]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        write_history(f, channels)
