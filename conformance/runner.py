"""Run the conformance vectors against an adapter program and grade its outcomes.

A vector file holds ``{"topic": ..., "cases": [...]}``; the case format, the adapter
protocol and how outcomes are compared are in ``conformance/PROTOCOL.md``.
"""

from __future__ import annotations

import json
import shlex
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from conformance import drive
from conformance.drive import Case, Timing

VECTORS = Path(__file__).parent / "vectors"
CASE_FIELDS = {
    "id",
    "rule",
    "description",
    "setup",
    "script",
    "outcomes",
    "collected",
    "exclusive",
    "requires",
}
TAGS = {
    "dynamic-typing",
    "object-identity",
    "worker-class",
}  # what a case may require (PROTOCOL.md, "Applicability")
STEP_CONTROL = {"id", "thread", "op", "expect"}


def load_cases(directory: Path = VECTORS) -> list[Case]:
    """Every case of every vector file, in file order, with step ids filled in.

    :raise ValueError: naming the file, if a file is not a vector file, or a case is
        malformed (unknown fields or tags, a duplicate id); OSError if unreadable
    """
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a directory of vector files")
    cases: list[Case] = []
    seen: set[str] = set()
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text())
            cases.extend(_file_cases(path, data, seen))
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"{path.name}: not a vector file ({type(exc).__name__}: {exc})"
            ) from None
    return cases


def _file_cases(path: Path, data: Any, seen: set[str]) -> list[Case]:
    cases = []
    for case in data["cases"]:
        unknown = set(case) - CASE_FIELDS
        if unknown:
            raise ValueError(f"{path.name}: case {case.get('id')!r} has unknown fields {unknown}")
        if set(case.get("requires", [])) - TAGS:
            raise ValueError(
                f"{path.name}: case {case['id']!r} requires unknown tags "
                f"{set(case['requires']) - TAGS} (known: {sorted(TAGS)})"
            )
        if case["id"] in seen:
            raise ValueError(f"{path.name}: duplicate case id {case['id']!r}")
        seen.add(case["id"])
        case["topic"] = data["topic"]
        for index, step in enumerate(case["script"], 1):
            step.setdefault("id", f"s{index}")
        cases.append(case)
    return cases


def mismatch(expect: dict[str, Any], got: dict[str, Any] | None) -> str | None:
    """Why ``got`` does not satisfy ``expect`` (None if it does)."""
    if got is None:
        return "no outcome reported"
    if expect.get("any"):
        return None
    if got.get("pending"):
        return None if expect.get("pending") else "never returned"
    if expect.get("pending"):
        return f"returned ({_show(got)}) but should still be pending"
    if bool(got.get("blocked")) != bool(expect.get("blocked", False)):
        return (
            ("blocked when issued" if got.get("blocked") else "returned at once")
            + f" ({_show(got)}), expected "
            + ("to block" if expect.get("blocked") else "to return at once")
        )
    if "error" in expect:
        if got.get("error") != expect["error"]:
            return f"expected error {expect['error']}, got {_show(got)}"
        return None
    if "error" in got:
        return f"raised {got['error']}"
    if "value" in expect and got.get("value") != expect["value"]:
        return f"expected {json.dumps(expect['value'])}, got {json.dumps(got.get('value'))}"
    if "value_unordered" in expect and not same_multiset(
        expect["value_unordered"], got.get("value")
    ):
        return (
            f"expected {json.dumps(expect['value_unordered'])} in any order, "
            f"got {json.dumps(got.get('value'))}"
        )
    if "length" in expect and len(got.get("value") or []) != expect["length"]:
        return f"expected {expect['length']} items, got {json.dumps(got.get('value'))}"
    return None


def same_multiset(want: list[Any], have: Any) -> bool:
    if not isinstance(have, list):
        return False
    return sorted(json.dumps(v) for v in want) == sorted(json.dumps(v) for v in have)


def _show(got: dict[str, Any]) -> str:
    return f"error {got['error']}" if "error" in got else json.dumps(got.get("value"))


