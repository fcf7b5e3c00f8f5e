"""``python -m stress``: run the stress campaign.

Examples::

    python -m stress --seconds 60                       # what `make stress` runs
    python -m stress --strategy none --seconds 60       # no hook: the program users run
    python -m stress --strategy pct --runs 40           # the explorer, 40 schedules an instance
    python -m stress --scenario pool_failure --seed 42  # that instance, again and again
    python -m stress --broken lost_wakeup --profile heavy --seconds 120
    python -m stress --detect 5 --json detect.json      # time-to-detect of every broken variant
    python -m stress --faults --seconds 60              # with injected interrupts and failures
    python -m stress --seconds 10 --history runs/       # also write channel histories (JSONL)
    python -m stress --broken wait_without_while --html failure.html  # picture the failure

Every failure prints one line that replays it, for every strategy: ``python -m stress
--strategy S --scenario N --seed I ... --replay [SCHEDULE]`` (the explorer's schedule; the
OS-scheduled strategies rerun the instance until it fails again).

Exit status: 0 nothing failed; 1 a failure (a replay that reproduced it included), or the
GIL came on; 2 bad arguments (argparse: one line after the usage), or a --checkpoint file
that is not a search state (one line naming it); 3 a replay that did not
reproduce a failure; 130 interrupted (Ctrl-C: the table, the final line and the --json
report are still written).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable
from typing import TextIO

from refasync import explore as ex
from refasync.explore.shrink import SHRINK_STEPS

from . import campaign
from .broken import BROKEN
from .campaign import STALL_S, Request
from .scenarios import ALL_SCENARIOS
from .strategies import EXPLORED, NAMES

__all__ = ("main", "parse")

#: The budget when neither --seconds nor --instances bounds the run.
DEFAULT_SECONDS = 60.0


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text!r}")
    return value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text!r}")
        return value

    return parse


def _shard(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit()) or not 0 <= int(k) < int(n):
        raise argparse.ArgumentTypeError(f"must be K/N with 0 <= K < N, got {text!r}")
    return int(k), int(n)


def _parser() -> argparse.ArgumentParser:
    from conformance.inject import PROFILES

    p = argparse.ArgumentParser(
        prog="python -m stress",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--strategy",
        choices=NAMES,
        default="delays",
        help="delays: the OS schedules, seeded delays on the sync hook (default); "
        "none: the OS schedules, no hook; random, pct, dfs: the explorer",
    )
    p.add_argument(
        "--seconds",
        type=_positive_float,
        default=None,
        help=f"time budget (default {DEFAULT_SECONDS:g}, or none with --instances)",
    )
    p.add_argument(
        "--instances", type=_int_at_least(1), default=None, help="stop after N scenario instances"
    )
    p.add_argument(
        "--runs",
        type=_int_at_least(1),
        default=None,
        help="runs of each instance (delays, none: 1, a replay 500; random, pct: "
        "25 schedules, 5 for the fault scenarios; dfs: until exhausted)",
    )
    p.add_argument(
        "--scenario",
        action="append",
        choices=sorted(ALL_SCENARIOS),
        help="scenario kind (repeatable; default: all)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="master seed; with one --scenario: that instance's seed, run again and again",
    )
    p.add_argument(
        "--replay",
        nargs="?",
        const="",
        default=None,
        metavar="SCHEDULE",
        help="replay the failure of --scenario and --seed (the explorer: its "
        "SCHEDULE; delays, none: rerun it until it fails)",
    )
    p.add_argument("--json", metavar="REPORT", default=None, help="write a JSON report")
    p.add_argument(
        "--history",
        metavar="DIR",
        default=None,
        help="write each instance's channel histories to DIR/<scenario>-<seed>.jsonl "
        "(conformance/HISTORY.md; check with python -m conformance.check)",
    )
    p.add_argument(
        "--html",
        metavar="FILE",
        default=None,
        help="on a failure with a recorded history: write its timeline to FILE",
    )
    p.add_argument(
        "--broken",
        choices=sorted(BROKEN),
        default=None,
        help="install a broken variant (proof of power): stops at its detection",
    )
    p.add_argument(
        "--detect",
        type=_int_at_least(1),
        metavar="TRIALS",
        default=None,
        help="time-to-detect table: TRIALS runs per broken variant (or --broken)",
    )
    p.add_argument(
        "--faults",
        action="store_true",
        help="add the fault scenarios: injected interrupts (the explorer: one "
        "fault per run) and failing user code",
    )
    p.add_argument(
        "--stall",
        type=_positive_float,
        default=None,
        help=f"seconds without progress before a run fails as hung (default "
        f"{STALL_S:g}; the explorer: a thread's wall time between two points)",
    )
    g = p.add_argument_group("delays")
    g.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default=None,
        help="delay-injection profile (default heavy)",
    )
    g = p.add_argument_group("the explorer (random, pct, dfs)")
    g.add_argument(
        "--depth", type=_int_at_least(1), default=None, help="pct: bug depth d (default 3)"
    )
    g.add_argument(
        "--preemptions",
        type=_int_at_least(0),
        default=None,
        help="dfs: preemption bound (default 2)",
    )
    g.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        default=None,
        help="do share K of N (random/pct: runs; dfs: the tree)",
    )
    g.add_argument(
        "--checkpoint",
        metavar="DIR",
        default=None,
        help="dfs: keep each instance's search in DIR/SCENARIO-SEED.json and "
        "resume it from there (the same --seed resumes the same instances)",
    )
    g.add_argument(
        "--blocked",
        type=_positive_float,
        default=None,
        help=f"seconds a thread may block on what the explorer does not control "
        f"(default {ex.BLOCKED_S:g})",
    )
    g.add_argument(
        "--check-determinism",
        action="store_true",
        help="run every schedule twice and fail where the runs differ",
    )
    g.add_argument(
        "--shrink-steps",
        type=_int_at_least(0),
        default=None,
        help=f"explorer steps shrinking a failure may spend (default {SHRINK_STEPS})",
    )
    return p


#: Options that only some strategies take: the strategies, and why.
_ONLY = {
    "profile": (("delays",), "the delay injector's"),
    "depth": (("pct",), "pct's"),
    "preemptions": (("dfs",), "dfs's"),
    "checkpoint": (("dfs",), "dfs's"),
    "shard": (tuple(EXPLORED), "the explorer's"),
    "blocked": (tuple(EXPLORED), "the explorer's"),
    "check_determinism": (tuple(EXPLORED), "the explorer's"),
    "shrink_steps": (tuple(EXPLORED), "the explorer's"),
}


def _check(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, with one line each, what the chosen strategy or mode cannot do."""
    strategy = args.strategy
    for name, (strategies, whose) in _ONLY.items():
        if getattr(args, name) not in (None, False) and strategy not in strategies:
            p.error(
                f"--{name.replace('_', '-')} is {whose} option: it does not apply to "
                f"--strategy {strategy}"
            )
    if strategy == "none" and args.faults:
        p.error(
            "--faults injects interrupts through the sync hook, and --strategy none "
            "installs none (it runs the fault scenarios with failing user code anyway)"
        )
    if strategy == "dfs" and (args.history or args.html):
        p.error(
            "--strategy dfs records no histories (a recorder's lock would make every "
            "operation dependent): --history and --html need another strategy"
        )
    if args.replay is not None:
        if not args.scenario or len(args.scenario) != 1 or args.seed is None:
            p.error("--replay needs one --scenario and its --seed")
        if args.detect is not None:
            p.error("--replay and --detect do not go together")
        if args.strategy in EXPLORED and not args.replay:
            p.error(f"--strategy {strategy}: --replay needs the failure's SCHEDULE")
        if args.strategy not in EXPLORED and args.replay:
            p.error(f"--strategy {strategy} has no schedules: --replay takes no SCHEDULE")
        problem = _schedule_problem(args.replay)
        if problem:
            p.error(f"--replay: {problem}")
        if args.instances is not None:
            p.error(
                "--instances does not apply to --replay (one instance; --runs bounds "
                "the reruns of delays and none)"
            )
    if args.detect is not None and (args.history or args.html):
        p.error("--detect writes no histories: --history and --html do not apply")
    for flag, path in (("--json", args.json), ("--html", args.html)):
        if path is not None:
            problem = _unwritable_file(path)
            if problem:
                p.error(f"{flag} {path}: {problem}")
    for flag, directory in (("--history", args.history), ("--checkpoint", args.checkpoint)):
        if directory is not None:
            problem = _unwritable_dir(directory)
            if problem:
                p.error(f"{flag} {directory}: {problem}")


