"""The public API's static types: mypy accepts what users should write and rejects misuse.

Runs mypy (with the project's mypy.ini, so ``--strict``) on ``tests/typing/``:

* ``pass_*.py`` type-check with no error, and their ``CHECKS`` run;
* ``fail_*.py`` produce exactly the errors their ``# E: <fragment>`` comments name: every
  error matches a fragment on its line, every fragment matches an error on its line;
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from refasync.testing import run_bounded

ROOT = Path(__file__).resolve().parent.parent
TYPING_DIR = ROOT / "tests" / "typing"
PASS_FILES = sorted(TYPING_DIR.glob("pass_*.py"))
FAIL_FILES = sorted(TYPING_DIR.glob("fail_*.py"))

EXPECTED = re.compile(r"#\s*E:\s*(?P<fragment>.+?)\s*$")
MYPY_ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: (?P<message>.*)$")

Errors = dict[Path, dict[int, list[str]]]  # file -> line -> mypy error messages


@cache
def mypy_errors() -> Errors:
    """Run mypy once over every typing file; :return: its errors by file and line."""
    files = [str(p.relative_to(ROOT)) for p in PASS_FILES + FAIL_FILES]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--no-pretty",
         "--show-error-codes", "--hide-error-context", *files],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: mypy crashed
    errors: Errors = defaultdict(lambda: defaultdict(list))
    for line in result.stdout.splitlines():
        match = MYPY_ERROR.match(line)
        if match is not None:
            errors[(ROOT / match["path"]).resolve()][int(match["line"])].append(match["message"])
    return errors


def expected_fragments(path: Path) -> dict[int, list[str]]:
    """:return: line -> the ``# E:`` fragments written on it."""
    expected: dict[int, list[str]] = {}
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        match = EXPECTED.search(text)
        if match is not None:
            expected[number] = [f.strip() for f in match["fragment"].split("# E:")]
    return expected


def mismatches(path: Path) -> list[str]:
    """:return: every way mypy's errors on ``path`` differ from its ``# E:`` comments."""
    found = mypy_errors().get(path.resolve(), {})
    expected = expected_fragments(path)
    problems = []
    for line in sorted(set(found) | set(expected)):
        messages, fragments = found.get(line, []), expected.get(line, [])
        problems += [
            f"{path.name}:{line}: unexpected error: {m}"
            for m in messages
            if not any(f in m for f in fragments)
        ]
        problems += [f"{path.name}:{line}: expected error not reported: {f}"
                     for f in fragments if not any(f in m for m in messages)]  # fmt: skip
    return problems


def test_typing_files_exist() -> None:
    assert PASS_FILES and FAIL_FILES, f"no typing files found in {TYPING_DIR}"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", PASS_FILES, ids=lambda p: p.name)
def test_user_code_type_checks(path: Path) -> None:
    assert expected_fragments(path) == {}, "a pass_ file must not expect errors"
    assert mismatches(path) == []


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", FAIL_FILES, ids=lambda p: p.name)
def test_misuse_is_rejected_exactly(path: Path) -> None:
    assert len(expected_fragments(path)) >= 5, "a fail_ file names the errors it expects"
    assert mismatches(path) == []


def pass_checks() -> list[tuple[str, Callable[[], None]]]:
    checks = []
    for path in PASS_FILES:
        module = importlib.import_module(f"tests.typing.{path.stem}")
        checks += [(f"{path.stem}.{c.__name__}", c) for c in module.CHECKS]
    return checks


@pytest.mark.parametrize(("name", "check"), pass_checks(), ids=[n for n, _ in pass_checks()])
def test_user_code_runs(name: str, check: Callable[[], None]) -> None:
    # The typed examples are real usage: they run, bounded (they start thread pools).
    run_bounded(check, 30, name)
