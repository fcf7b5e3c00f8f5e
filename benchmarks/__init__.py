"""refasync's benchmarks: speed against the standard library, measured as ratios in one run.

``python -m benchmarks`` (the full run, what ``make bench`` runs) or ``--quick`` (under
60 s). Every workload runs refasync and its standard-library baseline interleaved in this
process, reports medians and the ratio against its target; where the original library
(PyPI async 0.6.2) can run the workload, it runs in the same interleaving and the row
shows refasync's time divided by its time. Each timed run is bounded: a hang is reported
with every thread's stack, not waited on.
"""
