"""Strict JSON for one line of a history: what every JSON library of a port can write and
read back the same (RFC 8259 with the interoperability limits of RFC 7493), decoded
without trusting the input.

* The line is UTF-8 (a byte order mark is allowed at the start of the file only).
* Numbers are finite: ``NaN``, ``Infinity`` and numbers beyond a double's range are
  refused; integers fit in 64 bits (signed or unsigned).
* Nesting is at most :data:`MAX_DEPTH` deep (the decoder's recursion limit, about
  1000 levels, is met safely before that would matter).
* A line holds at most :data:`MAX_LINE_BYTES` bytes (the reader checks it before
  decoding).
* A field appears at most once in an object.

Every refusal is a :class:`Refused` whose message is one short line.
"""

from __future__ import annotations

import json
import math

from .text import value

__all__ = ("MAX_DEPTH", "MAX_LINE_BYTES", "Refused", "decode")

#: Arrays and objects nest at most this deep (an event needs 3).
MAX_DEPTH = 64
#: A line longer than this is refused (a read of some 400,000 short items).
MAX_LINE_BYTES = 4 * 1024 * 1024
INT_MIN, INT_MAX = -(1 << 63), (1 << 64) - 1


class Refused(ValueError):
    """The line is not acceptable JSON; the message says why, on one short line."""


def decode(line: bytes) -> object:
    """:return: the JSON value of ``line``. :raise Refused: anything else."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(
            f"not UTF-8 (byte 0x{line[exc.start]:02x} at column {exc.start + 1})"
        ) from None
    try:
        decoded = json.loads(
            text,
            parse_constant=_constant,
            parse_int=_integer,
            parse_float=_number,
            object_pairs_hook=_object,
        )
    except json.JSONDecodeError as exc:
        raise Refused(f"not JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:  # the decoder's own limit (about 1000 levels), met safely
        raise Refused(f"nested deeper than {MAX_DEPTH} levels") from None
    if line.count(b"[") + line.count(b"{") > MAX_DEPTH and _depth(decoded) > MAX_DEPTH:
        raise Refused(f"nested deeper than {MAX_DEPTH} levels")
    return decoded


def _depth(decoded: object) -> int:
    """How deep arrays and objects nest in ``decoded`` (without recursion)."""
    deepest = 0
    stack = [(decoded, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            depth += 1
            deepest = max(deepest, depth)
            stack.extend((x, depth) for x in (item.values() if isinstance(item, dict) else item))
    return deepest


def _constant(name: str) -> object:
    raise Refused(f"{name} is not a JSON number")


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > 20:
        raise Refused(f"integer {_cut(text)} does not fit in 64 bits")
    number = int(text)
    if not INT_MIN <= number <= INT_MAX:
        raise Refused(f"integer {text} does not fit in 64 bits")
    return number


def _number(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise Refused(f"number {_cut(text)} is beyond a double's range")
    return number


def _cut(number: str) -> str:
    return number if len(number) <= 24 else f"{number[:24]}... ({len(number)} characters)"


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for name, item in pairs:
        if name in result:
            raise Refused(f"field {value(name)} appears twice")
        result[name] = item
    return result
