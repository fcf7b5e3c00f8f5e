"""CrossHair has teeth: the contracts it checks reject wrong code.

* Every wrong chunk plan in ``tests/crosshair_fixtures/wrong_plan.py`` carries the exact
  contract of ``refasync.plan.plan_chunks`` and CrossHair, run through the same script as
  ``make test`` (``tools/crosshair_check.py``), finds a counterexample for each.
* Mutants of the real source (one wrong line, the real contract) must be refuted too.
* The counterexamples CrossHair reported against the library's own contracts are kept as
  concrete cases, evaluated with CrossHair's own PEP 316 parser.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, NamedTuple

import pytest

# Not installed where it cannot run: free-threaded 3.13 (importing it turns the GIL back on)
# and the other versions' runs (make test-ft, make test-versions).
pytest.importorskip("crosshair", reason="CrossHair is not installed in this environment")
from crosshair.condition_parser import Pep316Parser  # noqa: E402
from crosshair.fnutil import FunctionInfo  # noqa: E402

from refasync import graph, plan, util  # noqa: E402
from tests.crosshair_fixtures import wrong_plan  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHECKER = ROOT / "tools" / "crosshair_check.py"
# CPU seconds per condition: each wrong plan was refuted within 1 s when measured.
TEETH_SECONDS_PER_CONDITION = 3


class Contract(NamedTuple):
    pre: list[str]
    post: list[str]


def contract_of(fn: Callable[..., object]) -> Contract:
    """:return: the PEP 316 conditions of ``fn`` as CrossHair parses them."""
    conditions = Pep316Parser().get_fn_conditions(FunctionInfo.from_fn(fn))
    assert conditions is not None, f"{fn.__name__} has no contract CrossHair can parse"
    assert not conditions.fn_syntax_messages, conditions.fn_syntax_messages
    return Contract(
        [c.expr_source for c in conditions.pre], [c.expr_source for c in conditions.post]
    )


def violated_conditions(fn: Callable[..., object], *args: object) -> list[str]:
    """Call ``fn(*args)`` if its preconditions admit the arguments.

    :return: the postconditions that fail, plus ``raises <name>`` for an exception the
        contract does not declare in a form CrossHair reads; [] if the contract holds.
    """
    conditions = Pep316Parser().get_fn_conditions(FunctionInfo.from_fn(fn))
    assert conditions is not None
    bindings: dict[str, object] = dict(conditions.sig.bind(*args).arguments)
    for pre in conditions.pre:
        assert pre.evaluate is not None, pre.compile_err
        if not pre.evaluate(bindings):
            return []
    try:
        bindings["__return__"] = fn(*args)
    except Exception as exc:
        if isinstance(exc, tuple(conditions.raises)):
            return []
        return [f"raises {type(exc).__name__}"]
    failed = []
    for post in conditions.post:
        assert post.evaluate is not None, post.compile_err
        if not post.evaluate(bindings):
            failed.append(post.expr_source)
    return failed


def run_checker(
    targets: list[str], extra_path: Path | None = None, seconds: float = 150
) -> subprocess.CompletedProcess[str]:
    """Run ``tools/crosshair_check.py`` on ``targets`` (bounded by ``seconds``)."""
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(extra_path), env.get("PYTHONPATH"))))
    return subprocess.run(
        [sys.executable, str(CHECKER), "--jobs", "2", "--budget", str(seconds - 10), *targets],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds,
    )


# --- the deliberately wrong chunk plans ---------------------------------------------------


@pytest.mark.parametrize("name", wrong_plan.WRONG_PLANS)
def test_wrong_plan_carries_the_real_contract(name: str) -> None:
    assert contract_of(getattr(wrong_plan, name)) == contract_of(plan.plan_chunks)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("plan_zero_tail", (2, 0, 1)),
        ("plan_ignores_min_count", (1, 2, 1)),
        ("plan_oversized_chunk", (2, 0, 1)),
        ("plan_half_chunks", (1, 3, 2)),
    ],
)
def test_wrong_plan_is_wrong(name: str, args: tuple[int, int, int]) -> None:
    # The fixtures really are wrong (the counterexamples CrossHair reported), and the real
    # plan is right on the same arguments.
    assert violated_conditions(getattr(wrong_plan, name), *args)
    assert violated_conditions(plan.plan_chunks, *args) == []


@pytest.mark.timeout(160)
def test_crosshair_refutes_every_wrong_plan() -> None:
    module = wrong_plan.__name__
    result = run_checker(
        [f"{module}.{name}={TEETH_SECONDS_PER_CONDITION}" for name in wrong_plan.WRONG_PLANS]
    )
    report = result.stdout + result.stderr
    assert result.returncode == 1, report
    for name in wrong_plan.WRONG_PLANS:
        assert f"error: false when calling {name}(" in result.stdout, report
    assert f"{len(wrong_plan.WRONG_PLANS)} failed" in result.stdout, report


@pytest.mark.timeout(60)
def test_checker_fails_a_target_without_contract() -> None:
    # A contract that disappears must not pass silently.
    result = run_checker(["refasync.util.cpu_count=1"], seconds=50)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no condition analyzed" in result.stdout


# --- mutants of the real source: the contract must be strong enough to reject them --------


class Mutant(NamedTuple):
    module_file: str  # under src/refasync/
    function: str
    original: str  # one line of the real source...
    replacement: str  # ...and the wrong line put in its place


def write_mutant(mutant: Mutant, directory: Path, tag: int) -> str:
    """Write the mutated module into ``directory``; :return: the crosshair target."""
    source = (ROOT / "src" / "refasync" / mutant.module_file).read_text()
    assert source.count(mutant.original) == 1, f"{mutant.original!r} not found once"
    name = f"mutant{tag}_" + mutant.module_file.removesuffix(".py")
    (directory / f"{name}.py").write_text(source.replace(mutant.original, mutant.replacement))
    return f"{name}.{mutant.function}={TEETH_SECONDS_PER_CONDITION}"


#: Mutants the contracts reject today (each refuted within a few CPU seconds when measured).
STRONG_ENOUGH = {
    "cycle-check-looks-one-edge-deep": Mutant(
        "graph.py", "creates_cycle", "                stack.append(out)\n", "                pass\n"
    ),
    "order-without-transitive-inputs": Mutant(
        "graph.py", "inputs_first_order",
        "                stack.append((child, 0))\n",
        "                order.append(child)\n                placed.add(child)\n",
    ),
}  # fmt: skip

#: Mutants that only the strengthened contracts reject.
NEEDS_STRONG_POSTS = {
    "count-always-1": Mutant(
        "queues.py", "normalize_count",
        "return count if count > 0 else ALL", "return 1 if count > 0 else ALL",
    ),
    "timeout-always-0": Mutant(
        "queues.py", "normalize_timeout", "return float(timeout)", "return 0.0"
    ),
}  # fmt: skip


def assert_refuted(mutants: dict[str, Mutant], directory: Path) -> None:
    targets = [write_mutant(m, directory, i) for i, m in enumerate(mutants.values())]
    result = run_checker(targets, extra_path=directory)
    for mutant in mutants.values():
        assert f"error: false when calling {mutant.function}(" in result.stdout, result.stdout


@pytest.mark.timeout(160)
def test_crosshair_refutes_graph_mutants(tmp_path: Path) -> None:
    assert_refuted(STRONG_ENOUGH, tmp_path)


@pytest.mark.timeout(160)
@pytest.mark.parametrize("mutant", NEEDS_STRONG_POSTS.values(), ids=NEEDS_STRONG_POSTS.keys())
def test_crosshair_refutes_mutant(mutant: Mutant, tmp_path: Path) -> None:
    assert_refuted({"mutant": mutant}, tmp_path)


# --- concrete cases: counterexamples CrossHair reported, and controls -------------------------


@pytest.mark.parametrize(
    ("fn", "args"),
    [
        (plan.plan_chunks, (2, 0, 1)),
        (plan.plan_chunks, (5, 7, 3)),
        (plan.plan_chunks, (4, 0, 0)),
        (plan.plan_unbounded, (0, 2)),
        (plan.plan_unbounded, (3, 2)),
        (util.normalize_count, (-3,)),
        (util.normalize_count, (7,)),
        (util.normalize_timeout, (None,)),
        (util.normalize_timeout, (0.5,)),
        (graph.creates_cycle, ({1: [2], 2: [3]}, 3, 1)),
        (graph.creates_cycle, ({1: [2], 2: [3]}, 1, 3)),
        (graph.inputs_first_order, ({3: [1, 2], 2: [1]}, 3)),
    ],
)
def test_contract_holds(fn: Callable[..., object], args: tuple[object, ...]) -> None:
    assert violated_conditions(fn, *args) == []


@pytest.mark.parametrize("timeout", [math.nan, -1.0])
def test_normalize_timeout_contract_covers_bad_timeouts(timeout: float) -> None:
    assert violated_conditions(util.normalize_timeout, timeout) == []


def test_inputs_first_order_contract_excludes_cycles() -> None:
    assert violated_conditions(graph.inputs_first_order, {0: [0]}, 0) == []
