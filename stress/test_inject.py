"""The injector itself: per-thread streams are reproducible, spurious wake-ups happen
and are survived, and everything is uninstalled afterwards; the ``none`` strategy installs
nothing and restores the switch interval."""

from __future__ import annotations

import sys
import threading

import pytest

from conformance.inject import PROFILES, DelayInjector, derive_seed, injected
from refasync import util
from refasync.channel import Channel, mkchannel
from refasync.util import Lock, SyncPoint
from stress.harness import Context, run_instance
from stress.strategies import NoHook


def _decisions(seed: int) -> list[bool]:
    injector = DelayInjector(PROFILES["pathological"], seed)
    lock = Lock("probe")
    return [injector(SyncPoint.WAIT, lock) for _ in range(200)]


def test_streams_are_reproducible_per_seed() -> None:
    assert _decisions(3) == _decisions(3)
    assert _decisions(3) != _decisions(4)
    assert derive_seed(1, "a") == derive_seed(1, "a") != derive_seed(1, "b")


def test_injected_installs_and_restores() -> None:
    interval = sys.getswitchinterval()
    before = util.get_sync_hook()
    with injected(PROFILES["heavy"], 1) as injector:
        assert util.get_sync_hook() is injector
        assert sys.getswitchinterval() < 1e-5
    assert util.get_sync_hook() is before
    assert sys.getswitchinterval() == interval


def test_spurious_wakeups_are_survived() -> None:
    writer, reader = mkchannel(Channel[int])
    with injected(PROFILES["pathological"], 9) as injector:
        got: list[list[int]] = []
        thread = threading.Thread(target=lambda: got.append(reader.read(50)))
        thread.start()
        for i in range(50):
            writer.write(i)
        thread.join(30)
        assert not thread.is_alive()
    assert got == [list(range(50))]
    assert injector.spurious > 0


def test_strategy_none_runs_with_no_hook_and_restores_the_switch_interval() -> None:
    interval = sys.getswitchinterval()
    hooks: list[object] = []
    intervals: list[float] = []

    def scenario(ctx: Context) -> None:
        hooks.append(util.get_sync_hook())
        intervals.append(sys.getswitchinterval())
        with ctx.interrupts() as injector:  # the fault scenarios' injector: never called
            hooks.append(util.get_sync_hook())
            assert injector.locks() == []

    outcome = run_instance("probe", scenario, 1, NoHook())
    assert outcome.ok, outcome.message
    assert hooks == [None, None] and intervals[0] < 1e-5
    assert sys.getswitchinterval() == interval


def test_strategy_none_refuses_to_run_under_a_hook() -> None:
    with injected(PROFILES["light"], 1), pytest.raises(RuntimeError, match="no sync hook"):
        with NoHook().installed(1):
            pass
