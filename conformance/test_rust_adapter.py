"""The Rust port of the API without the pool (``conformance/adapters/rust``) is graded by
the conformance runner: its correct build passes every case it can run (every case whose
operations it has), and its ``broken_timeout`` build (a read's timeout runs from the
start of the read instead of restarting per item) fails at least 3 vectors whichever way
its adapter waits out the quiescence window (``--wait window``, the reading of
PROTOCOL.md's sketch, or ``--wait issued``, waiting only for the step just issued), and,
where the runner has ``--stepwise``, when the runner times the steps itself.

Both builds go to ``build/rust-adapter/`` (git-ignored, kept between runs so a rebuild is
incremental). The gradings run at once: the adapters mostly sleep in timed waits, and
the exclusive (timing) cases still run one at a time within each grading.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.runner import load_cases

ROOT = Path(__file__).resolve().parent.parent
CRATE = Path(__file__).parent / "adapters" / "rust"
TARGETS = ROOT / "build" / "rust-adapter"
BINARY = "refasync-rust-adapter"
BUILDS: dict[str, list[str]] = {"correct": [], "broken": ["--features", "broken_timeout"]}

# The operations the port has (PROTOCOL.md section 4 without the pool's): a case is
# graded when all its steps are among them, so a new case the port can run is graded too.
PORTED_OPS = frozenset(
    """
    mkchannel write write_many read iterate close closed size set_pre_cb set_post_cb
    iterator_reader async_queue set_writable put get
    graph node add_node add_edge remove_node inputs_first in_nodes out_nodes nodes
    task get_attr set_attr set_writer process is_done is_closed set_done error
    worker_start worker_put stop_and_join join terminate_threads alive
    drop open_gate wait_log log sleep
    """.split()
)
TIMEOUT_VECTORS = r"^C8$"  # every case of the per-item timeout rule (-k matches the rule too)


def _ported(case: dict[str, Any]) -> bool:
    steps = case.get("setup", []) + case["script"]
    return all(
        step["op"] in PORTED_OPS and step.get("kind") in (None, "IteratorThreadTask")
        for step in steps
    )


def _applicable() -> str:
    """A -k pattern naming exactly the cases the port can run."""
    return "^(" + "|".join(re.escape(c["id"]) for c in load_cases() if _ported(c)) + ")$"


# label: (build, adapter flags, runner flags, cases: a -k pattern, "" for all the port can run)
GRADINGS: dict[str, tuple[str, list[str], list[str], str]] = {
    "correct": ("correct", [], [], ""),
    "broken, --wait window": ("broken", ["--wait", "window"], [], TIMEOUT_VECTORS),
    "broken, --wait issued": ("broken", ["--wait", "issued"], [], TIMEOUT_VECTORS),
}
STEPWISE_GRADINGS: dict[str, tuple[str, list[str], list[str], str]] = {
    "correct, stepwise": ("correct", [], ["--stepwise"], ""),
    "broken, stepwise": ("broken", [], ["--stepwise"], TIMEOUT_VECTORS),
}
BROKEN = ["broken, --wait window", "broken, --wait issued", "broken, stepwise"]


def _runner_is_stepwise() -> bool:
    """Whether this runner can time the steps itself (its ``--stepwise`` option)."""
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return "--stepwise" in proc.stdout


pytestmark = pytest.mark.skipif(
    shutil.which("cargo") is None, reason="cargo is not installed: the Rust adapter cannot be built"
)


def _cargo(command: str, name: str) -> subprocess.Popen[str]:
    """``cargo build`` or ``cargo test`` of one build, offline, warnings as errors, in the
    dev profile: it compiles in half the time of ``--release``, and the adapter's speed
    does not matter (it spends the cases waiting)."""
    return subprocess.Popen(
        [
            "cargo",
            command,
            "--offline",
            "--quiet",
            "--target-dir",
            str(TARGETS / name),
            *BUILDS[name],
        ],
        cwd=CRATE,
        env=dict(os.environ, RUSTFLAGS="-D warnings"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@dataclass
class Builds:
    binaries: dict[str, Path]
    unit_tests: tuple[int, str]  # cargo test of the correct build: exit status, output


@pytest.fixture(scope="module")
def builds() -> Builds:
    """Both builds at once; the correct one's own tests (``cargo test``) once it is built,
    while the broken one may still be building."""
    procs = {name: _cargo("build", name) for name in BUILDS}
    failures = []
    unit_tests = (-1, "not run: the correct build failed")
    for name, proc in procs.items():
        output, _ = proc.communicate(timeout=600)
        if proc.returncode != 0:
            failures.append(f"cargo build ({name}) exited {proc.returncode}:\n{output}")
        elif name == "correct":
            tests = _cargo("test", name)
            test_output, _ = tests.communicate(timeout=600)
            unit_tests = (tests.returncode, test_output)
    assert not failures, "\n".join(failures)
    return Builds({name: TARGETS / name / "debug" / BINARY for name in BUILDS}, unit_tests)


@pytest.fixture(scope="module")
def binaries(builds: Builds) -> dict[str, Path]:
    return builds.binaries


@pytest.mark.timeout(900)
def test_the_ports_own_tests_pass(builds: Builds) -> None:
    status, output = builds.unit_tests
    assert status == 0, output


@dataclass
class Grading:
    status: int
    output: str
    outcomes: list[dict[str, Any]]  # the runner's --json: id, rule, passed, ...

    def failed(self) -> list[tuple[str, str]]:
        return [(o["rule"], o["id"]) for o in self.outcomes if not o["passed"]]


@pytest.fixture(scope="module")
def gradings(
    binaries: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Grading]:
    """Each grading's exit status, output and outcomes, from runs made at once."""
    directory = tmp_path_factory.mktemp("gradings")
    chosen = dict(GRADINGS, **(STEPWISE_GRADINGS if _runner_is_stepwise() else {}))
    procs = {}
    for number, (label, (build, flags, runner_flags, pattern)) in enumerate(chosen.items()):
        pattern = pattern or _applicable()
        adapter = " ".join([str(binaries[build]), *flags])
        command = [
            sys.executable,
            "-m",
            "conformance",
            *runner_flags,
            "--adapter",
            adapter,
            "-k",
            pattern,
            "-v",
            "--json",
            str(directory / f"{number}.json"),
        ]
        procs[label] = (
            number,
            subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            ),
        )
    results = {}
    for label, (number, proc) in procs.items():
        output, _ = proc.communicate(timeout=400)
        report = directory / f"{number}.json"
        outcomes = json.loads(report.read_text()) if report.exists() else []
        results[label] = Grading(proc.returncode, output, outcomes)
    return results


