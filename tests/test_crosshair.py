"""CrossHair has teeth: the contracts it checks reject wrong code.

* Every contract defect of the registry (``models/defects.py``, ``crosshair=True``: one
  wrong line of a pure decision function, which keeps its real contract) is refuted by
  CrossHair, run through the same script as ``make test`` (``tools/crosshair_check.py``)
  on a copy of the site's module with the defect made.
* The counterexamples CrossHair reported against the library's own contracts are kept as
  concrete cases, evaluated with CrossHair's own PEP 316 parser.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

# Not installed where it cannot run: free-threaded 3.13 (importing it turns the GIL back on)
# and the other versions' runs (make test-ft, make test-versions).
pytest.importorskip("crosshair", reason="CrossHair is not installed in this environment")
from crosshair.condition_parser import Pep316Parser  # noqa: E402
from crosshair.fnutil import FunctionInfo  # noqa: E402

from models.defects import DEFECTS, build, mutated_module_source  # noqa: E402
from refasync import graph, plan, util  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHECKER = ROOT / "tools" / "crosshair_check.py"
# CPU seconds per condition: each defect was refuted within 1 s when measured.
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


def violated_conditions(
    fn: Callable[..., object], *args: object, implementation: Callable[..., object] | None = None
) -> list[str]:
    """Call ``fn(*args)`` (or ``implementation(*args)``, judged by ``fn``'s contract) if
    the preconditions admit the arguments.

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
        bindings["__return__"] = (implementation or fn)(*args)
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


# --- the contract defects of the registry ------------------------------------------------

CONTRACT_DEFECTS = sorted(name for name, d in DEFECTS.items() if d.crosshair)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("plan_zero_tail", (2, 0, 1)),
        ("plan_ignores_min_count", (1, 2, 1)),
        ("plan_oversized_chunk", (2, 0, 1)),
        ("plan_half_chunks", (1, 3, 2)),
        ("count_always_1", (7,)),
        ("timeout_always_0", (0.5,)),
        ("cycle_check_one_edge_deep", ({1: [2], 2: [3]}, 3, 1)),
        ("order_without_transitive_inputs", ({3: [2], 2: [1]}, 3)),
    ],
)
def test_each_contract_defect_is_wrong(name: str, args: tuple[object, ...]) -> None:
    # The defect really breaks the contract (on the counterexample CrossHair reported),
    # and the real function keeps it on the same arguments.
    sites: dict[str, Callable[..., object]] = {
        "plan_chunks": plan.plan_chunks,
        "normalize_count": util.normalize_count,
        "normalize_timeout": util.normalize_timeout,
        "creates_cycle": graph.creates_cycle,
        "inputs_first_order": graph.inputs_first_order,
    }
    real = sites[DEFECTS[name].site.partition(":")[2]]
    mutant = build(DEFECTS[name])
    assert callable(mutant)
    assert violated_conditions(real, *args, implementation=mutant)
    assert violated_conditions(real, *args) == []


def write_mutant(name: str, directory: Path) -> str:
    """Write the defect's module, mutated, into ``directory``; :return: the target."""
    module = f"mutant_{name}"
    (directory / f"{module}.py").write_text(mutated_module_source(DEFECTS[name]))
    return f"{module}.{DEFECTS[name].site.partition(':')[2]}={TEETH_SECONDS_PER_CONDITION}"


#: The contract defects, at most two of one function per checker run (and budget): a
#: run of four took 107 s of its 150 under a load of 24 on two cores.
BATCHES: list[list[str]] = []
for _name in CONTRACT_DEFECTS:
    _last = BATCHES[-1] if BATCHES else []
    if len(_last) == 1 and DEFECTS[_last[0]].site == DEFECTS[_name].site:
        _last.append(_name)
    else:
        BATCHES.append([_name])


@pytest.mark.timeout(170)
@pytest.mark.parametrize("names", BATCHES, ids=["+".join(b) for b in BATCHES])
def test_crosshair_refutes_every_contract_defect(names: list[str], tmp_path: Path) -> None:
    function = DEFECTS[names[0]].site.partition(":")[2]
    result = run_checker(
        [write_mutant(name, tmp_path) for name in names], extra_path=tmp_path, seconds=160
    )
    report = result.stdout + result.stderr
    assert result.returncode == 1, report
    lines = result.stdout.splitlines()
    for name in names:
        assert any(
            f"mutant_{name}.py:" in line and f"error: false when calling {function}(" in line
            for line in lines
        ), (name, report)
    assert f"{len(names)} failed" in result.stdout, report


@pytest.mark.timeout(60)
def test_checker_fails_a_target_without_contract() -> None:
    # A contract that disappears must not pass silently.
    result = run_checker(["refasync.util.cpu_count=1"], seconds=50)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no condition analyzed" in result.stdout


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
