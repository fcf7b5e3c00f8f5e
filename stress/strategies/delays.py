"""``--strategy delays`` (the default): the OS schedules real threads, and a seeded delay
injector (:mod:`conformance.inject`) on refasync's sync hook stretches and shuffles the
interleavings at every lock, wait and notify, with spurious wake-ups at waits."""

from __future__ import annotations

import contextlib

from conformance.inject import PROFILES, injected

from .os_scheduled import OsScheduled

__all__ = ("DEFAULT_PROFILE", "Delays")

DEFAULT_PROFILE = "heavy"


class Delays(OsScheduled):
    name = "delays"

    def __init__(self, profile: str = DEFAULT_PROFILE) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown delay profile {profile!r} (one of {sorted(PROFILES)})")
        self.profile = profile

    def installed(self, seed: int) -> contextlib.AbstractContextManager[object]:
        return injected(PROFILES[self.profile], seed)

    def options(self) -> list[str]:
        return ["--profile", self.profile]

    def describe(self) -> str:
        return f"strategy delays; profile {self.profile}"
