"""The watchdog never counts a checker's time as a stall: a check that outlasts the stall
limit many times over leaves the instance passing; the same wait outside
``Context.checking`` is a hang. Both OS-scheduled strategies share the watchdog."""

from __future__ import annotations

import threading
import time

import pytest

from refasync.pool import ThreadPool

from .harness import Context, run_instance
from .strategies import Delays, NoHook

STALL_S = 0.2


def long_check(ctx: Context) -> None:
    with ctx.checking():
        time.sleep(5 * STALL_S)  # the "check": five stall limits without an operation


def long_silence(ctx: Context) -> None:
    deadline = time.monotonic() + 5 * STALL_S
    while time.monotonic() < deadline and not ctx.aborted.is_set():
        time.sleep(0.01)


@pytest.mark.parametrize("strategy", [Delays("light"), NoHook()], ids=["delays", "none"])
def test_checking_time_is_never_a_stall(strategy: Delays | NoHook) -> None:
    outcome = run_instance("long_check", long_check, 1, strategy, STALL_S)
    assert outcome.ok and not outcome.hung, outcome.message


@pytest.mark.parametrize("strategy", [Delays("light"), NoHook()], ids=["delays", "none"])
def test_the_same_silence_outside_a_check_is_a_hang(strategy: Delays | NoHook) -> None:
    outcome = run_instance("long_silence", long_silence, 1, strategy, STALL_S)
    assert outcome.hung and "watchdog" in outcome.message


def test_a_pool_churn_ends_once_the_watchdog_gave_up() -> None:
    """A hung instance's set_size churn stops with it (else it creates workers for the
    rest of the process)."""
    from stress.scenarios.pipeline import Pipeline
    from stress.scenarios.pool import _churn_loop

    ctx = Context("churn", 1)
    with ThreadPool(1) as pool:
        pipe = Pipeline([pool], [], {}, {}, set(), {}, {}, False, None, None)
        churn = ctx.spawn("churn", _churn_loop(ctx, [pool], threading.Event(), pipe, 0.0))
        ctx.run_aborts()  # the watchdog gives up; nobody sets the scenario's stop event
        churn.join(10.0)
        assert not churn.is_alive()
        pool.set_size(0)
