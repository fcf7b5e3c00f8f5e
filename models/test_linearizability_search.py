"""The linearizability checker's search against a brute-force checker: on small random
histories of atomic operations, with its read-order pruning, and with blocking reads in
steps; each pruning rule has a mutant the cross-checks must catch, and the memo's budget
changes no verdict."""

from __future__ import annotations

import collections
import itertools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from . import channel_spec as spec
from . import linearizability
from .defects import Defect, build
from .history_cases import ACCEPT, REJECT, r, record_concurrent_history, w
from .linearizability import (
    CheckTimeout,
    Op,
    _Entry,
    _FifoOrder,
    _Search,
    check_channel_history,
)
from .spec_runs import Program, run_programs

# --- against a brute-force checker, on small random histories of atomic operations ----


def brute_force_ok(ops: Sequence[Op], maxsize: int) -> bool:
    """Try every order of every subset of pending ops: atomic writes, closes and
    non-blocking reads only."""
    done = [op for op in ops if op.ret is not None]
    pending = [op for op in ops if op.ret is None]
    for k in range(len(pending) + 1):
        for chosen in itertools.combinations(pending, k):
            for order in itertools.permutations(done + list(chosen)):
                if respects_real_time(order) and runs_sequentially(order, maxsize):
                    return True
    return False


def respects_real_time(order: Sequence[Op]) -> bool:
    for i, earlier in enumerate(order):
        for later in order[i + 1 :]:
            if later.ret is not None and later.ret < earlier.call:
                return False
    return True


def runs_sequentially(order: Sequence[Op], maxsize: int) -> bool:
    state = spec.empty_channel(maxsize)
    for op in order:
        if op.kind == "close":
            state = spec.close(state)
        elif op.kind == "write":
            assert isinstance(op.arg, int)
            state, outcome = spec.write(state, op.arg)
            if op.ret is not None and outcome != op.result:
                return False
            if op.ret is None and outcome is not None:
                return False
        else:
            assert isinstance(op.arg, tuple)
            state, got = spec.read_now(state, op.arg[0])
            if op.ret is not None and list(got) != op.result:
                return False
            if op.ret is None and op.result is not None:  # pending: a prefix of its bound
                assert isinstance(op.result, list)
                if list(got) != op.result[: len(got)]:
                    return False
    return True


def _with_a_wrong_result(draw: st.DrawFn, read: Op, max_item: int) -> Op:
    """:return: ``read`` with its result replaced by a drawn wrong one: a permutation of it,
    perhaps with one more item of at most ``max_item``, cut to a drawn length."""
    assert isinstance(read.result, list)
    wrong = draw(
        st.permutations(read.result + draw(st.lists(st.integers(0, max_item), max_size=1)))
    )
    return replace(read, result=wrong[: draw(st.integers(0, len(wrong)))])


@st.composite
def small_histories(draw: st.DrawFn) -> tuple[list[Op], int]:
    n = draw(st.integers(1, 5))
    ops = []
    for i in range(n):
        call = draw(st.integers(0, 12))
        ret = (
            draw(st.one_of(st.none(), st.integers(call, call + 6)))
            if i < 2
            else draw(st.integers(call, call + 6))
        )
        kind = draw(st.sampled_from(["write", "write", "read", "read", "close"]))
        if kind == "write":
            result = draw(st.sampled_from([None, None, "ReadOnly", "Full"]))
            ops.append(Op(f"t{i}", "write", i, result, call, ret))
        elif kind == "read":
            count = draw(st.integers(0, 2))
            got = draw(st.lists(st.integers(0, n - 1), max_size=2, unique=True))
            ops.append(Op(f"t{i}", "read", (count, False), got, call, ret))
        else:
            ops.append(Op(f"t{i}", "close", None, None, call, ret))
    return ops, draw(st.integers(0, 2))


def agrees_with_brute_force(history: tuple[list[Op], int]) -> None:
    ops, maxsize = history
    assert check_channel_history(ops, maxsize).ok == brute_force_ok(ops, maxsize)


