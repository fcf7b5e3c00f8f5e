"""``python -m conformance``: run every conformance vector against an adapter.

Without ``--adapter`` it runs refasync's own (``python -m conformance.adapters.module
--module refasync``). Prints PASS/FAIL per case with its rule; with
``--expected-failures FILE``, failures listed there are XFAIL and a listed case that
passes is reported as an unexpected pass. Exits 1 on any unexpected result.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
from pathlib import Path

from conformance.runner import (
    VECTORS,
    Result,
    load_cases,
    load_expected_failures,
    parse_command,
    run_all,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", help="the adapter command line (default: refasync's own)")
    parser.add_argument("--expected-failures", type=Path, metavar="FILE",
                        help="lines 'case-id: reason' of cases this implementation is known to fail")
    parser.add_argument("--vectors", type=Path, default=VECTORS, help="directory of *.json vector files")
    parser.add_argument("-k", dest="pattern", help="run only cases whose id, rule or topic matches this regex")
    parser.add_argument("--jobs", type=int, default=min(8, 2 * (os.cpu_count() or 1)),
                        help="cases run at once (the 'exclusive' timing cases run alone afterwards)")
    parser.add_argument("--quiescence", type=float, default=0.5, metavar="SECONDS",
                        help="how long an operation may take before it counts as blocked")
    parser.add_argument("--json", type=Path, metavar="REPORT", help="write every outcome here")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the adapter's stderr on failures")
    args = parser.parse_args(argv)

    cases = load_cases(args.vectors)
    if args.pattern:
        pattern = re.compile(args.pattern)
        cases = [c for c in cases if pattern.search(c["id"]) or pattern.search(c["rule"])
                 or pattern.search(c["topic"])]
    expected = load_expected_failures(args.expected_failures) if args.expected_failures else {}
    unknown = sorted(set(expected) - {c["id"] for c in load_cases(args.vectors)})
    if unknown:
        print(f"expected-failures file names cases that do not exist: {', '.join(unknown)}")
        return 2
    command = parse_command(args.adapter)
    print_lock = threading.Lock()
    counts = {"PASS": 0, "FAIL": 0, "XFAIL": 0, "XPASS": 0}

    def report(result: Result) -> None:
        case_id = result.case["id"]
        if result.passed:
            verdict = "XPASS" if case_id in expected else "PASS"
        else:
            verdict = "XFAIL" if case_id in expected else "FAIL"
        with print_lock:
            counts[verdict] += 1
            retry = " (passed on retry)" if result.passed and result.attempts > 1 else ""
            print(f"{verdict:5} {result.case['rule']:4} {case_id}{retry}", flush=True)
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
            if verdict == "FAIL" and args.verbose and result.stderr:
                print("        adapter stderr:\n" + result.stderr)

    results = run_all(command, cases, args.jobs, args.quiescence, report)
    print(f"{len(results)} cases: {counts['PASS']} passed, {counts['FAIL']} failed, "
          f"{counts['XFAIL']} expected failures, {counts['XPASS']} unexpected passes")
    if args.json:
        args.json.write_text(json.dumps(
            [{"id": r.case["id"], "rule": r.case["rule"], "passed": r.passed,
              "problems": r.problems, "report": r.report} for r in results], indent=1))
    return 1 if counts["FAIL"] or counts["XPASS"] else 0


if __name__ == "__main__":
    sys.exit(main())
