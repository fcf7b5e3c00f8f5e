"""What ``python -m stress`` does with a checked :class:`Request`, for every strategy: a
campaign (:func:`stress.runner.run_many`), a replay of one failure, or the time-to-detect
table of the broken variants; the GIL sampler around each, the live progress line, the
failure reports, the table, the final line and the ``--json`` report (also after a
Ctrl-C)."""

from __future__ import annotations

import contextlib
import json
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from conformance.inject import derive_seed
from refasync import explore as ex
from refasync.explore.shrink import SHRINK_STEPS

from .broken import BROKEN, broken
from .gil import GilSampler, gil_check_active
from .harness import Outcome
from .runner import Stats, Summary, format_summary, repro_command, run_many
from .scenarios import ALL_SCENARIOS, FAULT_SCENARIOS, SCENARIOS
from .strategies import EXPLORED, Delays, NoHook, RunOptions, Strategy
from .strategies.explored import CAUGHT_IN
from .strategies.os_scheduled import REPLAY_RUNS

__all__ = ("EXIT_INTERRUPTED", "EXIT_NOT_REPRODUCED", "Request", "build", "run")

EXIT_NOT_REPRODUCED = 3  # a replay that did not fail
EXIT_INTERRUPTED = 130  # Ctrl-C
MAX_MESSAGE = 6000  # characters of a failure shown on the terminal (all of it in --json)
STALL_S = 10.0  # the OS-scheduled strategies' watchdog


@dataclass(frozen=True)
class Request:
    """What the command line asked for (checked by :func:`stress.cli.parse`)."""

    strategy: str = "delays"
    seconds: float | None = 60.0
    instances: int | None = None
    runs: int | None = None
    scenarios: list[str] | None = None
    seed: int | None = None
    replay: str | None = None  # "": rerun the instance; else the schedule
    json: str | None = None
    history: str | None = None
    html: str | None = None
    broken: str | None = None
    detect: int | None = None
    faults: bool = False
    stall_s: float | None = None
    profile: str | None = None
    depth: int | None = None
    preemptions: int | None = None
    shard: tuple[int, int] | None = None
    blocked_s: float | None = None
    check_determinism: bool = False
    shrink_steps: int | None = None
    checkpoint: str | None = None  # dfs: the directory of the instances' search states


def build(request: Request, *, shrink: bool = True) -> Strategy:
    """:return: the strategy the request names, with its options."""
    if request.strategy == "delays":
        return Delays(request.profile or "heavy")
    if request.strategy == "none":
        return NoHook()
    return EXPLORED[request.strategy](
        shard=request.shard or (0, 1),
        stall_s=request.stall_s or ex.STALL_S,
        blocked_s=request.blocked_s or ex.BLOCKED_S,
        check_determinism=request.check_determinism,
        shrink_steps=SHRINK_STEPS if request.shrink_steps is None else request.shrink_steps,
        shrink=shrink,
        depth=request.depth or 3,
        preemptions=2 if request.preemptions is None else request.preemptions,
        checkpoint_dir=request.checkpoint,
    )


def default_scenarios(request: Request, variant: str | None = None) -> list[str]:
    """Every classic kind, and the fault kinds with ``--faults`` (``none``: always, with
    failing user code only). A broken variant runs where it shows: its explorer scenario
    (``CAUGHT_IN``), or the fault kinds for a fault variant."""
    if request.scenarios:
        return list(request.scenarios)
    if variant is not None and request.strategy in EXPLORED and variant in CAUGHT_IN:
        return [CAUGHT_IN[variant]]
    if variant is not None and BROKEN[variant].faults:
        return list(FAULT_SCENARIOS)
    if request.faults or request.strategy == "none":
        return list(ALL_SCENARIOS)
    return list(SCENARIOS)


