"""The defect registry (models/defects.py): every defect still applies to today's source
and is undone afterwards, one that no longer applies fails naming its site, and the unit
tests of ``make test`` catch each hook-free defect (run in a child pytest with it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.defects import DEFECTS, HOOK_FREE, Defect, DefectSiteError, applied, build, site_of

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_every_defect_applies_to_todays_source_and_is_undone(name: str) -> None:
    owner, attr, original = site_of(DEFECTS[name])
    with applied(name):
        patched = vars(owner)[attr]
        assert patched is not original
        assert type(patched) is type(original)
    assert vars(owner)[attr] is original


@pytest.mark.parametrize(
    ("site", "old", "message"),
    [
        ("refasync.queues:AsyncQueue.put", "no such line", "found 0 times, not once"),
        ("refasync.queues:AsyncQueue.put", "self", "times, not once"),
        ("refasync.queues:AsyncQueue.no_such_method", "x", "no function no_such_method"),
        ("refasync.queues:NoSuchClass.put", "x", "no class NoSuchClass"),
        ("refasync.no_such_module:f", "x", "no module refasync.no_such_module"),
    ],
)
def test_a_defect_that_no_longer_applies_fails_naming_its_site(
    site: str, old: str, message: str
) -> None:
    stale = Defect("stale", "a defect of yesterday's source", site, old, "pass")
    with pytest.raises(DefectSiteError, match=f"defect stale: site {site}: .*{message}"):
        build(stale)


def test_one_defect_at_a_time() -> None:
    with applied("poke_wakes_one"):
        with pytest.raises(RuntimeError, match="poke_wakes_one is installed"):
            with applied("put_many_same_generation"):
                pass  # pragma: no cover


def test_a_method_using_zero_argument_super_keeps_working_with_a_defect() -> None:
    # A site compiled outside its class still finds its __class__ cell.
    class Base:
        def f(self) -> int:
            return 1

    class Child(Base):
        def f(self) -> int:
            return super().f() + 1

    globals()["Child"] = Child
    try:
        defect = Defect(
            "plus_ten",
            "f adds ten",
            f"{__name__}:Child.f",
            "return super().f() + 1",
            "return super().f() + 10",
        )
        replacement = build(defect)
        assert callable(replacement) and replacement(Child()) == 11
    finally:
        del globals()["Child"]


def run_pytest(node_ids: tuple[str, ...], *options: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            *options,
            *node_ids,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )


@pytest.fixture(scope="module")
def clean_report() -> str:
    """One child run, on today's code, of every test ``HOOK_FREE`` names (one for all the
    defects: their tests are the same today whichever defect is tested next); every
    test passes. :return: its report, a ``PASSED`` line per test (``-rA``)."""
    tests = tuple(sorted({node_id for names in HOOK_FREE.values() for node_id in names}))
    clean = run_pytest(tests, "-rA")
    report = clean.stdout + clean.stderr
    assert clean.returncode == 0, report
    return report


@pytest.mark.campaign
@pytest.mark.timeout(200)
@pytest.mark.parametrize("name", sorted(HOOK_FREE))
def test_the_unit_tests_catch_each_hook_free_defect(name: str, clean_report: str) -> None:
    """The tests named for the defect pass on today's code and fail with the defect,
    each of them, in the run ``make test`` makes (no hook installed)."""
    tests = HOOK_FREE[name]
    for node_id in tests:
        assert f"PASSED {node_id}" in clean_report, (node_id, clean_report)
    broken = run_pytest(tests, "--defect", name)
    report = broken.stdout + broken.stderr
    assert broken.returncode == 1, report
    for node_id in tests:
        assert f"FAILED {node_id}" in report, (node_id, report)
