"""Shared by tests/, models/ and stress/.

* Every test runs under a hang guard: past its time limit it fails with every thread's
  stack. Mark a test ``@pytest.mark.timeout(seconds)`` to change the limit (default 60).
* Hypothesis profiles: ``ci`` (the default, part of ``make test``) and ``thorough``,
  chosen by the ``HYPOTHESIS_PROFILE`` environment variable.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest
from hypothesis import HealthCheck, settings

from refasync.testing import hang_guard

DEFAULT_TIMEOUT_S = 60.0

settings.register_profile(
    "ci",
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=1000,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "timeout(seconds): fail the test with stacks after seconds")


@pytest.fixture(autouse=True)
def _hang_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    marker = request.node.get_closest_marker("timeout")
    seconds = float(marker.args[0]) if marker is not None else DEFAULT_TIMEOUT_S
    with hang_guard(seconds, request.node.nodeid):
        yield
