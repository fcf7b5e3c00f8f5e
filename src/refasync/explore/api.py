"""The explorer's API: :func:`explore` and :func:`replay`."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable

from .errors import ExploreFailure
from .runtime import RunResult, Session, run_once
from .schedule import Event, format_schedule, parse_schedule
from .settings import EARLY_TIMEOUTS, MAX_STEPS, STALL_S, Settings
from .shrink import deterministic, shrink
from .strategies import NAMES, ReplayStrategy, make_strategy

__all__ = ("Report", "explore", "replay")

Body = Callable[[Session], object]


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
    replay_hint: str = "",
    shrink_s: float = 20.0,
    raise_on_failure: bool = True,
) -> Report:
    """Explore ``body(session)`` under ``strategy`` ("random", "pct" or "dfs").

    ``body`` runs in controlled thread 0; it starts more threads with
    ``session.spawn`` and may register invariants. Anything raised in a controlled thread,
    a deadlock, a violated invariant or ``max_steps`` steps fail the run. The failing
    schedule is shrunk, checked for determinism and reported with the line that replays
    it (``replay_hint`` is that command without ``--replay``).

    :param runs: at most this many runs (dfs: schedules)
    :param seconds: optional time budget
    :param early_timeouts: how many timeouts may fire in a run while some thread could
        run instead; after that a timeout fires only when no thread can run
    :param stall_s: wall seconds a controlled thread may run without reaching a point
        before the run fails as uncontrolled blocking
    :param shard: ``(k, n)``: random/pct do the runs whose number is k modulo n; dfs
        explores the subtrees whose first branching choice is k modulo n
    :raise ExploreFailure: on a failure, if ``raise_on_failure``
    """
    if strategy not in NAMES:
        raise ValueError(f"strategy must be 'random', 'pct' or 'dfs', got {strategy!r}")
    k, n = shard
    if not (0 <= k < n):
        raise ValueError(f"shard must be (k, n) with 0 <= k < n, got {shard!r}")
    settings = Settings.of(strategy, faults=faults, spurious=spurious, max_steps=max_steps,
                           early_timeouts=early_timeouts, stall_s=stall_s)
    chooser = make_strategy(strategy, seed=seed, depth=depth, preemptions=preemptions,
                            shard=shard)
    report = Report(strategy)
    started = time.monotonic()
    failing: RunResult | None = None
    while True:
        if not chooser.new_run():
            report.exhausted = True  # the strategy has no run left
            break
        if report.runs >= runs or (seconds is not None
                                   and time.monotonic() - started > seconds):
            break
        result = run_once(body, chooser, settings)
        if not result.counted:
            continue
        report.runs += 1
        if result.failure is not None:
            failing = result
            break
    report.schedules = report.runs
    report.bound = chooser.guarantee()
    if failing is not None:
        shrunk = shrink(body, failing, settings, shrink_s)
        problem = deterministic(body, shrunk, settings)
        report.failed = True
        report.kind = shrunk.kind
        report.schedule = format_schedule(shrunk.choices)
        report.replay_line = f"{replay_hint} --replay '{report.schedule}'" if replay_hint \
            else f"refasync.explore.replay(body, {report.schedule!r})"
        report.trace = shrunk.events
        report.nondeterministic = problem is not None
        report.message = _failure_text(shrunk, report, problem)
    report.seconds = time.monotonic() - started
    if report.failed and raise_on_failure:
        raise ExploreFailure(report.message, report)
    return report


def _failure_text(result: RunResult, report: Report, problem: str | None) -> str:
    lines = [f"explore ({report.strategy}) failed after {report.runs} run(s): "
             f"{result.failure}",
             f"schedule ({result.preemptions} preemption(s), {result.steps} steps): "
             f"{report.schedule}",
             f"replay: {report.replay_line}"]
    if problem is not None:
        lines.append(f"NOT DETERMINISTIC (uncontrolled nondeterminism?): {problem}")
    lines.append("trace (step, virtual time, thread, point, primitive, [choice]):")
    lines.extend(e.line() for e in result.events[-80:])
    return "\n".join(lines)


def replay(body: Body, schedule: str, *, strategy: str = "pct", faults: bool = False,
           spurious: bool = True, max_steps: int = MAX_STEPS,
           early_timeouts: int = EARLY_TIMEOUTS) -> RunResult:
    """Run ``body`` once following ``schedule`` exactly, with the settings ``explore``
    used for ``strategy`` (a divergence is the run's failure, kind "nondeterminism")."""
    settings = Settings.of(strategy, faults=faults, spurious=spurious, max_steps=max_steps,
                           early_timeouts=early_timeouts)
    return run_once(body, ReplayStrategy(parse_schedule(schedule), strict=True), settings)
