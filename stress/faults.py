"""The fault dimension of the stress harness: injected interrupts, failing user code, and
the oracles that go with them.

* **Injected interrupts.** :class:`InterruptInjector` wraps the installed hook (the delay
  injector). A scenario thread *arms* it around one operation (``with faults.armed():``);
  at each ACQUIRE, WAIT or WAKE point of that operation it raises
  :class:`InjectedInterrupt` (a ``BaseException``, like ``KeyboardInterrupt``) with a
  seeded probability, at most once per operation. These are the points where Ctrl-C
  reaches a thread: before it blocks on a lock, before it waits, when it wakes; the
  pool's own locks included (F10).
* **Failing user code.** :class:`FaultyCode` makes task functions, callbacks and input
  iterators that raise an ``Exception`` (:class:`UserError`) or a ``BaseException``
  (:class:`UserInterrupt`) at seeded points, and records every exception it raised.
* **Oracles.** :func:`locks_left_held` (no refasync lock held once operations ended) and
  the delivery checks in the fault scenarios.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from conformance.inject import derive_seed
from refasync import util
from refasync.explore import InjectedFault
from refasync.util import Lock, SyncPoint, SyncPrimitive

__all__ = (
    "INTERRUPTS",
    "FaultyCode",
    "InjectedInterrupt",
    "InterruptInjector",
    "UserError",
    "UserInterrupt",
    "interrupts",
    "locks_left_held",
)

T = TypeVar("T")

#: Where an injected interrupt may land (see the module docstring).
INTERRUPT_POINTS = frozenset({SyncPoint.ACQUIRE, SyncPoint.WAIT, SyncPoint.WAKE})


class InjectedInterrupt(BaseException):
    """Raised by the hook in an armed thread: a stand-in for ``KeyboardInterrupt``."""


#: What an interrupted operation raises: the delay harness's injected interrupt, or the
#: explorer's fault (its choice, at the same kind of point).
INTERRUPTS: tuple[type[BaseException], ...] = (InjectedInterrupt, InjectedFault)


class UserError(Exception):
    """Raised by faulty user code: an ordinary failure."""


class UserInterrupt(BaseException):
    """Raised by faulty user code: a ``BaseException`` that is not an ``Exception``."""


@dataclass
class _Armed:
    rng: random.Random
    p: float
    fired: bool = False


@dataclass
class InterruptInjector:
    """The hook: delegates to ``inner`` (delays, spurious wake-ups), then may interrupt an
    armed thread. It records every refasync ``Lock`` it sees, for :func:`locks_left_held`."""

    inner: util.SyncHook | None
    seed: int
    fired: int = 0  # statistics only
    _local: threading.local = field(default_factory=threading.local)
    # Strong references (Lock has no __weakref__ slot); the injector lives one instance.
    _locks: dict[int, Lock] = field(default_factory=dict)
    _locks_guard: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, point: SyncPoint, primitive: SyncPrimitive) -> bool:
        if point is SyncPoint.ACQUIRE and isinstance(primitive, Lock):
            with self._locks_guard:  # harness bookkeeping: a plain, unhooked lock
                self._locks[id(primitive)] = primitive
        spurious = self.inner(point, primitive) if self.inner is not None else False
        armed: _Armed | None = getattr(self._local, "armed", None)
        if (
            armed is not None
            and not armed.fired
            and point in INTERRUPT_POINTS
            and armed.rng.random() < armed.p
        ):
            armed.fired = True
            self.fired += 1
            raise InjectedInterrupt(f"injected at {point.value} of {primitive.name}")
        return spurious

    @contextlib.contextmanager
    def armed(self, rng: random.Random, p: float) -> Iterator[_Armed]:
        """Arm the calling thread for one operation: each ACQUIRE/WAIT/WAKE point in it
        raises :class:`InjectedInterrupt` with probability ``p``, at most once. The
        context yields the record (``.fired`` tells whether it did)."""
        state = _Armed(rng, p)
        self._local.armed = state
        try:
            yield state
        finally:
            self._local.armed = None

    def locks(self) -> list[Lock]:
        with self._locks_guard:
            return list(self._locks.values())


@contextlib.contextmanager
def interrupts(seed: int) -> Iterator[InterruptInjector]:
    """Install an :class:`InterruptInjector` over the current hook; restore it after."""
    injector = InterruptInjector(util.get_sync_hook(), seed)
    previous = util.set_sync_hook(injector)
    try:
        yield injector
    finally:
        util.set_sync_hook(previous)


def locks_left_held(injector: InterruptInjector, patience_s: float = 2.0) -> list[str]:
    """:return: the names of refasync locks seen by ``injector`` that stay held for
    ``patience_s`` (a lock may be held briefly by a worker; one never released is a bug)."""
    deadline = time.monotonic() + patience_s
    held = [lock for lock in injector.locks() if lock.locked()]
    while held and time.monotonic() < deadline:
        time.sleep(0.01)
        held = [lock for lock in held if lock.locked()]
    return sorted(lock.name for lock in held)


class FaultyCode:
    """Seeded failing user code. ``p_fail`` is the chance that a given function or
    iterator fails at all; if it does, it fails at one seeded item, with an ``Exception``
    or (``p_base``) a ``BaseException``. Every exception raised is recorded (``raised``),
    guarded by a plain lock: user code runs in many threads."""

    def __init__(self, seed: int, p_fail: float, p_base: float) -> None:
        self.rng = random.Random(derive_seed(seed, "faulty-code"))
        self.p_fail = p_fail
        self.p_base = p_base
        self._lock = threading.Lock()
        self.raised: list[BaseException] = []

    def _plan(self, what: str, horizon: int) -> BaseException | None:
        """:return: the exception ``what`` will raise, or None; its item is chosen by
        the caller from the same stream. Called from the scenario thread only."""
        if self.rng.random() >= self.p_fail:
            return None
        kind = UserInterrupt if self.rng.random() < self.p_base else UserError
        return kind(f"{what} fails")

    def _record(self, exc: BaseException) -> BaseException:
        with self._lock:
            self.raised.append(exc)
        return exc

    def function(self, what: str, horizon: int) -> tuple[Callable[[T], T], int | None]:
        """:return: an identity function that raises at its ``k``-th call (k < horizon),
        and k (None: never)."""
        exc = self._plan(what, horizon)
        at = None if exc is None else self.rng.randrange(max(1, horizon))
        calls = [0]
        guard = threading.Lock()

        def fun(item: T) -> T:
            with guard:
                index = calls[0]
                calls[0] += 1
            if exc is not None and index == at:
                raise self._record(exc)
            return item

        return fun, at

    def iterator(self, what: str, items: list[T]) -> tuple[Iterator[T], int | None]:
        """:return: an iterator over ``items`` that raises after yielding ``k`` of them,
        and k (None: never)."""
        exc = self._plan(what, len(items))
        at = None if exc is None else self.rng.randrange(len(items) + 1)

        def generate() -> Iterator[T]:
            for index, item in enumerate(items):
                if index == at:
                    assert exc is not None
                    raise self._record(exc)
                yield item
            if at == len(items) and exc is not None:
                raise self._record(exc)

        return generate(), at

    def exceptions(self) -> list[BaseException]:
        with self._lock:
            return list(self.raised)
