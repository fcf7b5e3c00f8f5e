"""The explorer's API: :func:`explore`, :func:`replay` and :func:`reproduce`."""

from __future__ import annotations

import dataclasses
import inspect
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec

from . import checkpoint as files
from .checks import (
    check_body,
    check_flag,
    check_int,
    check_seconds,
    check_shard,
    check_strategy,
)
from .coverage import Coverage
from .errors import CheckpointError, ExploreFailure, ReplayDidNotFail
from .runner import run_once
from .runtime import RunResult, Session
from .schedule import Event, format_schedule, parse_schedule
from .settings import BLOCKED_S, EARLY_TIMEOUTS, MAX_STEPS, STALL_S, Settings
from .shrink import SHRINK_STEPS, Shrunk, replay_differs, shrink
from .strategies import DFSStrategy, ReplayStrategy, Strategy, make_strategy

__all__ = ("CHECKPOINT_EVERY_S", "Report", "explore", "replay", "reproduce")

Body = Callable[[Session], object]
P = ParamSpec("P")

# Failures whose schedule is not the point, so not rerun to shrink or check it: the body
# is not a function of its schedule, or it blocks on (or spins outside) what the explorer
# does not control, and every rerun would leave a thread behind.
_NOT_RERUN = frozenset({"nondeterminism", "uncontrolled"})

#: A dfs checkpoint file is rewritten at most this often (wall seconds), and at the end.
CHECKPOINT_EVERY_S = 1.0


