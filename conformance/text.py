"""How values, operations and names are written for people: in the checker's messages
and verdicts and on the HTML pages.

Values are spelled as JSON (``true``, ``null``, ``"a"``) when they are JSON scalars, else
(the stress harness's tuples) as Python's ``repr``. Everything is printable and short:
characters that are not printable (controls, lone surrogates, U+2028, bidirectional
overrides) are written as escapes, long strings are cut, and long item lists show their
first and last few items and a count, so one hostile or huge value cannot flood a
terminal, break a line or hide the rest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from models.linearizability import Op

__all__ = ("call_label", "items", "outcome_label", "printable", "value")

#: A string is cut beyond this many characters.
LONG_STRING = 60
#: A list of more than HEAD + TAIL + 1 items shows HEAD first and TAIL last items.
HEAD, TAIL = 3, 3


def printable(text: str) -> str:
    """``text`` with every character that is not printable written as an escape
    (``\\n``, ``\\x1b``, ``\\u2028``, ``\\udc80``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
    if named:
        return named
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def value(item: object, limit: int = LONG_STRING) -> str:
    """One value, as JSON if it is a JSON scalar (else its ``repr``), printable, and cut
    after ``limit`` characters (saying how long it was)."""
    if item is None or isinstance(item, (bool, int, float, str)):
        try:
            text = json.dumps(item, ensure_ascii=False, allow_nan=False)
        except ValueError:  # NaN or an infinity (a Python caller's float)
            text = repr(item)
    elif isinstance(item, (list, dict)):
        text = json.dumps(item, ensure_ascii=False, default=repr)
    else:
        text = repr(item)
    text = printable(text)
    if len(text) > limit:
        return f"{text[:limit]}...({len(text)} characters)"
    return text


def items(values: Sequence[object]) -> str:
    """A list of items: all of them when short, else the first and last few and how many
    are left out between them."""
    if len(values) <= HEAD + TAIL + 1:
        return "[" + ", ".join(value(v) for v in values) + "]"
    head = ", ".join(value(v) for v in values[:HEAD])
    tail = ", ".join(value(v) for v in values[-TAIL:])
    return f"[{head}, ... {len(values) - HEAD - TAIL} more ..., {tail}] ({len(values)} items)"


def call_label(op: Op) -> str:
    """The call, e.g. ``write("a")``, ``read(2, block=true, timeout=0.5)``, ``close()``."""
    if op.kind == "read":
        arg = op.arg if isinstance(op.arg, tuple) else (op.arg,)
        block = f", block={value(bool(arg[1]))}" if len(arg) >= 2 else ""
        timeout = f", timeout={value(arg[2])}" if len(arg) == 3 else ""
        return f"read({value(arg[0])}{block}{timeout})"
    if op.kind == "write":
        return f"write({value(op.arg)})"
    return f"{printable(op.kind)}()"


def outcome_label(op: Op) -> str:
    """What it returned: ``ok``, ``ReadOnly``, ``Full``, the items read, or ``unknown``."""
    if op.ret is None:
        return "unknown"
    if op.kind == "read":
        return items(op.result) if isinstance(op.result, list) else value(op.result)
    return "ok" if op.result is None else printable(str(op.result))