def grade(case: Case, report: dict[str, Any]) -> list[str]:
    """Every way the adapter's report departs from the case (empty: the case passes)."""
    if "adapter_error" in report:
        return [f"adapter: {report['adapter_error']}"]
    if "setup_error" in report:
        return [f"setup failed: {report['setup_error']}"]
    results = report.get("results", {})
    alternatives = case.get("outcomes", [])
    in_outcomes = {step_id for outcome in alternatives for step_id in outcome}
    problems = []
    for step in case["script"]:
        if step["id"] in in_outcomes:
            continue
        why = mismatch(step.get("expect", {}), results.get(step["id"]))
        if why is not None:
            problems.append(f"{step['id']} ({_describe(step)}): {why}")
    for collected in case.get("collected", []):
        items: list[Any] = []
        for sid in collected["steps"]:
            value = (results.get(sid) or {}).get("value")
            items.extend(value if isinstance(value, list) else [])
        if not same_multiset(collected["value_unordered"], items):
            problems.append(
                f"the items of {', '.join(collected['steps'])} together are {json.dumps(items)}, "
                f"expected {json.dumps(collected['value_unordered'])} in any order"
            )
    if alternatives:
        reasons = []
        for outcome in alternatives:
            failed = [
                f"{sid}: {why}"
                for sid, expect in outcome.items()
                if (why := mismatch(expect, results.get(sid))) is not None
            ]
            if not failed:
                break
            reasons.append("; ".join(failed))
        else:
            observed = {sid: results.get(sid) for sid in sorted(in_outcomes)}
            problems.append(
                f"outcome {json.dumps(observed)} is none of the allowed ones "
                f"({' | '.join(reasons)})"
            )
    return problems


def _describe(step: dict[str, Any]) -> str:
    args = " ".join(f"{k}={json.dumps(v)}" for k, v in step.items() if k not in STEP_CONTROL)
    where = f"{step['thread']}: " if "thread" in step else ""
    return f"{where}{step['op']} {args}".strip()


@dataclass
class Result:
    case: Case
    problems: list[str]
    stderr: str = ""
    attempts: int = 1
    report: dict[str, Any] = field(default_factory=dict)
    first_problems: list[str] = field(default_factory=list)  # of the first attempt, if retried
    skipped: str | None = None  # the tag that makes the case not applicable (not run)

    @property
    def passed(self) -> bool:
        return not self.problems


def run_case(adapter: Adapter, case: Case, timing: Timing, retries: int = 0) -> Result:
    """Run one case; with ``retries``, a failure is run again, each time with twice the
    quiescence window, and counts only if it fails every time."""
    first: list[str] = []
    for attempt in range(1 + max(0, retries)):
        wait = replace(timing, quiescence_s=timing.quiescence_s * 2**attempt)
        report, stderr = adapter.run(case, wait)
        result = Result(case, grade(case, report), stderr, attempt + 1, report, first)
        if result.passed:
            break
        first = first or result.problems
    return result


def run_all(
    adapter: Adapter,
    cases: list[Case],
    jobs: int,
    timing: Timing,
    retries: int = 0,
    on_result: Any = None,
    skip_tags: frozenset[str] = frozenset(),
) -> list[Result]:
    """Run the cases, ``jobs`` at a time; each ``exclusive`` (timing) case runs from the
    start in a slot of its own, beside them: such a case mostly sleeps, and waiting for a
    job slot would add its seconds to the run. A case requiring a tag of ``skip_tags`` is
    not run (not applicable)."""
    results: dict[str, Result] = {}
    lock = threading.Lock()

    def one(case: Case) -> None:
        skip = sorted(set(case.get("requires", [])) & skip_tags)
        result = (
            Result(case, [], skipped=skip[0]) if skip else run_case(adapter, case, timing, retries)
        )
        with lock:
            results[case["id"]] = result
        if on_result is not None:
            on_result(result)

    timed = [c for c in cases if c.get("exclusive")]
    with (
        ThreadPoolExecutor(max_workers=max(1, len(timed))) as alone,
        ThreadPoolExecutor(max_workers=max(1, jobs)) as shared,
    ):
        pending = [alone.submit(one, case) for case in timed]
        pending += [shared.submit(one, case) for case in cases if not case.get("exclusive")]
        for future in pending:
            future.result()
    return [results[c["id"]] for c in cases]


@dataclass(frozen=True)
class Adapter:
    """An adapter command and how the runner talks to it (PROTOCOL.md, section 1)."""

    command: tuple[str, ...]
    stepwise: bool = False

    def run(self, case: Case, timing: Timing) -> tuple[dict[str, Any], str]:
        runner = drive.run_stepwise if self.stepwise else drive.run_batch
        return runner(list(self.command), case, timing)


def load_expected_failures(path: Path) -> dict[str, str]:
    """``case-id: reason`` per line; ``#`` starts a comment."""
    expected: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        case_id, sep, reason = line.partition(":")
        if not sep or not reason.strip():
            raise ValueError(f"{path}:{number}: expected 'case-id: reason', got {line!r}")
        expected[case_id.strip()] = reason.strip()
    return expected


def parse_adapter(text: str | None, stepwise: bool) -> Adapter:
    """The adapter of ``--adapter`` (refasync's own, stepwise, when there is none)."""
    if text is None:
        return DEFAULT_ADAPTER
    return Adapter(tuple(shlex.split(text)), stepwise)


DEFAULT_ADAPTER = Adapter(
    (sys.executable, "-m", "conformance.adapters.module", "--module", "refasync"), stepwise=True
)
