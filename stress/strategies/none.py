"""``--strategy none``: the program users run. No sync hook is installed, so every
operation takes the path a user's does; real threads under the OS scheduler, with the
switch interval made tiny for the run (and restored after), the same scenarios, oracles
and watchdog.

Without a hook nothing can be injected nor observed at refasync's points: the fault
scenarios run with their failing user code but no injected interrupts, and the oracle "no
refasync lock left held" has no locks to look at."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from conformance.inject import SWITCH_INTERVAL_S
from refasync import util

from ..faults import InterruptInjector
from ..harness import Context
from .os_scheduled import OsScheduled

__all__ = ("NoHook", "NoHookContext", "switch_interval")


@contextlib.contextmanager
def switch_interval(seconds: float) -> Iterator[None]:
    """Set ``sys.setswitchinterval`` for the block; restore it after."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


class NoHookContext(Context):
    """A scenario's context with no hook: the fault scenarios get an injector that is
    never called."""

    def interrupts(self) -> contextlib.AbstractContextManager[InterruptInjector]:
        return contextlib.nullcontext(InterruptInjector(None, self.seed))


class NoHook(OsScheduled):
    name = "none"

    def context(self, name: str, seed: int) -> Context:
        return NoHookContext(name, seed)

    @contextlib.contextmanager
    def installed(self, seed: int) -> Iterator[object]:
        if util.get_sync_hook() is not None:
            raise RuntimeError("--strategy none runs with no sync hook, but one is installed")
        with switch_interval(SWITCH_INTERVAL_S):
            yield None
