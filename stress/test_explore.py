"""The explorer over the stress scenarios: a short budget of every strategy on every
scenario (part of ``make test``), the broken variants it must catch, exhausting dfs on
small instances, and exact replay of a failing schedule."""

from __future__ import annotations

import io
import shlex
import sys
import time
from pathlib import Path

import pytest

from refasync import explore as ex
from stress.broken import BROKEN, MODEL_CLASSES, broken
from stress.campaign import default_scenarios
from stress.cli import main, parse
from stress.runner import Summary, run_many
from stress.scenarios import ALL_SCENARIOS, FAULT_SCENARIOS
from stress.strategies import EXPLORED, Pct
from stress.strategies.explored import CAUGHT_IN, LIMITS_DFS, Explored, instance_body

#: The pool oracles' ``gc.collect()`` (one or more per instance) scans only the test's
#: objects, not the session's heap (conftest.py's ``frozen_heap``).
pytestmark = pytest.mark.usefixtures("frozen_heap")

#: The short budget per (strategy, scenario) in ``make test``: instances x runs each.
SHORT_RUNS = {"random": (3, 5), "pct": (3, 5), "dfs": (1, 30)}


def _failure(summary: Summary) -> str:
    return "" if not summary.failures else (summary.repros[0] + "\n" + summary.failures[0].message)


@pytest.mark.parametrize("scenario", sorted(ALL_SCENARIOS))
@pytest.mark.parametrize("strategy", sorted(SHORT_RUNS))
def test_short_exploration_budget_finds_nothing(strategy: str, scenario: str) -> None:
    instances, runs = SHORT_RUNS[strategy]
    summary = run_many([scenario], 20261129, EXPLORED[strategy](), instances=instances, runs=runs)
    assert not summary.failures, _failure(summary)
    assert summary.instances == instances and summary.runs > 0


@pytest.mark.timeout(300)
def test_faults_are_injected_in_the_fault_scenarios_only() -> None:
    """``--faults`` adds the fault scenarios, whatever the strategy; the other scenarios'
    oracles do not hold once an interrupted read put its items back (F1: the second
    instance of master seed 9 of channel_mpmc, with a fault, overfills its channel and
    breaks a reader's per-writer order), so the explorer never injects one there."""
    for strategy in EXPLORED.values():
        assert {s for s in ALL_SCENARIOS if strategy.faults_for(s)} == set(FAULT_SCENARIOS)
    assert default_scenarios(parse(["--strategy", "pct", "--faults"])) == list(ALL_SCENARIOS)
    summary = run_many(["channel_mpmc"], 9, Pct(), instances=2)
    assert not summary.failures, _failure(summary)


#: Caught by a dedicated explorer test (dfs or pct on a tailored body: the stress
#: scenarios reach the state too rarely, or have no timing oracle).
CAUGHT_BY_UNIT_TEST = {
    "bulk_read_wakes_one": "tests/test_explore.py::"
    "test_two_writers_blocked_on_a_full_channel_when_one_read_frees_both_slots",
    "pool_timeout_not_restarted": (
        "tests/test_explore.py::test_pool_read_timeout_restarts_when_items_arrive"
    ),
    "iterator_read_unlocked": (
        "tests/test_explore.py::test_iterator_reader_lock_with_an_iterator_that_yields_between_steps"
    ),
}


def test_campaigns_and_replays_share_one_step_limit() -> None:
    import inspect

    assert "max_steps" not in inspect.signature(Explored).parameters  # explore()'s default
    assert inspect.signature(ex.replay).parameters["max_steps"].default == ex.MAX_STEPS
    assert inspect.signature(ex.explore).parameters["max_steps"].default == ex.MAX_STEPS


def test_every_broken_variant_has_a_scenario_or_a_test() -> None:
    assert not set(CAUGHT_IN) & set(CAUGHT_BY_UNIT_TEST)
    assert set(CAUGHT_IN) | set(CAUGHT_BY_UNIT_TEST) == set(BROKEN)


def test_every_defect_of_the_models_is_mapped() -> None:
    """Each defect a model must catch (models/broken.py) names the variant of the stress
    view with its defect (caught above), or why none applies."""
    import models.broken

    aimed = {name for names in models.broken.AIMED_AT.values() for name in names}
    assert set(MODEL_CLASSES) == aimed
    for name, target in MODEL_CLASSES.items():
        assert target in BROKEN or target.startswith(("sequential:", "does not apply:")), (
            name,
            target,
        )


#: The heavy campaigns: selected by ``make test`` only (SUITE in the Makefile deselects
#: them on the other interpreters, which run the suite again).
campaign = pytest.mark.campaign


