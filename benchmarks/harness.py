"""Timing machinery: bounded runs, A/B interleaving, medians, and the result rows.

Every timed function returns the seconds it measured itself (with ``time.perf_counter``
around the work only, so set-up is excluded where the workload says so). Every call runs
under a time limit (:func:`refasync.testing.run_bounded`): a hang becomes a reported
``HANG`` row with every thread's stack, never a wait.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from refasync.testing import Hang, run_bounded

__all__ = (
    "BenchHang",
    "Goal",
    "Row",
    "Status",
    "Timed",
    "Versus",
    "interleave",
    "median",
    "percentile",
    "run_guarded",
)

#: A timed function: does the work once and returns the seconds it measured.
Timed = Callable[[], float]


class BenchHang(Exception):
    """A run exceeded its time limit; the message holds every thread's stack."""


def run_guarded(fn: Callable[[], float], seconds: float, what: str) -> float:
    """Run ``fn`` in a bounded daemon thread; :return: its result.

    :raise BenchHang: if it has not returned after ``seconds`` (stacks in the message).
    """
    try:
        return run_bounded(fn, seconds, what)
    except Hang as exc:
        raise BenchHang(str(exc)) from None


def interleave(
    variants: Sequence[Timed], reps: int, seconds: float, what: str
) -> list[list[float]]:
    """Run the variants A B C A B C ... ``reps`` times each, in this process.

    A collection runs before every timed call, so no run pays for another's garbage.

    :return: one list of measured seconds per variant, in the given order.
    """
    samples: list[list[float]] = [[] for _ in variants]
    for rep in range(reps):
        for index, variant in enumerate(variants):
            gc.collect()
            samples[index].append(run_guarded(variant, seconds, f"{what} #{index} rep {rep}"))
    return samples


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """:return: the ``fraction`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[rank]


class Goal(Enum):
    """How a row's value is compared with its limit."""

    AT_MOST = "<="
    AT_LEAST = ">="
    BELOW = "<"
    INFO = "info"  # no target: shown for context only


class Status(Enum):
    MET = "met"
    MISSED = "MISSED"
    INFO = "-"
    HANG = "HANG"
    ERROR = "ERROR"


@dataclass
class Versus:
    """A row's refasync time divided by another library's, from the same interleaved run
    (``ratio`` None: not measured, and ``note`` says why)."""

    ratio: float | None
    limit: float | None  # the target: ratio <= limit; None for information only
    other_s: float | None = None  # the other library's median seconds
    note: str = ""
    status: Status = Status.INFO

    def judge(self) -> Versus:
        """Set ``status`` from ``ratio`` and ``limit``; :return: self."""
        if self.ratio is None or self.limit is None:
            self.status = Status.INFO
        else:
            self.status = Status.MET if self.ratio <= self.limit else Status.MISSED
        return self

    def text(self) -> str:
        if self.ratio is None:
            return self.note
        parts = [f"{self.ratio:.3g}x"]
        if self.limit is not None:
            parts.append(f"(<= {self.limit:g}x: {self.status.value})")
        if self.note:
            parts.append(f"; {self.note}")
        return " ".join(parts).replace(" ;", ";")


@dataclass
class Row:
    """One line of the table: a measured value compared with its target."""

    workload: str
    baseline: str
    value: float | None  # the figure compared with the target (a ratio, a speedup...)
    unit: str  # how value reads: "x" for ratios and speedups, "MiB", "%"
    goal: Goal
    limit: float = 0.0
    refasync_s: float | None = None  # median seconds, when the row times something
    baseline_s: float | None = None
    note: str = ""
    status: Status = Status.INFO
    details: dict[str, float] = field(default_factory=dict)
    original: Versus | None = None  # refasync time / the original library's (original.py)

    def judge(self) -> Row:
        """Set ``status`` from ``value``, ``goal`` and ``limit``; :return: self."""
        if self.status in (Status.HANG, Status.ERROR):
            return self
        if self.goal is Goal.INFO or self.value is None:
            self.status = Status.INFO
            return self
        ok = {
            Goal.AT_MOST: self.value <= self.limit,
            Goal.AT_LEAST: self.value >= self.limit,
            Goal.BELOW: self.value < self.limit,
        }[self.goal]
        self.status = Status.MET if ok else Status.MISSED
        return self

    def target_text(self) -> str:
        if self.goal is Goal.INFO:
            return "-"
        return f"{self.goal.value} {self.limit:g}{self.unit}"

    def value_text(self) -> str:
        if self.value is None:
            return self.status.value
        if self.unit == "x":
            return f"{self.value:.3g}x"
        return f"{self.value:.3g}{self.unit}"


def failed_row(workload: str, baseline: str, status: Status, note: str) -> Row:
    """:return: a row for a workload that hung or raised."""
    return Row(workload, baseline, None, "", Goal.INFO, status=status, note=note)
