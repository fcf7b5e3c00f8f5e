"""What every strategy of the campaign offers (:class:`Strategy`), and what one instance
of a scenario is run with (:class:`RunOptions`)."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass

from ..harness import Outcome

__all__ = ("RunOptions", "Strategy")


@dataclass(frozen=True)
class RunOptions:
    """How one scenario instance runs, whatever the strategy."""

    stall_s: float = 10.0  # the watchdog (the explorer: a thread's wall time between points)
    runs: int | None = None  # runs of the instance; None: the strategy's default
    seconds: float | None = None  # the instance's share of the budget
    history_dir: str | None = None  # --history: write the instance's histories there
    html: bool = False  # --html: picture a failure's history in Outcome.html
    #: The command that reruns instance (scenario, seed), without ``--replay``.
    repro: Callable[[str, int], str] | None = None


class Strategy(abc.ABC):
    """How the threads of a scenario instance are scheduled.

    The campaign (:mod:`stress.campaign`) owns the loop: it picks the scenario and the
    seed of each instance and calls :meth:`run`; the strategy owns each run's lifecycle
    (what it installs around the scenario, and how many times it runs it)."""

    #: The name ``--strategy`` takes.
    name: str = ""
    #: Whether a failure is a schedule that replays exactly (``--replay SCHEDULE``); an
    #: OS-scheduled failure is replayed by rerunning its instance until it fails again.
    schedules: bool = False
    #: Default runs per instance (``--runs``); None: until the strategy is done with it.
    default_runs: int | None = 1
    #: Whether its instances record channel histories (``--history``, ``--html``).
    records_histories: bool = True

    @abc.abstractmethod
    def run(self, scenario: str, seed: int, attempt: int, options: RunOptions) -> Outcome:
        """Run instance ``seed`` of ``scenario`` (``attempt``: how many times this instance
        ran before in the campaign); never raises for a failure of the scenario.

        :raise KeyboardInterrupt: after the instance's threads were told to stop"""

    @abc.abstractmethod
    def replay(
        self, scenario: str, seed: int, schedule: str | None, options: RunOptions
    ) -> Outcome:
        """Run the instance once more the way its failure was found: the schedule
        (strategies with :attr:`schedules`), else rerun it up to ``options.runs`` times
        until it fails. :return: the outcome, failed when it reproduced."""

    def options(self) -> list[str]:
        """:return: the command-line options, after ``--strategy NAME``, that rebuild this
        strategy for a replay of one of its failures."""
        return []

    def describe(self) -> str:
        """:return: the strategy and its settings, for the run's first line."""
        return f"strategy {self.name}"
