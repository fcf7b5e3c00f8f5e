"""The benchmarks' column against the original library (benchmarks/original.py): a row
says "not available" and why when the original cannot be prepared or imported, runs
none of the original's work then, and judges refasync's time / the original's against
its target when it can.

No test here needs the network or the original itself: the preparing tool is replaced
by small scripts, and the original's runs by timed stand-ins.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import original
from benchmarks.harness import Goal, Row, Status, Timed, Versus
from benchmarks.libraries import REFASYNC, Library
from benchmarks.report import COLUMN, format_table


@pytest.fixture
def fresh_original(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Forget what this process learnt about the original (restored afterwards)."""
    monkeypatch.setattr(original, "_loaded", None)
    monkeypatch.setattr(original, "_disabled", None)
    monkeypatch.setattr(original, "_source", "")
    yield


def _tool(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "original_async.py"
    script.write_text(body)
    return script


@pytest.mark.usefixtures("fresh_original")
def test_a_failing_prepare_makes_every_row_say_not_available_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = _tool(tmp_path, "import sys\nsys.exit('pip: no network to fetch async==0.6.2')\n")
    monkeypatch.setattr(original, "TOOL", tool)
    found = original.library()
    assert isinstance(found, str)
    assert "--prepare failed" in found and "no network" in found
    ran: list[str] = []

    def make(lib: Library) -> Timed:
        ran.append(lib.name)
        return lambda: 0.0

    side = original.OriginalSide(make)
    samples, theirs = side.interleave([lambda: 1.0], 3, 10.0, "test")
    assert samples == [[1.0, 1.0, 1.0]] and theirs == [[]] and not ran
    versus = side.versus(1.0, theirs[0])
    assert versus is not None and versus.ratio is None
    assert versus.text().startswith("not available:") and "no network" in versus.text()


@pytest.mark.usefixtures("fresh_original")
def test_a_directory_without_the_package_is_not_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(original, "TOOL", _tool(tmp_path, f"print({str(tmp_path)!r})\n"))
    found = original.library()
    assert isinstance(found, str) and "holds no async_orig" in found


@pytest.mark.usefixtures("fresh_original")
def test_a_package_that_fails_to_import_is_not_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "async_orig"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('built for Python 2')\n")
    monkeypatch.setattr(original, "TOOL", _tool(tmp_path, f"print({str(tmp_path)!r})\n"))
    monkeypatch.delitem(sys.modules, "async_orig", raising=False)
    found = original.library()
    assert isinstance(found, str) and "import async_orig failed" in found
    assert str(tmp_path) not in sys.path


@pytest.mark.usefixtures("fresh_original")
def test_disabled_the_original_is_never_prepared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "ran"
    tool = _tool(tmp_path, f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.setattr(original, "TOOL", tool)
    assert original.describe() == "not needed by these groups"
    original.disable("not run (--no-original)")
    assert original.library() == "not run (--no-original)"
    assert original.describe() == "not available: not run (--no-original)"
    assert not marker.exists()


def test_the_ratio_is_judged_against_its_target() -> None:
    assert Versus(0.79, original.READ1_LOOP_LIMIT).judge().status is Status.MET
    assert Versus(2.9, original.READ1_LOOP_LIMIT).judge().status is Status.MISSED
    assert Versus(1.0, original.AT_MOST_ORIGINAL).judge().status is Status.MET
    assert Versus(3.0, None).judge().status is Status.INFO


@pytest.mark.usefixtures("fresh_original")
def test_the_original_runs_last_in_the_interleaving(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(original, "_loaded", dataclasses.replace(REFASYNC, name="stand-in"))
    order: list[str] = []

    def timed(name: str, seconds: float) -> Timed:
        def run() -> float:
            order.append(name)
            return seconds

        return run

    side = original.OriginalSide(lambda lib: timed(lib.name, 4.0))
    (ours, base), (theirs,) = side.interleave(
        [timed("ours", 1.0), timed("base", 2.0)], 2, 10.0, "test"
    )
    assert order == ["ours", "base", "stand-in"] * 2
    versus = side.versus(1.0, theirs, original.READ1_LOOP_LIMIT)
    assert versus is not None and versus.ratio == 0.25 and versus.status is Status.MET
    row = Row("w", "b", 0.5, "x", Goal.AT_MOST, 1.0, original=versus).judge()
    table = format_table(
        [row],
        {
            "cpu": "c",
            "usable_cpus": "2",
            "python": "p",
            "platform": "x",
            "load_average_at_start": "0",
        },
        "test",
    )
    assert COLUMN in table and "0.25x (<= 0.8x: met)" in table
    assert f"{COLUMN}: 1 met, 0 missed, 0 not available" in table
