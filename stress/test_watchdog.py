"""The watchdog never counts a checker's time as a stall (issue 13): a check that outlasts
the stall limit many times over leaves the instance passing; the same wait outside
``Context.checking`` is a hang."""

from __future__ import annotations

import time

from .harness import Context, run_instance

STALL_S = 0.2


def long_check(ctx: Context) -> None:
    with ctx.checking():
        time.sleep(5 * STALL_S)  # the "check": five stall limits without an operation


def long_silence(ctx: Context) -> None:
    deadline = time.monotonic() + 5 * STALL_S
    while time.monotonic() < deadline and not ctx.aborted.is_set():
        time.sleep(0.01)


def test_checking_time_is_never_a_stall() -> None:
    outcome = run_instance("long_check", long_check, 1, "light", STALL_S)
    assert outcome.ok and not outcome.hung, outcome.message


def test_the_same_silence_outside_a_check_is_a_hang() -> None:
    outcome = run_instance("long_silence", long_silence, 1, "light", STALL_S)
    assert outcome.hung and "watchdog" in outcome.message
