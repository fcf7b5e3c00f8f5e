"""``python -m stress``: run the stress harness.

Examples::

    python -m stress --seconds 60                       # what `make stress` runs
    python -m stress --scenario pool_failure --seed 42  # rerun one instance until it fails
    python -m stress --broken lost_wakeup --profile heavy --seconds 120
    python -m stress --detect 5 --json detect.json      # time-to-detect of every broken variant
    python -m stress --faults --seconds 60              # with injected interrupts and failures
    python -m stress --seconds 10 --history runs/       # also write channel histories (JSONL)
    python -m stress --broken wait_without_while --html failure.html  # picture the failure
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import time
from typing import Iterator, TextIO

from . import explore_driver
from .broken import BROKEN, broken
from .gil import GilSampler, gil_check_active
from .harness import Outcome, repro_line
from .inject import PROFILES, derive_seed
from .runner import Summary, format_summary, repeat_instance, run_many
from .scenarios import ALL_SCENARIOS, FAULT_SCENARIOS, SCENARIOS

__all__ = ("main",)

MAX_MESSAGE = 6000  # characters of a failure shown on the terminal (all of it in --json)


class ProgressPrinter:
    """A live line on a TTY, plain periodic lines otherwise."""

    def __init__(self, out: TextIO, every_s: float | None = None) -> None:
        self.out = out
        self.tty = out.isatty()
        self.every_s = every_s if every_s is not None else (0.2 if self.tty else 10.0)
        self._last = time.monotonic()

    def __call__(self, summary: Summary) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            return
        self._last = now
        failures = len(summary.failures)
        line = (f"[{summary.elapsed:6.1f}s] scenarios run: {summary.runs}  "
                f"items moved: {summary.items}  failures: {failures}")
        if self.tty:
            self.out.write("\r" + line)
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def end(self) -> None:
        if self.tty:
            self.out.write("\n")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m stress", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="time budget (default 60)")
    p.add_argument("--scenario", action="append", choices=sorted(ALL_SCENARIOS),
                   help="scenario kind (repeatable; default: all)")
    p.add_argument("--seed", type=int, default=None, help="master seed; with --scenario: "
                   "one instance's seed, rerun until it fails")
    p.add_argument("--profile", choices=sorted(PROFILES), default="heavy",
                   help="delay-injection profile (default heavy)")
    p.add_argument("--json", metavar="REPORT", default=None, help="write a JSON report")
    p.add_argument("--stall", type=float, default=10.0,
                   help="watchdog: seconds without a completed operation (default 10)")
    p.add_argument("--faults", action="store_true",
                   help="add the fault scenarios (injected interrupts, failing user code)")
    p.add_argument("--instances", type=int, default=None, help="stop after N instances")
    p.add_argument("--max-runs", type=int, default=500,
                   help="with --scenario and --seed: rerun at most N times (default 500)")
    p.add_argument("--broken", choices=sorted(BROKEN), default=None,
                   help="install a broken variant (proof of power): stops at its detection")
    p.add_argument("--detect", type=int, metavar="TRIALS", default=None,
                   help="time-to-detect table: TRIALS runs per broken variant (or --broken)")
    p.add_argument("--history", metavar="DIR", default=None,
                   help="write each instance's channel histories to DIR/<scenario>-<seed>.jsonl "
                        "(conformance/HISTORY.md; check with python -m conformance.check)")
    p.add_argument("--html", metavar="FILE", default=None,
                   help="on a failure with a recorded history: write its timeline to FILE")
    explore_driver.add_arguments(p)
    return p


def _default_scenarios(args: argparse.Namespace, variant: str | None = None) -> list[str]:
    """Every classic kind; with ``--faults`` the fault kinds too. A fault variant (one
    that only faults reveal) runs the fault kinds only."""
    variant = variant or args.broken
    if variant is not None and BROKEN[variant].faults:
        return list(FAULT_SCENARIOS)
    return list(SCENARIOS) + (list(FAULT_SCENARIOS) if args.faults else [])


@contextlib.contextmanager
def _maybe_broken(name: str | None) -> Iterator[None]:
    if name is None:
        yield
    else:
        with broken(name):
            yield


def _report_failure(outcome: Outcome, profile: str, out: TextIO) -> None:
    text = outcome.message
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + f"\n... ({len(outcome.message) - MAX_MESSAGE} more chars)"
    out.write(f"\nFAILURE {text}\n")
    out.write(f"rerun: {repro_line(outcome.scenario, outcome.seed, profile)}\n")
    out.flush()


def _detect(args: argparse.Namespace, out: TextIO) -> int:
    """Median time-to-detect per broken variant."""
    trials = args.detect
    names = [args.broken] if args.broken else sorted(BROKEN)
    master = args.seed if args.seed is not None else random.randrange(1 << 32)
    out.write(f"master seed {master}; profile {args.profile}; {trials} trials per variant; "
              f"budget {args.seconds} s per trial\n")
    rows: dict[str, dict[str, object]] = {}
    missed_any = False
    for name in names:
        times: list[float] = []
        caught_by: list[str] = []
        for trial in range(trials):
            with broken(name):
                scenarios = args.scenario or _default_scenarios(args, name)
                summary = run_many(scenarios, derive_seed(master, name, trial), args.profile,
                                   seconds=args.seconds, stall_s=args.stall,
                                   stop_on_failure=True)
            if summary.first_failure_s is not None:
                times.append(summary.first_failure_s)
                caught_by.append(summary.failures[0].scenario)
        missed = trials - len(times)
        missed_any = missed_any or missed > 0
        median = statistics.median(times) if times else None
        rows[name] = {"median_s": median, "times_s": [round(t, 2) for t in times],
                      "missed": missed, "caught_by": caught_by,
                      "description": BROKEN[name].description}
        shown = f"{median:8.2f}" if median is not None else "     n/a"
        out.write(f"{name:<28} median {shown} s  caught {len(times)}/{trials}  "
                  f"by {sorted(set(caught_by))}\n")
        out.flush()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"master_seed": master, "profile": args.profile, "variants": rows}, f,
                      indent=2)
    return 1 if missed_any else 0


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(argv)
    if args.strategy != "delays":
        if args.detect is not None:
            return explore_driver.detect(args, out)
        with _maybe_broken(args.broken):
            return explore_driver.main(args, out)
    if args.detect is not None:
        return _detect(args, out)
    printer = ProgressPrinter(out)

    def on_failure(outcome: Outcome) -> None:
        printer.end()
        _report_failure(outcome, args.profile, out)
        if args.html and outcome.html:
            with open(args.html, "w", encoding="utf-8") as f:
                f.write(outcome.html)
            out.write(f"timeline of the failure written to {args.html}\n")
        if outcome.history:
            out.write(f"its history: {outcome.history}\n")

    scenarios = args.scenario or _default_scenarios(args)
    # On a free-threaded interpreter the GIL must stay off for the whole run: sampled.
    gil = GilSampler() if gil_check_active() else None
    with _maybe_broken(args.broken), gil if gil is not None else contextlib.nullcontext():
        if args.scenario and len(args.scenario) == 1 and args.seed is not None:
            name = args.scenario[0]
            out.write(f"rerunning {name} seed {args.seed} (profile {args.profile}) until it "
                      f"fails, at most {args.max_runs} runs or {args.seconds} s\n")
            summary = repeat_instance(name, args.seed, args.profile, args.seconds,
                                      args.max_runs, args.stall, printer, on_failure,
                                      args.history, args.html is not None)
        else:
            master = args.seed if args.seed is not None else random.randrange(1 << 32)
            out.write(f"master seed {master}; profile {args.profile}; scenarios "
                      f"{', '.join(scenarios)}; {args.seconds} s"
                      + (f"; broken variant {args.broken}" if args.broken else "") + "\n")
            out.flush()
            summary = run_many(scenarios, master, args.profile, args.seconds, args.instances,
                               args.stall, stop_on_failure=args.broken is not None,
                               on_progress=printer, on_failure=on_failure,
                               history_dir=args.history, html=args.html is not None)
    printer.end()
    out.write(format_summary(summary) + "\n")
    if summary.first_failure_s is not None and args.broken:
        out.write(f"broken variant {args.broken} detected after "
                  f"{summary.first_failure_s:.2f} s\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary.to_json(), f, indent=2)
    gil_on = gil is not None and gil.first_seen_s is not None
    if gil is not None:
        out.write(f"GIL check: {gil.samples} samples, " + (
            f"FAILED: the GIL was on {gil.first_seen_s:.2f} s into the run\n" if gil_on
            else "the GIL was off in every one\n"))
    out.write(f"{'FAILED' if summary.failures else 'OK'}: {len(summary.failures)} failure(s) "
              f"in {summary.runs} scenario instances\n")
    return 1 if summary.failures or gil_on else 0
