"""Concurrent histories of one channel, made by running threads' programs against the
specification (:mod:`models.channel_spec`) one atomic step at a time, in an order a
``choose`` function picks.

Every event (a call, an atomic step, a return) gets the next time, so the history is
linearizable by construction, with the overlaps a real run has: a blocking read takes
items in several steps while others act, a read-all spans the run until the close. The
linearizability tests draw ``choose`` from Hypothesis (small runs against the brute-force
checker); ``python -m conformance.bench_check`` draws it from a seeded random generator
(long runs, to time the checker). Runs that end with threads still blocked leave their
operations pending.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from . import channel_spec as spec
from .channel_spec import ChannelState, ReadMode
from .linearizability import Op

__all__ = ("Program", "run_programs")

#: ("write", (item, block)), ("read", (count, block) or (count, block, timeout)),
#: ("close", None)
Call = tuple[str, object]


@dataclass(frozen=True)
class Program:
    """One thread: its calls in order; then, if ``reads`` is not empty, reads (each one
    of ``reads``, as ``choose`` picks) until one returns on a closed, drained channel.
    It starts once every thread named in ``after`` has finished its program."""

    thread: str
    calls: Sequence[Call] = ()
    reads: Sequence[tuple[object, ...]] = ()
    after: Sequence[str] = ()


@dataclass
class _Running:
    """A thread's operation in flight."""

    kind: str
    arg: object  # the Op's arg
    call: int
    block: bool = True
    mode: ReadMode = ReadMode.BLOCK
    count: int = 0
    taken: list[object] = field(default_factory=list)
    result: object = None
    finished: bool = False  # its last step is taken; it returns at its next event


def _start(kind: str, arg: object, now: int) -> _Running:
    if kind == "write":
        assert isinstance(arg, tuple)
        return _Running("write", arg[0], now, block=bool(arg[1]))
    if kind == "close":
        return _Running("close", None, now)
    assert isinstance(arg, tuple)
    count, block = int(str(arg[0])), bool(arg[1])
    mode = ReadMode.NOW if not block else ReadMode.BLOCK if len(arg) == 2 else ReadMode.TIMED
    return _Running("read", arg, now, mode=mode, count=count)


def run_programs(
    programs: Sequence[Program],
    maxsize: int,
    choose: Callable[[int], int],
    pending_bound: Callable[[], bool] = lambda: True,
) -> list[Op]:
    """:return: the operations of one run, in call order. ``choose(n)`` picks one of
    ``n`` possible next events (an int in ``range(n)``); ``pending_bound()`` says
    whether a read left pending keeps what it took as its bound (else None)."""
    state = spec.empty_channel(maxsize)
    items: dict[int, object] = {}  # interned item -> item
    interned: dict[object, int] = {}
    running: dict[str, _Running] = {}
    next_call = {p.thread: 0 for p in programs}
    ended: set[str] = set()
    ops: list[Op] = []
    now = 0

    def intern(item: object) -> int:
        return interned.setdefault(item, len(interned))

    while True:
        moves: list[tuple[str, str]] = []  # (thread, "call" | "step" | "return")
        for p in programs:
            if p.thread in ended:
                continue
            run = running.get(p.thread)
            if run is None:
                if all(t in ended for t in p.after):
                    moves.append((p.thread, "call"))
            elif run.finished:
                moves.append((p.thread, "return"))
            elif _can_step(run, state):
                moves.append((p.thread, "step"))
        if not moves:
            break
        thread, move = moves[choose(len(moves))]
        now += 1
        program = next(p for p in programs if p.thread == thread)
        if move == "call":
            i = next_call[thread]
            if i < len(program.calls):
                kind, arg = program.calls[i]
                next_call[thread] = i + 1
            elif program.reads:
                kind, arg = "read", program.reads[choose(len(program.reads))]
            else:
                ended.add(thread)
                continue
            running[thread] = _start(kind, arg, now)
        elif move == "step":
            state = _step(running[thread], state, intern, items, choose)
        else:
            run = running.pop(thread)
            ops.append(Op(thread, run.kind, run.arg, run.result, run.call, now))
            last_call = next_call[thread] >= len(program.calls)
            if last_call and (
                not program.reads or (run.kind == "read" and state.closed and not state.items)
            ):
                ended.add(thread)
    for thread, run in running.items():  # blocked for good: outcome unknown
        result = list(run.taken) if run.kind == "read" and pending_bound() else None
        ops.append(Op(thread, run.kind, run.arg, result, run.call, None))
    return sorted(ops, key=lambda op: op.call)


def _can_step(run: _Running, state: ChannelState) -> bool:
    if run.kind == "write":
        return not run.block or state.closed or not spec.is_full(state)
    if run.kind == "close" or run.mode is not ReadMode.BLOCK:
        return True
    return bool(state.items) or state.closed or (run.count >= 1 and len(run.taken) >= run.count)


def _step(
    run: _Running,
    state: ChannelState,
    intern: Callable[[object], int],
    items: dict[int, object],
    choose: Callable[[int], int],
) -> ChannelState:
    """Take ``run``'s next atomic step; mark it finished when it may return and
    (for a timed read, which may also wait on) ``choose`` says so."""
    if run.kind == "close":
        run.finished = True
        return spec.close(state)
    if run.kind == "write":
        number = intern(run.arg)
        items[number] = run.arg
        state, outcome = spec.write(state, number)
        run.result, run.finished = outcome, True
        return state
    timing_out = run.mode is ReadMode.TIMED and not state.items  # its timeout expires
    state, got = spec.read_step(state, run.count, len(run.taken))
    run.taken.extend(items[x] for x in got)
    if spec.read_may_finish(state, run.count, len(run.taken), run.mode):
        may_wait = (
            run.mode is ReadMode.TIMED
            and not timing_out
            and not state.closed
            and (run.count < 1 or len(run.taken) < run.count)
        )
        if not may_wait or choose(2) == 0:
            run.finished = True
            run.result = list(run.taken)
    return state
