"""Run CrossHair over refasync's contracts within a time budget; fail on any counterexample.

Usage (from the repository root)::

    .venv/bin/python tools/crosshair_check.py            # the default targets below
    .venv/bin/python tools/crosshair_check.py TARGET...  # other targets (TARGET[=SECONDS])

A target is what ``crosshair check`` accepts: ``module.function`` or a file path. Each one
runs in its own ``crosshair check --analysis_kind=PEP316 --report_all`` process with a
per-condition CPU timeout; ``--jobs`` of them run at once. The exit status is 0 only if
every target analyzed at least one condition, none reported a counterexample or an error,
and all finished within the total wall-clock budget (default 180 s).

Environment: ``CROSSHAIR_BUDGET_S``, ``CROSSHAIR_JOBS`` and ``CROSSHAIR_SCALE`` (multiplies
every per-condition timeout; e.g. 10 for a long local run) override the defaults.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUDGET_S = 180.0

# One "<file>:<line>: <severity>: <message>" line of crosshair's --report_all output.
REPORT_LINE = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+): (?P<severity>error|info): (?P<message>.*)$"
)


@dataclass(frozen=True)
class Target:
    """What to check, and the CPU seconds CrossHair may spend on each of its conditions."""

    name: str
    per_condition_s: float

    @classmethod
    def parse(cls, text: str, default_s: float) -> Target:
        name, _, seconds = text.partition("=")
        return cls(name, float(seconds) if seconds else default_s)


#: The pure decision functions of the library, and the channel specification. Seconds are
#: CPU time per condition; the conditions of a target are checked one after another.
DEFAULT_TARGETS: tuple[Target, ...] = (
    Target("refasync.plan.plan_chunks", 6.0),  # 4 conditions
    Target("refasync.plan.plan_unbounded", 4.0),  # 1
    Target("refasync.queues.normalize_count", 4.0),  # 2, confirmed over all paths in < 1 s
    Target("refasync.queues.normalize_timeout", 4.0),  # 1, idem
    Target("refasync.graph.creates_cycle", 8.0),  # 1
    Target("refasync.graph.inputs_first_order", 6.0),  # 3
)
#: Included when present (written in parallel with the library).
OPTIONAL_TARGETS: tuple[Target, ...] = (Target("models/channel_spec.py", 3.0),)


@dataclass
class Outcome:
    """What one crosshair process reported."""

    target: Target
    returncode: int | None = None  # None: killed at the budget
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)  # counterexamples and crashes
    confirmed: int = 0  # conditions proven over all paths
    unconfirmed: int = 0  # conditions with no counterexample found in the time given
    stderr: str = ""

    @property
    def ok(self) -> bool:
        analyzed = self.confirmed + self.unconfirmed + len(self.errors)
        return self.returncode == 0 and not self.errors and analyzed > 0

    def summary(self) -> str:
        if self.returncode is None:
            verdict = "KILLED (budget)"
        elif self.ok:
            verdict = "ok"
        elif self.returncode == 0:
            verdict = "FAILED (no condition analyzed: is the contract gone?)"
        else:
            verdict = f"FAILED (exit {self.returncode})"
        return (
            f"{verdict:8} {self.target.name} [{self.target.per_condition_s:g} s/condition]: "
            f"{self.confirmed} confirmed, {self.unconfirmed} not refuted, "
            f"{len(self.errors)} counterexamples/errors, {self.seconds:.1f} s"
        )


class Run:
    """One ``crosshair check`` process; its output goes to temporary files."""

    def __init__(self, target: Target, scale: float) -> None:
        self.target = target
        self._out: IO[str] = tempfile.TemporaryFile("w+")
        self._err: IO[str] = tempfile.TemporaryFile("w+")
        command = [
            sys.executable, "-m", "crosshair", "check",
            "--analysis_kind=PEP316", "--report_all",
            f"--per_condition_timeout={target.per_condition_s * scale:g}",
            target.name,
        ]  # fmt: skip
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")) if p
        )
        self._started = time.monotonic()
        self._process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._out, stderr=self._err, text=True
        )

    def wait(self, deadline: float) -> Outcome:
        """Wait for the process to exit; kill it at ``deadline`` (a monotonic time)."""
        try:
            return self._collect(self._process.wait(max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            return self._collect(None)

    def _collect(self, returncode: int | None) -> Outcome:
        outcome = Outcome(self.target, returncode, time.monotonic() - self._started)
        self._out.seek(0)
        self._err.seek(0)
        for line in self._out.read().splitlines():
            match = REPORT_LINE.match(line)
            if match is None:
                continue
            message = match["message"]
            if match["severity"] == "error":
                outcome.errors.append(line)
            elif message.startswith("Confirmed"):
                outcome.confirmed += 1
            else:
                outcome.unconfirmed += 1
        outcome.stderr = self._err.read()
        self._out.close()
        self._err.close()
        return outcome


def run_all(targets: Sequence[Target], jobs: int, budget_s: float, scale: float) -> list[Outcome]:
    """Run the targets, ``jobs`` at a time, longest first; kill what runs past the budget."""
    deadline = time.monotonic() + budget_s

    def check(target: Target) -> Outcome:
        if time.monotonic() >= deadline:
            return Outcome(target)  # never started: reported as killed at the budget
        return Run(target, scale).wait(deadline)

    ordered = sorted(targets, key=lambda t: t.per_condition_s, reverse=True)
    done: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=jobs) as executor:
        for future in as_completed([executor.submit(check, t) for t in ordered]):
            done.append(future.result())
            print(done[-1].summary(), flush=True)
    return done


def default_targets() -> list[Target]:
    targets = list(DEFAULT_TARGETS)
    targets.extend(t for t in OPTIONAL_TARGETS if (ROOT / t.name).exists())
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("targets", nargs="*", help="TARGET[=SECONDS per condition]")
    parser.add_argument(
        "--per-condition",
        type=float,
        default=4.0,
        help="seconds per condition for targets given without =SECONDS",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("CROSSHAIR_JOBS", min(2, os.cpu_count() or 1))),
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=float(os.environ.get("CROSSHAIR_BUDGET_S", DEFAULT_BUDGET_S)),
    )
    args = parser.parse_args(argv)
    scale = float(os.environ.get("CROSSHAIR_SCALE", "1"))
    targets = (
        [Target.parse(t, args.per_condition) for t in args.targets]
        if args.targets
        else default_targets()
    )
    started = time.monotonic()
    outcomes = run_all(targets, max(1, args.jobs), args.budget, scale)
    elapsed = time.monotonic() - started
    failed = [o for o in outcomes if not o.ok]
    for outcome in failed:
        for line in outcome.errors:
            print(line)
        if outcome.returncode not in (0, 1, None) and outcome.stderr:
            print(outcome.stderr.rstrip())
    print(
        f"crosshair: {len(outcomes)} targets, {len(failed)} failed, {elapsed:.1f} s "
        f"(budget {args.budget:g} s)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
