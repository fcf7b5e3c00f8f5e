"""Randomized-interleaving stress harness for refasync.

A seeded delay injector (:mod:`stress.inject`) sits on refasync's synchronization-point
hook and stretches or shuffles the interleavings at every lock, wait and notify; scenarios
(:mod:`stress.scenarios_channel`, :mod:`stress.scenarios_pool`) drive channels and pools
from many threads; oracles (:mod:`stress.oracles`) check what the semantics promise; a
watchdog (:mod:`stress.harness`) turns a hang into a failure with every thread's stack.
:mod:`stress.broken` holds test-only broken variants that prove the harness catches
classic concurrency bugs.

Entry points: ``python -m stress`` (see :mod:`stress.cli`) and ``pytest stress``.
"""
