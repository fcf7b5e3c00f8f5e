"""Fixtures of the unit tests: ``sync_hook`` runs a test without a sync hook and under a
recording one (tests/sync_support.py); ``recorder`` installs a recording hook for tests
about the hook itself."""

from __future__ import annotations

from typing import Iterator

import pytest

from refasync.util import set_sync_hook
from tests.sync_support import HookRecorder


@pytest.fixture(params=["no-hook", "recording-hook"])
def sync_hook(request: pytest.FixtureRequest) -> Iterator[HookRecorder | None]:
    """Run the test twice: with no hook installed (what users run) and under a recording
    hook (what every stress and explorer check runs), with the same assertions. Yields
    the recorder, or None."""
    hook = HookRecorder(keep_events=False) if request.param == "recording-hook" else None
    previous = set_sync_hook(hook)
    try:
        yield hook
    finally:
        set_sync_hook(previous)


@pytest.fixture
def recorder() -> Iterator[HookRecorder]:
    """Install a recording hook for the test; restore the previous hook afterwards."""
    hook = HookRecorder()
    previous = set_sync_hook(hook)
    try:
        yield hook
    finally:
        set_sync_hook(previous)

