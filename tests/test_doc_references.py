"""Every name the documentation cites exists: a test (``path::name``), a file, a make
target, a ``python -m`` command and its flags, a broken variant, a constant, a method.

A rule whose check was renamed or deleted would otherwise point a porter (or the next
maintainer) at nothing. The scan is deliberately simple: a backticked token is looked up
as a word in the project's sources; a token it cannot classify (an expression such as
``read(5, 0.5)``) is left alone.
"""

from __future__ import annotations

import builtins
import keyword
import re
import shlex
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = (
    "docs/semantics.md",
    "README.md",
    "conformance/PROTOCOL.md",
    "conformance/HISTORY.md",
    "benchmarks/README.md",
)
SOURCE_DIRS = ("src", "tests", "models", "stress", "conformance", "benchmarks", "tools", "examples")
SOURCE_SUFFIXES = (".py", ".json", ".sh", ".rs", ".toml")

_TOKEN = re.compile(r"`([^`\n]+)`")
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?:\(\))?$")
_PATH = re.compile(
    r"^(?:src|tests|models|stress|conformance|benchmarks|tools|examples|docs|"
    r"\.ci)(?:/[\w.*-]+)*/?$|^[\w-]+\.(?:py|md|json|toml|sh|txt)$"
)
_TEST_REF = re.compile(r"^(?P<path>[\w./-]*)::(?P<name>\w+)(?:\[[^\]]*\])?$")
_WORD = re.compile(r"[A-Za-z_]\w*")
_FLAG = re.compile(r"^--[a-z][\w-]*")


@cache
def _source_words() -> frozenset[str]:
    words: set[str] = set()
    for top in SOURCE_DIRS:
        for path in (ROOT / top).rglob("*"):
            if (
                path.suffix in SOURCE_SUFFIXES
                and ".venv" not in path.parts
                and path.resolve() != Path(__file__).resolve()
            ):  # its planted names
                words.update(_WORD.findall(path.read_text(encoding="utf-8", errors="replace")))
    words.update(_WORD.findall((ROOT / "Makefile").read_text(encoding="utf-8")))
    return frozenset(words)


@cache
def _definitions(path: Path) -> frozenset[str]:
    text = path.read_text(encoding="utf-8")
    return frozenset(re.findall(r"^\s*(?:async\s+)?(?:def|class)\s+(\w+)", text, re.M))


@cache
def _all_test_definitions() -> frozenset[str]:
    names: set[str] = set()
    for top in ("tests", "models", "stress", "conformance"):
        for path in (ROOT / top).rglob("*.py"):
            names |= _definitions(path)
    return frozenset(names)


@cache
def _make_targets() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return frozenset(re.findall(r"^([\w-]+)\s*:", text, re.M))


STDLIB = sys.stdlib_module_names
_KNOWN_WORDS = frozenset(dir(builtins)) | frozenset(keyword.kwlist)


def _check_test_ref(token: str, path_text: str, name: str) -> str | None:
    if path_text:
        path = ROOT / path_text
        if not path.is_file():
            return f"`{token}`: no file {path_text}"
        if name not in _definitions(path):
            return f"`{token}`: {path_text} defines no {name}"
        return None
    if name not in _all_test_definitions():
        return f"`{token}`: no test or class named {name}"
    return None


def _check_command(token: str) -> str | None:
    try:
        words = shlex.split(token)
    except ValueError:
        return None
    if words[:1] == ["make"] and len(words) >= 2:
        target = words[1]
        return None if target in _make_targets() else f"`{token}`: no make target {target}"
    if len(words) >= 3 and words[0].endswith("python") and words[1] == "-m":
        module = words[2]
        base = ROOT / Path(*module.split("."))
        candidates = [
            base.with_suffix(".py"),
            base / "__main__.py",
            ROOT / "src" / Path(*module.split(".")).with_suffix(".py"),
            ROOT / "src" / Path(*module.split(".")) / "__main__.py",
        ]
        if not any(c.is_file() for c in candidates):
            if module.split(".")[0] in ("pytest", "mypy", "crosshair", "pip", "venv"):
                return None
            return f"`{token}`: no module {module}"
        package = base if base.is_dir() else base.parent
        text = "\n".join(p.read_text(encoding="utf-8") for p in package.rglob("*.py"))
        for word in words[3:]:
            flag = _FLAG.match(word)
            if flag and f'"{flag.group(0)}"' not in text:
                return f"`{token}`: {module} has no option {flag.group(0)}"
    return None


def stale_references(text: str, directory: Path = ROOT) -> list[str]:
    """:return: one line per backticked citation in ``text`` that names nothing in the
    project (with its line number); a bare file name may also be in ``directory``."""
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        last_path = ""
        for token in _TOKEN.findall(line):
            token = token.strip()
            problem: str | None = None
            test_ref = _TEST_REF.match(token)
            if "…" in token or "..." in token:
                continue
            if test_ref:
                path_text = test_ref.group("path") or last_path
                problem = _check_test_ref(token, path_text, test_ref.group("name"))
                if test_ref.group("path"):
                    last_path = test_ref.group("path")
            elif _PATH.match(token):
                if (
                    "*" not in token
                    and not (ROOT / token).exists()
                    and not (directory / token).exists()
                ):
                    problem = f"`{token}`: no such file or directory"
                elif token.endswith(".py"):
                    last_path = token
            elif token.startswith(("make ", "python ", ".venv/bin/python ")):
                problem = _check_command(token)
            elif _IDENTIFIER.match(token) and len(token) > 3 and token.split(".")[0] not in STDLIB:
                for part in token.removesuffix("()").split("."):
                    if part not in _KNOWN_WORDS and part not in _source_words():
                        problem = f"`{token}`: {part} is not a name in the sources"
                        break
            if problem is not None:
                problems.append(f"line {number}: {problem}")
    return problems


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_name_the_document_cites_exists(document: str) -> None:
    path = ROOT / document
    problems = stale_references(path.read_text(encoding="utf-8"), path.parent)
    assert not problems, f"{document} cites names that do not exist:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "citation",
    [
        "`SERIAL_LEFTOVERS`",
        "`tests/test_channel.py::test_that_was_renamed`",
        "`tests/no_such_file.py::test_x`",
        "`stress/no_such_module.py`",
        "`::test_nowhere_in_any_suite`",
        "`make no-such-target`",
        "`python -m stress --no-such-flag 3`",
        "`python -m no_such_tool`",
        "`util.completes_never`",
    ],
)
def test_a_planted_stale_name_is_reported(citation: str) -> None:
    problems = stale_references(f"| X1 | a rule | {citation} |")
    assert len(problems) == 1 and "line 1" in problems[0], problems


def test_real_names_are_not_reported() -> None:
    text = (
        "| C1 | x | `tests/test_doc_references.py::test_real_names_are_not_reported`, "
        "`::test_a_planted_stale_name_is_reported`; `util.completing`; `make test`; "
        "`python -m stress --seconds 60`; `ValueError`; `read(5, 0.5)` |"
    )
    assert stale_references(text) == []