@campaign
@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", sorted(CAUGHT_IN))
def test_pct_catches_the_broken_variant_within_1000_runs(name: str) -> None:
    with broken(name):  # 40 instances of 25 runs
        summary = run_many(
            [CAUGHT_IN[name]], 7, Pct(shrink=False), instances=40, stop_on_failure=True, broken=name
        )
    assert summary.failures, f"{name} not caught by pct in 1000 runs ({summary.runs} ran)"
    assert summary.failures[0].kind != "nondeterminism", _failure(summary)
    assert summary.repros[0].startswith("python -m stress --strategy pct")


#: The table of exhaustion figures in docs/semantics.md starts with this header row.
FIGURES_HEADER = "| scenario | instance seed | preemption bound | schedules | recomputed by |"
SEMANTICS = Path(__file__).resolve().parent.parent / "docs" / "semantics.md"


def documented_figures() -> list[tuple[str, int, int, int, str]]:
    """:return: the rows (scenario, instance seed, preemption bound, schedules, "test" or
    "command") of the exhaustion table in docs/semantics.md."""
    lines = [line.strip() for line in SEMANTICS.read_text(encoding="utf-8").splitlines()]
    start = lines.index(FIGURES_HEADER) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        name, seed, bound, schedules, by = (cell.strip(" `") for cell in line.strip("|").split("|"))
        rows.append((name, int(seed), int(bound), int(schedules.replace(",", "")), by))
    return rows


def exhaust(name: str, seed: int, bound: int) -> ex.Report:
    """dfs over one instance at the dfs sizes (with faults for the fault scenarios, as
    their campaigns), the standard library uncontrolled (the scenarios use it only for
    the harness's bookkeeping), until the bound is exhausted."""
    return ex.explore(
        instance_body(name, seed, LIMITS_DFS),
        strategy="dfs",
        runs=10**7,
        preemptions=bound,
        faults=name in FAULT_SCENARIOS,
        stdlib=False,
        raise_on_failure=False,
    )


@campaign
@pytest.mark.timeout(300)
def test_the_documented_exhaustion_figures_are_recomputed() -> None:
    """Every row of the table marked "test" (``python -m stress.test_explore`` recomputes
    them all): dfs exhausts the instance, finds nothing, and runs exactly the documented
    number of schedules."""
    rows = documented_figures()
    assert {(name, bound) for name, _, bound, _, by in rows if by == "test"} >= {
        ("channel_mpmc", 2),
        ("pool_pipeline", 2),
    }
    measured = []
    for name, seed, bound, schedules, by in rows:
        if by == "test":
            report = exhaust(name, seed, bound)
            assert report.exhausted and not report.failed, report.message
            measured.append((name, seed, bound, schedules, report.runs))
    assert all(documented == runs for *_, documented, runs in measured), measured


def test_a_failing_schedule_replays_exactly_from_the_command_line() -> None:
    with broken("notify_before_append"):
        summary = run_many(
            ["channel_mpmc"],
            7,
            Pct(shrink_steps=20_000),
            instances=40,
            stop_on_failure=True,
            broken="notify_before_append",
        )
    assert summary.failures
    line = summary.repros[0]
    assert line.startswith("python -m stress --strategy pct --scenario channel_mpmc")
    assert line.endswith(
        f"--broken notify_before_append --replay {shlex.quote(summary.failures[0].schedule)}"
    )
    argv = shlex.split(line)[3:]
    for _ in range(20):  # the line installs the variant itself
        replayed = io.StringIO()
        assert main(argv, replayed) == 1, replayed.getvalue()
        assert "FAILED (reproduced)" in replayed.getvalue()
    # Without the bug the same line does not fail, and says so (exit 3), never "OK".
    without = argv[: argv.index("--broken")] + argv[argv.index("--replay") :]
    replayed = io.StringIO()
    assert main(without, replayed) == 3, replayed.getvalue()
    assert "REPLAY DID NOT FAIL" in replayed.getvalue()


def print_figures() -> None:
    """``python -m stress.test_explore``: recompute every row of the exhaustion table."""
    print(FIGURES_HEADER)
    print("|---|---|---|---|---|")
    for name, seed, bound, documented, by in documented_figures():
        started = time.monotonic()
        report = exhaust(name, seed, bound)
        status = "" if report.exhausted and not report.failed else " NOT EXHAUSTED"
        print(
            f"| `{name}` | {seed} | {bound} | {report.runs:,} | {by} |{status}  "
            f"({time.monotonic() - started:.1f} s; documented {documented:,})"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    print_figures()