@given(small_histories())
def test_agrees_with_brute_force(history: tuple[list[Op], int]) -> None:
    agrees_with_brute_force(history)


# --- the read-order pruning (active when every item is unique) never changes a verdict --


@st.composite
def overlapping_runs(draw: st.DrawFn) -> tuple[list[Op], int]:
    """A sequential run of the specification (non-blocking reads), each operation's
    interval widened around its moment so that many overlap; sometimes one result is
    then corrupted. Every item is written once and returned at most once, so the checker
    prunes appends by read order."""
    maxsize = draw(st.integers(0, 2))
    state = spec.empty_channel(maxsize)
    ops = []
    for i in range(draw(st.integers(2, 6))):
        moment = 10 * i
        call = moment - draw(st.sampled_from([1, 1, 4, 12, 25]))
        ret: int | None = moment + draw(st.sampled_from([1, 1, 4, 12, 25]))
        pending = draw(st.integers(0, 4)) == 0  # it took effect, nobody saw it return
        if pending:
            ret = None
        kind = draw(st.sampled_from(["write", "write", "write", "read", "read", "close"]))
        if kind == "write":
            state, outcome = spec.write(state, i)
            ops.append(Op(f"t{i}", "write", i, outcome, call, ret))
        elif kind == "read":
            count = draw(st.sampled_from([1, 1, 2, 0]))
            state, got = spec.read_now(state, count)
            # a pending read's result is unknown (None) or the bound of what it took
            result = None if pending and draw(st.booleans()) else list(got)
            ops.append(Op(f"t{i}", "read", (count, False), result, call, ret))
        else:
            state = spec.close(state)
            ops.append(Op(f"t{i}", "close", None, None, call, ret))
    if draw(st.booleans()):
        i = draw(st.integers(0, len(ops) - 1))
        op = ops[i]
        if op.kind == "read" and op.result is not None:
            ops[i] = _with_a_wrong_result(draw, op, 6)
        elif op.kind == "write":
            other = draw(st.sampled_from([None, "ReadOnly", "Full"]))
            ops[i] = Op(op.thread, op.kind, op.arg, other, op.call, op.ret)
    return ops, maxsize


@settings(max_examples=500)
@given(overlapping_runs())
def test_pruned_search_agrees_with_brute_force(history: tuple[list[Op], int]) -> None:
    agrees_with_brute_force(history)


def test_pruning_rejects_early_and_names_the_read() -> None:
    # 12 concurrent writes, one reader returning them in an order no FIFO gives: the
    # misplaced pair is found at the append, not after trying 12! orders.
    ops = [w(f"w{i}", i, 0, 100) for i in range(12)]
    ops.append(r("r", 0, False, [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11], 200, 201))
    result = check_channel_history(ops, deadline=time.monotonic() + 30)
    assert not result.ok
    assert "could not place: #12" in result.explanation


def test_a_deadline_gives_up_with_check_timeout() -> None:
    ops = [w(f"w{i}", i % 13, 0, 100) for i in range(14)]  # a repeated item: no pruning
    ops.append(r("r", 0, False, list(range(12)), 200, 201))
    with pytest.raises(CheckTimeout):
        check_channel_history(ops, deadline=time.monotonic() + 0.2)


# --- blocking reads in steps: every pruning against an unpruned search --------------------


