"""Fixtures of the unit tests: ``sync_hook`` runs a test without a sync hook and under a
recording one (tests/sync_support.py); ``recorder`` installs a recording hook for tests
about the hook itself; ``pool`` runs a test with a pool of every size of ``POOL_SIZES``;
``worker_reports`` records what workers report through ``threading.excepthook``."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from refasync import ThreadPool
from refasync.util import set_sync_hook
from tests.pool_support import POOL_SIZES, running_pool
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


@pytest.fixture(params=POOL_SIZES, ids=lambda size: f"size{size}")
def pool(request: pytest.FixtureRequest) -> Iterator[ThreadPool]:
    """A pool of each size of ``POOL_SIZES`` in turn, closed after the test."""
    size: int = request.param
    with running_pool(size) as created:
        yield created


@pytest.fixture
def worker_reports(monkeypatch: pytest.MonkeyPatch) -> list[threading.ExceptHookArgs]:
    """What workers report through ``threading.excepthook`` during the test (recorded
    instead of printed: a test that makes user code raise in a worker expects it)."""
    reported: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", reported.append)
    return reported
