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
from dataclasses import dataclass, field
from typing import IO, Iterable, Sequence

from models.linearizability import Op

__all__ = (
    "ChannelHistory",
    "HistoryError",
    "events_of",
    "read_history",
    "read_history_file",
    "write_history",
    "write_history_file",
)

TYPES = ("invoke", "ok", "fail", "info")
FUNCTIONS = ("write", "read", "close")
WRITE_ERRORS = ("ReadOnly", "Full")
Scalar = str | int | float | bool | None


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


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _fail(number: int, message: str) -> HistoryError:
    return HistoryError(f"line {number}: {message}")


def _invoke_arg(number: int, f: str, value: object) -> object:
    """The Op arg of an invoke: write -> the item, read -> (count, block[, timeout])."""
    if f == "write":
        if not _scalar(value):
            raise _fail(number, f"a written item must be a JSON scalar, got {value!r}")
        return value
    if f == "close":
        if value is not None:
            raise _fail(number, f"a close's value must be null, got {value!r}")
        return None
    if not isinstance(value, dict):
        raise _fail(number, f'a read\'s value must be {{"count", "block", "timeout"}}, got {value!r}')
    count, block, timeout = value.get("count"), value.get("block"), value.get("timeout")
    if not isinstance(count, int) or isinstance(count, bool):
        raise _fail(number, f"a read's count must be an integer, got {count!r}")
    if not isinstance(block, bool):
        raise _fail(number, f"a read's block must be true or false, got {block!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
        raise _fail(number, f"a read's timeout must be seconds or null, got {timeout!r}")
    return (count, block) if timeout is None else (count, block, float(timeout))


def _result(number: int, f: str, kind: str, value: object, item: object) -> object:
    """The Op result of a completion (``ok`` or ``fail``)."""
    if f == "write":
        if kind == "fail":
            error = value.get("error") if isinstance(value, dict) else None
            if error not in WRITE_ERRORS:
                raise _fail(number, f'a failed write\'s value must be {{"error": "ReadOnly"|"Full"}}, got {value!r}')
            return error
        if value is not None and value != item:
            raise _fail(number, f"a written write's value must be null, got {value!r}")
        return None
    if kind == "fail":
        raise _fail(number, f"a {f} never fails (record an unknown outcome as info)")
    if f == "close":
        if value is not None:
            raise _fail(number, f"a close's value must be null, got {value!r}")
        return None
    if not isinstance(value, list) or not all(_scalar(x) for x in value):
        raise _fail(number, f"a read's value must be a list of JSON scalars, got {value!r}")
    return list(value)


def read_history(lines: Iterable[str], default_maxsize: int = 0) -> list[ChannelHistory]:
    """Parse JSON Lines (blank lines skipped) into one :class:`ChannelHistory` per key, in
    order of first appearance.

    :raise HistoryError: on a malformed event, naming its line.
    """
    channels: dict[Scalar, ChannelHistory] = {}
    # per process: (channel, index of its op in flight)
    in_flight: dict[Scalar, tuple[ChannelHistory, int]] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(number, f"not JSON: {exc}") from None
        if not isinstance(event, dict):
            raise _fail(number, f"an event must be a JSON object, got {event!r}")
        for name in ("process", "type", "f", "time"):
            if name not in event:
                raise _fail(number, f"missing field {name!r}")
        process, kind, f, time = event["process"], event["type"], event["f"], event["time"]
        value, key = event.get("value"), event.get("key")
        if not _scalar(process):
            raise _fail(number, f"process must be a JSON scalar, got {process!r}")
        if kind not in TYPES:
            raise _fail(number, f"type must be one of {', '.join(TYPES)}, got {kind!r}")
        if f not in FUNCTIONS:
            raise _fail(number, f"f must be one of {', '.join(FUNCTIONS)}, got {f!r}")
        if not isinstance(time, int) or isinstance(time, bool):
            raise _fail(number, f"time must be an integer (nanoseconds), got {time!r}")
        if not _scalar(key):
            raise _fail(number, f"key must be a JSON scalar, got {key!r}")
        channel = channels.get(key)
        if channel is None:
            channel = channels[key] = ChannelHistory(key, default_maxsize)
            channel.maxsize = -1  # not yet said
        if "maxsize" in event:
            maxsize = event["maxsize"]
            if not isinstance(maxsize, int) or isinstance(maxsize, bool) or maxsize < 0:
                raise _fail(number, f"maxsize must be an integer >= 0, got {maxsize!r}")
            if channel.maxsize not in (-1, maxsize):
                raise _fail(number, f"maxsize {maxsize} contradicts {channel.maxsize} said before for key {key!r}")
            channel.maxsize = maxsize
        if kind == "invoke":
            if process in in_flight:
                raise _fail(number, f"process {process!r} invoked while its previous operation is in flight")
            arg = _invoke_arg(number, f, value)
            channel.ops.append(Op(str(process), f, arg, None, time, None))
            channel.lines.append((number, None))
            in_flight[process] = (channel, len(channel.ops) - 1)
            continue
        if process not in in_flight:
            raise _fail(number, f"{kind} of process {process!r} without an invoke")
        owner, index = in_flight.pop(process)
        if owner is not channel:
            raise _fail(number, f"{kind} for key {key!r} completes an invoke for key {owner.key!r}")
        op = owner.ops[index]
        if op.kind != f:
            raise _fail(number, f"{kind} of {f} completes an invoke of {op.kind}")
        if time < op.call:
            raise _fail(number, f"completion time {time} is before its invoke's {op.call}")
        owner.lines[index] = (owner.lines[index][0], number)
        if kind == "info":
            continue  # outcome unknown: stays pending
        result = _result(number, f, kind, value, op.arg)
        owner.ops[index] = Op(op.thread, op.kind, op.arg, result, op.call, time)
    for channel in channels.values():
        if channel.maxsize == -1:
            channel.maxsize = default_maxsize
    return list(channels.values())


def read_history_file(path: str, default_maxsize: int = 0) -> list[ChannelHistory]:
    with open(path, encoding="utf-8") as f:
        return read_history(f, default_maxsize)


def encode_item(item: object) -> Scalar:
    """Items that are not JSON scalars (the stress harness writes ``(writer, seq)``
    tuples) are written as their ``repr``: equal items stay equal, distinct ones distinct."""
    if _scalar(item):
        return item  # type: ignore[return-value]  # _scalar checked it
    return repr(item)


_Timed = tuple[int, int, int, dict[str, object]]  # (time, rank, op index, event)


def events_of(ops: Sequence[Op], key: Scalar = None, maxsize: int | None = None) -> list[dict[str, object]]:
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
            invoke["value"] = {"count": arg[0], "block": bool(arg[1]),
                               "timeout": arg[2] if len(arg) == 3 else None}
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
        for time, rank, index, event in _timed_events(channel.ops, key, channel.maxsize):
            timed.append((time, rank, number, index, event))
    for *_, event in sorted(timed, key=lambda t: t[:4]):
        out.write(json.dumps(event, separators=(",", ":")) + "\n")


def write_history_file(path: str, channels: Sequence[ChannelHistory]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        write_history(f, channels)
