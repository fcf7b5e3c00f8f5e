"""The histories the stress campaign records: every one it writes is accepted by
``python -m conformance.check``, whatever the strategy; a broken variant's failing history
is rejected with its window; the failure page of a hostile history runs no script and
draws every bar (headless Chromium, ``conformance/test_html.py``'s check)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from conformance.check_support import run
from conformance.test_html import HOSTILE, assert_safe_and_complete
from models.linearizability import Op
from stress.broken import broken
from stress.cli import main
from stress.histories import Recorded, failure_page
from stress.runner import run_many


@pytest.mark.timeout(240)
@pytest.mark.parametrize("strategy", ["delays", "none", "pct"])
def test_every_history_the_stress_harness_writes_is_accepted(tmp_path: Path, strategy: str) -> None:
    out = io.StringIO()
    runs = ["--runs", "3"] if strategy == "pct" else []  # the last run's history is kept
    code = main(
        [
            "--strategy",
            strategy,
            "--scenario",
            "channel_mpmc",
            "--scenario",
            "channel_close_blocked",
            "--instances",
            "30",
            "--seed",
            "11",
            "--history",
            str(tmp_path),
            *runs,
        ],
        out=out,
    )
    assert code == 0, out.getvalue()
    files = sorted(tmp_path.iterdir())
    assert len(files) >= 20  # a history is written when one was recorded (nearly always)
    for path in files:
        code, verdict = run(path)
        assert code == 0, f"{path.name}: {verdict}"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("variant", ["wait_without_while", "notify_before_append"])
def test_histories_of_broken_stress_variants_are_rejected(tmp_path: Path, variant: str) -> None:
    """The stress harness catches the variant (by some oracle or its watchdog); the
    history it wrote for a failing instance is rejected, window shown. A hang may leave a
    history that is linearizable (slow is not wrong), hence a few tries."""
    verdicts = []
    for attempt in range(6):
        directory = tmp_path / str(attempt)
        with broken(variant):
            summary = run_many(
                ["channel_mpmc", "channel_close_blocked"],
                attempt,
                "heavy",
                seconds=40,
                stall_s=3,
                stop_on_failure=True,
                history_dir=str(directory),
            )
        for failure in summary.failures:
            if failure.history:
                code, out = run(failure.history)
                verdicts.append((failure.scenario, code))
                if code == 1:
                    assert "smallest failing window" in out
                    return
    pytest.fail(f"no history of {variant} was rejected: {verdicts}")


def test_history_dir_holds_only_jsonl(tmp_path: Path) -> None:
    run_many(["channel_mpmc"], 5, "light", instances=3, history_dir=str(tmp_path))
    names = os.listdir(tmp_path)
    assert len(names) == 3 and all(
        n.startswith("channel_mpmc-") and n.endswith(".jsonl") for n in names
    )


@pytest.mark.timeout(600)
def test_hostile_stress_page_runs_no_script_and_draws_every_bar(tmp_path: Path) -> None:
    ops: list[object] = []
    for i, value in enumerate(HOSTILE):
        ops += [
            Op(value, "write", (i, value), None, 10 * i, 10 * i + 5),
            Op(value, "read", (1, False), [(i, value)], 10 * i + 6, 10 * i + 8),
        ]
    ops.append(Op("again", "read", (1, False), [(0, HOSTILE[0])], 1000, 1010))
    recorded = [Recorded(value, 0, ops) for value in HOSTILE[:2]]
    text = failure_page(HOSTILE[0] + HOSTILE[4], "\n".join(HOSTILE), recorded)
    assert text is not None
    page = tmp_path / "stress.html"
    page.write_text(text, encoding="utf-8")
    assert_safe_and_complete(page, len(ops))
