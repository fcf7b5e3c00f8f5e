"""The conformance vectors pass on refasync; the runner catches broken implementations
(teeth); the coverage table is up to date; the grading logic does what PROTOCOL.md says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance import coverage, mutations, teeth
from conformance.drive import Timing, bad_report
from conformance.runner import (
    DEFAULT_ADAPTER,
    Adapter,
    grade,
    load_cases,
    load_expected_failures,
    mismatch,
    run_all,
)

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL_FAILURES = Path(__file__).parent / "expected-failures" / "original-async-0.6.2.txt"


@pytest.mark.timeout(600)
def test_refasync_passes_every_vector() -> None:
    cases = load_cases()
    results = run_all(DEFAULT_ADAPTER, cases, jobs=8, timing=Timing())
    failed = [
        f"{r.case['id']} ({r.case['rule']}): {'; '.join(r.problems)}"
        for r in results
        if not r.passed
    ]
    assert not failed, "\n".join(failed)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("window", ["full", "issued"])
def test_the_timing_cases_pass_in_batch_whatever_the_adapter_waits_after_a_step(
    window: str,
) -> None:
    """Both readings of the batch protocol's window grade refasync the same."""
    adapter = Adapter(DEFAULT_ADAPTER.command + ("--window", window), stepwise=False)
    cases = [c for c in load_cases() if c.get("exclusive")]
    results = run_all(adapter, cases, jobs=8, timing=Timing())
    assert len(cases) >= 4
    assert all(r.passed for r in results), [
        (r.case["id"], r.problems) for r in results if not r.passed
    ]


def test_coverage_table_is_up_to_date_and_consistent() -> None:
    table, problems = coverage.build()
    assert not problems
    assert coverage.TABLE.read_text() == table, "run: python -m conformance.coverage"


def test_expected_failures_of_the_original_name_existing_cases_and_a_departure() -> None:
    expected = load_expected_failures(ORIGINAL_FAILURES)
    ids = {case["id"] for case in load_cases()}
    assert set(expected) <= ids
    assert all("departure" in reason for reason in expected.values())