def run(request: Request, out: TextIO) -> int:
    """Run the request; :return: the exit status (``python -m stress --help``)."""
    gil = GilSampler() if gil_check_active() else None
    with gil if gil is not None else contextlib.nullcontext():
        if request.detect is not None:
            status = _detect(request, out)
        elif request.replay is not None:
            status = _replay(request, out)
        else:
            status = _campaign(request, out)
    if gil is not None:
        gil_on = gil.first_seen_s is not None
        out.write(
            f"GIL check: {gil.samples} samples, "
            + (
                f"FAILED: the GIL was on {gil.first_seen_s:.2f} s into the run\n"
                if gil_on
                else "the GIL was off in every one\n"
            )
        )
        if gil_on and status == 0:
            status = 1
    return status


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
        line = (
            f"[{summary.elapsed:6.1f}s] scenario instances: {summary.instances}  "
            f"runs: {summary.runs}  items moved: {summary.items}  "
            f"failures: {len(summary.failures)}"
        )
        self.out.write("\r" + line if self.tty else line + "\n")
        self.out.flush()

    def end(self) -> None:
        if self.tty:
            self.out.write("\n")


@contextlib.contextmanager
def _maybe_broken(name: str | None) -> Iterator[None]:
    if name is None:
        yield
    else:
        with broken(name):
            yield


def _write_json(path: str | None, data: dict[str, object]) -> None:
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)


def _shown(message: str) -> str:
    if len(message) <= MAX_MESSAGE:
        return message
    return message[:MAX_MESSAGE] + f"\n... ({len(message) - MAX_MESSAGE} more chars)"


def _report_failure(request: Request, outcome: Outcome, repro: str, out: TextIO) -> None:
    out.write(f"\nFAILURE {_shown(outcome.message)}\nreplay: {repro}\n")
    if request.html is not None and outcome.html:
        with open(request.html, "w", encoding="utf-8") as f:
            f.write(outcome.html)
        out.write(f"timeline of the failure written to {request.html}\n")
    elif request.html is not None:
        out.write("no timeline: the failing instance recorded no channel history\n")
    if outcome.history:
        out.write(f"its history: {outcome.history}\n")
    out.flush()


def _campaign(request: Request, out: TextIO) -> int:
    strategy = build(request)
    scenarios = default_scenarios(request, request.broken)
    one = request.seed if request.scenarios and len(request.scenarios) == 1 else None
    master = request.seed if request.seed is not None else random.randrange(1 << 32)
    printer = ProgressPrinter(out)

    def on_failure(outcome: Outcome, repro: str) -> None:
        printer.end()
        _report_failure(request, outcome, repro, out)

    summary = Summary(
        strategy.name, strategy.describe(), master, {name: Stats() for name in scenarios}
    )
    try:  # a Ctrl-C before the loop began is an interrupted run too
        out.write(
            (f"instance seed {one}" if one is not None else f"master seed {master}")
            + f"; {strategy.describe()}; scenarios {', '.join(scenarios)}"
            + (f"; {request.seconds:g} s" if request.seconds is not None else "")
            + (f"; {request.instances} instances" if request.instances else "")
            + (f"; broken variant {request.broken}" if request.broken else "")
            + "\n"
        )
        out.flush()
        with _maybe_broken(request.broken):
            summary = run_many(
                scenarios,
                master,
                strategy,
                request.seconds,
                request.instances,
                request.stall_s or STALL_S,
                stop_on_failure=request.broken is not None or one is not None,
                on_progress=printer,
                on_failure=on_failure,
                history_dir=request.history,
                html=request.html is not None,
                runs=request.runs,
                fixed_seed=one,
                broken=request.broken,
            )
    except KeyboardInterrupt:
        summary.interrupted = True
    printer.end()
    out.write(format_summary(summary) + "\n")
    if summary.first_failure_s is not None and request.broken:
        out.write(
            f"broken variant {request.broken} detected after {summary.first_failure_s:.2f} s\n"
        )
    _write_json(request.json, summary.to_json())
    verdict = "INTERRUPTED" if summary.interrupted else "FAILED" if summary.failures else "OK"
    out.write(
        f"{verdict}: {len(summary.failures)} failure(s) in {summary.instances} scenario instances\n"
    )
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return 1 if summary.failures else 0


