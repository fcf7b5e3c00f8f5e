"""Shrinking a failing run, and checking that a schedule replays its run exactly."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from .runner import run_once
from .runtime import RunResult, Session
from .schedule import Choice, Event
from .settings import Settings
from .strategies import DFSStrategy, ReplayStrategy, Strategy

__all__ = ("SHRINK_STEPS", "Shrunk", "replay_differs", "shrink")

#: The explorer steps shrinking may spend by default.
SHRINK_STEPS = 200_000

# Shrinking's optional wall-clock cap reads the real clock, never the virtual one.
_wall_clock = time.monotonic

# Object ids and process-wide serials (pool worker names) differ between two runs of one
# schedule: the determinism check compares names without them.
_ID_RE = re.compile(r"[0-9a-f]{6,}|\d+")

Body = Callable[[Session], object]


@dataclass
class Shrunk:
    """A shrunk failing run, and how far the search for a smaller one went."""

    result: RunResult
    complete: bool  # every bound below result.preemptions was searched to the end
    steps: int  # explorer steps the search ran

    def describe(self) -> str:
        if self.steps == 0 and not self.complete:
            return "not shrunk"
        if self.complete:
            return (
                f"minimal within bound {self.result.preemptions} (no schedule with "
                f"fewer preemptions fails so; {self.steps} steps searched)"
            )
        return (
            f"search cut short after {self.steps} steps (a schedule with fewer "
            f"preemptions may fail)"
        )


class _Budget:
    """The steps (and optionally wall seconds) shrinking may spend."""

    def __init__(self, steps: int, seconds: float | None) -> None:
        self.steps_left = steps
        self.spent = 0
        self._deadline = None if seconds is None else _wall_clock() + seconds

    def left(self) -> bool:
        return self.steps_left > 0 and (self._deadline is None or _wall_clock() < self._deadline)

    def run(self, body: Body, strategy: Strategy, settings: Settings) -> RunResult:
        result = run_once(body, strategy, settings)
        self.steps_left -= result.steps
        self.spent += result.steps
        return result


def shrink(
    body: Body, result: RunResult, settings: Settings, steps: int, seconds: float | None = None
) -> Shrunk:
    """Shrink a failing run to the fewest preemptions, then the fewest steps, spending at
    most ``steps`` explorer steps (and ``seconds``, if given): greedy steps first
    (candidates cut the schedule at a preemption and go on non-preemptively, let the
    preempted thread go on there instead, or drop the preempting choice), then a bounded
    dfs with 0, 1, ... preemptions below the greedy result, whose first failure has the
    fewest preemptions any failing schedule has; then greedy again. A candidate must fail
    the same way (same kind of failure) and be smaller in (preemptions, steps). The
    budget is counted in steps, so the same failure shrinks to the same schedule every
    time, unless ``seconds`` cuts the search short."""
    budget = _Budget(steps, seconds)
    best = _shrink_greedily(body, result, settings, budget)
    complete = True
    for bound in range(best.preemptions):
        found, complete = _first_failure_within(body, best.kind, settings, bound, budget)
        if found is not None:
            if _key(found) < _key(best):
                best = _shrink_greedily(body, found, settings, budget)
            break
        if not complete:
            break
    return Shrunk(best, complete, budget.spent)


def _key(r: RunResult) -> tuple[int, int]:
    return (r.preemptions, r.steps)


def _shrink_greedily(
    body: Body, result: RunResult, settings: Settings, budget: _Budget
) -> RunResult:
    best = result
    improved = True
    while improved and budget.left():
        improved = False
        for i in best.preempt_steps:
            choices = best.choices
            go_on = [choices[:i] + [Choice(choices[i - 1].tid)] + choices[i + 1 :]] if i else []
            for candidate in [choices[:i], *go_on, choices[:i] + choices[i + 1 :]]:
                if not budget.left():
                    return best
                r = budget.run(body, ReplayStrategy(candidate, strict=False), settings)
                if r.failure is not None and r.kind == best.kind and _key(r) < _key(best):
                    best = r
                    improved = True
                    break
            if improved:
                break
    return best


def _first_failure_within(
    body: Body, kind: str, settings: Settings, bound: int, budget: _Budget
) -> tuple[RunResult | None, bool]:
    """:return: the first run failing as ``kind`` that dfs with preemption bound
    ``bound`` finds (None: none), and whether the search was complete (it found one, or
    exhausted the bound within the budget)."""
    dfs = DFSStrategy(bound)
    while budget.left():
        if not dfs.new_run():
            return None, True
        r = budget.run(body, dfs, settings)
        if r.failure is not None and r.kind == kind and r.preemptions <= bound:
            return r, True
    return None, False


def replay_differs(body: Body, result: RunResult, settings: Settings) -> str | None:
    """Replay ``result``'s choices strictly and compare the two runs. :return: None if
    the replay made the same trace and failed (or passed) as ``result`` did, else what
    differs, naming the step."""
    again = run_once(body, ReplayStrategy(result.choices, strict=True), settings)
    if again.kind == "nondeterminism":
        return again.failure
    # Threads compare by their index in the run ("1:..."): names may carry process-wide
    # serials (pool workers) or addresses that differ between two runs of one schedule.
    a, b = _comparable(result.events), _comparable(again.events)
    if a != b:
        first = next(
            (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
        )
        step = (result.events if first < len(a) else again.events)[first].step
        return (
            f"step {step}: the replay's trace differs from event {first} on: "
            f"{a[first] if first < len(a) else 'end'} vs "
            f"{b[first] if first < len(b) else 'end'}"
        )
    if again.failure is None and result.failure is not None:
        return "the replay did not fail"
    if again.failure is not None and result.failure is None:
        return f"the replay failed ({again.kind}), the run did not"
    return None


def _comparable(events: list[Event]) -> list[tuple[str, str, str]]:
    return [(e.thread.split(":", 1)[0], e.point, _ID_RE.sub("#", e.primitive)) for e in events]
