"""The sequential specification of one channel: docs/semantics.md rule 5/6 as pure code.

No threads, no locks, no mutation: every function takes a :class:`ChannelState` and
returns a new one. Items are ints (the models and the linearizability checker intern
real items to ints). The functions are small and carry PEP 316 contracts so CrossHair can
check them.

A *read* is described by its count (< 1: "all") and its mode:

* ``NOW``   - ``block=False``: one atomic take of what is there.
* ``BLOCK`` - ``block=True`` with no timeout: takes items in one or more atomic steps
  (each step takes what is there, up to what is still owed) and returns once it has
  ``count`` items, or once the channel is closed and drained.
* ``TIMED`` - ``block=True`` with a timeout: like ``BLOCK`` but it may also return, right
  after a step, with fewer items when the channel is empty (the timeout expired then).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Literal

__all__ = (
    "ChannelState",
    "IteratorState",
    "ReadMode",
    "WriteOutcome",
    "close",
    "empty_channel",
    "is_full",
    "iterator_read",
    "owed",
    "put_back",
    "read_may_finish",
    "read_now",
    "read_returns_at_once",
    "read_step",
    "write",
)

#: None: the item was written; "ReadOnly": the channel is closed; "Full": it is full.
WriteOutcome = Literal[None, "ReadOnly", "Full"]


class ReadMode(enum.Enum):
    NOW = "now"  # block=False
    BLOCK = "block"  # block=True, no timeout
    TIMED = "timed"  # block=True with a timeout


@dataclass(frozen=True)
class ChannelState:
    """The whole observable state of a channel. Invariant: 0 <= maxsize, and
    len(items) <= maxsize when maxsize > 0 (0: unbounded)."""

    items: tuple[int, ...] = ()
    closed: bool = False
    maxsize: int = 0


def empty_channel(maxsize: int = 0) -> ChannelState:
    """A new, open, empty channel.

    pre: maxsize >= 0
    post: __return__.items == () and not __return__.closed
    """
    return ChannelState((), False, maxsize)


def is_full(state: ChannelState) -> bool:
    """A bounded channel holding maxsize items is full; an unbounded one never is.

    post: __return__ == (state.maxsize > 0 and len(state.items) >= state.maxsize)
    """
    return state.maxsize > 0 and len(state.items) >= state.maxsize


def write(state: ChannelState, item: int) -> tuple[ChannelState, WriteOutcome]:
    """A write that may not wait: closed -> ReadOnly, full -> Full, else append.

    A blocking write is this same step, taken at a moment when it succeeds (or at the
    close that wakes it, giving ReadOnly).

    post: (__return__[1] is None) == (not state.closed and not is_full(state))
    post: __return__[0].items == (state.items + (item,) if __return__[1] is None else state.items)
    post: __return__[0].closed == state.closed
    """
    if state.closed:
        return state, "ReadOnly"
    if is_full(state):
        return state, "Full"
    return replace(state, items=state.items + (item,)), None


def close(state: ChannelState) -> ChannelState:
    """Close the channel; closing a closed channel is no error. Items stay readable.

    post: __return__.closed and __return__.items == state.items
    """
    return replace(state, closed=True)


def owed(count: int, taken: int) -> int:
    """How many more items a read of ``count`` wants after ``taken``; -1 means "all".

    pre: taken >= 0
    post: __return__ == -1 or __return__ >= 0
    """
    if count < 1:
        return -1
    return max(0, count - taken)


def read_step(state: ChannelState, count: int, taken: int) -> tuple[ChannelState, tuple[int, ...]]:
    """One atomic step of a read that has ``taken`` items so far: it takes, from the front,
    every item there up to what it is still owed.

    pre: taken >= 0
    post: __return__[1] + __return__[0].items == state.items
    post: count < 1 or len(__return__[1]) <= max(0, count - taken)
    post: __return__[0].closed == state.closed
    """
    want = owed(count, taken)
    n = len(state.items) if want < 0 else min(want, len(state.items))
    return replace(state, items=state.items[n:]), state.items[:n]


def read_now(state: ChannelState, count: int) -> tuple[ChannelState, tuple[int, ...]]:
    """A non-blocking read (``block=False``): one step, what is there up to ``count``.

    post: __return__[1] + __return__[0].items == state.items
    post: count < 1 or len(__return__[1]) == min(count, len(state.items))
    post: count >= 1 or __return__[0].items == ()
    """
    return read_step(state, count, 0)


def read_may_finish(state: ChannelState, count: int, taken: int, mode: ReadMode) -> bool:
    """May a read that has ``taken`` items (its latest step just done) return now?

    A blocking read returns when it has ``count`` items or the channel is closed and
    drained; a timed one also when nothing is there (its timeout expired); a
    non-blocking one always.

    pre: taken >= 0
    post: not (mode is ReadMode.NOW) or __return__
    post: not (state.closed and state.items == ()) or __return__
    """
    if mode is ReadMode.NOW:
        return True
    if count >= 1 and taken >= count:
        return True
    if state.items:
        return False
    return state.closed or mode is ReadMode.TIMED


def read_returns_at_once(state: ChannelState, count: int) -> bool:
    """Does a blocking read (no timeout) of ``count`` return without waiting? It does when
    the channel holds ``count`` items, or is closed; then it returns ``read_now``.

    post: __return__ == read_may_finish(read_now(state, count)[0], count, len(read_now(state, count)[1]), ReadMode.BLOCK)
    """
    if state.closed:
        return True
    return count >= 1 and len(state.items) >= count


def put_back(state: ChannelState, items: tuple[int, ...]) -> ChannelState:
    """What a failing post-read callback does: the items go back to the front, in order,
    even when the channel is closed (and even beyond maxsize).

    post: __return__.items == items + state.items
    post: __return__.closed == state.closed
    """
    return replace(state, items=items + state.items)


# --- IteratorReader ------------------------------------------------------------------


@dataclass(frozen=True)
class IteratorState:
    """An IteratorReader over an iterator that will still yield ``items``, raising once
    just before the ``fail_at``-th of them (-1: never); ``held`` are items taken by a read
    that failed, returned first by the next reads. Invariant: fail_at < len(items)."""

    items: tuple[int, ...] = ()
    fail_at: int = -1
    held: tuple[int, ...] = ()


def iterator_read(state: IteratorState, count: int) -> tuple[IteratorState, tuple[int, ...], bool]:
    """A read of ``count`` (< 1: all): held items first, then the iterator's, at most
    ``count`` in all. :return: (new state, items returned, True if the read raised - then
    it returned nothing and every item it took is held for the next read).

    post: count < 1 or len(__return__[1]) <= count
    post: not __return__[2] or __return__[1] == ()
    post: list(__return__[1] + __return__[0].held + __return__[0].items) == list(state.held + state.items)
    """
    want = len(state.held) + len(state.items) if count < 1 else count
    out = state.held[:want]
    rest = state.held[want:]
    need = want - len(out)
    if 0 <= state.fail_at < need:
        taken = out + state.items[: state.fail_at]
        return IteratorState(state.items[state.fail_at :], -1, taken + rest), (), True
    fail_at = state.fail_at - need if state.fail_at >= need else -1
    out = out + state.items[:need]
    return IteratorState(state.items[need:], fail_at, rest), out, False