def brute_force_steps(ops: Sequence[Op], maxsize: int) -> bool:
    """The specification's semantics with nothing left out: every operation that may act
    next (no unfinished one returned before it was called) tries its every atomic step
    (a read: what is there up to what it is owed, matching its result, or a prefix of
    its bound when pending), in every order, without a memo, pruning or forced step."""
    n = len(ops)
    modes = [None if op.kind != "read" else mode_of(op) for op in ops]

    def explore(
        state: spec.ChannelState, finished: tuple[bool, ...], taken: tuple[int, ...]
    ) -> bool:
        if all(finished[i] or ops[i].ret is None for i in range(n)):
            return True
        barrier = min(
            (op.ret for i, op in enumerate(ops) if not finished[i] and op.ret is not None),
            default=None,
        )
        for i, op in enumerate(ops):
            if finished[i] or (barrier is not None and op.call > barrier):
                continue
            for new_state, done, now_taken in steps(i, state, taken[i]):
                if explore(
                    new_state,
                    finished[:i] + (done,) + finished[i + 1 :],
                    taken[:i] + (now_taken,) + taken[i + 1 :],
                ):
                    return True
        return False

    def steps(
        i: int, state: spec.ChannelState, taken: int
    ) -> list[tuple[spec.ChannelState, bool, int]]:
        op = ops[i]
        if op.kind == "close":
            return [(spec.close(state), True, 0)]
        if op.kind == "write":
            assert isinstance(op.arg, int)
            new_state, outcome = spec.write(state, op.arg)
            if op.ret is None:
                return [(new_state, True, 0)] if outcome is None else []
            return [(new_state, True, 0)] if outcome == op.result else []
        assert isinstance(op.arg, tuple)
        count, mode = op.arg[0], modes[i]
        assert mode is not None
        new_state, got = spec.read_step(state, count, taken)
        total = taken + len(got)
        result = op.result
        if result is not None:
            assert isinstance(result, list)
            if list(got) != result[taken:total]:
                return []
        if op.ret is None:  # pending: any step, never required to finish
            return (
                [(new_state, True, 0)]
                if mode is spec.ReadMode.NOW
                else [(new_state, False, total)]
                if got
                else []
            )
        assert isinstance(result, list)
        out = []
        if total == len(result) and spec.read_may_finish(new_state, count, total, mode):
            out.append((new_state, True, 0))
        if got and mode is not spec.ReadMode.NOW:
            out.append((new_state, False, total))
        return out

    return explore(spec.empty_channel(maxsize), (False,) * n, (0,) * n)


def mode_of(op: Op) -> spec.ReadMode:
    assert isinstance(op.arg, tuple)
    if not op.arg[1]:
        return spec.ReadMode.NOW
    return spec.ReadMode.BLOCK if len(op.arg) == 2 else spec.ReadMode.TIMED


READS = [(1, False), (0, False), (1, True), (2, True), (0, True), (2, True, 0.1), (0, True, 0.1)]


@st.composite
def runs_with_steps(draw: st.DrawFn) -> tuple[list[Op], int]:
    """A run of 2-4 threads' small programs against the specification (writes that wait
    or not, reads of every kind, a close), one atomic step at a time in an order drawn
    here; threads still blocked at the end leave pending operations. Sometimes one
    result is then corrupted."""
    maxsize = draw(st.integers(0, 2))
    repeated = draw(st.booleans())  # items drawn from {0, 1}, else each one new
    programs = []
    item = 0
    for t in range(draw(st.integers(2, 4))):
        calls: list[tuple[str, object]] = []
        for _ in range(draw(st.integers(1, 2))):
            kind = draw(st.sampled_from(["write", "write", "read", "read", "close"]))
            if kind == "write":
                value = draw(st.integers(0, 1)) if repeated else item
                calls.append(("write", (value, draw(st.booleans()))))
                item += 1
            elif kind == "read":
                calls.append(("read", draw(st.sampled_from(READS))))
            else:
                calls.append(("close", None))
        programs.append(Program(f"t{t}", calls))
    ops = run_programs(
        programs, maxsize, lambda n: draw(st.integers(0, n - 1)), lambda: draw(st.booleans())
    )
    if draw(st.booleans()) and ops:
        i = draw(st.integers(0, len(ops) - 1))
        op = ops[i]
        if op.kind == "read" and op.result is not None:
            ops[i] = _with_a_wrong_result(draw, op, item)
        elif op.kind == "write" and op.ret is not None:
            ops[i] = Op(
                op.thread,
                op.kind,
                op.arg,
                draw(st.sampled_from([None, "ReadOnly", "Full"])),
                op.call,
                op.ret,
            )
    return ops, maxsize


