"""What an installed refasync states about itself: one version, and its pytest plugin
registered through the ``pytest11`` entry point (so ``pip install refasync`` is enough
for the ``explore`` fixture and the hang guards). ``tools/wheel_check.sh`` (part of
``make test``) checks the same on a freshly built wheel."""

from __future__ import annotations

import importlib.metadata

import refasync


def test_the_installed_version_is_the_package_version() -> None:
    assert importlib.metadata.version("refasync") == refasync.__version__


def test_the_pytest_plugin_is_registered_as_an_entry_point() -> None:
    entry_points = importlib.metadata.entry_points(group="pytest11")
    plugins = {ep.name: ep.value for ep in entry_points if ep.value.startswith("refasync")}
    # Named after the module, so a conftest.py that also lists it in pytest_plugins (as
    # the plugin's docstring says) loads it once, not twice.
    assert plugins == {"refasync.pytest_plugin": "refasync.pytest_plugin"}
