"""``python -m stress`` as a user meets it: meaningless numbers and options a strategy
cannot take are refused on one line (exit 2) before anything runs, output paths are
checked first, an explicit ``--seconds 60`` is honoured, ``--html`` works with every
strategy that records histories, a replay that does not fail says so (exit 3), Ctrl-C
still prints the table, the final line and the ``--json`` report (exit 130), and
``--strategy none`` catches a defect that only exists when no hook is installed."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from refasync import util
from refasync.util import AsyncQueue
from stress.cli import main, parse

ROOT = Path(__file__).resolve().parent.parent


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """:return: the error line of a refused command line (exit 2, nothing run)."""
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        main(argv, out)
    assert exit_info.value.code == 2
    assert out.getvalue() == ""  # nothing ran
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("python -m stress: error: ")
    return lines[-1]


@pytest.mark.parametrize(
    "argv",
    [
        ["--seconds", "0"],
        ["--seconds", "-1"],
        ["--seconds", "nan"],
        ["--seconds", "inf"],
        ["--runs", "0"],
        ["--instances", "0"],
        ["--stall", "0"],
        ["--stall", "nan"],
        ["--detect", "0"],
        ["--strategy", "pct", "--depth", "0"],
        ["--strategy", "dfs", "--preemptions", "-1"],
        ["--strategy", "pct", "--shard", "2/2"],
        ["--strategy", "pct", "--blocked", "-0.5"],
        ["--seconds", "many"],
    ],
)
def test_meaningless_numbers_are_argparse_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    refused(argv, capsys)


@pytest.mark.parametrize(
    "argv,says",
    [
        (["--strategy", "pct", "--profile", "light"], "--profile is the delay injector's"),
        (["--strategy", "none", "--profile", "light"], "--profile is the delay injector's"),
        (["--depth", "3"], "--depth is pct's"),
        (["--strategy", "pct", "--preemptions", "1"], "--preemptions is dfs's"),
        (["--shard", "0/2"], "--shard is the explorer's"),
        (["--strategy", "none", "--check-determinism"], "--check-determinism is the explorer's"),
        (["--strategy", "none", "--faults"], "installs none"),
        (["--strategy", "dfs", "--html", "x.html"], "records no histories"),
        (["--strategy", "dfs", "--history", "runs"], "records no histories"),
        (["--replay"], "needs one --scenario and its --seed"),
        (["--scenario", "channel_mpmc", "--seed", "1", "--replay", "0*3"], "has no schedules"),
        (
            ["--strategy", "pct", "--scenario", "channel_mpmc", "--seed", "1", "--replay"],
            "needs the failure's SCHEDULE",
        ),
        (["--detect", "1", "--html", "x.html"], "--detect writes no histories"),
        (["--strategy", "pct", "--checkpoint", "states"], "dfs's option"),
        (
            ["--strategy", "pct", "--scenario", "channel_mpmc", "--seed", "1", "--replay", "0*x"],
            "bad schedule part",
        ),
        (
            [
                "--strategy",
                "pct",
                "--scenario",
                "channel_mpmc",
                "--seed",
                "1",
                "--replay",
                "0*99999999999",
            ],
            "longer than a run can be",
        ),
        (
            ["--scenario", "channel_mpmc", "--seed", "1", "--replay", "--instances", "2"],
            "--instances does not apply to --replay",
        ),
    ],
)
def test_options_a_strategy_cannot_take_are_refused(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert says in refused(argv, capsys)


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "locked"
    directory.mkdir()
    directory.chmod(0o500)
    try:
        yield directory
    finally:
        directory.chmod(0o700)


def test_output_paths_are_checked_before_the_run(
    tmp_path: Path, unwritable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert "does not exist" in refused(["--json", str(missing / "r.json")], capsys)
    assert "is a directory" in refused(["--json", str(tmp_path)], capsys)
    assert "is a directory" in refused(["--html", str(tmp_path)], capsys)
    assert "is not a directory" in refused(["--history", str(a_file)], capsys)
    assert "does not exist" in refused(["--history", str(missing)], capsys)
    assert "is not a directory" in refused(
        ["--strategy", "dfs", "--checkpoint", str(a_file)], capsys
    )
    if os.geteuid() != 0:  # root writes anywhere
        assert "not writable" in refused(["--json", str(unwritable / "r.json")], capsys)
        assert "not writable" in refused(["--history", str(unwritable)], capsys)


def test_an_explicit_budget_is_honoured() -> None:
    assert parse([]).seconds == 60.0
    assert parse(["--strategy", "pct", "--runs", "5", "--seconds", "60"]).seconds == 60.0
    assert parse(["--strategy", "pct", "--runs", "5"]).seconds == 60.0
    assert parse(["--instances", "3"]).seconds is None  # the instances bound the run
    assert parse(["--instances", "3", "--seconds", "60"]).seconds == 60.0


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "strategy,variant", [("delays", "wait_without_while"), ("pct", "notify_before_append")]
)
def test_html_pictures_a_failure_under_every_strategy_that_records(
    tmp_path: Path, strategy: str, variant: str
) -> None:
    page, report = tmp_path / "failure.html", tmp_path / "report.json"
    out = io.StringIO()
    status = main(
        [
            "--strategy",
            strategy,
            "--broken",
            variant,
            "--scenario",
            "channel_mpmc",
            "--seconds",
            "120",
            "--stall",
            "3",
            "--seed",
            "3",
            "--html",
            str(page),
            "--json",
            str(report),
        ],
        out,
    )
    assert status == 1, out.getvalue()
    assert f"timeline of the failure written to {page}" in out.getvalue(), out.getvalue()
    assert "<svg" in page.read_text(encoding="utf-8") or "<div" in page.read_text("utf-8")
    failure = json.loads(report.read_text())["failures"][0]
    assert failure["repro"].startswith(f"python -m stress --strategy {strategy} ")
    assert f"--broken {variant} --replay" in failure["repro"]


@pytest.mark.timeout(120)
def test_a_replay_that_does_not_fail_says_so_and_exits_3(tmp_path: Path) -> None:
    out = io.StringIO()
    report = tmp_path / "replay.json"
    status = main(
        [
            "--scenario",
            "channel_mpmc",
            "--seed",
            "5",
            "--replay",
            "--runs",
            "5",
            "--json",
            str(report),
        ],
        out,
    )
    assert status == 3, out.getvalue()
    assert "REPLAY DID NOT FAIL: channel_mpmc seed=5: 5 run(s)" in out.getvalue()
    assert "OK" not in out.getvalue()
    assert json.loads(report.read_text())["reproduced"] is False


def _sigint_default() -> None:
    """In the child, before it runs Python: SIGINT's default action. A pytest started in
    a background job of a non-interactive shell has SIGINT ignored, its children
    inherit that, and an interpreter started with SIGINT ignored never raises
    ``KeyboardInterrupt``: the run would go on to its end and report OK."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.timeout(120)
