"""What the explorer's strategies (``--strategy random|pct|dfs``, and the replay of
their schedules) share: the stress scenarios under ``refasync.explore``'s controlled
scheduler.

Each scenario gets an :class:`ExploreContext`: threads are the explorer's controlled
threads, polling waits are yield points, sizes come from :data:`LIMITS` (2-3 threads, a
handful of items: small enough for ``dfs``), and every watched channel's invariants are
checked at every switch. Only refasync's primitives are controlled (``stdlib=False``): the
scenarios use the standard library for the harness's bookkeeping alone.

A scenario *instance* is a scenario and a seed (its parameters derive from the seed).
random and pct run ``--runs`` schedules per instance (25; 5 for the fault scenarios);
dfs explores each instance's tree until the preemption bound is exhausted or the
instance's share of the budget ends.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from conformance.inject import derive_seed
from refasync import explore as ex
from refasync import util
from refasync.explore.shrink import SHRINK_STEPS
from refasync.util import AsyncQueue, ItemQueue

from ..faults import InterruptInjector, _Armed
from ..harness import STRESS_PREFIX, Context, Outcome, Scenario, _workers_of, with_histories
from ..scenarios import ALL_SCENARIOS, FAULT_SCENARIOS
from .base import RunOptions, Strategy

__all__ = ("CAUGHT_IN", "LIMITS", "LIMITS_DFS", "ExploreContext", "Explored", "instance_body")

#: The explorable sizes of every scenario kind (names are Context.limit's).
LIMITS: dict[str, int] = {
    "writers": 2,
    "readers": 2,
    "maxsize": 2,
    "items": 2,
    "pool_size": 2,
    "tasks": 2,
    "rounds": 2,
    "churn_rounds": 2,
    "polls": 3,
    "input_items": 5,  # fault_tasks: an input must yield items before it fails
}

#: dfs sizes: one thread per role, so that a preemption bound of 2 can be exhausted.
#: (No linearizability recording: its lock would make every operation dependent.)
LIMITS_DFS: dict[str, int] = dict(
    LIMITS,
    writers=1,
    readers=1,
    items=1,
    pool_size=1,
    tasks=2,
    rounds=2,
    churn_rounds=1,
    polls=2,
    history_ops=0,
)

#: The channel invariants checked at every switch, by name (docs/semantics.md cites them).
INVARIANTS = (
    "bounded: a bounded channel never holds more than maxsize items",
    "writer-waits-full: a writer waits un-notified only while the channel is full, unless "
    "a thread is on its way into the channel's lock",
    "reader-waits-empty: a reader waits un-notified only while the channel is empty or "
    "closed, unless a thread is on its way into the channel's lock",
)


#: The scenario in which the explorer catches each broken variant (stress/broken.py).
CAUGHT_IN = {
    "notify_before_append": "channel_mpmc",
    "wait_without_while": "channel_mpmc",
    "close_wakes_one": "channel_close_blocked",
    "lost_wakeup": "channel_mpmc",
    "unlocked_writer_counter": "fault_tasks",  # more chunks of one task in flight
    "orphan_removal_races_chunk": "orphan_churn",
    "put_many_same_generation": "pool_pipeline",
    "no_helping": "cross_pool_chain",
    "outside_reader_runs_chunks": "pool_timed_reads",
    "chunk_catches_exception_only": "fault_tasks",
    "read_loses_items_on_interrupt": "fault_channel",
    "failing_input_drops_its_items": "fault_tasks",
    "wait_leaves_stale_waiter": "fault_channel",
    "close_forgets_readers": "channel_close_blocked",
    "close_forgets_writers": "channel_close_blocked",
    "write_wakes_nobody": "channel_mpmc",
    "put_back_at_the_end": "fault_tasks",
    "orphans_never_removed": "orphan_churn",
    "removal_forgets_inputs": "orphan_churn",
    "chunk_end_pokes_nobody": "pool_pipeline",
}


@dataclass
class _ExplorerInterrupts(InterruptInjector):
    """The fault scenarios' interrupts under the explorer: an armed operation (odds above
    zero) is a :meth:`Session.interruptible` block, so the explorer's fault choice (one per
    run) interrupts it; this hook only records the locks it sees and never raises."""

    session: ex.Session | None = None

    def __call__(self, point: util.SyncPoint, primitive: util.SyncPrimitive) -> bool:
        if point is util.SyncPoint.ACQUIRE and isinstance(primitive, util.Lock):
            with self._locks_guard:
                self._locks[id(primitive)] = primitive
        return self.inner(point, primitive) if self.inner is not None else False

    @contextlib.contextmanager
    def armed(self, rng: random.Random, p: float) -> Iterator[_Armed]:
        assert self.session is not None
        state = _Armed(rng, p)
        with self.session.interruptible() if p > 0 else contextlib.nullcontext():
            yield state


#: random/pct schedules per instance of a fault scenario: whether and where user code
#: fails is the instance's parameter, so these find more over more instances.
FAULT_RUNS_PER_INSTANCE = 5


class ExploreContext(Context):
    """A scenario's Context under the explorer."""

    def __init__(
        self, scenario: str, seed: int, session: ex.Session, limits: dict[str, int]
    ) -> None:
        super().__init__(scenario, seed)
        self.session = session
        self.limits = dict(limits)
        self.time_is_fair = False
        self._spawned: list[threading.Thread] = []

    def spawn(self, name: str, fn: Callable[[], object]) -> threading.Thread:
        thread = self.session.spawn(STRESS_PREFIX + name, fn)
        self._spawned.append(thread)
        return thread

    def join_all(self) -> None:
        for thread in list(self._spawned):
            self.session.join(thread)
        self.raise_errors()

    def interruptible(self) -> contextlib.AbstractContextManager[None]:
        return self.session.interruptible()

    @contextlib.contextmanager
    def interrupts(self) -> Iterator[InterruptInjector]:
        injector = _ExplorerInterrupts(util.get_sync_hook(), self.seed, session=self.session)
        previous = util.set_sync_hook(injector)
        try:
            yield injector
        finally:
            util.set_sync_hook(previous)

    def wait_event(self, event: threading.Event, timeout: float) -> bool:
        if not event.is_set():
            self.session.pause()
        return event.is_set()

    def watch_channel(self, queue: ItemQueue[Any]) -> None:
        if not isinstance(queue, AsyncQueue):
            return
        session = self.session

        def check() -> str | None:
            # Runs while every controlled thread is parked; reads without the lock.
            items, maxsize = len(queue._items), queue.maxsize
            if maxsize and items > maxsize:
                return f"bounded channel holds {items} > maxsize {maxsize} items"
            if session.in_flight(queue.mutex):
                return None
            if (
                maxsize
                and session.waiting_on(queue.not_full)
                and items < maxsize
                and queue._writable
            ):
                return (
                    f"a writer waits on a channel with {maxsize - items} free slot(s) "
                    f"and nobody on the way to fill them (a lost wake-up)"
                )
            if session.waiting_on(queue.not_empty) and items and queue._writable:
                return f"a reader waits on a channel holding {items} item(s) (lost wake-up)"
            return None

        session.invariant(check)


