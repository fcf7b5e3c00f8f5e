"""The stress campaign of refasync: every scenario under every strategy.

Scenarios (:mod:`stress.scenarios`) drive channels and pools from many threads; oracles
(:mod:`stress.oracles`) check what the semantics promise. A strategy
(:mod:`stress.strategies`) schedules the threads of each run: ``delays`` (the OS, with a
seeded delay injector on refasync's sync hook), ``none`` (the OS, no hook: the program
users run), or ``random``, ``pct``, ``dfs`` (``refasync.explore``'s controlled scheduler).
One loop (:mod:`stress.runner`) runs them all, a watchdog (:mod:`stress.harness`) turns a
hang into a failure with every thread's stack, and every failure prints one line that
replays it. :mod:`stress.broken` holds test-only broken variants that prove the campaign
catches classic concurrency bugs.

Entry points: ``python -m stress`` (see :mod:`stress.cli`) and ``pytest stress``.
"""
