"""What the OS-scheduled strategies (``delays``, ``none``) share: real threads under the
operating system's scheduler, the watchdog of :func:`stress.harness.run_instance`, and a
replay that reruns the instance (its seed fixes its parameters and the delays' draws, the
OS still decides the interleaving) until it fails again."""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import time

from ..harness import Context, Outcome, run_instance
from ..scenarios import ALL_SCENARIOS
from .base import RunOptions, Strategy

__all__ = ("REPLAY_RUNS", "OsScheduled")

#: Reruns of an instance by a replay, unless ``--runs`` says otherwise.
REPLAY_RUNS = 500


class OsScheduled(Strategy):
    """A strategy whose runs are real threads; subclasses say what each run installs."""

    def context(self, name: str, seed: int) -> Context:
        """:return: the context a scenario instance gets."""
        return Context(name, seed)

    @abc.abstractmethod
    def installed(self, seed: int) -> contextlib.AbstractContextManager[object]:
        """What surrounds one run (restored after it)."""

    def _runs(self, scenario: str, seed: int, runs: int, options: RunOptions) -> Outcome:
        """Run the instance up to ``runs`` times (and within ``options.seconds``), until
        it fails; :return: the last run's outcome with every run's counts."""
        started = time.monotonic()
        items = ops = done = 0
        while True:
            outcome = run_instance(
                scenario,
                ALL_SCENARIOS[scenario],
                seed,
                self,
                options.stall_s,
                options.history_dir,
                options.html,
            )
            done += 1
            items += outcome.items
            ops += outcome.ops
            elapsed = time.monotonic() - started
            if (
                not outcome.ok
                or done >= runs
                or (options.seconds is not None and elapsed >= options.seconds)
            ):
                return dataclasses.replace(
                    outcome, items=items, ops=ops, seconds=elapsed, runs=done
                )

    def run(self, scenario: str, seed: int, attempt: int, options: RunOptions) -> Outcome:
        return self._runs(scenario, seed, options.runs or 1, options)

    def replay(
        self, scenario: str, seed: int, schedule: str | None, options: RunOptions
    ) -> Outcome:
        if schedule:
            raise ValueError(
                f"--strategy {self.name} has no schedules: --replay takes no "
                f"SCHEDULE (it reruns the instance until it fails)"
            )
        return self._runs(scenario, seed, options.runs or REPLAY_RUNS, options)