def _grading(gradings: dict[str, Grading], label: str) -> Grading:
    if label not in gradings:
        pytest.skip("this runner has no --stepwise (the runner timing every step itself)")
    return gradings[label]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("label", ["correct", "correct, stepwise"])
def test_the_correct_build_passes_every_case_it_can_run(
    label: str, gradings: dict[str, Grading]
) -> None:
    grading = _grading(gradings, label)
    assert grading.status == 0 and not grading.failed(), grading.output
    assert len(grading.outcomes) >= 60, f"the cases the port can run shrank:\n{grading.output}"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("label", BROKEN)
def test_the_broken_timeout_build_fails_at_least_three_vectors_however_it_waits(
    label: str, gradings: dict[str, Grading]
) -> None:
    grading = _grading(gradings, label)
    failed = grading.failed()
    assert grading.status == 1, grading.output
    assert len(failed) >= 3 and {rule for rule, _ in failed} == {"C8"}, grading.output


def _run_adapter(binary: Path, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args], input=stdin, capture_output=True, text=True, timeout=60
    )


@pytest.mark.timeout(600)
def test_the_adapter_refuses_hostile_input_in_one_line_with_exit_2(
    binaries: dict[str, Path],
) -> None:
    binary = binaries["correct"]
    for stdin, args in [
        ("{", []),
        ("[1, 2]", []),
        ('{"id": "x"}', []),
        ("[" * 5000, []),
        ('{"script": []}', ["--wait", "sometimes"]),
        ('{"script": []}', ["--bogus"]),
    ]:
        proc = _run_adapter(binary, stdin, *args)
        assert proc.returncode == 2 and proc.stdout == "", (stdin[:20], args, proc)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith(f"{BINARY}: "), proc.stderr


