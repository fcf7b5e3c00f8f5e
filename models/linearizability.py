"""A linearizability checker for concurrent histories of one channel.

Given a recorded history (who called what, when it was called and when it returned), it
decides whether some sequential order of the operations, consistent with real time,
satisfies the channel specification of :mod:`models.channel_spec`. The search is the
Wing-Gong / Lowe algorithm as porcupine implements it: depth-first over "which pending
operation takes effect next", memoizing every (set of finished operations, progress of
partial reads, channel state) already explored.

What an operation may do (see :mod:`models.channel_spec`):

* ``write``: ``arg`` is the item (hashable); ``result`` None (written), ``"ReadOnly"``
  (the channel was closed at that moment) or ``"Full"`` (open and full at that moment).
* ``close``: ``arg`` and ``result`` None; always takes effect.
* ``read``: ``arg`` is ``(count, block)`` or ``(count, block, timeout)``, ``result`` the
  list of items. A read is *not* one atomic step, because the real one is not: it takes
  the items that are there in one critical section, then waits for the rest. So a read
  is a sequence of atomic steps inside its interval, each taking every item there up to
  what it is still owed, and its result is their concatenation. ``block=False``: exactly
  one step. ``block=True`` without a timeout: it ends with ``count`` items, or on a closed
  and drained channel (count < 1: only then). ``block=True`` with a timeout (decided:
  "what was there over an interval"): it may also end right after a step that left the
  channel empty, with fewer items.
* An operation with ``ret`` None is *pending* (it timed out in the harness, or never
  returned): it may take effect at any moment after its call, or never. A pending read
  takes items by the same rule; its ``result`` is None (unknown: any items fit) or a
  list that bounds what it took (a prefix of that list: what a read in flight at a cut
  of the history returned in the end).

Real time: an operation's steps lie between its call and its return, so a step of ``o``
may come next only if no unfinished operation returned before ``o`` was called.

Not modelled: callbacks (a failing post-read callback puts items back) and ``size()``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field

from refasync.util import Lock

from . import channel_spec as spec
from .channel_spec import ChannelState, ReadMode

__all__ = ("CheckTimeout", "History", "LinearizabilityResult", "Op", "check_channel_history")

KINDS = ("write", "read", "close")
_SHOWN_EVENTS = 60  # the explanation shows this many events before the dead end
_NEVER = 1 << 126  # the return time of a pending operation: after everything


@dataclass(frozen=True)
class Op:
    thread: str  # who called
    kind: str  # "write" | "read" | "close"
    arg: object  # write: the item; read: (count, block) or (count, block, timeout); close: None
    result: object  # write: None, "ReadOnly" or "Full"; read: list of items; close: None
    call: int  # time.perf_counter_ns() just before the call
    ret: int | None  # time.perf_counter_ns() just after it returned; None = pending


class History:
    """A thread-safe recorder of operations: ``token = h.call(...)`` just before the call,
    ``h.ret(token, result)`` just after it returns (``h.pending(token)`` if it never did)."""

    def __init__(self) -> None:
        self._lock = Lock("History.lock")
        # Guarded by _lock: one entry per call, in call order; ret None until returned.
        self._ops: list[Op] = []

    def call(self, thread: str, kind: str, arg: object) -> int:
        if kind not in KINDS:
            raise ValueError(f"unknown operation kind {kind!r}")
        with self._lock:
            token = len(self._ops)
            # The timestamp is taken last: it is before the operation starts.
            self._ops.append(Op(thread, kind, arg, None, time.perf_counter_ns(), None))
        return token

    def ret(self, token: int, result: object) -> None:
        # The timestamp is taken first: it is after the operation ended.
        now = time.perf_counter_ns()
        with self._lock:
            op = self._ops[token]
            self._ops[token] = Op(op.thread, op.kind, op.arg, result, op.call, now)

    def pending(self, token: int) -> None:
        with self._lock:
            op = self._ops[token]
            self._ops[token] = Op(op.thread, op.kind, op.arg, None, op.call, None)

    def ops(self) -> list[Op]:
        with self._lock:
            return list(self._ops)


@dataclass
class LinearizabilityResult:
    ok: bool
    order: list[Op] | None  # when ok: the ops in the order they took effect (a read at its
    # last step; pending ops that never took effect are left out)
    explanation: str  # when not ok: the longest linearizable prefix and what failed
    # when not ok: the indices (in the given ops) of the operations the deepest search
    # placed, and of the first one (by return) it could not place
    placed: list[int] = field(default_factory=list)
    culprit: int | None = None
    # when not ok: the deepest point's events in order, as (index in the given ops,
    # "step" | "done", the items a read took in that step), and the channel there
    deepest: list[tuple[int, str, list[object]]] = field(default_factory=list)
    items_then: list[object] = field(default_factory=list)
    closed_then: bool = False
    steps: int = 0  # the steps the search tried (its work, the same on every machine)

    def __bool__(self) -> bool:
        return self.ok


# --- the search ------------------------------------------------------------------------


class CheckTimeout(Exception):
    """The search passed its deadline before it decided (the answer is unknown)."""


@dataclass(frozen=True)
class _Entry:
    """One operation, prepared for the search: items interned to ints."""

    index: int  # its position in the given operations (explanations name it)
    pos: int  # its position in call order: its bit in the set of finished operations
    op: Op
    call: int
    ret: int  # _NEVER when pending
    pending: bool
    item: int  # write: its item
    count: int  # read: its count
    mode: ReadMode  # read: its mode
    expected: tuple[int, ...] | None  # read: its interned result (None: pending)
    bound: tuple[int, ...] | None  # pending read: the items it took are a prefix of these


class _Interner:
    """Maps equal items to equal ints (hashable items by hash, others by equality). A
    bool is never equal to a number here (Python's True == 1 is not the channel's: a
    written True is not a written 1); numbers compare by value (1 and 1.0 are one item)."""

    def __init__(self) -> None:
        self._hashable: dict[tuple[bool, Hashable], int] = {}
        self._other: list[tuple[bool, object]] = []
        self.items: dict[int, object] = {}  # the reverse map, for explanations

    def __call__(self, item: object) -> int:
        key = (isinstance(item, bool), item)
        try:
            number = self._hashable.setdefault(
                key, len(self._hashable) + len(self._other)
            )  # unhashable: TypeError
        except TypeError:
            for i, known in enumerate(self._other):
                if known == key:
                    return -1 - i
            self._other.append(key)
            number = -len(self._other)
        self.items.setdefault(number, item)
        return number


def _read_mode(arg: object) -> tuple[int, ReadMode]:
    if not isinstance(arg, tuple) or len(arg) not in (2, 3):
        raise ValueError(f"a read's arg must be (count, block[, timeout]), got {arg!r}")
    count, block = arg[0], arg[1]
    timeout = arg[2] if len(arg) == 3 else None
    if not isinstance(count, int):
        raise ValueError(f"a read's count must be an int, got {count!r}")
    if not block:
        return count, ReadMode.NOW
    return count, ReadMode.BLOCK if timeout is None else ReadMode.TIMED


def _prepare(ops: Sequence[Op], intern: _Interner) -> list[_Entry]:
    """:return: the entries in call order (ties: given order)."""
    prepared = []
    for index, op in enumerate(ops):
        if op.kind not in KINDS:
            raise ValueError(f"unknown operation kind {op.kind!r} in {op!r}")
        pending = op.ret is None
        item, count, mode, expected, bound = 0, 0, ReadMode.NOW, None, None
        if op.kind == "write":
            item = intern(op.arg)
            if not pending and op.result not in (None, "ReadOnly", "Full"):
                raise ValueError(f"a write's result must be None, 'ReadOnly' or 'Full': {op!r}")
        elif op.kind == "read":
            count, mode = _read_mode(op.arg)
            if not pending:
                if not isinstance(op.result, list):
                    raise ValueError(f"a read's result must be a list: {op!r}")
                expected = tuple(intern(x) for x in op.result)
            elif op.result is not None:
                if not isinstance(op.result, list):
                    raise ValueError(f"a pending read's result must be None or a list: {op!r}")
                bound = tuple(intern(x) for x in op.result)
        prepared.append((index, op, pending, item, count, mode, expected, bound))
    prepared.sort(key=lambda p: (p[1].call, p[0]))
    return [
        _Entry(
            index,
            pos,
            op,
            op.call,
            _NEVER if pending else op.ret or 0,
            pending,
            item,
            count,
            mode,
            expected,
            bound,
        )
        for pos, (index, op, pending, item, count, mode, expected, bound) in enumerate(prepared)
    ]


class _FifoOrder:
    """What the read results say about the order of items in the channel, used to prune
    an append at once instead of exploring everything behind it (sound only when every
    item is written by one operation and returned by at most one finished read, as in
    the stress harness; otherwise it never prunes).

    If ``x`` is ahead of ``y`` in the channel, ``x`` leaves first. So ``y``, returned by a
    finished read, may not join behind ``x`` when ``x`` must leave after ``y``: one read
    returned ``y`` before ``x`` (:meth:`later_in_one_read`); or the read that returned
    ``y`` ended before the read that returned ``x`` started (:meth:`read_ended_before`);
    or no finished read returned ``x`` and no pending read can take it
    (:meth:`never_taken`: there is no pending read of unknown result, and ``x`` is in no
    pending read's bound)."""

    def __init__(self, entries: Sequence[_Entry]) -> None:
        self.where: dict[int, tuple[_Entry, int]] = {}  # item -> (its read, position)
        reads = [e for e in entries if e.op.kind == "read"]
        self.unbounded_pending = any(e.pending and e.bound is None for e in reads)
        self.maybe_taken = {x for e in reads if e.bound is not None for x in e.bound}
        writes = [e.item for e in entries if e.op.kind == "write"]
        self.active = len(writes) == len(set(writes))
        for e in reads:
            if e.expected is None:
                continue
            for position, item in enumerate(e.expected):
                if item in self.where:
                    self.active = False
                self.where[item] = (e, position)

    def may_join(self, ahead: tuple[int, ...], item: int) -> bool:
        """May ``item`` be appended behind ``ahead``?"""
        if not self.active:
            return True
        mine = self.where.get(item)
        if mine is None:
            return True
        for x in ahead:
            theirs = self.where.get(x)
            if theirs is None:
                if self.never_taken(x):
                    return False
            elif theirs[0] is mine[0]:
                if self.later_in_one_read(theirs[1], mine[1]):
                    return False
            elif self.read_ended_before(mine[0], theirs[0]):
                return False
        return True

    def never_taken(self, item: int) -> bool:
        """No finished read returned ``item``: can no pending read take it either?"""
        return not self.unbounded_pending and item not in self.maybe_taken

    @staticmethod
    def later_in_one_read(position_x: int, position_y: int) -> bool:
        return position_x > position_y

    @staticmethod
    def read_ended_before(read_y: _Entry, read_x: _Entry) -> bool:
        return read_y.ret < read_x.call


# (bitmask of finished ops by call position, ((op pos, items taken), ...) of partial
# reads, channel)
_Key = tuple[int, tuple[tuple[int, int], ...], ChannelState]
_Event = tuple[int, str]  # (op pos, "step" | "done")
_Step = tuple[_Event, int, int, ChannelState]  # (event, done mask, items taken, channel)
#: The search reads the clock every this many units of work (an operation looked at as a
#: candidate or for a forced step, or a successor generated: about a microsecond each).
_DEADLINE_EVERY = 4096
#: The memo of explored configurations is emptied when the words its keys hold (items in
#: the channel, partial reads, the finished set) pass this; it is only a shortcut (the
#: configurations form a DAG: every step finishes an operation or advances a read), so
#: forgetting some costs time, never a verdict, and memory stays bounded.
MEMO_WORDS = 4_000_000


@dataclass
class _Search:
    entries: list[_Entry]
    maxsize: int
    deadline: float | None = None  # time.monotonic() value; None: no limit
    memo_words: int = 0  # 0: MEMO_WORDS
    seen: set[_Key] = field(default_factory=set)
    # the deepest dead end: (number finished, events so far, state there, its done mask)
    best: tuple[int, list[_Event], ChannelState, int] = (-1, [], ChannelState(), 0)
    tried: int = 0  # successors generated
    work: int = 0  # units of work done (see _DEADLINE_EVERY)
    memo_resets: int = 0

    def __post_init__(self) -> None:
        self.order = _FifoOrder(self.entries)
        self.pending_mask = 0
        for e in self.entries:
            if e.pending:
                self.pending_mask |= 1 << e.pos
        self.pending_entries = [e for e in self.entries if e.pending]
        self.must_finish = ((1 << len(self.entries)) - 1) & ~self.pending_mask
        writes = [e.item for e in self.entries if e.op.kind == "write"]
        self.writes_unique = len(writes) == len(set(writes))
        self.claims: Counter[int] = Counter()  # item -> how many reads list it
        for e in self.entries:
            self.claims.update(set(e.expected or e.bound or ()))
        self.full_writes = 0  # the writes that failed with Full
        for e in self.entries:
            if e.op.kind == "write" and not e.pending and e.op.result == "Full":
                self.full_writes |= 1 << e.pos
        self._words = 0  # held by the keys in seen
        self.memo_words = self.memo_words or MEMO_WORDS

    def run(self) -> list[_Event] | None:
        """:return: the events of a linearization, or None.
        :raise CheckTimeout: past the deadline."""
        must_finish = self.must_finish
        start: _Key = (0, (), spec.empty_channel(self.maxsize))
        events: list[_Event] = []
        # Depth-first with an explicit stack of (key, its successors, generated lazily).
        stack = [(start, self._successors(start))]
        self._remember(start)
        while stack:
            key, successors = stack[-1]
            if key[0] & must_finish == must_finish:
                return events
            advanced = False
            for event, succ in successors:
                if succ in self.seen:
                    continue
                self._remember(succ)
                events.append(event)
                stack.append((succ, self._successors(succ)))
                advanced = True
                break
            if not advanced:
                self._note_dead_end(key, events)
                stack.pop()
                if events:
                    events.pop()
        return None

    def _remember(self, key: _Key) -> None:
        self._words += 4 + len(key[1]) * 2 + len(key[2].items) + key[0].bit_length() // 60
        if self._words > self.memo_words:
            self.seen.clear()
            self._words = 0
            self.memo_resets += 1
        self.seen.add(key)

    def _tick(self, units: int = 1) -> None:
        before = self.work
        self.work += units
        if (
            self.deadline is not None
            and before // _DEADLINE_EVERY != self.work // _DEADLINE_EVERY
            and time.monotonic() > self.deadline
        ):
            raise CheckTimeout(f"undecided after trying {self.tried} steps")

    def _note_dead_end(self, key: _Key, events: list[_Event]) -> None:
        finished = key[0].bit_count()
        if finished > self.best[0]:
            self.best = (finished, list(events), key[2], key[0])

    def _candidates(self, done: int) -> list[_Entry]:
        """o may act next iff no unfinished op returned before o was called. Entries are
        in call order, so the scan visits the unfinished ones only (the set bits of a
        mask, not every position) and stops at the first call after the earliest return
        seen (a later entry cannot return earlier)."""
        entries = self.entries
        free = self.must_finish & ~done
        out: list[_Entry] = []
        first_ret = _NEVER
        base = 0
        while free:
            skip = (free & -free).bit_length() - 1
            free >>= skip + 1
            e = entries[base + skip]
            base += skip + 1
            if e.call > first_ret:
                break
            out.append(e)
            if e.ret < first_ret:
                first_ret = e.ret
        for e in self.pending_entries:  # last: they may also never take effect
            if e.call <= first_ret and not done >> e.pos & 1:
                out.append(e)
        self._tick(2 * len(out))  # scanned here, then looked at for a forced step
        return out

    def _successors(self, key: _Key) -> Iterator[tuple[_Event, _Key]]:
        done, partial, state = key
        progress = dict(partial)
        candidates = self._candidates(done)
        forced = self._forced_step(candidates, done, progress, state)
        for e, step in (
            [forced]
            if forced is not None
            else ((c, s) for c in candidates for s in self._steps(c, done, progress, state))
        ):
            event, new_done, new_taken, new_state = step
            self.tried += 1
            self._tick()
            new_progress = dict(progress)
            new_progress.pop(e.pos, None)
            if new_taken:
                new_progress[e.pos] = new_taken
            yield event, (new_done, tuple(sorted(new_progress.items())), new_state)

    def _forced_step(
        self, candidates: list[_Entry], done: int, progress: dict[int, int], state: ChannelState
    ) -> tuple[_Entry, _Step] | None:
        """A step that may be taken first without losing any linearization, so that it is
        the only one explored here: :meth:`_neutral_step`, else :meth:`_own_items_step`."""
        for e in candidates:
            if not e.pending:
                step = self._neutral_step(e, done, progress, state)
                if step is not None:
                    return e, step
        if state.items and self.writes_unique and not self.full_writes & ~done:
            for e in candidates:
                if e.expected is not None or (
                    e.bound is not None
                    and e.mode is not ReadMode.NOW
                    and not self.order.unbounded_pending
                ):
                    step = self._own_items_step(e, done, progress, state)
                    if step is not None:
                        return e, step
        return None

    def _neutral_step(
        self, e: _Entry, done: int, progress: dict[int, int], state: ChannelState
    ) -> _Step | None:
        """The completion of ``e`` (not pending) if it may complete now without changing
        the channel: a write that failed, a close of a closed channel, a read that takes
        nothing more. In a linearization that completes it later, moving its completion
        here changes no state a later step sees, and finishing ``e`` earlier only lets
        more operations act."""
        kind = e.op.kind
        if kind == "write":
            maybe = (e.op.result == "ReadOnly" and state.closed) or (
                e.op.result == "Full" and not state.closed and spec.is_full(state)
            )
        elif kind == "close":
            maybe = state.closed
        else:
            assert e.expected is not None
            maybe = progress.get(e.pos, 0) == len(e.expected)
        if maybe:
            for step in self._steps(e, done, progress, state):
                if step[0][1] == "done" and step[3] == state:
                    return step
        return None

    def _own_items_step(
        self, e: _Entry, done: int, progress: dict[int, int], state: ChannelState
    ) -> _Step | None:
        """A step of the read ``e`` that takes items no other read lists (in its result or
        its bound), every item being written once, no write still to be placed having
        failed with ``Full`` (the one outcome an emptier channel could forbid) and, for a
        pending ``e``, no read of unknown result (it could take them instead) and ``e``
        not a non-blocking read (whose one step, taken later, could take more).

        Nothing else may take those items, and they are at the front, so no other read
        takes anything while they are there: in a linearization where ``e`` takes them
        later (or, pending, never), taking them here instead leaves every step in between
        valid (writes find more room, reads may finish on an emptier channel, and
        ``may_join`` sees fewer items ahead), and ``e``'s later step takes the rest (a
        finished non-blocking read's one step takes its whole result, here as later)."""
        for step in self._steps(e, done, progress, state):
            got = state.items[: len(state.items) - len(step[3].items)]
            if got and all(self.claims[x] == 1 for x in got):
                return step
        return None

    def _steps(
        self, e: _Entry, done: int, progress: dict[int, int], state: ChannelState
    ) -> list[_Step]:
        """Every atomic step ``e`` can take now: (event, done, items taken, state)."""
        finish = done | 1 << e.pos
        kind = e.op.kind
        if kind == "close":
            return [((e.pos, "done"), finish, 0, spec.close(state))]
        if kind == "write":
            new_state, outcome = spec.write(state, e.item)
            if outcome is None and not self.order.may_join(state.items, e.item):
                return []
            if e.pending:  # a pending write that could not succeed counts as not done
                return [((e.pos, "done"), finish, 0, new_state)] if outcome is None else []
            if outcome != e.op.result:
                return []
            return [((e.pos, "done"), finish, 0, new_state)]
        return self._read_steps(e, finish, progress.get(e.pos, 0), state)

    def _read_steps(self, e: _Entry, finish: int, taken: int, state: ChannelState) -> list[_Step]:
        new_state, got = spec.read_step(state, e.count, taken)
        total = taken + len(got)
        expected = e.expected
        if expected is not None and expected[taken:total] != got:
            return []
        if e.bound is not None and e.bound[taken:total] != got:
            return []
        may_finish = spec.read_may_finish(new_state, e.count, total, e.mode)
        if expected is not None and may_finish and total == len(expected):
            return [((e.pos, "done"), finish, 0, new_state)]
        if e.mode is ReadMode.NOW:
            if expected is None:  # pending: its one step
                return [((e.pos, "done"), finish, 0, new_state)]
            return []
        if not got:
            return []  # an empty step changes nothing: not worth exploring
        return [((e.pos, "step"), finish & ~(1 << e.pos), total, new_state)]


def check_channel_history(
    ops: Sequence[Op], maxsize: int = 0, deadline: float | None = None
) -> LinearizabilityResult:
    """Decide whether ``ops`` (one channel, created empty with ``maxsize``) is linearizable.

    :param deadline: a ``time.monotonic()`` value; past it the search gives up.
    :raise ValueError: on a malformed operation.
    :raise CheckTimeout: when the deadline passed before the search decided.
    """
    intern = _Interner()
    entries = _prepare(ops, intern)
    search = _Search(entries, maxsize, deadline)
    events = search.run()
    if events is not None:
        order = [entries[pos].op for pos, what in events if what == "done"]
        return LinearizabilityResult(True, order, "", steps=search.tried)
    _, best_events, _, _ = search.best
    placed = sorted(entries[pos].index for pos, what in best_events if what == "done")
    culprit = _culprit(search)
    _, _, state, _ = search.best
    return LinearizabilityResult(
        False,
        None,
        _explain(search, intern.items),
        placed,
        None if culprit is None else culprit.index,
        _replay(search, intern.items),
        [intern.items[x] for x in state.items],
        state.closed,
        search.tried,
    )


def _replay(search: _Search, items: dict[int, object]) -> list[tuple[int, str, list[object]]]:
    """The deepest point's events, with what each read step took (replayed on the
    specification from the empty channel)."""
    state = spec.empty_channel(search.maxsize)
    taken: dict[int, int] = {}
    out: list[tuple[int, str, list[object]]] = []
    for pos, what in search.best[1]:
        e = search.entries[pos]
        got: tuple[int, ...] = ()
        if e.op.kind == "close":
            state = spec.close(state)
        elif e.op.kind == "write":
            state = spec.write(state, e.item)[0]
        else:
            state, got = spec.read_step(state, e.count, taken.get(pos, 0))
            taken[pos] = taken.get(pos, 0) + len(got)
        out.append((e.index, what, [items[x] for x in got]))
    return out


def _culprit(search: _Search) -> _Entry | None:
    """The first operation (by return) the deepest search could not place; when that is a
    write that the read order forbade, the read that returned its item."""
    _, _, state, done = search.best
    stuck = [e for e in search.entries if not done >> e.pos & 1 and not e.pending]
    if not stuck:
        return None
    first = min(stuck, key=lambda e: e.ret)
    if (
        first.op.kind == "write"
        and spec.write(state, first.item)[1] is None
        and not search.order.may_join(state.items, first.item)
    ):
        return search.order.where[first.item][0]
    return first


def _explain(search: _Search, items: dict[int, object]) -> str:
    finished, events, state, _ = search.best
    lines = [f"not linearizable: at best {finished} of {len(search.entries)} operations placed"]
    lines.append("longest linearizable prefix (events in order):")
    if len(events) > _SHOWN_EVENTS:
        lines.append(f"  ... {len(events) - _SHOWN_EVENTS} earlier events")
    for pos, what in events[-_SHOWN_EVENTS:]:
        e = search.entries[pos]
        lines.append(f"  {what:4} #{e.index} {_describe(e.op)}")
    lines.append(f"channel then: items={[items[x] for x in state.items]} closed={state.closed}")
    first = _culprit(search)
    if first is not None:
        lines.append(f"could not place: #{first.index} {_describe(first.op)}")
    return "\n".join(lines)


def _describe(op: Op) -> str:
    ret = "pending" if op.ret is None else str(op.ret)
    return f"{op.thread}: {op.kind}({op.arg!r}) -> {op.result!r} [{op.call}, {ret}]"
