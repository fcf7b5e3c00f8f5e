"""Small random lock programs for the explorer's reduction tests, and a dfs driver that
keeps every run's outcome (tests/test_explore_dpor.py)."""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from refasync.explore import RunResult, Session, Settings, run_once
from refasync.explore.runtime import EVERYTHING
from refasync.explore.strategies import DFSStrategy

__all__ = ("Outcomes", "Program", "outcomes", "random_program", "trace")

#: One operation of a thread: ("rmw", lock, var, k): under the lock, var = var * 3 + k;
#: ("read", lock, var): under the lock, remember var; ("write", lock, var): under the
#: lock, var = the remembered value + 1 (with "read", a check-then-act race);
#: ("nested", outer, inner, var): var += 1 holding both (two orders make an ABBA
#: deadlock); ("set", event): set the event; ("wait", event, var): var = whether the
#: event was set within 0.5 virtual seconds, then clear it (an early clear loses a
#: wake-up).
Op = tuple[object, ...]


@dataclass(frozen=True)
class Program:
    threads: tuple[tuple[Op, ...], ...]
    locks: int
    variables: int
    events: int

    def body(self, finals: list[tuple[int, ...]]) -> Callable[[Session], None]:
        """:return: the explored body; each run that ends appends the final variables."""

        def body(s: Session) -> None:
            locks = [threading.Lock() for _ in range(self.locks)]
            events = [threading.Event() for _ in range(self.events)]
            variables = [0] * self.variables

            def worker(ops: tuple[Op, ...]) -> None:
                seen = 0
                for op in ops:
                    kind = op[0]
                    if kind == "rmw":
                        with locks[_int(op[1])]:
                            variables[_int(op[2])] = variables[_int(op[2])] * 3 + _int(op[3])
                    elif kind == "read":
                        with locks[_int(op[1])]:
                            seen = variables[_int(op[2])]
                    elif kind == "write":
                        with locks[_int(op[1])]:
                            variables[_int(op[2])] = seen + 1
                    elif kind == "nested":
                        with locks[_int(op[1])], locks[_int(op[2])]:
                            variables[_int(op[3])] += 1
                    elif kind == "set":
                        events[_int(op[1])].set()
                    else:
                        got = events[_int(op[1])].wait(0.5)
                        events[_int(op[1])].clear()
                        with locks[_int(op[2])]:
                            variables[_int(op[2])] = variables[_int(op[2])] * 2 + got

            threads = [
                s.spawn(f"w{i}", functools.partial(worker, ops))
                for i, ops in enumerate(self.threads)
            ]
            for t in threads:
                s.join(t)
            finals.append(tuple(variables))

        return body


def _int(x: object) -> int:
    assert isinstance(x, int)
    return x


def random_program(rng: random.Random) -> Program:
    """:return: 2 or 3 threads of 1 to 3 operations over 2 locks, 2 variables (variable
    i is only touched holding lock i: the explorer's dependency relation knows the locks,
    not the data they guard) and at most one event."""
    locks, variables = 2, 2
    events = rng.choice([0, 0, 1])
    kinds = ["rmw", "rmw", "read", "write", "nested"] + (["set", "wait"] if events else [])
    threads = []
    for _ in range(rng.choice([2, 2, 3])):
        ops: list[Op] = []
        for _ in range(rng.randint(1, 3 if events == 0 else 2)):
            kind = rng.choice(kinds)
            lock = var = rng.randrange(locks)  # variable i is guarded by lock i
            if kind == "rmw":
                ops.append((kind, lock, var, rng.randint(1, 2)))
            elif kind in ("read", "write"):
                ops.append((kind, lock, var))
            elif kind == "nested":
                ops.append((kind, lock, 1 - lock, rng.randrange(variables)))
            elif kind == "set":
                ops.append((kind, 0))
            else:
                ops.append((kind, 0, var))
        threads.append(tuple(ops))
    return Program(tuple(threads), locks, variables, events)


@dataclass
class Outcomes:
    """What one exhaustive dfs saw: every final state (or failure kind), every trace
    (:func:`trace`) and the runs."""

    states: set[object]
    traces: set[frozenset[tuple[object, ...]]]
    runs: int
    exhausted: bool


def trace(result: RunResult) -> frozenset[tuple[object, ...]]:
    """:return: the run's Mazurkiewicz trace under the explorer's dependency relation:
    for each object, the steps that touched it in order, each as (thread, its how-many-th
    step, kind); the steps touching everything form one more sequence. Two runs that
    only swap independent steps have one trace."""
    count: dict[int, int] = {}
    per_object: dict[object, list[tuple[int, int, str]]] = {}
    for choice, objects in zip(result.choices, result.touched, strict=False):
        k = count[choice.tid] = count.get(choice.tid, -1) + 1
        for key in ["everything"] if EVERYTHING in objects else objects:
            per_object.setdefault(key, []).append((choice.tid, k, choice.kind))
    return frozenset(tuple(steps) for steps in per_object.values())


def outcomes(
    body_of: Callable[[list[tuple[int, ...]]], Callable[[Session], None]],
    bound: int,
    reduction: str,
    shard: tuple[int, int] = (0, 1),
    limit: int = 20_000,
    settings: Settings | None = None,
) -> Outcomes:
    """Drive dfs over ``body_of(finals)`` to the end (up to ``limit`` runs), keeping every
    counted run's outcome: its final variables, or its failure kind."""
    dfs = DFSStrategy(bound, shard, reduction)
    chosen = settings or Settings.of("dfs")
    states: set[object] = set()
    traces: set[frozenset[tuple[object, ...]]] = set()
    runs = 0
    while runs < limit:
        if not dfs.new_run():
            return Outcomes(states, traces, runs, True)
        finals: list[tuple[int, ...]] = []
        result: RunResult = run_once(body_of(finals), dfs, chosen)
        if not result.counted:
            continue
        runs += 1
        assert result.kind != "nondeterminism", result.failure
        states.add(result.kind if result.failure is not None else finals[-1])
        traces.add(trace(result))
    return Outcomes(states, traces, runs, False)


def compare(seeds: range, bounds: tuple[int, ...], limit: int) -> int:
    """``python -m tests.explore_programs``: compare dfs with source-DPOR against dfs
    without reduction on random programs; :return: how many comparisons differed."""
    differ = 0
    for seed in seeds:
        program = random_program(random.Random(seed))
        for bound in bounds:
            full = outcomes(program.body, bound, "none", limit=limit)
            if not full.exhausted:
                continue
            found = outcomes(program.body, bound, "dpor")
            same = found.states == full.states
            differ += not same
            print(
                f"seed {seed} bound {bound}: {full.runs} runs unreduced, {found.runs} "
                f"with DPOR, {len(full.states)} outcomes, "
                f"{'same' if same else 'DIFFERENT'}",
                flush=True,
            )
    return differ


if __name__ == "__main__":
    raise SystemExit(1 if compare(range(40), (0, 1, 2, 12), 6000) else 0)
