"""Run the conformance vectors against an adapter program and grade its outcomes.

A vector file holds ``{"topic": ..., "cases": [...]}``; the case format, the adapter
protocol and how outcomes are compared are in ``conformance/PROTOCOL.md``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).parent / "vectors"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # so that `-m conformance.adapters...` imports
DEFAULT_ADAPTER = [sys.executable, "-m", "conformance.adapters.module", "--module", "refasync"]

Case = dict[str, Any]
CASE_FIELDS = {"id", "rule", "description", "setup", "script", "outcomes", "collected", "exclusive"}
STEP_CONTROL = {"id", "thread", "op", "expect"}


def load_cases(directory: Path = VECTORS) -> list[Case]:
    """Every case of every vector file, in file order, with step ids filled in."""
    cases: list[Case] = []
    seen: set[str] = set()
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        for case in data["cases"]:
            unknown = set(case) - CASE_FIELDS
            if unknown:
                raise ValueError(f"{path.name}: case {case.get('id')!r} has unknown fields {unknown}")
            if case["id"] in seen:
                raise ValueError(f"{path.name}: duplicate case id {case['id']!r}")
            seen.add(case["id"])
            case["topic"] = data["topic"]
            for index, step in enumerate(case["script"], 1):
                step.setdefault("id", f"s{index}")
            cases.append(case)
    return cases


def adapter_input(case: Case, quiescence_s: float, final_s: float) -> Case:
    """What the adapter gets: the case without the expectations (it needs none)."""
    script = [{k: v for k, v in step.items() if k != "expect"} for step in case["script"]]
    return {"id": case["id"], "setup": case.get("setup", []), "script": script,
            "quiescence_s": quiescence_s, "final_s": final_s}


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
        return ("blocked when issued" if got.get("blocked") else "returned at once") + \
            f" ({_show(got)}), expected " + ("to block" if expect.get("blocked") else "to return at once")
    if "error" in expect:
        if got.get("error") != expect["error"]:
            return f"expected error {expect['error']}, got {_show(got)}"
        return None
    if "error" in got:
        return f"raised {got['error']}"
    if "value" in expect and got.get("value") != expect["value"]:
        return f"expected {json.dumps(expect['value'])}, got {json.dumps(got.get('value'))}"
    if "value_unordered" in expect and not same_multiset(expect["value_unordered"], got.get("value")):
        return f"expected {json.dumps(expect['value_unordered'])} in any order, got {json.dumps(got.get('value'))}"
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
            problems.append(f"the items of {', '.join(collected['steps'])} together are {json.dumps(items)}, "
                            f"expected {json.dumps(collected['value_unordered'])} in any order")
    if alternatives:
        reasons = []
        for outcome in alternatives:
            failed = [f"{sid}: {why}" for sid, expect in outcome.items()
                      if (why := mismatch(expect, results.get(sid))) is not None]
            if not failed:
                break
            reasons.append("; ".join(failed))
        else:
            observed = {sid: results.get(sid) for sid in sorted(in_outcomes)}
            problems.append(f"outcome {json.dumps(observed)} is none of the allowed ones ({' | '.join(reasons)})")
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

    @property
    def passed(self) -> bool:
        return not self.problems


def run_adapter(command: list[str], case: Case, quiescence_s: float, final_s: float,
                timeout_s: float) -> tuple[dict[str, Any], str]:
    payload = json.dumps(adapter_input(case, quiescence_s, final_s))
    path = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(PACKAGE_ROOT)]))
    try:
        proc = subprocess.run(command, input=payload, capture_output=True, text=True,
                              timeout=timeout_s, env=dict(os.environ, PYTHONPATH=path))
    except subprocess.TimeoutExpired:
        return {"setup_error": f"adapter did not answer within {timeout_s:.0f} s"}, ""
    try:
        report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"setup_error": f"adapter exited {proc.returncode} without a JSON report"}, proc.stderr
    return report, proc.stderr


def run_case(command: list[str], case: Case, quiescence_s: float) -> Result:
    """Run one case; a failure is retried once with four times the quiescence wait,
    since a loaded machine can make an operation that returns look blocked."""
    first: list[str] = []
    for attempt, wait in enumerate((quiescence_s, 4 * quiescence_s), 1):
        final_s = 5.0
        report, stderr = run_adapter(command, case, wait, final_s, timeout_s=60 + 4 * final_s)
        result = Result(case, grade(case, report), stderr, attempt, report, first)
        if result.passed:
            break
        first = result.problems
    return result


def run_all(command: list[str], cases: list[Case], jobs: int, quiescence_s: float,
            on_result: Any = None) -> list[Result]:
    """Run the cases, ``jobs`` at a time, then the ``exclusive`` (timing) cases alone."""
    shared = [c for c in cases if not c.get("exclusive")]
    alone = [c for c in cases if c.get("exclusive")]
    results: dict[str, Result] = {}

    def one(case: Case) -> None:
        result = run_case(command, case, quiescence_s)
        results[case["id"]] = result
        if on_result is not None:
            on_result(result)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as executor:
        list(executor.map(one, shared))
    for case in alone:
        one(case)
    return [results[c["id"]] for c in cases]


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


def parse_command(text: str | None) -> list[str]:
    return DEFAULT_ADAPTER if text is None else shlex.split(text)