@pytest.mark.timeout(600)
def test_the_adapter_reports_what_the_port_lacks_as_an_unsupported_error(
    binaries: dict[str, Path],
) -> None:
    case: dict[str, object] = {
        "id": "p",
        "setup": [{"op": "pool", "as": "p", "size": 0}],
        "script": [],
    }
    report = json.loads(_run_adapter(binaries["correct"], json.dumps(case)).stdout)
    assert report == {"id": "p", "setup_error": "pool: Error:Unsupported", "results": {}}
    case = {
        "id": "g",
        "quiescence_s": 0.05,
        "script": [
            {"id": "a", "thread": "T1", "op": "num_tasks", "target": "p"},
            {"id": "b", "op": "read", "target": "nothing"},
        ],
    }
    report = json.loads(_run_adapter(binaries["correct"], json.dumps(case)).stdout)
    assert report["results"] == {
        "a": {"blocked": False, "error": "Error:Unsupported"},
        "b": {"blocked": False, "error": "Error:BadStep"},
    }


@pytest.mark.timeout(600)
def test_the_adapter_speaks_the_stepwise_protocol(binaries: dict[str, Path]) -> None:
    """A first line with "stepwise": true: the setup is answered, then each step's line
    is printed when its operation returns (the blocked read after the write that frees it)."""
    proc = subprocess.Popen(
        [str(binaries["correct"])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        lines = [
            {"id": "x", "stepwise": True, "setup": [{"op": "mkchannel", "as": ["w", "r"]}]},
            {"step": {"id": "a", "thread": "T1", "op": "read", "target": "r", "count": 1}},
            {"step": {"id": "b", "op": "size", "target": "w"}},
            {"step": {"id": "c", "thread": "T2", "op": "write", "target": "w", "item": 5}},
        ]
        proc.stdin.write("".join(json.dumps(line) + "\n" for line in lines))
        proc.stdin.flush()
        answers = [json.loads(proc.stdout.readline()) for _ in range(4)]
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert answers[0] == {"setup": "ok"}
    assert answers[1] == {"done": "b", "value": 0}
    assert sorted(answers[2:], key=lambda a: str(a["done"])) == [
        {"done": "a", "value": [5]},
        {"done": "c", "value": None},
    ]
    assert proc.returncode == 0


@pytest.mark.timeout(600)
def test_null_arguments_mean_the_defaults(binaries: dict[str, Path]) -> None:
    """Absent and null are the same for every optional field (PROTOCOL.md, section 4)."""
    nulls = {"channel": None, "maxsize": None, "writer": None, "reader": None}
    case: dict[str, object] = {
        "id": "n",
        "quiescence_s": 0.2,
        "setup": [
            {"op": "mkchannel", "as": ["w", "r"], **nulls},
            {"op": "write", "target": "w", "item": 1, "block": None, "timeout": None},
            {"op": "close", "target": "w"},
        ],
        "script": [
            {
                "id": "a",
                "thread": "T1",
                "op": "read",
                "target": "r",
                "count": None,
                "block": None,
                "timeout": None,
            },
        ],
    }
    report = json.loads(_run_adapter(binaries["correct"], json.dumps(case)).stdout)
    assert report["results"] == {"a": {"blocked": False, "value": [1]}}, report


@pytest.mark.timeout(600)
def test_a_stepwise_line_that_is_not_a_step_is_refused_in_one_line(
    binaries: dict[str, Path],
) -> None:
    header = json.dumps({"id": "x", "stepwise": True, "setup": []})
    for bad in ["{", "[1]", '{"step": {"op": "close"}}']:
        proc = _run_adapter(binaries["correct"], f"{header}\n{bad}\n")
        assert proc.returncode == 2 and proc.stdout == '{"setup": "ok"}\n', (bad, proc)
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith(
            f"{BINARY}: "
        ), proc
