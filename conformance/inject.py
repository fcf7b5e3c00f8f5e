"""Seeded delay and spurious-wake-up injection at refasync's synchronization points: the
stress harness's ``delays`` strategy, and the recorder of ``python -m conformance.bench_check
--shape stress``.

At every point reported through ``refasync.util``'s hook the injector draws, from a
random stream private to the calling thread, whether to continue, ``sleep(0)`` (give the
GIL away) or sleep a short random time. At ``SyncPoint.WAIT`` it may also answer True,
which turns the wait into a spurious wake-up. The streams derive from one master seed and
the thread's name (with object ids stripped), so a seed fixes each thread's decisions;
the OS still decides the interleaving, which is why a failure is rerun until it repeats.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from refasync import util
from refasync.util import SyncPoint, SyncPrimitive

__all__ = ("PROFILES", "DelayInjector", "PointOdds", "Profile", "derive_seed", "injected")

#: Thread switch interval used during runs (seconds): switch as often as CPython can.
SWITCH_INTERVAL_S = 1e-6


@dataclass(frozen=True)
class PointOdds:
    """What happens at one kind of synchronization point. Invariant: the two
    probabilities are >= 0 and sum to <= 1; the rest is "continue"."""

    p_yield: float  # sleep(0)
    p_sleep: float  # sleep(uniform(0, max_sleep_s))
    max_sleep_s: float


@dataclass(frozen=True)
class Profile:
    """An injection profile: odds per point and the spurious wake-up rate at WAIT."""

    name: str
    odds: Mapping[SyncPoint, PointOdds]
    p_spurious: float


def _profile(name: str, y: float, s: float, max_s: float, spurious: float) -> Profile:
    # Waits and wake-ups get a little more delay: that is where lost wake-ups hide.
    busy = PointOdds(y, s, max_s)
    edge = PointOdds(min(1.0, y * 1.5), min(1.0 - min(1.0, y * 1.5), s * 1.5), max_s)
    odds = {
        SyncPoint.ACQUIRE: busy,
        SyncPoint.RELEASE: busy,
        SyncPoint.WAIT: edge,
        SyncPoint.WAKE: edge,
        SyncPoint.NOTIFY: edge,
    }
    return Profile(name, odds, spurious)


PROFILES: dict[str, Profile] = {
    "none": _profile("none", 0.0, 0.0, 0.0, 0.0),
    "light": _profile("light", 0.03, 0.005, 0.0002, 0.01),
    "heavy": _profile("heavy", 0.15, 0.05, 0.001, 0.05),
    "pathological": _profile("pathological", 0.25, 0.2, 0.004, 0.2),
}

_ID_RE = re.compile(r"[0-9a-f]{6,}")


def derive_seed(master: int, *parts: object) -> int:
    """:return: a 63-bit seed derived from ``master`` and ``parts`` (stable across runs)."""
    text = "/".join([str(master), *map(str, parts)]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") >> 1


@dataclass
class _ThreadStream:
    """One thread's decisions and what they did; owned by that thread (no lock)."""

    rng: random.Random
    decisions: int = 0
    sleeps: int = 0
    yields: int = 0
    spurious: int = 0


@dataclass
class DelayInjector:
    """The hook object. Each thread counts in its own stream; the totals add them up."""

    profile: Profile
    master_seed: int
    _local: threading.local = field(default_factory=threading.local)
    # Every thread's stream, registered once per thread. A plain leaf lock guards the list:
    # it is held for an append or a copy only, and never while anything else is taken.
    _streams: list[_ThreadStream] = field(default_factory=list)
    _streams_lock: threading.Lock = field(default_factory=threading.Lock)

    def _stream(self) -> _ThreadStream:
        stream: _ThreadStream | None = getattr(self._local, "stream", None)
        if stream is None:
            key = _ID_RE.sub("#", threading.current_thread().name)
            stream = _ThreadStream(random.Random(derive_seed(self.master_seed, key)))
            self._local.stream = stream
            with self._streams_lock:
                self._streams.append(stream)
        return stream

    def _total(self, counter: str) -> int:
        with self._streams_lock:
            streams = list(self._streams)
        return sum(getattr(stream, counter) for stream in streams)

    @property
    def sleeps(self) -> int:
        return self._total("sleeps")

    @property
    def yields(self) -> int:
        return self._total("yields")

    @property
    def spurious(self) -> int:
        """Spurious wake-ups returned (read it once the threads are done: the counts of
        running threads may be behind)."""
        return self._total("spurious")

    def __call__(self, point: SyncPoint, primitive: SyncPrimitive) -> bool:
        # Called with refasync locks possibly held: never take one here (the streams'
        # leaf lock is taken once per thread, at its first point).
        stream = self._stream()
        stream.decisions += 1
        rng = stream.rng
        if point is SyncPoint.WAIT and rng.random() < self.profile.p_spurious:
            stream.spurious += 1
            return True
        odds = self.profile.odds.get(point)
        if odds is None:
            return False  # points the profile does not name (the explorer's) go on
        draw = rng.random()
        if draw < odds.p_yield:
            stream.yields += 1
            time.sleep(0)
        elif draw < odds.p_yield + odds.p_sleep:
            stream.sleeps += 1
            time.sleep(rng.uniform(0.0, odds.max_sleep_s))
        return False


@contextlib.contextmanager
def injected(profile: Profile, master_seed: int) -> Iterator[DelayInjector]:
    """Install a :class:`DelayInjector` and the tiny switch interval; restore both."""
    injector = DelayInjector(profile, master_seed)
    previous_interval = sys.getswitchinterval()
    previous_hook = util.set_sync_hook(injector)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        yield injector
    finally:
        util.set_sync_hook(previous_hook)
        sys.setswitchinterval(previous_interval)
