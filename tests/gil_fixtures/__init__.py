"""Test files for tests/test_gil_check.py: it runs pytest on each with the GIL check on.

Not collected by the normal run (their names do not start with ``test_``).
"""
