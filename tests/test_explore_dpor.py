"""dfs's reduction (source-DPOR and sleep sets), its shards, its checkpoint file and the
coverage a run summary counts."""

from __future__ import annotations

import functools
import json
import random
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from refasync.explore import CheckpointError, RunResult, Session, Settings, Strategy, explore
from refasync.explore.schedule import Choice
from refasync.explore.strategies import DFSStrategy
from refasync.explore.strategies.dfs import Node
from refasync.explore.strategies.dpor import HappensBefore
from tests.explore_programs import Program, outcomes, random_program

#: The random lock programs the reduction is compared on (seeds of random_program: races
#: on a counter, ABBA deadlocks (12, 19), an Event set and waited for (5, 10, 29)), and the
#: preemption bounds: 0 to 2, and one no run of them reaches (exhaustive). A search of
#: the unreduced tree longer than LIMIT runs is left out (seconds of CI each); the
#: command ``python -m tests.explore_programs`` compares 40 programs.
SEEDS = (3, 9, 12, 19, 29, 5, 10, 23)
BOUNDS = (0, 1, 2)
EXHAUSTIVE = 12
LIMIT = 400


def _program(seed: int) -> Program:
    return random_program(random.Random(seed))


@pytest.mark.campaign
@pytest.mark.timeout(120)
def test_dpor_finds_every_final_state_and_failure_of_the_unreduced_search() -> None:
    """Soundness: on small random lock programs (check-then-act races, ABBA deadlocks,
    an Event cleared early), dfs with source-DPOR and sleep sets reaches exactly the
    final states and failures that dfs without any reduction reaches, at preemption
    bounds 0 to 2 and exhaustively (there, every trace too: every class of runs equal
    up to the order of independent steps), in fewer runs."""
    unreduced = reduced = 0
    for seed in SEEDS:
        program = _program(seed)
        for bound in BOUNDS + (EXHAUSTIVE,):
            full = outcomes(program.body, bound, "none", limit=LIMIT)
            if not full.exhausted:
                # Too big to compare here; so is every higher bound (the unreduced tree
                # of a higher bound holds every schedule of this one), which is not run.
                break
            found = outcomes(program.body, bound, "dpor")
            assert found.exhausted
            assert found.states == full.states, (seed, bound, program.threads)
            if bound == EXHAUSTIVE:  # one run of every class of equivalent runs
                assert found.traces == full.traces, (seed, program.threads)
            unreduced += full.runs
            reduced += found.runs
    assert reduced * 2 < unreduced, (reduced, unreduced)


def _naive_sleep(node: Node, choice: Choice) -> list[Choice]:
    return node.sleep + node.done[:-1]


@pytest.mark.parametrize(
    "broken, seed, bound",
    [
        # sleep sets that ignore the preemption bound: a schedule is skipped because its
        # equivalent order was explored, though that order needed more preemptions
        ("_asleep", 3, 1),
        # a race with a lock's release taken as is, not with the step that took the lock:
        # the reversal is asked for where the other thread cannot take the lock
        ("_taking", 3, 1),
    ],
)
def test_the_comparison_catches_a_broken_reduction(
    monkeypatch: pytest.MonkeyPatch, broken: str, seed: int, bound: int
) -> None:
    """Teeth: the soundness comparison above fails for each way of breaking the
    reduction that it guards against."""
    program = _program(seed)
    full = outcomes(program.body, bound, "none")
    assert outcomes(program.body, bound, "dpor").states == full.states
    replacement: object = (
        staticmethod(_naive_sleep)
        if broken == "_asleep"
        else staticmethod(lambda order, race, run: race)
    )
    monkeypatch.setattr(DFSStrategy, broken, replacement)
    assert outcomes(program.body, bound, "dpor").states < full.states


