"""Running one scenario instance: its context, its threads, its watchdog.

A scenario is a function ``(ctx) -> None`` that builds channels or pools, runs threads
through ``ctx.spawn``, reports every completed operation with ``ctx.tick`` and checks its
oracles with ``ctx.check``. :func:`run_instance` runs it in its own thread, inside the
lifecycle of an OS-scheduled strategy (``stress/strategies/delays.py``: the delay injector;
``none.py``: no hook), and watches it: when no operation completes for ``stall_s`` seconds
it dumps every thread's stack, runs the scenario's abort callbacks (which close what threads
may wait on) and fails the instance with its seed. A ``KeyboardInterrupt`` while it waits
runs the abort callbacks too, then propagates.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from conformance.inject import derive_seed
from refasync.pool import ThreadPool
from refasync.sync import registry
from refasync.testing import dump_stacks
from refasync.util import ItemQueue

from .faults import InterruptInjector, interrupts
from .histories import Recorded, failure_page, write_instance_history

__all__ = (
    "Context",
    "Lifecycle",
    "Outcome",
    "ScenarioFailure",
    "Scenario",
    "run_instance",
    "with_histories",
)

STRESS_PREFIX = "stress-"


class ScenarioFailure(AssertionError):
    """An oracle found a violation of the semantics."""


class _Aborted(Exception):
    """Raised in scenario threads once the watchdog gave up on the instance."""


class Context:
    """What a scenario gets: its seed and random stream, thread spawning, progress
    reporting and oracle checks. Counters are guarded by ``_lock`` (a plain
    ``threading.Lock``: harness bookkeeping must not feed the injector)."""

    def __init__(self, scenario: str, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.rng = random.Random(seed)
        self.aborted = threading.Event()  # set by the watchdog: threads should give up
        self._lock = threading.Lock()
        self._last_progress = time.monotonic()
        self._checking = 0  # checks in progress: the watchdog does not count their time
        self._items = 0
        self._ops = 0
        self._threads: list[threading.Thread] = []
        self._errors: list[str] = []
        self._aborts: list[Callable[[], object]] = []
        self.notes: list[str] = []  # informational, e.g. "linearizability: skipped"
        self.pools: list[ThreadPool] = []  # created by this instance (scenario thread only)
        self._histories: list[Callable[[], Recorded]] = []  # recorded channels, read at the end
        #: Size overrides: the explorer runs the same scenarios with small parameters.
        self.limits: dict[str, int] = {}
        #: Timing oracles (a timed read returns within its timeout plus a quantum) assume
        #: every runnable thread runs as time passes, as under the OS scheduler. The
        #: explorer may leave a thread unscheduled while other threads' timeouts advance
        #: virtual time, so it turns them off.
        self.time_is_fair = True

    def limit(self, name: str, default: int) -> int:
        """:return: the size parameter ``name`` (``default`` unless overridden)."""
        return self.limits.get(name, default)

    def watch_channel(self, queue: ItemQueue[Any]) -> None:
        """Check the channel's invariants at every switch (the explorer does; the delay
        harness has no switches to check at)."""

    def interruptible(self) -> contextlib.AbstractContextManager[None]:
        """A block whose interruption by an injected fault the scenario handles (the
        explorer's ``--faults`` injects only there)."""
        return contextlib.nullcontext()

    def interrupts(self) -> contextlib.AbstractContextManager[InterruptInjector]:
        """The fault scenarios' interrupts: an :class:`InterruptInjector` over the
        installed hook, raising in armed operations at seeded points (the explorer's
        faults are its choices instead)."""
        return interrupts(self.seed)

    def wait_event(self, event: threading.Event, timeout: float) -> bool:
        """Wait up to ``timeout`` for ``event`` (a polling step); :return: whether set.
        The explorer replaces this by a yield point: an explored run never sleeps."""
        return event.wait(timeout)

    def new_pool(self, size: int) -> ThreadPool:
        """:return: a ThreadPool whose worker threads the "no worker left" oracle checks
        (only this instance's: a hung instance's leftovers must not fail the next)."""
        pool = ThreadPool(size)
        self.pools.append(pool)
        return pool

    # -- progress --

    def tick(self, items: int = 0) -> None:
        """Record that an operation completed (moving ``items`` items)."""
        with self._lock:
            self._last_progress = time.monotonic()
            self._ops += 1
            self._items += items

    @contextlib.contextmanager
    def checking(self) -> Iterator[None]:
        """A pure computation (a linearizability check): the watchdog counts none of its
        time as a stall, however long it takes; the stall clock restarts when it ends."""
        with self._lock:
            self._checking += 1
        try:
            yield
        finally:
            with self._lock:
                self._checking -= 1
                self._last_progress = time.monotonic()

    def idle_for(self) -> float:
        with self._lock:
            if self._checking:
                return 0.0
            return time.monotonic() - self._last_progress

    def add_history(self, history: Callable[[], Recorded]) -> None:
        """Register a recorded channel; ``history()`` is read once the instance ended
        (``--history`` writes it, ``--html`` pictures it on a failure)."""
        with self._lock:
            self._histories.append(history)

    def histories(self) -> list[Recorded]:
        with self._lock:
            getters = list(self._histories)
        return [get() for get in getters]

    @property
    def items(self) -> int:
        with self._lock:
            return self._items

    @property
    def ops(self) -> int:
        with self._lock:
            return self._ops

    # -- threads --

    def thread_rng(self, name: str) -> random.Random:
        """:return: a random stream for a scenario thread, derived from the seed."""
        return random.Random(derive_seed(self.seed, name))

    def spawn(self, name: str, fn: Callable[[], object]) -> threading.Thread:
        """Start ``fn`` in a daemon thread named ``stress-<name>``; its exception (an
        oracle failure or an unexpected error) fails the instance at ``join_all``."""

        def target() -> None:
            try:
                fn()
            except _Aborted:
                pass
            except BaseException:
                with self._lock:
                    self._errors.append(f"thread {name}:\n{traceback.format_exc()}")
            finally:
                self.tick()

        thread = threading.Thread(target=target, name=STRESS_PREFIX + name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()
        return thread

    def join_all(self) -> None:
        """Wait for every spawned thread (the watchdog bounds this), then raise the first
        error any of them had."""
        while True:
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                break
            for thread in alive:
                thread.join()
        self.raise_errors()

    def raise_errors(self) -> None:
        with self._lock:
            errors = list(self._errors)
        if errors:
            raise ScenarioFailure("\n".join(errors))

    def check_aborted(self) -> None:
        """Called in loops of scenario threads: leave quietly once the watchdog fired."""
        if self.aborted.is_set():
            raise _Aborted()

    # -- oracles --

    def check(self, condition: bool, message: str | Callable[[], str]) -> None:
        if not condition:
            raise ScenarioFailure(message if isinstance(message, str) else message())

    def on_abort(self, fn: Callable[[], object]) -> None:
        """Register a callback that unblocks threads (e.g. closing a channel); the
        watchdog calls them all when it gives up on the instance."""
        with self._lock:
            self._aborts.append(fn)

    def run_aborts(self) -> None:
        self.aborted.set()
        with self._lock:
            aborts = list(self._aborts)
        for fn in aborts:
            try:
                fn()
            except Exception:
                pass


Scenario = Callable[[Context], None]


@dataclass(frozen=True)
class Outcome:
    """What one scenario instance did, under any strategy."""

    scenario: str
    seed: int
    ok: bool
    message: str  # "" when ok
    items: int  # items moved
    ops: int  # operations completed
    seconds: float
    hung: bool  # the watchdog fired
    history: str = ""  # the file its histories were written to (--history), if any
    html: str = ""  # when failed and asked for (--html): the page picturing its history
    runs: int = 1  # runs of the instance (the explorer: schedules)
    schedule: str = ""  # the explorer: the failing schedule, shrunk
    exhausted: bool = False  # dfs: every schedule within the bound ran
    kind: str = ""  # the explorer: the failure's kind


class Lifecycle(Protocol):
    """An OS-scheduled strategy's part in one run: the context its scenario gets, and
    what is installed around the run (a hook, the switch interval), restored after."""

    def context(self, name: str, seed: int) -> Context: ...

    def installed(self, seed: int) -> contextlib.AbstractContextManager[object]: ...


def _workers_of(pools: list[ThreadPool]) -> list[str]:
    """:return: the names of the live worker threads of ``pools``."""
    # A private peek: each pool's unique name prefix (id(pool) is reused once collected).
    prefixes = tuple(pool._worker_prefix for pool in pools)
    if not prefixes:
        return []
    return sorted(t.name for t in threading.enumerate() if t.name.startswith(prefixes))


def _release_stranded(done: threading.Event, pools: list[ThreadPool], seconds: float) -> None:
    """After the aborts of a hung instance, which a broken variant may defeat (a close
    that wakes one reader): for up to ``seconds``, wake every thread waiting on any
    refasync condition, again and again (each re-checks its predicate: the aborts closed
    its channel), and end the instance's workers from a thread of their own (a pool lock
    held forever must not hold the harness), so a caught hang leaves no thread behind."""
    for pool in pools:
        threading.Thread(
            target=pool.set_size, args=(0,), name=STRESS_PREFIX + "release", daemon=True
        ).start()
    deadline = time.monotonic() + seconds
    while not done.wait(0.05) and time.monotonic() < deadline:
        for lock in registry.live_locks_now():
            lock.wake_waiters_if_free()  # a lock held forever is skipped


@contextlib.contextmanager
def _aborted_on_interrupt(ctx: Context, done: threading.Event) -> Iterator[None]:
    """A ``KeyboardInterrupt`` in the block runs the instance's abort callbacks and, once
    the scenario ended, ends its pools' workers, then propagates."""
    try:
        yield
    except KeyboardInterrupt:
        ctx.run_aborts()
        if done.wait(2.0):
            for pool in ctx.pools:
                pool.set_size(0)
        raise


def run_instance(
    name: str,
    scenario: Scenario,
    seed: int,
    lifecycle: Lifecycle,
    stall_s: float = 10.0,
    history_dir: str | None = None,
    html: bool = False,
) -> Outcome:
    """Run one scenario instance inside ``lifecycle`` under the watchdog; never raises for
    a scenario failure (it is reported in the Outcome). ``history_dir``: write its recorded
    histories there; ``html``: on a failure, picture them in ``Outcome.html``.

    :raise KeyboardInterrupt: after running the instance's abort callbacks"""
    ctx = lifecycle.context(name, seed)
    done = threading.Event()
    failure: list[str] = []
    hung = False

    def body() -> None:
        try:
            scenario(ctx)
        except _Aborted:
            pass
        except ScenarioFailure as exc:
            failure.append(f"oracle failed: {exc}")
        except BaseException:
            failure.append(f"unexpected error:\n{traceback.format_exc()}")
        finally:
            done.set()

    start = time.monotonic()
    with lifecycle.installed(seed), _aborted_on_interrupt(ctx, done):
        threading.Thread(target=body, name=STRESS_PREFIX + "scenario", daemon=True).start()
        while not done.wait(0.05):
            if ctx.idle_for() > stall_s:
                hung = True
                stacks = dump_stacks()
                failure.append(f"hang: no operation completed for {stall_s} s (watchdog)\n{stacks}")
                ctx.run_aborts()
                if not done.wait(2.0):
                    _release_stranded(done, ctx.pools, 2.0)
                break
    seconds = time.monotonic() - start
    if not failure:
        left = _workers_of(ctx.pools)
        if left:
            failure.append(f"refasync worker threads left after the scenario: {left}")
    if not hung:  # a failed instance may not have closed its pools (a hung one's lock
        for pool in ctx.pools:  # may be held forever: its aborts did what they could)
            pool.set_size(0)  # does not block: the workers exit after their current chunk
    message = ""
    if failure:
        message = f"{name} seed={seed}: " + "\n".join(failure)
    outcome = Outcome(name, seed, not failure, message, ctx.items, ctx.ops, seconds, hung)
    return with_histories(outcome, ctx, history_dir, html)


def with_histories(
    outcome: Outcome, ctx: Context | None, history_dir: str | None, html: bool
) -> Outcome:
    """:return: ``outcome`` with the histories ``ctx`` recorded written to
    ``history_dir`` (``--history``) and, for a failure, pictured (``--html``)."""
    if ctx is None or (history_dir is None and not (html and not outcome.ok)):
        return outcome
    recorded = ctx.histories()
    path = page = ""
    if history_dir is not None:
        path = write_instance_history(history_dir, outcome.scenario, outcome.seed, recorded) or ""
    if html and not outcome.ok:
        page = (
            failure_page(f"{outcome.scenario} seed={outcome.seed}", outcome.message, recorded) or ""
        )
    return dataclasses.replace(outcome, history=path, html=page)
