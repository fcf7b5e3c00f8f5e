"""The stress scenarios under the controlled scheduler (``--strategy random|pct|dfs``).

One scenario, many strategies: the delay harness and the explorer run the same scenario
functions. Here they get an :class:`ExploreContext`: threads are the explorer's
controlled threads, polling waits are yield points, sizes come from :data:`LIMITS` (2-3
threads, a handful of items: small enough for ``dfs``), and every watched channel's
invariants are checked at every switch.

A scenario *instance* is a scenario and a seed (its parameters derive from the seed).
random and pct run ``runs_per_instance`` schedules per instance; dfs explores each
instance's tree until the preemption bound is exhausted or the budget ends.
"""

from __future__ import annotations

import contextlib
import io
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TextIO

from refasync import explore as ex
from refasync import util
from refasync.util import AsyncQueue, ItemQueue

from .faults import InterruptInjector, _Armed
from .harness import STRESS_PREFIX, Context, Scenario, _workers_of
from .inject import derive_seed
from .scenarios import ALL_SCENARIOS, FAULT_SCENARIOS, SCENARIOS

__all__ = ("LIMITS", "ExploreContext", "Campaign", "instance_body", "run_campaign")

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
LIMITS_DFS: dict[str, int] = dict(LIMITS, writers=1, readers=1, items=1, pool_size=1,
                                  tasks=2, rounds=2, churn_rounds=1, polls=2,
                                  history_ops=0)

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

    def __init__(self, scenario: str, seed: int, session: ex.Session,
                 limits: dict[str, int]) -> None:
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
            if maxsize and session.waiting_on(queue.not_full) and items < maxsize \
                    and queue._writable:
                return (f"a writer waits on a channel with {maxsize - items} free slot(s) "
                        f"and nobody on the way to fill them (a lost wake-up)")
            if session.waiting_on(queue.not_empty) and items and queue._writable:
                return f"a reader waits on a channel holding {items} item(s) (lost wake-up)"
            return None

        session.invariant(check)


def instance_body(name: str, seed: int,
                  limits: dict[str, int] = LIMITS) -> Callable[[ex.Session], None]:
    """:return: the explorable body of one scenario instance."""
    scenario: Scenario = ALL_SCENARIOS[name]

    def body(session: ex.Session) -> None:
        ctx = ExploreContext(name, seed, session, limits)
        scenario(ctx)
        left = _workers_of(ctx.pools)
        ctx.check(not left, f"refasync worker threads left after the scenario: {left}")

    return body


def replay_hint(strategy: str, name: str, seed: int, faults: bool,
                broken: str | None = None) -> str:
    return (f"python -m stress --strategy {strategy} --scenario {name} --seed {seed}"
            + (" --faults" if faults else "") + (f" --broken {broken}" if broken else ""))


@dataclass
class Campaign:
    """What ``python -m stress --strategy random|pct|dfs`` asked for."""

    strategy: str
    scenarios: list[str]
    seed: int
    runs: int = 500  # per scenario (dfs: schedules per scenario)
    seconds: float | None = None  # per scenario
    depth: int = 3
    preemptions: int = 2
    faults: bool = False
    shard: tuple[int, int] = (0, 1)
    runs_per_instance: int = 25  # random/pct: schedules per scenario instance
    max_steps: int = 3000
    shrink_s: float = 20.0  # budget for shrinking a failing schedule
    instance_seed: int | None = None  # explore only this instance (its seed, as printed)
    broken: str | None = None  # the broken variant installed (for the replay line)
    results: list[dict[str, object]] = field(default_factory=list)
    failure: ex.Report | None = None


