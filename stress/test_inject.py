"""The injector itself: per-thread streams are reproducible, spurious wake-ups happen
and are survived, and everything is uninstalled afterwards."""

from __future__ import annotations

import sys
import threading

from refasync import util
from refasync.channel import Channel, mkchannel
from refasync.util import Lock, SyncPoint
from conformance.inject import PROFILES, DelayInjector, derive_seed, injected


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
