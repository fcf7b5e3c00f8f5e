"""The Rust port of the channel API (``conformance/adapters/rust``) is graded by the
conformance runner: its correct build passes every vector of the families it covers, and
its ``broken_timeout`` build (a read's timeout runs from the start of the read instead of
restarting per item) fails at least 3 vectors whichever way its adapter waits out the
quiescence window (``--wait window``, the reading of PROTOCOL.md's sketch, or ``--wait
issued``, waiting only for the step just issued).

Both builds go to ``build/rust-adapter/`` (git-ignored, kept between runs so a rebuild is
incremental). The three gradings run at once: the adapters mostly sleep in timed waits,
and the exclusive (timing) cases still run one at a time within each grading.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CRATE = Path(__file__).parent / "adapters" / "rust"
TARGETS = ROOT / "build" / "rust-adapter"
BINARY = "refasync-rust-adapter"
BUILDS: dict[str, list[str]] = {"correct": [], "broken": ["--features", "broken_timeout"]}

# The families the port covers (vector topics; `-k` matches a case's id, rule or topic).
COVERED = r"^(channels|bounded channels|close|callbacks|iterator reader|timeouts per item)$"
# Channel cases in other families that need no pool (F5: write_many of a generator).
COVERED_ELSEWHERE = r"|^write-many-of-a-"
TIMEOUT_VECTORS = r"^timeouts per item$"
GRADINGS = {
    "correct": ("correct", [], COVERED + COVERED_ELSEWHERE),
    "broken, --wait window": ("broken", ["--wait", "window"], TIMEOUT_VECTORS),
    "broken, --wait issued": ("broken", ["--wait", "issued"], TIMEOUT_VECTORS),
}

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None,
                                reason="cargo is not installed: the Rust adapter cannot be built")


def _build(names: list[str]) -> dict[str, Path]:
    """Builds the named builds at once (offline, warnings are errors); their binaries."""
    env = dict(os.environ, RUSTFLAGS="-D warnings")
    procs = {name: subprocess.Popen(["cargo", "build", "--offline", "--release", "--quiet",
                                     "--target-dir", str(TARGETS / name), *BUILDS[name]],
                                    cwd=CRATE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
             for name in names}
    failures = []
    for name, proc in procs.items():
        output, _ = proc.communicate(timeout=600)
        if proc.returncode != 0:
            failures.append(f"cargo build ({name}) exited {proc.returncode}:\n{output}")
    assert not failures, "\n".join(failures)
    return {name: TARGETS / name / "release" / BINARY for name in names}


@pytest.fixture(scope="module")
def binaries() -> dict[str, Path]:
    return _build(list(BUILDS))


@pytest.fixture(scope="module")
def gradings(binaries: dict[str, Path]) -> dict[str, tuple[int, str]]:
    """(exit status, output) of ``python -m conformance`` for each grading, run at once."""
    procs = {}
    for label, (build, flags, pattern) in GRADINGS.items():
        adapter = " ".join([str(binaries[build]), *flags])
        procs[label] = subprocess.Popen([sys.executable, "-m", "conformance", "--adapter", adapter,
                                         "-k", pattern, "-v"],
                                        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = {}
    for label, proc in procs.items():
        output, _ = proc.communicate(timeout=400)
        results[label] = (proc.returncode, output)
    return results


def _summary(output: str) -> tuple[int, int]:
    match = re.search(r"^(\d+) cases: (\d+) passed", output, re.MULTILINE)
    assert match is not None, output
    return int(match.group(1)), int(match.group(2))


@pytest.mark.timeout(600)
def test_the_correct_build_passes_every_vector_of_the_families_it_covers(
        gradings: dict[str, tuple[int, str]]) -> None:
    status, output = gradings["correct"]
    cases, passed = _summary(output)
    assert status == 0 and cases == passed, output
    assert cases >= 40, f"the covered families shrank to {cases} cases:\n{output}"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("label", ["broken, --wait window", "broken, --wait issued"])
def test_the_broken_timeout_build_fails_at_least_three_vectors_however_it_waits(
        label: str, gradings: dict[str, tuple[int, str]]) -> None:
    status, output = gradings[label]
    failed = re.findall(r"^FAIL\s+(\S+)\s+(\S+)", output, re.MULTILINE)
    assert status == 1, output
    assert len(failed) >= 3 and {rule for rule, _ in failed} == {"C8"}, output


def _run_adapter(binary: Path, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *args], input=stdin, capture_output=True, text=True, timeout=60)


@pytest.mark.timeout(600)
def test_the_adapter_refuses_hostile_input_in_one_line_with_exit_2(binaries: dict[str, Path]) -> None:
    binary = binaries["correct"]
    for stdin, args in [("{", []), ("[1, 2]", []), ('{"id": "x"}', []), ("[" * 5000, []),
                        ('{"script": []}', ["--wait", "sometimes"]), ('{"script": []}', ["--bogus"])]:
        proc = _run_adapter(binary, stdin, *args)
        assert proc.returncode == 2 and proc.stdout == "", (stdin[:20], args, proc)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith(f"{BINARY}: "), proc.stderr


@pytest.mark.timeout(600)
def test_the_adapter_reports_what_the_port_lacks_as_an_unsupported_error(binaries: dict[str, Path]) -> None:
    case: dict[str, object] = {"id": "p", "setup": [{"op": "pool", "as": "p", "size": 0}], "script": []}
    report = json.loads(_run_adapter(binaries["correct"], json.dumps(case)).stdout)
    assert report == {"id": "p", "setup_error": "pool: Error:Unsupported", "results": {}}
    case = {"id": "g", "quiescence_s": 0.05, "script": [
        {"id": "a", "thread": "T1", "op": "graph", "as": "g"},
        {"id": "b", "op": "read", "target": "nothing"},
    ]}
    report = json.loads(_run_adapter(binaries["correct"], json.dumps(case)).stdout)
    assert report["results"] == {"a": {"blocked": False, "error": "Error:Unsupported"},
                                 "b": {"blocked": False, "error": "Error:BadStep"}}