@st.composite
def cut_runs(draw: st.DrawFn) -> tuple[list[Op], int]:
    """A run as above, cut at one of its return times the way the checker cuts a history
    to find its smallest failing window (``models/cuts.py``'s ``prefix``: operations in
    flight at the cut are pending, a read bounded by what it returned in the end)."""
    from .cuts import prefix

    ops, maxsize = draw(runs_with_steps())
    cutoffs = sorted({op.ret for op in ops if op.ret is not None})
    if not cutoffs:
        return ops, maxsize
    return prefix(ops, draw(st.sampled_from(cutoffs)))[1], maxsize


@settings(max_examples=400)
@given(runs_with_steps())
def test_search_with_steps_agrees_with_brute_force(history: tuple[list[Op], int]) -> None:
    agrees_with_brute_force_steps(history)


@settings(max_examples=300)
@given(cut_runs())
def test_search_on_cut_runs_agrees_with_brute_force(history: tuple[list[Op], int]) -> None:
    agrees_with_brute_force_steps(history)


def agrees_with_brute_force_steps(history: tuple[list[Op], int]) -> None:
    ops, maxsize = history
    assert check_channel_history(ops, maxsize).ok == brute_force_steps(ops, maxsize)


def test_runs_of_the_specification_are_linearizable() -> None:
    """The runs the cross-check starts from are linearizable, blocking reads included."""
    rng = random.Random(7)
    for _ in range(200):
        maxsize = rng.randint(0, 2)
        programs = [
            Program("w", [("write", (i, rng.random() < 0.5)) for i in range(3)]),
            Program("r", [("read", rng.choice(READS)) for _ in range(2)]),
            Program("c", [("close", None)], after=("w",)),
        ]
        ops = run_programs(programs, maxsize, rng.randrange)
        assert check_channel_history(ops, maxsize).ok
        assert brute_force_steps(ops, maxsize)


# --- each pruning rule has a mutant the cross-checks must catch ---------------------------


def _neutral_ignoring_close(
    self: _Search, e: _Entry, done: int, progress: dict[int, int], state: spec.ChannelState
) -> object:
    """Mutant: any completion that leaves the items alone is forced (a close too)."""
    for step in self._steps(e, done, progress, state):
        if step[0][1] == "done" and step[3].items == state.items:
            return step
    return None


#: Mutant: items only one read lists are taken at once by any read, a pending
#: non-blocking one included (the one-line defect built from today's ``_forced_step``).
_forced_for_every_read = build(
    Defect(
        "own_items_for_a_pending_non_blocking_read",
        "a pending non-blocking read takes the items only it lists at once",
        "models.linearizability:_Search._forced_step",
        "and e.mode is not ReadMode.NOW\n",
        "# BUG: a pending non-blocking read too\n",
    )
)


def _bound_ignored(
    self: _Search, e: _Entry, finish: int, taken: int, state: spec.ChannelState
) -> list[tuple[tuple[int, str], int, int, spec.ChannelState]]:
    """Mutant: a pending read's bound is not checked."""
    return ORIGINAL_READ_STEPS(self, replace(e, bound=None), finish, taken, state)


def _post_init_then(**overrides: object) -> Callable[[_Search], None]:
    def post_init(self: _Search) -> None:
        ORIGINAL_POST_INIT(self)
        for name, value in overrides.items():
            setattr(self, name, value)

    return post_init


def _order_then(**overrides: object) -> Callable[[_FifoOrder, Sequence[_Entry]], None]:
    def init(self: _FifoOrder, entries: Sequence[_Entry]) -> None:
        ORIGINAL_ORDER_INIT(self, entries)
        for name, value in overrides.items():
            setattr(self, name, value)

    return init


