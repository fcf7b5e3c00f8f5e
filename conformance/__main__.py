"""``python -m conformance``: run every conformance vector against an adapter.

Without ``--adapter`` it runs refasync's own (``python -m conformance.adapters.module
--module refasync``, stepwise). Prints PASS/FAIL per case with its rule, n/a for a case
that requires a tag given to ``--skip-tag``, then a table per rule family; with
``--expected-failures FILE``, failures listed there are XFAIL and a listed case that
passes is reported as an unexpected pass. Exits 1 on any unexpected result, 2 on bad
arguments or files.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
from pathlib import Path

from conformance.drive import Timing
from conformance.runner import (
    TAGS,
    VECTORS,
    Result,
    load_cases,
    load_expected_failures,
    parse_adapter,
    run_all,
)

STDERR_LINES = 12  # of the adapter's stderr, shown under a failure without -v
VERDICTS = ("PASS", "FAIL", "XFAIL", "XPASS", "n/a")


def family(rule: str) -> str:
    return rule.rstrip("0123456789")


def family_table(rows: list[tuple[str, str]]) -> list[str]:
    """Counts per rule family of (rule, verdict) rows, as text lines."""
    counts: dict[str, dict[str, int]] = {}
    for rule, verdict in rows:
        counts.setdefault(family(rule), dict.fromkeys(VERDICTS, 0))[verdict] += 1
    lines = ["family  " + " ".join(f"{v:>5}" for v in VERDICTS)]
    for fam in sorted(counts):
        lines.append(f"{fam:7} " + " ".join(f"{counts[fam][v]:5}" for v in VERDICTS))
    return lines


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--adapter", help="the adapter command line (default: refasync's own)")
    parser.add_argument(
        "--stepwise",
        action="store_true",
        help="the adapter speaks the stepwise protocol (the runner times every step)",
    )
    parser.add_argument(
        "--expected-failures",
        type=Path,
        metavar="FILE",
        help="lines 'case-id: reason' of cases this implementation is known to fail",
    )
    parser.add_argument(
        "--vectors", type=Path, default=VECTORS, help="directory of *.json vector files"
    )
    parser.add_argument(
        "-k", dest="pattern", help="run only cases whose id, rule or topic matches this regex"
    )
    parser.add_argument(
        "--skip-tag",
        action="append",
        default=[],
        choices=sorted(TAGS),
        metavar="TAG",
        help=f"report cases requiring TAG as n/a without running them ({', '.join(sorted(TAGS))})",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(8, 2 * (os.cpu_count() or 1)),
        help="cases run at once (each 'exclusive' timing case runs beside them in a slot of "
        "its own)",
    )
    parser.add_argument(
        "--quiescence",
        type=_positive,
        default=Timing.quiescence_s,
        metavar="SECONDS",
        help="how long an operation may take before it counts as blocked",
    )
    parser.add_argument(
        "--hang-margin",
        type=_positive,
        default=Timing.hang_margin_s,
        metavar="SECONDS",
        help="batch adapters: how long past its case's budget an adapter runs before it is killed",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=0,
        choices=range(0, 4),
        metavar="N",
        help="run a failing case up to N more times, doubling the quiescence each time",
    )
    parser.add_argument("--json", type=Path, metavar="REPORT", help="write every outcome here")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print all of the adapter's stderr on failures"
    )
    args = parser.parse_args(argv)

    try:
        all_cases = load_cases(args.vectors)
        expected = load_expected_failures(args.expected_failures) if args.expected_failures else {}
        pattern = re.compile(args.pattern) if args.pattern else None
        adapter = parse_adapter(args.adapter, args.stepwise)
    except (OSError, ValueError, re.error) as exc:
        print(f"python -m conformance: {' '.join(str(exc).split())}")
        return 2
    cases = [
        c
        for c in all_cases
        if pattern is None
        or pattern.search(c["id"])
        or pattern.search(c["rule"])
        or pattern.search(c["topic"])
    ]
    unknown = sorted(set(expected) - {c["id"] for c in all_cases})
    if unknown:
        print(f"expected-failures file names cases that do not exist: {', '.join(unknown)}")
        return 2
    timing = Timing(quiescence_s=args.quiescence, hang_margin_s=args.hang_margin)
    print_lock = threading.Lock()
    rows: list[tuple[str, str]] = []

    def report(result: Result) -> None:
        case_id = result.case["id"]
        if result.skipped:
            verdict = "n/a"
        elif result.passed:
            verdict = "XPASS" if case_id in expected else "PASS"
        else:
            verdict = "XFAIL" if case_id in expected else "FAIL"
        with print_lock:
            rows.append((result.case["rule"], verdict))
            retry = " (passed on retry)" if result.passed and result.attempts > 1 else ""
            skipped = f" (requires {result.skipped})" if result.skipped else ""
            print(f"{verdict:5} {result.case['rule']:4} {case_id}{retry}{skipped}", flush=True)
            if result.passed and result.attempts > 1:
                for problem in result.first_problems:
                    print(f"        first attempt: {problem}")
            if verdict in ("FAIL", "XFAIL"):
                for problem in result.problems:
                    print(f"        {problem}")
            if verdict == "XFAIL":
                print(f"        expected: {expected[case_id]}")
            if verdict == "XPASS":
                print(f"        unexpected pass; listed as: {expected[case_id]}")
            if verdict == "FAIL" and result.stderr.strip():
                lines = result.stderr.rstrip().splitlines()
                shown = lines if args.verbose else lines[-STDERR_LINES:]
                cut = (
                    ""
                    if len(shown) == len(lines)
                    else f" (last {len(shown)} of {len(lines)} lines; -v: all)"
                )
                print(f"        adapter stderr{cut}:")
                print("\n".join("          " + line for line in shown))

    results = run_all(
        adapter, cases, args.jobs, timing, args.retries, report, frozenset(args.skip_tag)
    )
    counts = {v: sum(1 for _, verdict in rows if verdict == v) for v in VERDICTS}
    print("\n".join(family_table(rows)))
    print(
        f"{len(results)} cases: {counts['PASS']} passed, {counts['FAIL']} failed, "
        f"{counts['XFAIL']} expected failures, {counts['XPASS']} unexpected passes, "
        f"{counts['n/a']} n/a"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "id": r.case["id"],
                        "rule": r.case["rule"],
                        "passed": r.passed,
                        "skipped": r.skipped,
                        "problems": r.problems,
                        "report": r.report,
                    }
                    for r in results
                ],
                indent=1,
            )
        )
    return 1 if counts["FAIL"] or counts["XPASS"] else 0


if __name__ == "__main__":
    sys.exit(main())