@dataclass
class Report:
    """What :func:`explore` found."""

    strategy: str
    runs: int = 0
    failed: bool = False
    message: str = ""
    schedule: str = ""
    replay_line: str = ""
    trace: list[Event] = field(default_factory=list)
    exhausted: bool = False
    schedules: int = 0
    bound: str = ""
    seconds: float = 0.0
    nondeterministic: bool = False
    kind: str = ""
    shrinking: str = ""  # "minimal within bound B ..." or "search cut short after N steps"
    distinct_schedules: int = 0  # of the counted runs
    interleavings: int = 0  # distinct sequences of (thread, lock) acquisitions
    pruned: int = 0  # dfs: branches its reduction (DPOR, sleep sets) did not need
    beyond_bound: int = 0  # dfs: branches a race asked for beyond the preemption bound
    resumed: int = 0  # runs done before this search resumed from its checkpoint
    executed: int = 0  # runs executed by this call, another dfs shard's shared ones too

    def summary(self) -> str:
        """:return: the run summary: runs, coverage and what dfs pruned, in one line."""
        line = (
            f"{self.runs} runs, {self.distinct_schedules} distinct schedules, "
            f"{self.interleavings} distinct interleavings of lock acquisitions"
        )
        if self.strategy == "dfs":
            line += (
                f", {self.pruned} branches pruned, {self.beyond_bound} beyond the "
                f"preemption bound" + (", exhausted" if self.exhausted else "")
            )
        if self.executed != self.runs - self.resumed:
            line += f" ({self.executed} executed, some shared with the other shards)"
        if self.resumed:
            line += f" (resumed after {self.resumed} runs)"
        return line

    def to_json(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["trace"] = [dataclasses.asdict(e) for e in self.trace]
        return data


def explore(
    body: Body,
    *,
    strategy: str = "pct",
    runs: int = 500,
    seconds: float | None = None,
    seed: int = 0,
    depth: int = 3,
    preemptions: int = 2,
    faults: bool = False,
    spurious: bool = True,
    max_steps: int = MAX_STEPS,
    early_timeouts: int = EARLY_TIMEOUTS,
    shard: tuple[int, int] = (0, 1),
    stall_s: float = STALL_S,
    blocked_s: float = BLOCKED_S,
    stdlib: bool = True,
    check_determinism: bool = False,
    replay_hint: str = "",
    shrink_steps: int = SHRINK_STEPS,
    shrink_s: float | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    raise_on_failure: bool = True,
) -> Report:
    """Explore ``body(session)`` under ``strategy`` ("random", "pct" or "dfs").

    ``body`` runs in controlled thread 0; it starts more threads with ``session.spawn``
    or ``threading.Thread`` and may register invariants. Anything raised in a controlled
    thread, a deadlock, a violated invariant or ``max_steps`` steps fail the run. The
    failing schedule is shrunk, checked for determinism and reported with the line that
    replays it (``replay_hint`` is that command without ``--replay``).

    :param runs: at most this many runs (dfs: schedules; with a checkpoint, those run
        before the resume included)
    :param seconds: optional time budget
    :param early_timeouts: how many timeouts may fire in a run while some thread could
        run instead; after that a timeout fires only when no thread can run
    :param stall_s: wall seconds a controlled thread may run without reaching a point
        before the run fails as uncontrolled blocking
    :param blocked_s: wall seconds a controlled thread may sit blocked on something the
        explorer does not control (where the system tells) before the run fails so
    :param stdlib: the standard library's locks, conditions, queues and clock are the
        explorer's in the run's threads (False: only refasync's are controlled)
    :param check_determinism: run every schedule twice (the second time as a strict
        replay) and fail, naming the step, where the two runs differ
    :param shard: ``(k, n)``: random/pct do the runs whose number is k modulo n; dfs
        explores the subtrees whose first branching choice is k modulo n
    :param shrink_steps: the explorer steps shrinking a failure may spend (the same
        failure then shrinks to the same schedule every time)
    :param shrink_s: an optional wall-clock cap on shrinking (0: do not shrink)
    :param checkpoint: dfs only: a file the search state is saved to as it goes (at
        most every CHECKPOINT_EVERY_S, and when it stops for any reason); if it exists,
        the search resumes from it, and the report counts the runs of both
    :raise ExploreFailure: on a failure, if ``raise_on_failure``
    :raise CheckpointError: the checkpoint cannot be read, written, or was written by
        another search (one line naming the file and the field)
    :raise TypeError, ValueError: for a bad argument, naming it
    """
    f = "explore()"
    check_body(f, body)
    check_int(f, "runs", runs, 1)
    check_seconds(f, "seconds", seconds, allow_none=True)
    check_int(f, "seed", seed, None)
    check_int(f, "depth", depth, 1)
    check_int(f, "preemptions", preemptions, 0)
    shard = check_shard(f, shard)
    check_flag(f, "check_determinism", check_determinism)
    check_flag(f, "raise_on_failure", raise_on_failure)
    if not isinstance(replay_hint, str):
        raise TypeError(f"{f}: replay_hint must be a string, got {replay_hint!r}")
    check_int(f, "shrink_steps", shrink_steps, 0)
    check_seconds(f, "shrink_s", shrink_s, allow_zero=True, allow_none=True)
    settings = _settings(
        f, strategy, faults, spurious, max_steps, early_timeouts, stall_s, blocked_s, stdlib
    )
    path = _checkpoint_path(f, checkpoint, strategy)
    chooser = make_strategy(strategy, seed=seed, depth=depth, preemptions=preemptions, shard=shard)
    report = Report(strategy)
    coverage = Coverage()
    parameters: dict[str, object] = {
        "preemptions": preemptions,
        "shard": list(shard),
        "faults": faults,
        "spurious": spurious,
        "max_steps": max_steps,
        "early_timeouts": early_timeouts,
        "stdlib": stdlib,
    }
    saver = _Saver(path, parameters, chooser, coverage, report)
    started = time.monotonic()
    failing: RunResult | None = None
    try:
        while True:
            if not chooser.new_run():
                report.exhausted = True  # the strategy has no run left
                saver.take()
                break
            if report.runs >= runs or (
                seconds is not None and time.monotonic() - started > seconds
            ):
                break
            result = run_once(body, chooser, settings)
            report.executed += 1
            if not result.counted and result.kind != "nondeterminism":
                saver.take()
                continue  # another shard's run (a divergence is everybody's)
            report.runs += 1
            coverage.add(result)
            if check_determinism and result.kind != "nondeterminism":
                problem = replay_differs(body, result, settings)
                if problem is not None:
                    result.failure = f"nondeterminism: {problem}"
                    result.kind = "nondeterminism"
            saver.take()
            if result.failure is not None:
                failing = result
                break
    finally:
        saver.write()
    report.schedules = report.runs
    report.distinct_schedules = len(coverage.schedules)
    report.interleavings = len(coverage.interleavings)
    report.pruned, report.beyond_bound = chooser.skipped()
    report.bound = chooser.guarantee()
    if failing is not None:
        if failing.kind in _NOT_RERUN or shrink_s == 0:
            outcome = Shrunk(failing, complete=False, steps=0)  # "not shrunk"
        else:
            outcome = shrink(body, failing, settings, shrink_steps, shrink_s)
        shrunk = outcome.result
        problem = None if shrunk.kind in _NOT_RERUN else replay_differs(body, shrunk, settings)
        report.shrinking = outcome.describe()
        report.failed = True
        report.kind = shrunk.kind
        report.schedule = format_schedule(shrunk.choices)
        report.replay_line = (
            f"{replay_hint} --replay '{report.schedule}'"
            if replay_hint
            else _reproduce_call(
                report.schedule, strategy, faults, spurious, max_steps, early_timeouts, stdlib
            )
        )
        report.trace = shrunk.events
        report.nondeterministic = problem is not None or shrunk.kind == "nondeterminism"
        report.message = _failure_text(shrunk, report, problem)
    report.seconds = time.monotonic() - started
    if report.failed and raise_on_failure:
        raise ExploreFailure(report.message, report)
    return report


def _checkpoint_path(function: str, checkpoint: object, strategy: str) -> str | None:
    if checkpoint is None:
        return None
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"{function}: checkpoint must be a file name, got {checkpoint!r}")
    if strategy != "dfs":
        raise ValueError(f"{function}: checkpoint is for strategy 'dfs', got {strategy!r}")
    path = os.fspath(checkpoint)
    if not isinstance(path, str) or not path:
        raise ValueError(f"{function}: checkpoint must be a file name, got {checkpoint!r}")
    return path


