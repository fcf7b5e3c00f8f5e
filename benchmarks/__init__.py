"""refasync's benchmarks: speed against the standard library, measured as ratios in one run.

``python -m benchmarks`` (the full run, what ``make bench`` runs) or ``--quick`` (under
60 s). Every workload runs refasync and its standard-library baseline interleaved in this
process, reports medians and the ratio against the issue's target. Each timed run is
bounded: a hang is reported with every thread's stack, not waited on.
"""
