"""Broken variant: the second test turns the GIL (reportedly) on; the third must not run."""

import sys


def test_first() -> None:
    pass


def test_turns_gil_on() -> None:
    setattr(sys, "_is_gil_enabled", lambda: True)


def test_after() -> None:
    pass
