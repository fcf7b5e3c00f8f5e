"""The GIL check has teeth: a run where the GIL comes on fails, naming where it was seen.

Each case runs pytest in a child process on one file of ``tests/gil_fixtures/`` with the
check forced on (``REFASYNC_REQUIRE_NO_GIL=1``). The broken variants fake
``sys._is_gil_enabled`` (any interpreter) or load a real extension module that turns the
GIL back on (free-threaded interpreters only); the control must pass on a free-threaded
interpreter, where the GIL really is off.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stress.gil import REQUIRE_ENV, GilSampler, free_threaded_build, gil_check_active

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "gil_fixtures"
free_threaded_only = pytest.mark.skipif(
    not free_threaded_build(), reason="needs a free-threaded (--disable-gil) build"
)


def run_checked(fixture: str, require: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (REQUIRE_ENV, "PYTHON_GIL")}
    if require:
        env[REQUIRE_ENV] = "1"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            str(FIXTURES / fixture),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.timeout(150)
def test_gil_on_at_collection_fails_the_run() -> None:
    result = run_checked("gil_on_at_import.py")
    assert result.returncode != 0, result.stdout
    assert "the GIL is on after collection" in result.stdout, result.stdout
    assert "GIL check FAILED" in result.stdout, result.stdout
    assert " passed" not in result.stdout, result.stdout


@pytest.mark.timeout(150)
def test_gil_on_in_a_test_stops_the_run_naming_that_test() -> None:
    result = run_checked("gil_on_mid_run.py")
    assert result.returncode != 0, result.stdout
    assert (
        "the GIL is on after tests/gil_fixtures/gil_on_mid_run.py::test_turns_gil_on"
        in result.stdout
    ), result.stdout
    assert "2 passed" in result.stdout, result.stdout  # test_after never ran


@free_threaded_only
@pytest.mark.timeout(150)
def test_real_gil_needing_extension_is_caught() -> None:
    result = run_checked("gil_on_by_extension.py")
    assert result.returncode != 0, result.stdout
    assert (
        "the GIL is on after tests/gil_fixtures/gil_on_by_extension.py::"
        "test_loads_gil_needing_extension" in result.stdout
    ), result.stdout


@pytest.mark.timeout(150)
def test_control_passes_where_the_gil_is_off() -> None:
    result = run_checked("gil_stays_off.py", require=free_threaded_build())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout, result.stdout
    if free_threaded_build():
        assert "GIL check: off at all 2 checks" in result.stdout, result.stdout


def test_sampler_sees_the_gil_come_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stress run's sampler reports the GIL coming on mid-run (faked)."""
    with GilSampler(interval_s=0.001) as off_sampler:
        pass
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    with GilSampler(interval_s=0.001) as sampler:
        monkeypatch.setattr(sys, "_is_gil_enabled", lambda: True, raising=False)
    assert sampler.first_seen_s is not None and sampler.samples >= 2
    assert off_sampler.samples >= 2
    if free_threaded_build():
        assert off_sampler.first_seen_s is None


def test_this_run_checks_the_gil_where_it_can_be_off() -> None:
    """On a free-threaded build the check cannot be forgotten: it is on by default."""
    if free_threaded_build():
        assert gil_check_active()


@pytest.mark.timeout(120)
def test_stress_run_fails_when_the_gil_comes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m stress`` with the check on: a passing run fails if the GIL was on."""
    from stress.cli import main

    monkeypatch.setenv(REQUIRE_ENV, "1")
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: True, raising=False)
    out = io.StringIO()
    status = main(
        [
            "--scenario",
            "channel_mpmc",
            "--scenario",
            "channel_close_blocked",
            "--instances",
            "1",
            "--seed",
            "7",
        ],
        out=out,
    )  # one instance, master seed 7
    assert status == 1, out.getvalue()
    assert "GIL check:" in out.getvalue() and "FAILED: the GIL was on" in out.getvalue()
    assert "OK: 0 failure(s) in 1 scenario instances" in out.getvalue()