def _replay(request: Request, out: TextIO) -> int:
    """Replay one failure; :return: 1 when it failed again (as it should), 3 when not."""
    strategy = build(request)
    assert request.scenarios is not None and request.seed is not None
    name, seed = request.scenarios[0], request.seed
    out.write(
        f"replaying {name} seed {seed} ({strategy.describe()})"
        + (
            f" schedule {request.replay}"
            if request.replay
            else f": rerun until it fails, at most {request.runs or REPLAY_RUNS} runs or "
            f"{request.seconds:g} s"
        )
        + "\n"
    )
    out.flush()
    options = RunOptions(
        request.stall_s or STALL_S,
        request.runs,
        request.seconds,
        request.history,
        request.html is not None,
        repro=lambda n, s: repro_command(strategy, n, s, request.broken),
    )
    try:
        with _maybe_broken(request.broken):
            outcome = strategy.replay(name, seed, request.replay or None, options)
    except KeyboardInterrupt:
        out.write("INTERRUPTED: the replay was stopped\n")
        _write_json(request.json, {"replay": name, "seed": seed, "interrupted": True})
        return EXIT_INTERRUPTED
    _write_json(
        request.json,
        {
            "replay": name,
            "seed": seed,
            "reproduced": not outcome.ok,
            "runs": outcome.runs,
            "kind": outcome.kind,
            "message": outcome.message[:20000],
        },
    )
    if outcome.ok:
        why = outcome.message or f"{outcome.runs} run(s) in {outcome.seconds:.1f} s"
        out.write(f"REPLAY DID NOT FAIL: {name} seed={seed}: {why}\n")
        return EXIT_NOT_REPRODUCED
    _report_failure(request, outcome, "(this command)", out)
    out.write(f"FAILED (reproduced): {name} seed={seed}\n")
    return 1


def _detect(request: Request, out: TextIO) -> int:
    """The median time to detect each broken variant (``--broken``: that one) over
    ``--detect`` trials of a campaign that stops at its first failure; :return: 1 if a
    trial missed."""
    trials = request.detect
    assert trials is not None
    explored = request.strategy in EXPLORED
    strategy = build(request, shrink=False)  # time to detect, not to shrink
    names = (
        [request.broken]
        if request.broken
        else sorted(CAUGHT_IN if explored else (n for n, v in BROKEN.items() if v.delays))
    )
    master = request.seed if request.seed is not None else random.randrange(1 << 32)
    out.write(
        f"detect: master seed {master}; {strategy.describe()}; {trials} trials per "
        f"variant; budget {request.seconds:g} s per trial\n"
    )
    rows: dict[str, dict[str, object]] = {}
    missed_any = interrupted = False
    for name in names:
        times: list[float] = []
        caught_by: list[str] = []
        done = 0  # trials that ran to their end
        for trial in range(trials):
            with broken(name):
                summary = run_many(
                    default_scenarios(request, name),
                    _trial_seed(master, name, trial),
                    strategy,
                    seconds=request.seconds,
                    instances=request.instances,
                    stall_s=request.stall_s or STALL_S,
                    stop_on_failure=True,
                    runs=request.runs,
                )
            if summary.first_failure_s is not None:
                times.append(summary.first_failure_s)
                caught_by.append(summary.failures[0].scenario)
            elif summary.interrupted:
                interrupted = True
                break
            done += 1
        missed = done - len(times)
        missed_any = missed_any or missed > 0
        median = statistics.median(times) if times else None
        rows[name] = {
            "median_s": median,
            "times_s": [round(t, 2) for t in times],
            "missed": missed,
            "caught_by": caught_by,
            "description": BROKEN[name].description,
        }
        shown = f"{median:8.2f}" if median is not None else "     n/a"
        out.write(
            f"{name:<28} median {shown} s  caught {len(times)}/{done}  "
            f"by {sorted(set(caught_by))}\n"
        )
        out.flush()
        if interrupted:
            break
    _write_json(
        request.json,
        {
            "strategy": strategy.name,
            "settings": strategy.describe(),
            "master_seed": master,
            "interrupted": interrupted,
            "variants": rows,
        },
    )
    if interrupted:
        out.write("INTERRUPTED: the table holds the variants measured so far\n")
        return EXIT_INTERRUPTED
    return 1 if missed_any else 0


def _trial_seed(master: int, variant: str, trial: int) -> int:
    return derive_seed(master, variant, trial)