def run_campaign(campaign: Campaign, out: TextIO) -> int:
    """Explore every scenario; :return: the exit status (0: nothing failed)."""
    c = campaign
    for name in c.scenarios:
        faults = c.faults or name in FAULT_SCENARIOS  # their armed operations need faults
        started = time.monotonic()
        runs = schedules = instances = 0
        exhausted_all = c.strategy == "dfs"
        bound = ""
        instance = 0
        while runs < c.runs:
            elapsed = time.monotonic() - started
            if c.seconds is not None and elapsed >= c.seconds:
                exhausted_all = False
                break
            if c.instance_seed is not None and instance > 0:
                break
            iseed = derive_seed(c.seed, name, instance) % (1 << 31) \
                if c.instance_seed is None else c.instance_seed
            instance += 1
            per_instance = min(c.runs_per_instance, FAULT_RUNS_PER_INSTANCE) \
                if name in FAULT_SCENARIOS else c.runs_per_instance
            budget = c.runs - runs if c.strategy == "dfs" or c.instance_seed is not None \
                else min(per_instance, c.runs - runs)
            report = ex.explore(
                instance_body(name, iseed, LIMITS_DFS if c.strategy == "dfs" else LIMITS),
                strategy=c.strategy, runs=budget,
                seconds=None if c.seconds is None else c.seconds - elapsed,
                seed=iseed, depth=c.depth, preemptions=c.preemptions, faults=faults,
                max_steps=c.max_steps, shard=c.shard,
                replay_hint=replay_hint(c.strategy, name, iseed, faults, c.broken),
                shrink_s=c.shrink_s,
                raise_on_failure=False)
            instances += 1
            runs += report.runs
            schedules += report.schedules
            bound = report.bound or bound
            if report.failed:
                c.failure = report
                out.write(f"\nFAILURE {name} seed={iseed}: {report.message}\n")
                out.write(f"replay: {report.replay_line}\n")
                c.results.append({"scenario": name, "failed": True, "runs": runs,
                                  "report": report.to_json()})
                return 1
            if c.strategy == "dfs" and not report.exhausted:
                exhausted_all = False
                break
            if c.strategy == "dfs" and report.runs == 0:
                break
        seconds = time.monotonic() - started
        line = (f"{name:<24} {c.strategy}: {runs} runs over {instances} instance(s) in "
                f"{seconds:.1f} s, no failure")
        if c.strategy == "pct" and bound:
            line += f"; per-run bound {bound}"
        if c.strategy == "dfs":
            line += (f"; exhausted: {schedules} schedules (preemption bound "
                     f"{c.preemptions}, {instances} instance(s))" if exhausted_all
                     else f"; NOT exhausted ({schedules} schedules within the budget)")
        out.write(line + "\n")
        out.flush()
        c.results.append({"scenario": name, "failed": False, "runs": runs,
                          "instances": instances, "seconds": round(seconds, 3),
                          "exhausted": exhausted_all, "bound": bound})
    return 0


def replay_instance(strategy: str, name: str, seed: int, schedule: str, faults: bool,
                    out: TextIO) -> int:
    """Replay one schedule of one instance; :return: 1 if it failed (as it should)."""
    limits = LIMITS_DFS if strategy == "dfs" else LIMITS
    result = ex.replay(instance_body(name, seed, limits), schedule, strategy=strategy,
                       faults=faults or name in FAULT_SCENARIOS)
    if result.failure is None:
        out.write(f"replay of {name} seed={seed}: no failure\n")
        return 0
    out.write(f"replay of {name} seed={seed} failed ({result.kind}): {result.failure}\n")
    out.write("trace:\n" + "\n".join(e.line() for e in result.events[-80:]) + "\n")
    return 1


STRATEGIES = ("delays", "random", "pct", "dfs")


def add_arguments(parser: Any) -> None:
    """Add the explorer's options to ``python -m stress``'s parser (an
    ``argparse.ArgumentParser``; ``--faults`` is shared with the delay harness)."""
    parser.add_argument("--strategy", choices=STRATEGIES, default="delays",
                        help="delays: randomized delays, the OS schedules (default); "
                        "random, pct, dfs: the controlled scheduler")
    parser.add_argument("--runs", type=int, default=None,
                        help="explorer: schedules per scenario (default 500)")
    parser.add_argument("--depth", type=int, default=3, help="pct: bug depth d (default 3)")
    parser.add_argument("--preemptions", type=int, default=2,
                        help="dfs: preemption bound (default 2)")
    parser.add_argument("--replay", metavar="SCHEDULE", default=None,
                        help="explorer: replay one schedule (with --scenario and --seed)")
    parser.add_argument("--shard", metavar="K/N", default="0/1",
                        help="explorer: do share K of N (random/pct: runs; dfs: the tree)")
    if "--faults" not in parser._option_string_actions:
        parser.add_argument("--faults", action="store_true",
                            help="explorer: inject one interrupt per run and spurious "
                            "wake-ups as choices")


