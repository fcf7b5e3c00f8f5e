"""What an installed refasync states about itself: one version, and its pytest plugin
registered through the ``pytest11`` entry point (so ``pip install refasync`` is enough
for the ``explore`` fixture and the hang guards). ``tools/wheel_check.sh`` (part of
``make test``) checks the same on a freshly built wheel."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path
from typing import Any

import refasync

if sys.version_info >= (3, 11):
    from tomllib import loads as tomllib_loads
else:  # pragma: no cover - 3.10 has no tomllib; a minimal reader of the one table needed

    def tomllib_loads(text: str) -> dict[str, Any]:
        section = text.split("[tool.pytest.ini_options]", 1)[1].split("\n[", 1)[0]
        line = next(line for line in section.splitlines() if line.startswith("testpaths"))
        paths = [p.strip().strip('"') for p in line.split("=", 1)[1].strip(" []").split(",")]
        return {"tool": {"pytest": {"ini_options": {"testpaths": paths}}}}


def test_the_installed_version_is_the_package_version() -> None:
    assert importlib.metadata.version("refasync") == refasync.__version__


def test_the_pytest_plugin_is_registered_as_an_entry_point() -> None:
    entry_points = importlib.metadata.entry_points(group="pytest11")
    plugins = {ep.name: ep.value for ep in entry_points if ep.value.startswith("refasync")}
    # Named after the module, so a conftest.py that also lists it in pytest_plugins (as
    # the plugin's docstring says) loads it once, not twice.
    assert plugins == {"refasync.pytest_plugin": "refasync.pytest_plugin"}


def test_make_test_runs_what_a_plain_pytest_runs() -> None:
    """``make test``'s pytest line takes no paths, markers or keywords of its own: the
    selection is pyproject.toml's (testpaths, addopts), so ``pytest`` alone runs it too."""
    root = Path(__file__).resolve().parent.parent
    recipe = root.joinpath("Makefile").read_text().split("\ntest:", 1)[1].split("\n\n", 1)[0]
    (line,) = [line for line in recipe.splitlines() if "pytest" in line]
    assert line.split("-m pytest", 1)[1].split() == ["-q"], line
    config = tomllib_loads(root.joinpath("pyproject.toml").read_text())["tool"]["pytest"]
    assert config["ini_options"]["testpaths"] == ["tests", "models", "stress", "conformance"]
