"""The campaign loop, for every strategy: which scenario instance runs next (its seed),
the budget, the statistics, the summary table, and the one repro line of a failure."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from conformance.inject import derive_seed

from .harness import Outcome
from .strategies import Delays, RunOptions, Strategy

__all__ = (
    "Stats",
    "Summary",
    "format_summary",
    "instance_seed",
    "repro_command",
    "repro_line",
    "run_many",
)


@dataclass
class Stats:
    instances: int = 0
    runs: int = 0  # runs of the instances (the explorer: schedules)
    failures: int = 0
    items: int = 0
    ops: int = 0
    seconds: float = 0.0
    exhausted: int = 0  # dfs: instances whose every schedule within the bound ran


@dataclass
class Summary:
    strategy: str  # Strategy.name
    settings: str  # Strategy.describe()
    master_seed: int
    stats: dict[str, Stats] = field(default_factory=dict)
    failures: list[Outcome] = field(default_factory=list)
    repros: list[str] = field(default_factory=list)  # the repro line of each failure
    elapsed: float = 0.0
    first_failure_s: float | None = None  # seconds from start to the first failure
    interrupted: bool = False  # Ctrl-C stopped the run

    @property
    def runs(self) -> int:
        return sum(s.runs for s in self.stats.values())

    @property
    def instances(self) -> int:
        return sum(s.instances for s in self.stats.values())

    @property
    def items(self) -> int:
        return sum(s.items for s in self.stats.values())

    def add(self, outcome: Outcome, since: float, repro: str) -> None:
        stats = self.stats.setdefault(outcome.scenario, Stats())
        stats.instances += 1
        stats.runs += outcome.runs
        stats.items += outcome.items
        stats.ops += outcome.ops
        stats.seconds += outcome.seconds
        stats.exhausted += outcome.exhausted
        if not outcome.ok:
            stats.failures += 1
            self.failures.append(outcome)
            self.repros.append(repro)
            if self.first_failure_s is None:
                self.first_failure_s = time.monotonic() - since

    def to_json(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "settings": self.settings,
            "master_seed": self.master_seed,
            "elapsed_s": round(self.elapsed, 3),
            "interrupted": self.interrupted,
            "instances": self.instances,
            "runs": self.runs,
            "items": self.items,
            "first_failure_s": self.first_failure_s,
            "scenarios": {name: asdict(s) for name, s in self.stats.items()},
            "failures": [
                {
                    "scenario": f.scenario,
                    "seed": f.seed,
                    "hung": f.hung,
                    "kind": f.kind,
                    "schedule": f.schedule,
                    "repro": repro,
                    "message": f.message[:20000],
                }
                for f, repro in zip(self.failures, self.repros, strict=True)
            ],
        }


def repro_command(strategy: Strategy, scenario: str, seed: int, broken: str | None = None) -> str:
    """:return: the command that reruns instance ``seed`` of ``scenario`` under
    ``strategy`` (and the broken variant), without ``--replay``."""
    words = [
        "python",
        "-m",
        "stress",
        "--strategy",
        strategy.name,
        "--scenario",
        scenario,
        "--seed",
        str(seed),
        *strategy.options(),
    ]
    if broken is not None:
        words += ["--broken", broken]
    return shlex.join(words)


def repro_line(strategy: Strategy, outcome: Outcome, broken: str | None = None) -> str:
    """:return: the one line that replays a failure, for every strategy: its schedule
    (the explorer's), or a rerun of its instance until it fails again."""
    line = repro_command(strategy, outcome.scenario, outcome.seed, broken) + " --replay"
    return line + (f" {shlex.quote(outcome.schedule)}" if outcome.schedule else "")


def instance_seed(master_seed: int, scenario: str, k: int) -> int:
    """:return: the seed of the ``k``-th instance of ``scenario`` in a campaign."""
    return derive_seed(master_seed, scenario, k) % (1 << 31)


Progress = Callable[[Summary], None]


def run_many(
    scenarios: list[str],
    master_seed: int,
    strategy: Strategy | str,
    seconds: float | None = None,
    instances: int | None = None,
    stall_s: float = 10.0,
    stop_on_failure: bool = False,
    on_progress: Progress | None = None,
    on_failure: Callable[[Outcome, str], None] | None = None,
    history_dir: str | None = None,
    html: bool = False,
    runs: int | None = None,
    fixed_seed: int | None = None,
    broken: str | None = None,
) -> Summary:
    """Cycle through ``scenarios`` (instance i runs scenario ``i % len``) under
    ``strategy`` (a string: the ``delays`` strategy with that profile) until ``seconds``
    have passed or ``instances`` ran, whichever comes first; a Ctrl-C ends the run too
    (``Summary.interrupted``). The k-th instance of a scenario has seed
    :func:`instance_seed`, or ``fixed_seed`` for every instance (which then stops once a
    strategy exhausted it). ``runs``: runs per instance (None: the strategy's default);
    an explorer's instance gets at most ``seconds / len(scenarios)``."""
    chosen = Delays(strategy) if isinstance(strategy, str) else strategy

    def repro(scenario: str, seed: int) -> str:
        return repro_command(chosen, scenario, seed, broken)

    summary = Summary(
        chosen.name, chosen.describe(), master_seed, {name: Stats() for name in scenarios}
    )
    share = None if seconds is None else seconds / len(scenarios)
    start = time.monotonic()
    index = 0
    try:
        while instances is None or index < instances:
            elapsed = time.monotonic() - start
            if seconds is not None and elapsed >= seconds:
                break
            name = scenarios[index % len(scenarios)]
            k = index // len(scenarios)
            seed = instance_seed(master_seed, name, k) if fixed_seed is None else fixed_seed
            cap = None if share is None or seconds is None else min(share, seconds - elapsed)
            options = RunOptions(stall_s, runs, cap, history_dir, html, repro=repro)
            outcome = chosen.run(name, seed, k if fixed_seed is not None else 0, options)
            line = repro_line(chosen, outcome, broken)
            summary.add(outcome, start, line)
            summary.elapsed = time.monotonic() - start
            if not outcome.ok and on_failure is not None:
                on_failure(outcome, line)
            if on_progress is not None:
                on_progress(summary)
            index += 1
            if (not outcome.ok and stop_on_failure) or (
                outcome.exhausted and fixed_seed is not None
            ):
                break
    except KeyboardInterrupt:
        summary.interrupted = True
    summary.elapsed = time.monotonic() - start
    return summary


def format_summary(summary: Summary) -> str:
    dfs = any(s.exhausted for s in summary.stats.values())
    head = (
        f"{'scenario':<24}{'instances':>10}{'runs':>8}{'failures':>10}{'items':>10}"
        f"{'ops':>10}{'secs':>9}" + (f"{'exhausted':>11}" if dfs else "")
    )
    rows = [head]
    total = Stats()
    for name, s in summary.stats.items():
        rows.append(_row(name, s, dfs))
        for key, value in asdict(s).items():
            setattr(total, key, getattr(total, key) + value)
    total.seconds = summary.elapsed
    rows.append(_row("total", total, dfs))
    return "\n".join(rows)


def _row(name: str, s: Stats, dfs: bool) -> str:
    return (
        f"{name:<24}{s.instances:>10}{s.runs:>8}{s.failures:>10}{s.items:>10}{s.ops:>10}"
        f"{s.seconds:>9.1f}" + (f"{s.exhausted:>11}" if dfs else "")
    )