_SCHEDULE_PART = re.compile(r"(\d+)[tsf]?(?:\*(\d+))?")


def _schedule_problem(text: str) -> str:
    """:return: why ``text`` is not a schedule the explorer printed, or "" (checked
    before it is expanded: it cannot be longer than a run, ``MAX_STEPS`` choices)."""
    steps = 0
    for part in filter(None, (part.strip() for part in text.split(","))):
        match = _SCHEDULE_PART.fullmatch(part)
        if match is None:
            return f"bad schedule part {part[:40]!r} (parts look like 3, 2*5 or 1t)"
        steps += int(match.group(2) or 1)
        if steps > ex.MAX_STEPS:
            return f"longer than a run can be ({ex.MAX_STEPS} steps)"
    return ""


def _unwritable_file(path: str) -> str:
    """:return: why ``path`` cannot be written, or ""."""
    if os.path.isdir(path):
        return "is a directory"
    if os.path.exists(path):
        return "" if os.access(path, os.W_OK) else "not writable"
    return _parent_problem(path)


def _unwritable_dir(path: str) -> str:
    """:return: why ``path`` cannot be (made) a writable directory, or ""."""
    if os.path.exists(path):
        if not os.path.isdir(path):
            return "is not a directory"
        return "" if os.access(path, os.W_OK | os.X_OK) else "not writable"
    return _parent_problem(path)