class _Saver:
    """The checkpoint of one dfs search: resumed from when it starts, the state after
    each run taken, written at most every CHECKPOINT_EVERY_S and at the end."""

    def __init__(
        self,
        path: str | None,
        parameters: dict[str, object],
        chooser: Strategy,
        coverage: Coverage,
        report: Report,
    ) -> None:
        self.path, self.parameters = path, parameters
        self.chooser, self.coverage, self.report = chooser, coverage, report
        self.latest: dict[str, object] | None = None
        self.written = time.monotonic()
        if path is None or not isinstance(chooser, DFSStrategy):
            return
        fields = files.load(path)
        if fields is None:
            return
        saved = fields.obj("parameters")
        for name, value in parameters.items():
            found = (
                saved.integers(name)
                if isinstance(value, list)
                else saved.flag(name)
                if isinstance(value, bool)
                else saved.integer(name)
            )
            if found != value:
                raise CheckpointError(
                    f"checkpoint {path}: written by a search with {name}={found}, not {value}"
                )
        chooser.restore(fields.obj("search"))
        coverage.restore(fields.obj("coverage"))
        report.runs = report.resumed = fields.integer("runs")

    def take(self) -> None:
        """Keep the state after a run (the strategy is between two runs)."""
        if self.path is None or not isinstance(self.chooser, DFSStrategy):
            return
        self.latest = {
            "parameters": self.parameters,
            "runs": self.report.runs,
            "coverage": self.coverage.state(),
            "search": self.chooser.state(),
        }
        if time.monotonic() - self.written >= CHECKPOINT_EVERY_S:
            self.write()

    def write(self) -> None:
        if self.path is not None and self.latest is not None:
            files.save(self.path, self.latest)
            self.written = time.monotonic()


def _settings(
    function: str,
    strategy: str,
    faults: bool,
    spurious: bool,
    max_steps: int,
    early_timeouts: int,
    stall_s: float = STALL_S,
    blocked_s: float = BLOCKED_S,
    stdlib: bool = True,
) -> Settings:
    """:return: the checked settings of one exploration or replay."""
    check_strategy(function, strategy)
    check_flag(function, "faults", faults)
    check_flag(function, "spurious", spurious)
    check_int(function, "max_steps", max_steps, 1)
    check_int(function, "early_timeouts", early_timeouts, 0)
    check_seconds(function, "stall_s", stall_s)
    check_seconds(function, "blocked_s", blocked_s)
    check_flag(function, "stdlib", stdlib)
    return Settings.of(
        strategy,
        faults=faults,
        spurious=spurious,
        max_steps=max_steps,
        early_timeouts=early_timeouts,
        stall_s=stall_s,
        blocked_s=blocked_s,
        stdlib=stdlib,
    )