def test_ctrl_c_stops_the_run_and_still_reports(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stress",
            "--strategy",
            "none",
            "--seconds",
            "100",
            "--json",
            str(report),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=_sigint_default,
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # the run has started
    assert first.startswith("master seed"), first
    process.send_signal(signal.SIGINT)
    rest = process.stdout.read()
    assert process.wait(60) == 130, rest
    assert "scenario" in rest and "total" in rest, rest  # the table
    # The final line, before the GIL check's own line on a free-threaded build.
    final = [line for line in rest.splitlines() if not line.startswith("GIL check:")][-1]
    assert final.startswith("INTERRUPTED: 0 failure(s) in "), rest
    data = json.loads(report.read_text())
    assert data["interrupted"] is True and data["strategy"] == "none"


def _close_wakes_nobody_without_a_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """A defect that exists only when no hook is installed (as a fast path would): closing
    a channel wakes none of its blocked readers and writers."""
    original = AsyncQueue.set_writable

    def set_writable(self: AsyncQueue[object], state: bool) -> bool:
        if state or util.get_sync_hook() is not None:
            return original(self, state)
        with self.mutex:
            previous = self._writable
            self._writable = False
            self._generation += 1
        return previous

    monkeypatch.setattr(AsyncQueue, "set_writable", set_writable)


@pytest.mark.timeout(300)
def test_strategy_none_catches_a_defect_only_the_hook_free_program_has(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _close_wakes_nobody_without_a_hook(monkeypatch)
    argv = ["--scenario", "channel_close_blocked", "--stall", "2", "--seed", "1"]
    out = io.StringIO()
    assert main(["--strategy", "delays", "--instances", "40", *argv], out) == 0, (
        out.getvalue()
    )  # every check that installs a hook misses it
    out = io.StringIO()
    page = tmp_path / "hang.html"
    assert main(["--strategy", "none", "--seconds", "60", "--html", str(page), *argv], out) == 1, (
        out.getvalue()
    )
    text = out.getvalue()
    assert "FAILURE channel_close_blocked" in text and "hang" in text
    assert "replay: python -m stress --strategy none --scenario channel_close_blocked" in text
    assert f"timeline of the failure written to {page}" in text and page.stat().st_size


@pytest.mark.timeout(300)
def test_dfs_keeps_each_instances_search_in_the_checkpoint_directory(tmp_path: Path) -> None:
    states = tmp_path / "states"
    argv = [
        "--strategy",
        "dfs",
        "--scenario",
        "channel_mpmc",
        "--seed",
        "7",
        "--instances",
        "1",
        "--checkpoint",
        str(states),
    ]
    out = io.StringIO()
    assert main([*argv, "--runs", "3"], out) == 0, out.getvalue()
    (state,) = states.iterdir()  # one instance: one file, named after it
    assert state.name.startswith("channel_mpmc-") and state.suffix == ".json"
    first = json.loads(state.read_text())
    out = io.StringIO()
    assert main([*argv, "--runs", "6"], out) == 0, out.getvalue()  # resumes: 3 more
    assert json.loads(state.read_text()) != first
    state.write_text("{not json")  # hostile: refused, naming the file
    out = io.StringIO()
    assert main([*argv, "--runs", "9"], out) == 2
    (line,) = out.getvalue().splitlines()[-1:]
    assert line.startswith("python -m stress: error: checkpoint ") and state.name in line, line
