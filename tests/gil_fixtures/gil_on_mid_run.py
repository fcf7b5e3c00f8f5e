"""Broken variant: the second test turns the GIL (reportedly) on; the third must not run.

The GIL is reported off until then, so that collection passes on any interpreter.
"""

import sys

setattr(sys, "_is_gil_enabled", lambda: False)


def test_first() -> None:
    pass


def test_turns_gil_on() -> None:
    setattr(sys, "_is_gil_enabled", lambda: True)


def test_after() -> None:
    pass