def _reproduce_call(
    schedule: str,
    strategy: str,
    faults: bool,
    spurious: bool,
    max_steps: int,
    early_timeouts: int,
    stdlib: bool,
) -> str:
    """:return: the Python call that replays ``schedule`` with these settings exactly
    (the strategy, and every setting that is not the default)."""
    options = [f"strategy={strategy!r}"]
    for name, value, default in (
        ("faults", faults, False),
        ("spurious", spurious, True),
        ("max_steps", max_steps, MAX_STEPS),
        ("early_timeouts", early_timeouts, EARLY_TIMEOUTS),
        ("stdlib", stdlib, True),
    ):
        if value != default:
            options.append(f"{name}={value!r}")
    return f"refasync.explore.reproduce(body, {schedule!r}, {', '.join(options)})"


def _failure_text(result: RunResult, report: Report, problem: str | None) -> str:
    lines = [
        f"explore ({report.strategy}) failed after {report.runs} run(s): {result.failure}",
        f"schedule ({result.preemptions} preemption(s), {result.steps} steps): {report.schedule}",
        f"shrinking: {report.shrinking}",
        f"replay: {report.replay_line}",
    ]
    if problem is not None:
        lines.append(f"NOT DETERMINISTIC (uncontrolled nondeterminism?): {problem}")
    lines.append("trace (step, virtual time, thread, point, primitive, [choice]):")
    lines.extend(e.line() for e in result.events[-80:])
    return "\n".join(lines)


def replay(
    body: Body,
    schedule: str,
    *,
    strategy: str = "pct",
    faults: bool = False,
    spurious: bool = True,
    max_steps: int = MAX_STEPS,
    early_timeouts: int = EARLY_TIMEOUTS,
    stdlib: bool = True,
) -> RunResult:
    """Run ``body`` once following ``schedule`` exactly, with the settings ``explore``
    used for ``strategy`` (a divergence is the run's failure, kind "nondeterminism").
    Never raises for the run's failure: see :func:`reproduce`."""
    check_body("replay()", body)
    settings = _settings(
        "replay()", strategy, faults, spurious, max_steps, early_timeouts, stdlib=stdlib
    )
    return run_once(body, ReplayStrategy(parse_schedule(schedule), strict=True), settings)


def _reproducing(replay: Callable[P, RunResult]) -> Callable[P, None]:
    """:return: :func:`reproduce`, whose parameters are ``replay``'s: one signature
    states them for both (for mypy through ``P``, at run time as ``__signature__``)."""
    signature = inspect.signature(replay)

    def reproduce(*args: P.args, **kwargs: P.kwargs) -> None:
        """Replay a failing schedule (the line :func:`explore` prints for a failure calls
        this); it takes :func:`replay`'s arguments. It never returns normally, so a
        pasted replay line never passes silently.

        :raise ExploreFailure: the replay failed, as it should: the message holds the
            failure and the trace
        :raise ReplayDidNotFail: the replay did not fail (the bug was fixed, or the body
            or the settings differ from the exploration's)
        """
        result = replay(*args, **kwargs)
        given = signature.bind(*args, **kwargs)
        given.apply_defaults()
        del given.arguments["body"]  # the rest are _reproduce_call's parameters
        call = _reproduce_call(**given.arguments)
        strategy: str = given.arguments["strategy"]
        if result.failure is None:
            raise ReplayDidNotFail(
                f"{call} did not fail: the bug was fixed, or the body or the "
                f"settings differ from the exploration's"
            )
        report = Report(
            strategy,
            runs=1,
            failed=True,
            schedule=format_schedule(result.choices),
            replay_line=call,
            trace=result.events,
            schedules=1,
            kind=result.kind,
            shrinking="not shrunk (a replay)",
        )
        report.nondeterministic = result.kind == "nondeterminism"
        report.message = _failure_text(result, report, None)
        raise ExploreFailure(report.message, report)

    setattr(reproduce, "__signature__", signature.replace(return_annotation="None"))
    setattr(reproduce, "__qualname__", "reproduce")
    return reproduce


reproduce = _reproducing(replay)
