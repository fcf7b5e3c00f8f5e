"""``python -m conformance.teeth``: which vectors detect each rule-breaking mutation.

For every mutation of ``conformance/mutations.py`` it runs the vectors against refasync
with that mutation applied in the module adapter's process: the cases of the mutation's
rule first, then, if none failed, every other case. A mutation is detected when some
case fails, twice in a row (so that a loaded machine does not make a detection).
``--write`` records the result in ``conformance/teeth.json`` (merged into what is there:
``--only NAME --write`` re-measures one mutation), from which
``python -m conformance.coverage`` publishes, per rule, whether its breakage is detected.
``--variants`` does the same for the broken variants of the stress harness
(the harness defects of ``models/defects.py``, ``stress.broken.BROKEN``), recorded in
``conformance/teeth-variants.json``.
Exits 1 if a mutation is not detected, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from conformance.drive import Case, Timing
from conformance.mutations import MUTATIONS, Mutation
from conformance.runner import Adapter, Result, load_cases, run_all

RESULTS = Path(__file__).parent / "teeth.json"
VARIANT_RESULTS = Path(__file__).parent / "teeth-variants.json"
COMMAND = "python -m conformance.teeth --write"
VARIANT_COMMAND = "python -m conformance.teeth --variants --write"


def mutated_adapter(
    mutation: Mutation, window: str | None = None, option: str = "--mutation"
) -> Adapter:
    command = (
        sys.executable,
        "-m",
        "conformance.adapters.module",
        "--module",
        "refasync",
        option,
        mutation.name,
    )
    if window is None:
        return Adapter(command, stepwise=True)
    return Adapter(command + ("--window", window), stepwise=False)


def variants() -> list[Mutation]:
    """The stress harness's broken variants (the harness defects of models/defects.py), as
    mutations without a rule (the adapter installs them with ``--broken``)."""
    from models.defects import DEFECTS

    return [
        Mutation(name, "", defect.description, ())
        for name, defect in sorted(DEFECTS.items())
        if defect.harness
    ]


def detecting(results: list[Result]) -> list[str]:
    """The cases that failed on the mutation itself (not because the adapter broke)."""
    return [
        r.case["id"]
        for r in results
        if r.problems and not all(p.startswith("adapter: ") for p in r.problems)
    ]


def adapter_errors(results: list[Result]) -> list[str]:
    return [
        f"{r.case['id']}: {r.problems[0]}"
        for r in results
        if r.problems and all(p.startswith("adapter: ") for p in r.problems)
    ]


def measure(
    mutation: Mutation,
    cases: list[Case],
    jobs: int,
    window: str | None = None,
    everything: bool = False,
    option: str = "--mutation",
) -> tuple[list[str], list[str]]:
    """(the cases that detect the mutation, adapter errors); the rule's own cases first,
    the rest only if they detect nothing (or with ``everything``)."""
    adapter = mutated_adapter(mutation, window, option)
    own = [c for c in cases if c["rule"] == mutation.rule]
    results = run_all(adapter, own, jobs, Timing())
    if everything or not detecting(results):
        results += run_all(
            adapter, [c for c in cases if c["rule"] != mutation.rule], jobs, Timing()
        )
    errors = adapter_errors(results)
    # A case counts only if it fails again: a loaded machine must not make a detection.
    first = set(detecting(results))
    again = run_all(adapter, [c for c in cases if c["id"] in first], jobs, Timing())
    return detecting(again), errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.teeth", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="this mutation only"
    )
    parser.add_argument("--jobs", type=int, default=8, help="cases run at once")
    parser.add_argument(
        "--window",
        choices=("full", "issued"),
        help="run the adapter in batch mode with this window instead of stepwise",
    )
    parser.add_argument(
        "--everything", action="store_true", help="run every case, not only until one fails"
    )
    parser.add_argument(
        "--variants",
        action="store_true",
        help="the broken variants of stress/broken.py instead of the mutations",
    )
    parser.add_argument("--write", action="store_true", help=f"record the result in {RESULTS.name}")
    args = parser.parse_args(argv)
    pool = variants() if args.variants else list(MUTATIONS)
    named = {m.name: m for m in pool}
    unknown = [name for name in args.only if name not in named]
    if unknown:
        print(
            f"python -m conformance.teeth: no {'variant' if args.variants else 'mutation'} "
            f"named {unknown[0]!r}"
        )
        return 2
    chosen = [named[name] for name in args.only] if args.only else pool
    option, results_file = (
        ("--broken", VARIANT_RESULTS) if args.variants else ("--mutation", RESULTS)
    )
    if args.write and args.window:
        print("python -m conformance.teeth: --write records stepwise runs, not --window")
        return 2
    cases = load_cases()
    record: dict[str, dict[str, object]] = {}
    missed = 0
    started = time.monotonic()
    for mutation in chosen:
        found, errors = measure(mutation, cases, args.jobs, args.window, args.everything, option)
        if errors:
            print(
                f"ERROR    {mutation.rule:4} {mutation.name}: the mutated adapter failed: "
                f"{errors[0]}"
            )
            return 2
        missed += not found
        verdict = "detected" if found else "MISSED"
        print(
            f"{verdict:8} {mutation.rule:4} {mutation.name}: {', '.join(found) or mutation.what}",
            flush=True,
        )
        record[mutation.name] = {"rule": mutation.rule, "what": mutation.what, "detected_by": found}
        if args.variants:
            del record[mutation.name]["rule"]
    kind = "variants" if args.variants else "mutations"
    print(
        f"{len(chosen) - missed} of {len(chosen)} {kind} detected in "
        f"{time.monotonic() - started:.0f} s"
    )
    if args.write:
        # Merged into what was measured before; mutations that no longer exist are dropped.
        previous = json.loads(results_file.read_text()) if results_file.exists() else {}
        merged = {name: row for name, row in {**previous, **record}.items() if name in named}
        results_file.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")
        print(f"wrote {results_file}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
