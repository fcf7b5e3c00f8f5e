"""``python -m benchmarks [--quick] [--json REPORT] [--only TEXT] [--strict] [--no-original]``."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence

from .bounds import bound_rows
from .channel_bench import channel_rows
from .cpu_bench import cpu_rows
from .harness import BenchHang, Row, Status, failed_row
from .hook_bench import hook_rows
from .latency_bench import latency_rows
from .memory_bench import memory_rows
from .nohook import build_nohook_baseline
from .original import describe as describe_original
from .original import disable as disable_original
from .pool_bench import pool_rows
from .report import format_table, machine_info, write_json
from .scale import FULL, QUICK, Scale

Group = tuple[str, Callable[[], list[Row]]]


def _as_group(make_row: Callable[[], Row]) -> Callable[[], list[Row]]:
    return lambda: [make_row()]


def _groups(scale: Scale) -> list[Group]:
    groups: list[Group] = []
    for make_row in channel_rows(scale):
        groups.append(("channel", _as_group(make_row)))
    chain, sha, sleep, growth = pool_rows(scale)
    groups += [("pool-chain", chain), ("sha256", sha), ("sleep", sleep), ("pool-growth", growth)]
    groups.append(("bounds", lambda: bound_rows(scale)))
    groups.append(("latency", lambda: latency_rows(scale)))
    groups.append(("memory", lambda: memory_rows(scale)))
    groups.append(("hook", lambda: hook_rows(scale)))
    groups.append(("cpu", lambda: cpu_rows(scale)))
    return groups


def _run_group(name: str, run: Callable[[], list[Row]]) -> list[Row]:
    try:
        return run()
    except BenchHang as exc:
        print(f"\n[{name}] HANG\n{exc}", file=sys.stderr)
        return [failed_row(name, "-", Status.HANG, str(exc).splitlines()[0])]
    except Exception as exc:  # reported as an ERROR row; the other groups still run
        traceback.print_exc()
        return [failed_row(name, "-", Status.ERROR, f"{type(exc).__name__}: {exc}")]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller run, under 60 s")
    parser.add_argument("--json", metavar="REPORT", help="also write the results as JSON")
    parser.add_argument(
        "--only",
        metavar="TEXT",
        action="append",
        default=[],
        help="run only groups whose name contains TEXT (repeatable): "
        "channel, pool-chain, sha256, sleep, pool-growth, latency, memory, hook, cpu",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if a target is missed, against the original included "
        "(default: only hangs and errors)",
    )
    parser.add_argument(
        "--show-nohook",
        action="store_true",
        help="print the hook-free copy of refasync.sync + refasync.queues and exit",
    )
    parser.add_argument(
        "--no-original",
        action="store_true",
        help="do not prepare or run the original library (PyPI async 0.6.2)",
    )
    args = parser.parse_args(argv)
    if args.show_nohook:
        print(build_nohook_baseline().source)
        return 0
    scale = QUICK if args.quick else FULL
    machine = machine_info()
    started = time.perf_counter()
    if args.no_original:
        disable_original("not run (--no-original)")
    rows: list[Row] = []
    for name, run in _groups(scale):
        if args.only and not any(text in name for text in args.only):
            continue
        group_start = time.perf_counter()
        new = _run_group(name, run)
        rows += new
        for row in new:
            print(
                f"[{time.perf_counter() - group_start:5.1f} s] {row.workload}: "
                f"{row.value_text()} (target {row.target_text()}) {row.status.value}",
                file=sys.stderr,
                flush=True,
            )
    total = time.perf_counter() - started
    machine["original"] = describe_original()
    print(format_table(rows, machine, scale.name))
    print(f"\ntotal {total:.1f} s")
    if args.json:
        write_json(args.json, rows, machine, scale.name, total)
    broken = any(row.status in (Status.HANG, Status.ERROR) for row in rows)
    missed = any(
        row.status is Status.MISSED
        or (row.original is not None and row.original.status is Status.MISSED)
        for row in rows
    )
    return 2 if broken else (1 if args.strict and missed else 0)


if __name__ == "__main__":
    raise SystemExit(main())