def _parent_problem(path: str) -> str:
    """:return: why ``path`` cannot be created in its directory, or ""."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return f"its directory {parent} does not exist"
    return "" if os.access(parent, os.W_OK | os.X_OK) else f"its directory {parent} is not writable"


def parse(argv: list[str] | None = None) -> Request:
    """:return: the checked request (argparse exits with status 2 on a bad argument)."""
    p = _parser()
    args = p.parse_args(argv)
    _check(p, args)
    seconds = args.seconds
    if seconds is None and (args.instances is None or args.replay is not None):
        seconds = DEFAULT_SECONDS
    return Request(
        strategy=args.strategy,
        seconds=seconds,
        instances=args.instances,
        runs=args.runs,
        scenarios=args.scenario,
        seed=args.seed,
        replay=args.replay,
        json=args.json,
        history=args.history,
        html=args.html,
        broken=args.broken,
        detect=args.detect,
        faults=args.faults,
        stall_s=args.stall,
        profile=args.profile,
        depth=args.depth,
        preemptions=args.preemptions,
        shard=args.shard,
        blocked_s=args.blocked,
        check_determinism=args.check_determinism,
        shrink_steps=args.shrink_steps,
        checkpoint=args.checkpoint,
    )


EXIT_BAD_CHECKPOINT = 2


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    """:return: the exit status (see the module docstring)."""
    request = parse(argv)
    try:
        return campaign.run(request, out)
    except KeyboardInterrupt:  # between the run and its report: what was written stays
        out.write("\nINTERRUPTED\n")
        return campaign.EXIT_INTERRUPTED
    except ex.CheckpointError as exc:  # a state file the search cannot resume from
        out.write(f"python -m stress: error: {exc}\n")
        return EXIT_BAD_CHECKPOINT
