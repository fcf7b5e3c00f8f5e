"""Shrinking a failing run, and checking that a schedule replays its run exactly."""

from __future__ import annotations

import re
import time
from typing import Callable

from .runtime import RunResult, Session, run_once
from .schedule import Choice
from .settings import Settings
from .strategies import DFSStrategy, ReplayStrategy

__all__ = ("deterministic", "shrink")

# Object ids and process-wide serials (pool worker names) differ between two runs of one
# schedule: the determinism check compares names without them.
_ID_RE = re.compile(r"[0-9a-f]{6,}|\d+")

Body = Callable[[Session], object]


def shrink(body: Body, result: RunResult, settings: Settings, budget_s: float) -> RunResult:
    """Shrink a failing run to the fewest preemptions, then the fewest steps, within
    ``budget_s``: greedy steps first (candidates cut the schedule at a preemption and go
    on non-preemptively, let the preempted thread go on there instead, or drop the
    preempting choice), then a bounded dfs with 0, 1, ... preemptions below the greedy
    result, whose first failure has the fewest preemptions any failing schedule has; then
    greedy again. A candidate must fail the same way (same kind of failure) and be
    smaller in (preemptions, steps)."""
    deadline = time.monotonic() + budget_s
    best = _shrink_greedily(body, result, settings, deadline)
    for bound in range(best.preemptions):
        if time.monotonic() > deadline:
            break
        found = _first_failure_within(body, best.kind, settings, bound, deadline)
        if found is not None:
            if _key(found) < _key(best):
                best = _shrink_greedily(body, found, settings, deadline)
            break
    return best


def _key(r: RunResult) -> tuple[int, int]:
    return (r.preemptions, r.steps)


def _shrink_greedily(body: Body, result: RunResult, settings: Settings,
                     deadline: float) -> RunResult:
    best = result
    improved = True
    while improved and time.monotonic() < deadline:
        improved = False
        for i in best.preempt_steps:
            choices = best.choices
            go_on = [choices[:i] + [Choice(choices[i - 1].tid)] + choices[i + 1:]] if i else []
            for candidate in [choices[:i], *go_on, choices[:i] + choices[i + 1:]]:
                if time.monotonic() > deadline:
                    return best
                r = run_once(body, ReplayStrategy(candidate, strict=False), settings)
                if r.failure is not None and r.kind == best.kind and _key(r) < _key(best):
                    best = r
                    improved = True
                    break
            if improved:
                break
    return best


def _first_failure_within(body: Body, kind: str, settings: Settings, bound: int,
                          deadline: float) -> RunResult | None:
    """:return: the first run failing as ``kind`` that dfs with preemption bound
    ``bound`` finds before ``deadline`` (None: none, or out of time)."""
    dfs = DFSStrategy(bound)
    while time.monotonic() < deadline and dfs.new_run():
        r = run_once(body, dfs, settings)
        if r.failure is not None and r.kind == kind and r.preemptions <= bound:
            return r
    return None


def deterministic(body: Body, result: RunResult, settings: Settings) -> str | None:
    """Replay ``result`` strictly and compare event traces; :return: None if identical."""
    again = run_once(body, ReplayStrategy(result.choices, strict=True), settings)
    if again.kind == "nondeterminism":
        return again.failure
    # Threads compare by their index in the run ("1:..."): names may carry process-wide
    # serials (pool workers) or addresses that differ between two runs of one schedule.
    a = [(e.thread.split(":", 1)[0], e.point, _ID_RE.sub("#", e.primitive))
         for e in result.events]
    b = [(e.thread.split(":", 1)[0], e.point, _ID_RE.sub("#", e.primitive))
         for e in again.events]
    if a != b:
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        return (f"the replay's trace differs from event {first} on: "
                f"{a[first] if first < len(a) else 'end'} vs "
                f"{b[first] if first < len(b) else 'end'}")
    if again.failure is None:
        return "the replay did not fail"
    return None