def test_the_trace_comparison_catches_critical_sections_left_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Teeth: without the races between two steps taking one lock, an ABBA program
    (seed 19) still reaches every final state but misses classes of runs (the order of
    the outer locks, hidden by that of the inner ones): the exhaustive comparison of
    traces catches it."""
    program = _program(19)
    full = outcomes(program.body, EXHAUSTIVE, "none")
    assert outcomes(program.body, EXHAUSTIVE, "dpor").traces == full.traces
    monkeypatch.setattr(DFSStrategy, "_acquisitions", staticmethod(lambda *args: []))
    assert outcomes(program.body, EXHAUSTIVE, "dpor").traces < full.traces


def test_races_and_their_initials() -> None:
    """Steps 0 and 2 (threads 0 and 1) touch object 7; step 1 (thread 2) touches 8: the
    race (0, 2) is reversed by starting thread 2 or thread 1 first."""
    order = HappensBefore([0, 2, 1], [frozenset({7}), frozenset({8}), frozenset({7})])
    races = list(order.races())
    assert [(r.first, r.second) for r in races] == [(0, 2)]
    assert races[0].initials == (2, 1)
    # A step touching everything depends on every earlier step.
    everything = HappensBefore([0, 1], [frozenset({7}), frozenset({-1})])
    assert [(r.first, r.second) for r in everything.races()] == [(0, 1)]


# -- shards --


@pytest.mark.campaign
@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", [1, 9])
def test_shards_partition_the_search(seed: int) -> None:
    """``shard=(k, n)``: the shards' final states are the unsharded search's, and
    between them they count at most twice its runs, not n times them (a branch two
    shards' runs both ask for is explored by both)."""
    program = _program(seed)
    whole = outcomes(program.body, 2, "dpor")
    for n in (3, 4):
        parts = [outcomes(program.body, 2, "dpor", shard=(k, n)) for k in range(n)]
        assert set().union(*(p.states for p in parts)) == whole.states
        total = sum(p.runs for p in parts)
        assert whole.runs <= total <= whole.runs * 2, (total, whole.runs)


# -- checkpoints --


def _two_lock_body(s: Session) -> None:
    locks = [threading.Lock(), threading.Lock()]
    box = [0]

    def work(i: int) -> None:
        for lock in (locks[i % 2], locks[0]):
            with lock:
                box[0] = box[0] * 2 + i

    threads = [s.spawn(f"w{i}", functools.partial(work, i)) for i in range(3)]
    for t in threads:
        s.join(t)


def test_an_interrupted_search_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """A dfs search stopped by its run budget and resumed from its checkpoint runs the
    rest: the same total, the same distinct schedules, exhausted once (``runs`` bounds
    the total, the runs before the resume included)."""
    whole = explore(_two_lock_body, strategy="dfs", runs=10**6)
    assert whole.exhausted and whole.runs > 20
    path = tmp_path / "search.json"
    first = explore(_two_lock_body, strategy="dfs", runs=7, checkpoint=path)
    assert first.runs == 7 and not first.exhausted and path.exists()
    second = explore(_two_lock_body, strategy="dfs", runs=18, checkpoint=str(path))
    assert second.runs == 18 and second.resumed == 7 and second.executed == 11
    rest = explore(_two_lock_body, strategy="dfs", runs=10**6, checkpoint=path)
    assert rest.exhausted and rest.runs == whole.runs
    assert rest.distinct_schedules == whole.distinct_schedules == whole.runs
    assert (rest.pruned, rest.beyond_bound) == (whole.pruned, whole.beyond_bound)
    again = explore(_two_lock_body, strategy="dfs", runs=10**6, checkpoint=path)
    assert again.exhausted and again.runs == whole.runs and again.executed == 0


def _at(data: dict[str, object], *path: str | int) -> dict[str, object]:
    """:return: the JSON object at ``path`` in ``data``."""
    here: object = data
    for key in path:
        if isinstance(here, list) and isinstance(key, int):
            here = here[key]
        elif isinstance(here, dict):
            here = here[key]
        else:
            raise AssertionError(f"no {key!r} in {path}")
    assert isinstance(here, dict)
    return here


def test_a_search_interrupted_mid_run_resumes_from_the_last_whole_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KeyboardInterrupt in the middle of the sixth run: the checkpoint holds the five
    runs before it, and the resumed search reaches the same total."""
    from refasync.explore import api
    from refasync.explore.runner import run_once as real

    whole = explore(_two_lock_body, strategy="dfs", runs=10**6)
    calls = [0]

    def interrupted(
        body: Callable[[Session], object], strategy: Strategy, settings: Settings
    ) -> RunResult:
        calls[0] += 1
        if calls[0] == 6:
            raise KeyboardInterrupt
        return real(body, strategy, settings)

    path = tmp_path / "search.json"
    monkeypatch.setattr(api, "run_once", interrupted)
    with pytest.raises(KeyboardInterrupt):
        explore(_two_lock_body, strategy="dfs", runs=10**6, checkpoint=path)
    monkeypatch.setattr(api, "run_once", real)
    assert json.loads(path.read_text())["runs"] == 5
    rest = explore(_two_lock_body, strategy="dfs", runs=10**6, checkpoint=path)
    assert rest.exhausted and rest.resumed == 5 and rest.runs == whole.runs
    assert rest.executed == whole.runs - 5


#: What a hostile checkpoint may hold: (expected message, where, field, value); a value
#: of None removes the field.
MANGLED: list[tuple[str, tuple[str | int, ...], str, object]] = [
    ("not a dfs checkpoint", (), "format", "something else"),
    ("version 7 is not 1", (), "version", 7),
    ("runs is missing", (), "runs", None),
    ("runs must be an int >= 0, got -3", (), "runs", -3),
    ("search.stack must be a list", ("search",), "stack", 5),
    ("stack[0].chosen must be the last choice done", ("search", "stack", 0), "chosen", "9"),
    ("stack[0].options is not a schedule string", ("search", "stack", 0), "options", "x1"),
    ("a million times or more", ("search", "stack", 0), "options", "0*99999999"),
    ("stack[0].preemptions must be an int", ("search", "stack", 0), "preemptions", "2"),
    ("written by a search with preemptions=5, not 2", ("parameters",), "preemptions", 5),
    ("coverage.schedules must be a list of ints", ("coverage",), "schedules", ["a"]),
]


@pytest.mark.timeout(60)
def test_a_hostile_checkpoint_is_refused_in_one_line(tmp_path: Path) -> None:
    """The checkpoint file is checked field by field: a bad one raises CheckpointError
    with one line naming the file and the field, never a traceback from the search."""
    good = tmp_path / "good.json"
    explore(_two_lock_body, strategy="dfs", runs=5, checkpoint=good)
    original = json.loads(good.read_text())
    path = tmp_path / "bad.json"
    for expected, where, name, value in MANGLED:
        data = json.loads(json.dumps(original))
        if value is None:
            del _at(data, *where)[name]
        else:
            _at(data, *where)[name] = value
        path.write_text(json.dumps(data))
        with pytest.raises(CheckpointError) as info:
            explore(_two_lock_body, strategy="dfs", runs=5, checkpoint=path)
        message = str(info.value)
        assert expected in message and str(path) in message and "\n" not in message
    for content, expected in (
        (b"\xff\xfe garbage", "cannot read it"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "is not an object"),
    ):
        path.write_bytes(content)
        with pytest.raises(CheckpointError, match=expected):
            explore(_two_lock_body, strategy="dfs", runs=5, checkpoint=path)
    with pytest.raises(CheckpointError, match="cannot read it"):
        explore(_two_lock_body, strategy="dfs", runs=5, checkpoint=tmp_path)
    with pytest.raises(ValueError, match="checkpoint is for strategy 'dfs'"):
        explore(_two_lock_body, strategy="pct", runs=5, checkpoint=path)
    with pytest.raises(TypeError, match="checkpoint must be a file name"):
        explore(_two_lock_body, strategy="dfs", runs=5, checkpoint=3)  # type: ignore[arg-type]


# -- coverage --


def test_the_run_summary_counts_schedules_interleavings_and_pruned_branches() -> None:
    """Two threads taking one lock once each: two interleavings of acquisitions; dfs
    runs each schedule once and prunes branches; random repeats schedules."""

    def body(s: Session) -> None:
        lock = threading.Lock()

        def take() -> None:
            with lock:
                pass

        threads = [s.spawn(f"t{i}", take) for i in range(2)]
        for t in threads:
            s.join(t)

    dfs = explore(body, strategy="dfs", runs=1000)
    assert dfs.exhausted and dfs.distinct_schedules == dfs.runs
    assert dfs.interleavings == 2 and dfs.pruned > 0
    assert (
        f"{dfs.runs} runs, {dfs.runs} distinct schedules, 2 distinct interleavings" in dfs.summary()
    )
    rand = explore(body, strategy="random", runs=60, seed=3)
    assert rand.interleavings == 2 and rand.distinct_schedules < rand.runs == 60
    assert "pruned" not in rand.summary()