def instance_body(
    name: str,
    seed: int,
    limits: dict[str, int] = LIMITS,
    seen: Callable[[ExploreContext], None] | None = None,
) -> Callable[[ex.Session], None]:
    """:return: the explorable body of one scenario instance (``seen`` is given each
    run's context before the scenario starts)."""
    scenario: Scenario = ALL_SCENARIOS[name]

    def body(session: ex.Session) -> None:
        ctx = ExploreContext(name, seed, session, limits)
        if seen is not None:
            seen(ctx)
        scenario(ctx)
        left = _workers_of(ctx.pools)
        ctx.check(not left, f"refasync worker threads left after the scenario: {left}")

    return body


class Contexts:
    """The contexts of an instance's runs, one at a time (runs are sequential): the
    counts of every run (a failure's shrinking runs included), and the last run's
    context for its histories."""

    def __init__(self) -> None:
        self.items = 0
        self.ops = 0
        self.last: ExploreContext | None = None

    def __call__(self, ctx: ExploreContext) -> None:
        self._count()
        self.last = ctx

    def _count(self) -> None:
        if self.last is not None:
            self.items += self.last.items
            self.ops += self.last.ops
            self.last = None

    def totals(self) -> tuple[int, int]:
        """:return: items and ops of every run (call once the runs ended)."""
        last = self.last
        self._count()
        self.last = last
        return self.items, self.ops