def _shard(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit()) or not 0 <= int(k) < int(n):
        raise SystemExit(f"--shard must be K/N with 0 <= K < N, got {text!r}")
    return int(k), int(n)


def main(args: Any, out: TextIO) -> int:
    """``python -m stress --strategy random|pct|dfs``: :return: the exit status."""
    import json
    import random

    faults = bool(getattr(args, "faults", False))
    names = args.scenario or list(SCENARIOS) + (list(FAULT_SCENARIOS) if faults else [])
    if args.replay is not None:
        if not args.scenario or len(args.scenario) != 1 or args.seed is None:
            raise SystemExit("--replay needs one --scenario and its --seed")
        return replay_instance(args.strategy, names[0], args.seed, args.replay, faults, out)
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    seconds = args.seconds if args.seconds != 60.0 or args.runs is None else None
    one = args.seed if args.scenario and len(args.scenario) == 1 else None
    campaign = Campaign(args.strategy, names, seed, runs=args.runs or 500,
                        seconds=None if seconds is None else seconds / len(names),
                        depth=args.depth, preemptions=args.preemptions, faults=faults,
                        shard=_shard(args.shard), instance_seed=one,
                        broken=getattr(args, "broken", None))
    out.write(f"explore: strategy {args.strategy}; "
              + (f"instance seed {one}" if one is not None else f"master seed {seed}")
              + "; scenarios "
              f"{', '.join(names)}; {campaign.runs} runs per scenario"
              + (f"; {campaign.seconds:.1f} s per scenario" if campaign.seconds else "")
              + (f"; shard {args.shard}" if args.shard != "0/1" else "")
              + ("; faults" if faults else "") + "\n")
    out.flush()
    status = run_campaign(campaign, out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"strategy": args.strategy, "master_seed": seed,
                       "scenarios": campaign.results}, f, indent=2)
    out.write(("FAILED" if status else "OK") + "\n")
    return status


def detect(args: Any, out: TextIO) -> int:
    """``--detect TRIALS --strategy S``: median time to detect each broken variant in its
    scenario (CAUGHT_IN), without shrinking; :return: 1 if a trial missed."""
    import json
    import statistics

    from .broken import broken

    names = [args.broken] if args.broken else sorted(CAUGHT_IN)
    master = args.seed if args.seed is not None else 1000
    rows: dict[str, object] = {}
    missed_any = False
    out.write(f"explore detect: strategy {args.strategy}; {args.detect} trials per variant; "
              f"budget {args.seconds} s and {args.runs or 1000} runs per trial; seeds "
              f"{master}..{master + args.detect - 1}\n")
    for name in names:
        times: list[float] = []
        for trial in range(args.detect):
            campaign = Campaign(args.strategy, [CAUGHT_IN[name]], master + trial,
                                runs=args.runs or (1000 if args.strategy != "dfs" else 10**6),
                                seconds=args.seconds, depth=args.depth,
                                preemptions=args.preemptions, shrink_s=0.0)
            started = time.monotonic()
            with broken(name):
                status = run_campaign(campaign, io.StringIO())
            if status:
                times.append(time.monotonic() - started)
        missed = args.detect - len(times)
        missed_any = missed_any or missed > 0
        median = statistics.median(times) if times else None
        rows[name] = {"median_s": median, "times_s": [round(t, 2) for t in times],
                      "missed": missed, "scenario": CAUGHT_IN[name]}
        shown = f"{median:8.2f}" if median is not None else "     n/a"
        out.write(f"{name:<28} median {shown} s  caught {len(times)}/{args.detect}  "
                  f"in {CAUGHT_IN[name]}\n")
        out.flush()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"strategy": args.strategy, "variants": rows}, f, indent=2)
    return 1 if missed_any else 0
