"""Shared by tests/, models/ and stress/.

* Every test runs under refasync.pytest_plugin's hang guards: its setup, its call and its
  teardown each fail with every thread's stack past the limit, so a deadlocked fixture
  teardown fails the run instead of hanging it. ``@pytest.mark.timeout(seconds)`` changes
  the limit (default 60).
* Hypothesis profiles: ``ci`` (the default, part of ``make test``) and ``thorough``,
  chosen by the ``HYPOTHESIS_PROFILE`` environment variable.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["refasync.pytest_plugin"]

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