class Explored(Strategy):
    """An explorer strategy over the stress scenarios; subclasses name it and may add
    options (pct's depth, dfs's preemption bound)."""

    schedules = True
    default_runs: int | None = 25
    #: The scenarios' sizes under this strategy.
    limits: dict[str, int] = LIMITS

    def __init__(
        self,
        *,
        shard: tuple[int, int] = (0, 1),
        stall_s: float = ex.STALL_S,
        blocked_s: float = ex.BLOCKED_S,
        check_determinism: bool = False,
        shrink_steps: int = SHRINK_STEPS,
        shrink: bool = True,
        depth: int = 3,
        preemptions: int = 2,
        checkpoint_dir: str | None = None,
    ) -> None:
        self.depth = depth  # pct
        self.preemptions = preemptions  # dfs
        self.shard = shard
        self.stall_s = stall_s
        self.blocked_s = blocked_s
        self.check_determinism = check_determinism
        self.shrink_steps = shrink_steps
        self.shrink = shrink  # False: report the failing schedule as found (--detect)
        self.checkpoint_dir = checkpoint_dir  # dfs: one search state per instance there

    @staticmethod
    def faults_for(scenario: str) -> bool:
        """:return: whether the runs of ``scenario`` inject a fault: the fault scenarios'
        do (their armed operations are ``interruptible()``); the others' oracles (a
        reader's per-writer order, the bound, linearizability) do not hold once an
        interrupted read put its items back (F1), so theirs never do."""
        return scenario in FAULT_SCENARIOS

    def body(
        self, scenario: str, seed: int, seen: Callable[[ExploreContext], None]
    ) -> Callable[[ex.Session], None]:
        """:return: the explorable body of the instance, at this strategy's sizes."""
        return instance_body(scenario, seed, self.limits, seen)

    def settings(self) -> dict[str, object]:
        """:return: the strategy's own settings, for :meth:`describe`."""
        return {}

    def runs_for(self, scenario: str, options: RunOptions) -> int:
        if options.runs is not None:
            return options.runs
        if self.default_runs is None:
            return 10**9
        return FAULT_RUNS_PER_INSTANCE if scenario in FAULT_SCENARIOS else self.default_runs

    def run(self, scenario: str, seed: int, attempt: int, options: RunOptions) -> Outcome:
        contexts = Contexts()
        hint = options.repro(scenario, seed) if options.repro is not None else ""
        report = ex.explore(
            self.body(scenario, seed, contexts),
            strategy=self.name,
            runs=self.runs_for(scenario, options),
            seconds=options.seconds,
            seed=seed if attempt == 0 else derive_seed(seed, attempt) % (1 << 31),
            faults=self.faults_for(scenario),
            shard=self.shard,
            stall_s=self.stall_s,
            blocked_s=self.blocked_s,
            stdlib=False,
            check_determinism=self.check_determinism,
            replay_hint=hint,
            shrink_steps=self.shrink_steps,
            shrink_s=None if self.shrink else 0.0,
            depth=self.depth,
            preemptions=self.preemptions,
            raise_on_failure=False,
            checkpoint=self.checkpoint_for(scenario, seed),
        )
        items, ops = contexts.totals()
        outcome = Outcome(
            scenario,
            seed,
            not report.failed,
            f"{scenario} seed={seed}: {report.message}" if report.failed else "",
            items,
            ops,
            report.seconds,
            hung=False,
            runs=report.runs,
            schedule=report.schedule,
            exhausted=report.exhausted,
            kind=report.kind,
        )
        if report.failed and (options.html or options.history_dir is not None):
            contexts = Contexts()  # the failing run itself, for its histories
            ex.replay(
                self.body(scenario, seed, contexts),
                report.schedule,
                strategy=self.name,
                faults=self.faults_for(scenario),
                stdlib=False,
            )
        return with_histories(outcome, contexts.last, options.history_dir, options.html)

    def checkpoint_for(self, scenario: str, seed: int) -> str | None:
        """:return: the file keeping the instance's search, or None (no ``--checkpoint``)."""
        if self.checkpoint_dir is None:
            return None
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        return os.path.join(self.checkpoint_dir, f"{scenario}-{seed}.json")

    def replay(
        self, scenario: str, seed: int, schedule: str | None, options: RunOptions
    ) -> Outcome:
        from .replay import Replay

        if not schedule:
            raise ValueError(
                f"--strategy {self.name}: --replay needs the SCHEDULE of the "
                f"failure (its replay line prints it)"
            )
        return Replay(self, schedule).run(scenario, seed, 0, options)

    def describe(self) -> str:
        shard = "" if self.shard == (0, 1) else f"; shard {self.shard[0]}/{self.shard[1]}"
        return (
            f"strategy {self.name}"
            + "".join(f"; {k} {v}" for k, v in self.settings().items())
            + shard
        )
