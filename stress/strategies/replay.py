"""Replay: one run of an instance following a schedule an explorer strategy printed, with
that strategy's sizes and settings (``--strategy S --scenario N --seed I --replay
SCHEDULE``). It has the semantics of ``refasync.explore.reproduce``: the outcome fails
when the replay failed, as it should; a replay that does not fail, or leaves the schedule
(the code or the settings differ), is reported as not reproduced, never as a run that
found nothing."""

from __future__ import annotations

import time

from refasync import explore as ex

from ..harness import Outcome, with_histories
from .base import RunOptions, Strategy
from .explored import Contexts, Explored

__all__ = ("Replay",)


class Replay(Strategy):
    name = "replay"
    schedules = True

    def __init__(self, of: Explored, schedule: str) -> None:
        ex.parse_schedule(schedule)  # ValueError for a malformed schedule, before a run
        self.of = of
        self.schedule = schedule

    def run(self, scenario: str, seed: int, attempt: int, options: RunOptions) -> Outcome:
        contexts = Contexts()
        body = self.of.body(scenario, seed, contexts)
        message, kind, ok = "", "", True
        started = time.monotonic()
        try:
            ex.reproduce(
                body,
                self.schedule,
                strategy=self.of.name,
                faults=self.of.faults_for(scenario),
                stdlib=False,
            )
        except ex.ExploreFailure as failure:
            kind = failure.report.kind
            if kind == "nondeterminism":  # the run left the schedule: it no longer applies
                message = f"the schedule no longer applies: {str(failure).splitlines()[0]}"
            else:
                ok = False
                message = f"{scenario} seed={seed}: replay failed ({kind}): {failure}"
        except ex.ReplayDidNotFail as exc:
            message = str(exc)
        items, ops = contexts.totals()
        outcome = Outcome(
            scenario,
            seed,
            ok,
            message,
            items,
            ops,
            time.monotonic() - started,
            hung=False,
            schedule=self.schedule,
            kind=kind,
        )
        return with_histories(outcome, contexts.last, options.history_dir, options.html)

    def replay(
        self, scenario: str, seed: int, schedule: str | None, options: RunOptions
    ) -> Outcome:
        return Replay(self.of, schedule or self.schedule).run(scenario, seed, 0, options)
