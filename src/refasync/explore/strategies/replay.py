"""replay: follow a recorded schedule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import Divergence
from ..schedule import Choice, format_schedule
from .base import StrategyBase

if TYPE_CHECKING:
    from ..runtime.run import Run

__all__ = ("ReplayStrategy",)


class ReplayStrategy(StrategyBase):
    """Follow ``choices``; then the non-preemptive default. ``strict``: a recorded choice
    that is not available is a divergence; otherwise the default replaces it (a shrinking
    candidate)."""

    def __init__(self, choices: Sequence[Choice], strict: bool) -> None:
        self.choices = list(choices)
        self.strict = strict

    def choose(self, run: Run, options: list[Choice]) -> Choice:
        if run.steps < len(self.choices):
            wanted = self.choices[run.steps]
            if wanted in options:
                return wanted
            if self.strict:
                raise Divergence(
                    f"step {run.steps}: recorded choice {wanted} is not "
                    f"available (options {format_schedule(options)})"
                )
        return run.default(options)

    def end_run(self, run: Run) -> bool:
        if self.strict and run.failure is None and run.steps < len(self.choices):
            raise Divergence(
                f"step {run.steps}: the run ended, but the schedule has {len(self.choices)} choices"
            )
        return True