@pytest.mark.timeout(900)
def test_the_original_fails_exactly_its_listed_departures() -> None:
    """Runs only where `python tools/original_async.py --prepare` has made the copy (it
    downloads the original from PyPI; make test does not download)."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import original_async
    finally:
        sys.path.remove(str(ROOT / "tools"))
    if not (original_async.cache_dir() / original_async.PACKAGE / "__init__.py").exists():
        pytest.skip("the original is not prepared: python tools/original_async.py --prepare")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "original_async.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 failed" in proc.stdout and " 0 unexpected passes" in proc.stdout, proc.stdout


# -- teeth: small broken implementations, each built on refasync with one defect --

BROKEN: dict[str, tuple[str, str]] = {
    # name: (source of its channel module, a case that must fail)
    "read_ignores_count": (
        "from refasync.channel import *\n"
        "from refasync.channel import ChannelReader as _Reader\n"
        "class ChannelReader(_Reader):\n"
        "    def read(self, count=0, block=True, timeout=None):\n"
        "        return _Reader.read(self, 0, False, timeout) if count > 0 else _Reader.read(self, count, block, timeout)\n",
        "read-returns-at-most-count",
    ),
    "close_does_nothing": (
        "from refasync.channel import *\n"
        "from refasync.channel import ChannelWriter as _Writer\n"
        "class ChannelWriter(_Writer):\n"
        "    def close(self):\n"
        "        pass\n",
        "close-wakes-a-blocked-reader-with-its-items",
    ),
    "serial_pool": (
        "from refasync.channel import *\n",
        "non-blocking-read-does-not-wait-for-a-chunk-in-flight",
    ),
}
SERIAL_POOL = (
    "from refasync.pool import *\n"
    "from refasync.pool import ThreadPool as _Pool\n"
    "class ThreadPool(_Pool):\n"
    "    def set_size(self, size=0):\n"
    "        return _Pool.set_size(self, 0)\n"
)


def _broken_package(root: Path, name: str) -> None:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for sub in ("graph", "task", "util", "thread", "pool"):
        (package / f"{sub}.py").write_text(f"from refasync.{sub} import *\n")
    (package / "channel.py").write_text(BROKEN[name][0])
    if name == "serial_pool":
        (package / "pool.py").write_text(SERIAL_POOL)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(BROKEN))
def test_the_runner_catches_a_broken_implementation(name: str, tmp_path: Path) -> None:
    _broken_package(tmp_path, name)
    case_id = BROKEN[name][1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    adapter = f"{sys.executable} -m conformance.adapters.module --module {name}"
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "--adapter", adapter, "-k", f"^{case_id}$"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL" in proc.stdout and case_id in proc.stdout, proc.stdout


def test_an_unexpected_pass_is_reported(tmp_path: Path) -> None:
    listed = tmp_path / "xfail.txt"
    listed.write_text("mkchannel-returns-writer-then-reader: pretend it fails\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "conformance",
            "-k",
            "^mkchannel-returns",
            "--expected-failures",
            str(listed),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "XPASS" in proc.stdout and "unexpected pass" in proc.stdout


# -- grading --


def _case(script: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": "c", "rule": "C1", "script": script, **extra}


def test_an_operation_that_should_return_at_once_must_not_block() -> None:
    assert mismatch({"value": [1]}, {"blocked": True, "value": [1]}) is not None
    assert mismatch({"value": [1]}, {"blocked": False, "value": [1]}) is None
    assert mismatch({"blocked": True, "value": [1]}, {"blocked": True, "value": [1]}) is None


def test_a_pending_operation_fails_unless_expected() -> None:
    assert (
        mismatch({"blocked": True, "value": []}, {"blocked": True, "pending": True})
        == "never returned"
    )
    assert mismatch({"blocked": True, "pending": True}, {"blocked": True, "pending": True}) is None


def test_errors_and_values_are_told_apart() -> None:
    assert mismatch({"error": "ReadOnly"}, {"blocked": False, "value": None}) is not None
    assert mismatch({"value": None}, {"blocked": False, "error": "ReadOnly"}) is not None
    assert mismatch({"error": "Full"}, {"blocked": False, "error": "Full"}) is None
    assert mismatch({"any": True}, {"blocked": True, "error": "X"}) is None


def test_one_of_the_allowed_outcomes_must_match() -> None:
    case = _case(
        [{"id": "a", "op": "read"}, {"id": "b", "op": "read"}],
        outcomes=[
            {"a": {"value": [1]}, "b": {"value": [2]}},
            {"a": {"value": [2]}, "b": {"value": [1]}},
        ],
    )
    ok = {"results": {"a": {"blocked": False, "value": [2]}, "b": {"blocked": False, "value": [1]}}}
    bad = {
        "results": {"a": {"blocked": False, "value": [1]}, "b": {"blocked": False, "value": [1]}}
    }
    assert grade(case, ok) == []
    assert len(grade(case, bad)) == 1


def test_collected_items_are_compared_as_a_multiset() -> None:
    case = _case(
        [
            {"id": "a", "op": "read", "expect": {"any": True}},
            {"id": "b", "op": "read", "expect": {"any": True}},
        ],
        collected=[{"steps": ["a", "b"], "value_unordered": [1, 2, 3]}],
    )
    ok = {
        "results": {"a": {"blocked": False, "value": [3]}, "b": {"blocked": False, "value": [1, 2]}}
    }
    twice = {
        "results": {
            "a": {"blocked": False, "value": [1, 3]},
            "b": {"blocked": False, "value": [1, 2]},
        }
    }
    assert grade(case, ok) == []
    assert grade(case, twice) != []


def test_a_setup_error_fails_the_case() -> None:
    assert grade(_case([]), {"setup_error": "mkchannel: TypeError"}) == [
        "setup failed: mkchannel: TypeError"
    ]


# -- teeth of the vectors: mutations of refasync that break one rule each --


def test_every_mutation_still_applies_to_the_sources() -> None:
    assert mutations.check_all() == []
    assert len({m.name for m in mutations.MUTATIONS}) == len(mutations.MUTATIONS)


def test_an_edit_follows_its_text_to_the_module_that_holds_it() -> None:
    moved = mutations.Mutation(
        "moved", "C8", "", (("refasync.channel", "# per item: restart", "# moved"),)
    )
    assert mutations.resolve(moved) == [("refasync.queues", "# per item: restart", "# moved")]
    nowhere = mutations.Mutation("nowhere", "C8", "", (("refasync.channel", "no such text", ""),))
    with pytest.raises(mutations.MutationError, match="in no module"):
        mutations.resolve(nowhere)


def test_an_unknown_or_stale_mutation_is_refused() -> None:
    with pytest.raises(mutations.MutationError):
        mutations.by_name("no_such_mutation")
    with pytest.raises(mutations.MutationError):
        mutations.mutated_source("x = 1\n", "m", [("m", "y = 2", "y = 3")])


def _detecting(adapter: Adapter, case_ids: list[str]) -> list[str]:
    """The cases that fail; an operation still running 2 s after the last step is pending."""
    cases = [c for c in load_cases() if c["id"] in case_ids]
    return teeth.detecting(run_all(adapter, cases, jobs=8, timing=Timing(final_s=2.0)))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("window", [None, "full", "issued"])
def test_a_timeout_that_is_not_restarted_fails_three_vectors_whatever_the_waiting(
    window: str | None,
) -> None:
    """Stepwise, and in batch with either reading of the window."""
    mutation = mutations.by_name("timeout_not_restarted")
    ids = [c["id"] for c in load_cases() if c["rule"] == "C8"]
    assert len(_detecting(teeth.mutated_adapter(mutation, window), ids)) >= 3


SAMPLE = [
    "close_wakes_no_reader",
    "close_wakes_no_writer",
    "read_duplicates_an_item",
    "no_helping",
    "orphans_never_removed",
    "empty_chunk_calls_fun",
    "inputs_first_unordered",
    "release_waits_for_chunks",
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", SAMPLE)
def test_a_sample_of_mutations_stays_detected(name: str) -> None:
    """Each by the vectors conformance/teeth.json says detect it (the full measure is
    python -m conformance.teeth)."""
    recorded = json.loads(teeth.RESULTS.read_text())[name]["detected_by"]
    assert recorded, f"{name} was not detected when last measured"
    found = _detecting(teeth.mutated_adapter(mutations.by_name(name)), recorded[:3])
    assert found, f"{name} is no longer detected by {recorded[:3]}"


def test_the_rules_of_close_timeouts_and_delivery_have_three_vectors_each() -> None:
    by_rule: dict[str, int] = {}
    for case in load_cases():
        by_rule[case["rule"]] = by_rule.get(case["rule"], 0) + 1
    assert by_rule["C10"] + by_rule["B3"] >= 3  # close while blocked
    assert by_rule["C8"] + by_rule["P8"] >= 3  # per-item timeouts
    assert by_rule["C11"] + by_rule["P6"] >= 3  # exactly-once delivery


# -- what the runner says about adapters --


def _run_with(
    adapter: str, *extra: str, case: str = "^mkchannel-returns"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", "--adapter", adapter, "-k", case, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "output, says",
    [
        ("", "without printing a report"),
        ("not json", "the report is not JSON"),
        ('{"id": "other", "results": {}}', 'the report is for case "other"'),
        ("[1]", "the report is a JSON list"),
    ],
)
def test_a_bad_report_is_named_as_such(output: str, says: str, tmp_path: Path) -> None:
    script = tmp_path / "adapter.py"
    script.write_text(
        f"import sys\nsys.stdin.read()\nprint({output!r})\n"
        "print('the adapter said why', file=sys.stderr)\n"
    )
    proc = _run_with(f"{sys.executable} {script}")
    assert proc.returncode == 1
    assert says in proc.stdout, proc.stdout
    assert "the adapter said why" in proc.stdout  # its stderr, without -v


def test_a_stepwise_adapter_that_dies_is_named_and_its_stderr_shown() -> None:
    proc = _run_with(
        f"{sys.executable} -c \"import sys; print('boom', file=sys.stderr); sys.exit(3)\"",
        "--stepwise",
    )
    assert proc.returncode == 1
    assert "gave no answer to the setup and exited" in proc.stdout and "boom" in proc.stdout, (
        proc.stdout
    )


def test_skipped_tags_are_not_applicable_and_counted_per_family() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "conformance",
            "-k",
            "^(non-callable|mkchannel-returns)",
            "--skip-tag",
            "dynamic-typing",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout
    assert (
        "n/a   K4   non-callable-callback-raises-type-error-and-keeps-the-old (requires dynamic-typing)"
        in proc.stdout
    )
    assert "family   PASS  FAIL XFAIL XPASS   n/a" in proc.stdout
    assert " 2 n/a" in proc.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["--skip-tag", "nonsense"],
        ["-k", "("],
        ["--quiescence", "-1"],
        ["--vectors", "/nonexistent/dir/x.json"],
    ],
)
def test_bad_arguments_are_refused_with_exit_2(argv: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_the_report_check_wants_one_outcome_per_step() -> None:
    case = {"id": "c", "script": []}
    assert bad_report(case, {"id": "c", "results": {"s1": {"blocked": False, "value": 1}}}) is None
    assert bad_report(case, {"id": "c", "results": {"s1": {"value": 1, "error": "X"}}}) is not None
    assert bad_report(case, {"id": "c", "results": {"s1": {"error": 3}}}) is not None
    assert bad_report(case, {"id": "c", "setup_error": "mkchannel: TypeError"}) is None
    assert bad_report(case, {"id": "d", "results": {}}) is not None