ORIGINAL_READ_STEPS = _Search._read_steps
ORIGINAL_ORDER_INIT = _FifoOrder.__init__
ORIGINAL_POST_INIT = _Search.__post_init__

#: name -> (class, attribute, mutated value)
MUTANTS: dict[str, tuple[type, str, object]] = {
    "same read, order backwards": (
        _FifoOrder,
        "later_in_one_read",
        staticmethod(lambda x, y: x < y),
    ),
    "reads ordered by their calls": (
        _FifoOrder,
        "read_ended_before",
        staticmethod(lambda ry, rx: ry.call < rx.call),
    ),
    "reads ordered by their returns": (
        _FifoOrder,
        "read_ended_before",
        staticmethod(lambda ry, rx: ry.ret < rx.ret),
    ),
    "never taken ignores bounds": (
        _FifoOrder,
        "never_taken",
        lambda self, item: not self.unbounded_pending,
    ),
    "never taken ignores unknown results": (
        _FifoOrder,
        "never_taken",
        lambda self, item: item not in self.maybe_taken,
    ),
    "neutral close": (_Search, "_neutral_step", _neutral_ignoring_close),
    "own items despite a Full write": (_Search, "__post_init__", _post_init_then(full_writes=0)),
    "own items another read lists": (
        _Search,
        "__post_init__",
        _post_init_then(claims=collections.defaultdict(lambda: 1)),
    ),
    "pending read's own items despite an unknown read": (
        _FifoOrder,
        "__init__",
        _order_then(unbounded_pending=False),
    ),
    "own items for a pending non-blocking read": (_Search, "_forced_step", _forced_for_every_read),
    "bound ignored": (_Search, "_read_steps", _bound_ignored),
}

CROSS_CHECKS: list[
    tuple[st.SearchStrategy[tuple[list[Op], int]], Callable[[tuple[list[Op], int]], None]]
] = [
    (overlapping_runs(), agrees_with_brute_force),
    (runs_with_steps(), agrees_with_brute_force_steps),
    (cut_runs(), agrees_with_brute_force_steps),
    (small_histories(), agrees_with_brute_force),
]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_the_cross_checks_catch_each_mutant(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    owner, attribute, mutant = MUTANTS[name]
    monkeypatch.setattr(owner, attribute, mutant)
    wrong = [
        case
        for case, (ops, maxsize) in ACCEPT.items()
        if not check_channel_history(ops, maxsize).ok
    ]
    wrong += [
        case for case, (ops, maxsize) in REJECT.items() if check_channel_history(ops, maxsize).ok
    ]
    if wrong:
        return  # a hand-written case caught it
    for strategy, agrees in CROSS_CHECKS:
        run = settings(
            max_examples=1500,
            derandomize=True,
            database=None,
            print_blob=False,
            phases=[Phase.generate],
            deadline=None,
        )(given(strategy)(agrees))
        try:
            run()
        except AssertionError:
            return  # a cross-check caught it
    pytest.fail(f"neither a hand-written case nor a cross-check caught the mutant {name!r}")


@settings(max_examples=150)
@given(runs_with_steps())
def test_a_small_memo_changes_no_verdict(history: tuple[list[Op], int]) -> None:
    """The memo is emptied every few configurations: only time may change."""
    ops, maxsize = history
    full = check_channel_history(ops, maxsize).ok
    original = linearizability.MEMO_WORDS
    try:
        linearizability.MEMO_WORDS = 8
        small = check_channel_history(ops, maxsize).ok
    finally:
        linearizability.MEMO_WORDS = original
    assert small == full == brute_force_steps(ops, maxsize)


def test_the_memo_is_emptied_past_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    ops = record_concurrent_history(4, 40, 0)
    monkeypatch.setattr(linearizability, "MEMO_WORDS", 64)
    search = _Search(linearizability._prepare(ops, linearizability._Interner()), 0)
    assert search.run() is not None
    assert search.memo_resets > 0 and len(search.seen) < 64
