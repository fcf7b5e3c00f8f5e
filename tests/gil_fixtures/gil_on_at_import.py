"""Broken variant: the GIL is (reported) on once this module is imported, at collection."""

import sys

setattr(sys, "_is_gil_enabled", lambda: True)


def test_never_runs() -> None:
    pass
