"""Dependencies run one way: stress -> conformance -> models -> refasync. A module imports
only from its own layer or a lower one (every import counts, those inside functions too),
and the check catches a planted import against the direction."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The layers, lowest first, and where their modules are.
LAYERS: dict[str, Path] = {
    "refasync": ROOT / "src" / "refasync",
    "models": ROOT / "models",
    "conformance": ROOT / "conformance",
    "stress": ROOT / "stress",
}
RANK = {name: rank for rank, name in enumerate(LAYERS)}


def imported_packages(source: str, package: str) -> set[str]:
    """:return: the top-level packages ``source`` (a module of ``package``) imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add(package if node.level else (node.module or "").partition(".")[0])
    return found


def violations(layer: str, path: Path, source: str) -> list[str]:
    """:return: "path imports X" for each import of a higher layer."""
    return [
        f"{path.relative_to(ROOT)} ({layer}) imports {name}"
        for name in sorted(imported_packages(source, layer))
        if name in RANK and RANK[name] > RANK[layer]
    ]


def test_imports_run_one_way() -> None:
    found = []
    for layer, directory in LAYERS.items():
        for path in sorted(directory.rglob("*.py")):
            found += violations(layer, path, path.read_text(encoding="utf-8"))
    assert not found, "\n".join(found)


def test_a_planted_import_against_the_direction_is_caught() -> None:
    path = LAYERS["conformance"] / "planted.py"
    assert violations(
        "conformance", path, "def f() -> None:\n    from stress.runner import run_many\n"
    )
    assert violations("models", path, "import conformance.check")
    assert violations("refasync", path, "import models")
    assert not violations(
        "stress", path, "from conformance.inject import injected\nfrom . import oracles"
    )
