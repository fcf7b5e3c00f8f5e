"""Runs many scenario instances: seeds, budgets, statistics, the summary table."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from .harness import Outcome, repro_line, run_instance
from .inject import derive_seed
from .scenarios import ALL_SCENARIOS

__all__ = ("Stats", "Summary", "format_summary", "repeat_instance", "run_many")


@dataclass
class Stats:
    runs: int = 0
    failures: int = 0
    items: int = 0
    ops: int = 0
    seconds: float = 0.0


@dataclass
class Summary:
    master_seed: int
    profile: str
    stats: dict[str, Stats] = field(default_factory=dict)
    failures: list[Outcome] = field(default_factory=list)
    elapsed: float = 0.0
    first_failure_s: float | None = None  # seconds from start to the first failure

    @property
    def runs(self) -> int:
        return sum(s.runs for s in self.stats.values())

    @property
    def items(self) -> int:
        return sum(s.items for s in self.stats.values())

    def add(self, outcome: Outcome, since: float) -> None:
        stats = self.stats.setdefault(outcome.scenario, Stats())
        stats.runs += 1
        stats.items += outcome.items
        stats.ops += outcome.ops
        stats.seconds += outcome.seconds
        if not outcome.ok:
            stats.failures += 1
            self.failures.append(outcome)
            if self.first_failure_s is None:
                self.first_failure_s = time.monotonic() - since

    def to_json(self) -> dict[str, object]:
        return {
            "master_seed": self.master_seed,
            "profile": self.profile,
            "elapsed_s": round(self.elapsed, 3),
            "runs": self.runs,
            "items": self.items,
            "first_failure_s": self.first_failure_s,
            "scenarios": {name: asdict(s) for name, s in self.stats.items()},
            "failures": [
                {"scenario": f.scenario, "seed": f.seed, "hung": f.hung,
                 "repro": repro_line(f.scenario, f.seed, self.profile),
                 "message": f.message[:20000]}
                for f in self.failures
            ],
        }


Progress = Callable[[Summary], None]


def run_many(
    scenarios: list[str],
    master_seed: int,
    profile: str,
    seconds: float | None = None,
    instances: int | None = None,
    stall_s: float = 10.0,
    stop_on_failure: bool = False,
    on_progress: Progress | None = None,
    on_failure: Callable[[Outcome], None] | None = None,
    history_dir: str | None = None,
    html: bool = False,
) -> Summary:
    """Cycle through ``scenarios`` (instance i runs kind ``i % len``) until ``seconds``
    have passed or ``instances`` ran, whichever comes first. Instance i's seed is
    ``derive_seed(master_seed, i)``."""
    summary = Summary(master_seed, profile, {name: Stats() for name in scenarios})
    start = time.monotonic()
    index = 0
    while True:
        if instances is not None and index >= instances:
            break
        if seconds is not None and time.monotonic() - start >= seconds:
            break
        name = scenarios[index % len(scenarios)]
        seed = derive_seed(master_seed, index)
        outcome = run_instance(name, ALL_SCENARIOS[name], seed, profile, stall_s, history_dir, html)
        summary.add(outcome, start)
        summary.elapsed = time.monotonic() - start
        if not outcome.ok and on_failure is not None:
            on_failure(outcome)
        if on_progress is not None:
            on_progress(summary)
        index += 1
        if not outcome.ok and stop_on_failure:
            break
    summary.elapsed = time.monotonic() - start
    return summary


def repeat_instance(
    name: str,
    seed: int,
    profile: str,
    seconds: float,
    max_runs: int,
    stall_s: float = 10.0,
    on_progress: Progress | None = None,
    on_failure: Callable[[Outcome], None] | None = None,
    history_dir: str | None = None,
    html: bool = False,
) -> Summary:
    """Rerun one instance (same seed) until it fails, ``max_runs`` or ``seconds``."""
    summary = Summary(seed, profile, {name: Stats()})
    start = time.monotonic()
    for _ in range(max_runs):
        outcome = run_instance(name, ALL_SCENARIOS[name], seed, profile, stall_s, history_dir, html)
        summary.add(outcome, start)
        summary.elapsed = time.monotonic() - start
        if on_progress is not None:
            on_progress(summary)
        if not outcome.ok:
            if on_failure is not None:
                on_failure(outcome)
            break
        if time.monotonic() - start >= seconds:
            break
    summary.elapsed = time.monotonic() - start
    return summary


def format_summary(summary: Summary) -> str:
    lines = [f"{'scenario':<24}{'runs':>8}{'failures':>10}{'items':>10}{'ops':>10}{'secs':>9}"]
    for name, s in summary.stats.items():
        lines.append(f"{name:<24}{s.runs:>8}{s.failures:>10}{s.items:>10}{s.ops:>10}"
                     f"{s.seconds:>9.1f}")
    total = Stats(sum(s.runs for s in summary.stats.values()),
                  sum(s.failures for s in summary.stats.values()),
                  summary.items, sum(s.ops for s in summary.stats.values()), summary.elapsed)
    lines.append(f"{'total':<24}{total.runs:>8}{total.failures:>10}{total.items:>10}"
                 f"{total.ops:>10}{total.seconds:>9.1f}")
    return "\n".join(lines)
