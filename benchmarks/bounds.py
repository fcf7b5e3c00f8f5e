"""What bounds the issue-14 targets that are missed, measured in one run: the cost of what
each workload cannot do without, priced at this machine's cost of a lock block and of a
Python frame, against the target's budget.

* A lock block is ``with lock:`` around nothing, on an uncontended ``_thread.lock``: every
  lock refasync takes is taken in a ``with`` block, because an explicit ``acquire()`` then
  ``try``/``finally`` (half the cost) leaves the lock held when a signal's
  ``KeyboardInterrupt`` lands just after ``acquire()`` returns
  (``python -m benchmarks.signal_window``), which the Faults rules forbid.
* A frame is a call of a Python function taking three arguments.
* The pool chain's lock blocks and frames per item are counted (a counting sync hook;
  cProfile), as ``python -m benchmarks.chain_profile`` prints them; ``LOCKS_PER_STAGE``
  says which a stage of today's design cannot do without.

Each row's value is the bound as a ratio to the target's baseline, like the row it bounds:
if it exceeds the target, the target cannot be met without giving up a lock the semantics
need (``docs/semantics.md``, "Locks and what they guard") or, for the chain, a design
that takes fewer lock blocks per stage.
"""

from __future__ import annotations

import cProfile
import itertools
import pstats
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

from refasync.channel import SerialChannel
from refasync.pool import ThreadPool
from refasync.sync import SyncPoint, SyncPrimitive, set_sync_hook

from .channel_bench import queue_put_drain, queue_put_get, write_close_drain, write_read1
from .harness import Goal, Row, Timed, interleave, median
from .pool_bench import CHAIN_LENGTH, _build_chain, generator_chain, identity, serial_pool_chain
from .scale import Scale

__all__ = (
    "LOCKS_PER_STAGE",
    "bound_rows",
    "chain_counts",
    "frame_ns",
    "lock_block_ns",
    "skeleton_chain",
)

#: The lock blocks one stage of a serial pool chain takes per item read with ``read(1)``
#: in a design where each task has its own lock and every item passes through its
#: stage's channel: the reader takes from the stage's channel twice (finds it empty,
#: then takes the item the chunk wrote), the chunk writes to it once; the pool lock plans
#: and starts the chunk, then counts it out; the task's lock counts the chunk in as a
#: writer and out again (the channel closes when the last writer of a done task leaves).
LOCKS_PER_STAGE = 7


class _SkeletonStage:
    """The least Python a serial chain stage can be while it keeps today's design's locks: the
    ``LOCKS_PER_STAGE`` lock blocks of a ``read(1)`` that has to produce, around the
    counters they guard, and nothing else (no argument checks, no done flag or chunk
    limits, no closing, no recovery from exceptions, no hook tests)."""

    __slots__ = (
        "upstream",
        "fun",
        "items",
        "mutex",
        "pool_lock",
        "task_lock",
        "writers",
        "inflight",
    )

    def __init__(
        self, upstream: Callable[[], int], fun: Callable[[int], int], pool_lock: threading.Lock
    ) -> None:
        self.upstream = upstream
        self.fun = fun
        self.items: deque[int] = deque()
        self.mutex = threading.Lock()
        self.pool_lock = pool_lock
        self.task_lock = threading.Lock()
        self.writers = 0
        self.inflight = 0

    def read1(self) -> int:
        items = self.items
        with self.mutex:  # the channel, found empty
            if items:
                return items.popleft()
        with self.pool_lock:  # plan and start the chunk
            self.inflight += 1
        with self.task_lock:  # the chunk counts itself in as a writer
            self.writers += 1
        result = self.fun(self.upstream())
        with self.mutex:  # the chunk writes
            items.append(result)
        with self.task_lock:  # ... and counts itself out
            self.writers -= 1
        with self.pool_lock:  # the pool counts the chunk out
            self.inflight -= 1
        with self.mutex:  # the reader takes the item
            return items.popleft()


class _LeanerStage(_SkeletonStage):
    """A leaner design's floor: the chunk is counted in and out as its task's writer
    inside the pool-lock blocks that start it and count it out (5 lock blocks); with
    ``HANDS_OFF``, its result also goes to the reader that ran it instead of through the
    channel (3 lock blocks)."""

    __slots__ = ()
    HANDS_OFF = False

    def read1(self) -> int:
        items = self.items
        with self.mutex:
            if items:
                return items.popleft()
        with self.pool_lock:
            self.inflight += 1
            self.writers += 1
        result = self.fun(self.upstream())
        if not self.HANDS_OFF:
            with self.mutex:
                items.append(result)
        with self.pool_lock:
            self.writers -= 1
            self.inflight -= 1
        if self.HANDS_OFF:
            return result
        with self.mutex:
            return items.popleft()


class _HandsOffStage(_LeanerStage):
    __slots__ = ()
    HANDS_OFF = True


class _SkeletonChannel:
    """The least Python a thread-safe channel can be: one lock block per write and per
    read, around a deque, and nothing else (no closed flag, no argument checks, no change
    generation, no waking of blocked readers)."""

    __slots__ = ("items", "mutex")

    def __init__(self) -> None:
        self.items: deque[int] = deque()
        self.mutex = threading.Lock()

    def write(self, item: int) -> None:
        with self.mutex:
            self.items.append(item)

    def read1(self) -> list[int]:
        with self.mutex:
            return [self.items.popleft()]

    def read_all(self) -> list[int]:
        with self.mutex:
            out = list(self.items)
            self.items.clear()
            return out


class _BareChannel(_SkeletonChannel):
    """The skeleton channel without its lock: what the calls and the deque cost."""

    __slots__ = ()

    def write(self, item: int) -> None:
        self.items.append(item)

    def read1(self) -> list[int]:
        return [self.items.popleft()]

    def read_all(self) -> list[int]:
        out = list(self.items)
        self.items.clear()
        return out


def skeleton_write_read1(n: int, bare: bool = False) -> Timed:
    def run() -> float:
        channel = _BareChannel() if bare else _SkeletonChannel()
        write, read = channel.write, channel.read1
        start = time.perf_counter()
        for i in range(n):
            write(i)
            read()
        return time.perf_counter() - start

    return run


def skeleton_drain(n: int, bare: bool = False) -> Timed:
    def run() -> float:
        channel = _BareChannel() if bare else _SkeletonChannel()
        write = channel.write
        start = time.perf_counter()
        for i in range(n):
            write(i)
        items = channel.read_all()
        elapsed = time.perf_counter() - start
        assert len(items) == n
        return elapsed

    return run


def skeleton_chain(
    n: int, stages: int = CHAIN_LENGTH, kind: type[_SkeletonStage] = _SkeletonStage
) -> Timed:
    """``n`` ``read(1)`` calls through a feeder and ``stages`` skeleton stages of ``kind``."""

    def run() -> float:
        pool_lock = threading.Lock()
        stage = kind(itertools.count().__next__, identity, pool_lock)
        for _ in range(stages):
            stage = kind(stage.read1, identity, pool_lock)
        read = stage.read1
        start = time.perf_counter()
        for _ in range(n):
            read()
        return time.perf_counter() - start

    return run


def _best_per_loop_ns(body: str, setup: str, loops: int) -> float:
    """:return: the least time per loop of ``body`` over 7 runs, minus an empty loop's."""
    namespace: dict[str, object] = {}
    exec(  # one function per body, so that its names are fast locals
        f"def _timed(loops):\n    {setup}\n    for _ in range(loops):\n        {body}\n"
        f"def _empty(loops):\n    {setup}\n    for _ in range(loops):\n        pass\n",
        {"threading": threading},
        namespace,
    )
    timed, empty = namespace["_timed"], namespace["_empty"]
    assert callable(timed) and callable(empty)
    best: dict[str, float] = {}
    for name, loop in (("timed", timed), ("empty", empty)):
        for _ in range(7):
            start = time.perf_counter()
            loop(loops)
            elapsed = time.perf_counter() - start
            best[name] = min(best.get(name, elapsed), elapsed)
    return (best["timed"] - best["empty"]) / loops * 1e9


def lock_block_ns(loops: int = 200_000) -> float:
    """:return: ns per ``with lock: pass`` on an uncontended lock."""
    return _best_per_loop_ns("with lock: pass", "lock = threading.Lock()", loops)


def frame_ns(loops: int = 200_000) -> float:
    """:return: ns per call of a Python function of three arguments."""
    return _best_per_loop_ns("f(1, True, None)", "f = lambda count, block, timeout: None", loops)


def chain_counts(items: int, stages: int = CHAIN_LENGTH) -> tuple[float, float]:
    """:return: (lock acquisitions, Python frames) per item of the serial pool chain's
    ``read(1)`` loop, the pool and the chain built beforehand."""
    acquisitions = Counter[str]()

    def count(point: SyncPoint, primitive: SyncPrimitive) -> bool:
        if point is SyncPoint.ACQUIRE:
            acquisitions[primitive.name] += 1
        return False

    def drain(pool: ThreadPool) -> None:
        read = _build_chain(pool, items, stages).read
        while read(1):
            pass

    with ThreadPool(0) as pool:
        previous = set_sync_hook(count)
        try:
            drain(pool)
        finally:
            set_sync_hook(previous)
    profile = cProfile.Profile()
    with ThreadPool(0) as pool:
        profile.enable()
        drain(pool)
        profile.disable()
    stats = getattr(pstats.Stats(profile), "stats")
    frames = sum(value[1] for key, value in stats.items() if key[0] != "~")
    return sum(acquisitions.values()) / items, frames / items


def _bound_row(workload: str, baseline: str, value: float, limit: float, note: str) -> Row:
    row = Row(
        f"bound: {workload}",
        baseline,
        value,
        "x",
        Goal.INFO,
        limit,
        note=f"{note}; the target: <= {limit:g}x",
    )
    return row.judge()


def bound_rows(scale: Scale) -> list[Row]:
    """:return: the rows of the bounds: the cost of a lock block and a frame, then per
    target the skeleton that keeps only the locks, and what refasync's own code spends."""
    # The machine's speed drifts during a run: the costs are measured before each
    # workload, and the rows use the medians so far.
    costs: list[tuple[float, float]] = []

    def cost() -> tuple[float, float]:
        costs.append((lock_block_ns(), frame_ns()))
        return median([c[0] for c in costs]), median([c[1] for c in costs])

    rows: list[Row] = []
    n = scale.items
    lock, _ = cost()
    serial, skeleton, bare, theirs = (
        median(s)
        for s in interleave(
            (
                write_read1(SerialChannel, n),
                skeleton_write_read1(n),
                skeleton_write_read1(n, True),
                queue_put_get(n),
            ),
            scale.reps,
            scale.run_timeout_s,
            "bound: write + read(1)",
        )
    )
    rows.append(
        _bound_row(
            "write + read(1) >= a skeleton channel: a lock block around a deque per write and "
            "per read, nothing else",
            "queue.Queue put/get",
            skeleton / theirs,
            0.40,
            f"{skeleton / n * 1e9:.0f} vs {theirs / n * 1e9:.0f} ns/item",
        )
    )
    rows.append(
        _bound_row(
            "write + read(1) >= the skeleton + the API's checks (SerialChannel minus the "
            "skeleton without its lock)",
            "queue.Queue put/get",
            (skeleton + serial - bare) / theirs,
            0.40,
            f"{skeleton / n * 1e9:.0f} + {(serial - bare) / n * 1e9:.0f} ns vs "
            f"{theirs / n * 1e9:.0f} ns/item",
        )
    )
    rows.append(
        _bound_row(
            "write + read(1) [Channel] = the same code without locks [SerialChannel] + 2 lock "
            "blocks per item",
            "queue.Queue put/get",
            (serial + 2 * n * lock * 1e-9) / theirs,
            0.40,
            f"{serial / n * 1e9:.0f} + 2 x {lock:.0f} ns vs {theirs / n * 1e9:.0f} ns/item",
        )
    )

    lock, _ = cost()
    serial, skeleton, bare, theirs = (
        median(s)
        for s in interleave(
            (
                write_close_drain(SerialChannel, n),
                skeleton_drain(n),
                skeleton_drain(n, True),
                queue_put_drain(n),
            ),
            scale.reps,
            scale.run_timeout_s,
            "bound: drain",
        )
    )
    rows.append(
        _bound_row(
            "write N, read(0) >= a skeleton channel",
            "queue.Queue put + get loop",
            skeleton / theirs,
            0.20,
            f"{skeleton / n * 1e9:.0f} vs {theirs / n * 1e9:.0f} ns/item",
        )
    )
    rows.append(
        _bound_row(
            "write N, read(0) >= the skeleton + the API's checks",
            "queue.Queue put + get loop",
            (skeleton + serial - bare) / theirs,
            0.20,
            f"{skeleton / n * 1e9:.0f} + {(serial - bare) / n * 1e9:.0f} ns vs "
            f"{theirs / n * 1e9:.0f} ns/item",
        )
    )
    rows.append(
        _bound_row(
            "write N, close, read(0) [Channel] = [SerialChannel] + 1 lock block per write",
            "queue.Queue put + get loop",
            (serial + n * lock * 1e-9) / theirs,
            0.20,
            f"{serial / n * 1e9:.0f} + {lock:.0f} ns vs {theirs / n * 1e9:.0f} ns/item",
        )
    )

    items = scale.pool_items
    locks, frames = chain_counts(items)
    lock, frame = cost()
    ours, skeleton, counted_by_pool, handed_off, gen = (
        median(s)
        for s in interleave(
            (
                serial_pool_chain(items, True, time_building=False),
                skeleton_chain(items),
                skeleton_chain(items, kind=_LeanerStage),
                skeleton_chain(items, kind=_HandsOffStage),
                generator_chain(items),
            ),
            scale.pool_reps,
            scale.run_timeout_s,
            "bound: read(1) loop",
        )
    )
    gen_item_ns = gen / items * 1e9
    least = LOCKS_PER_STAGE * (CHAIN_LENGTH + 1)
    rows.append(
        _bound_row(
            f"read(1) loop >= a skeleton chain: the {LOCKS_PER_STAGE} lock blocks per stage of "
            "this design and nothing else",
            "plain generator chain",
            skeleton / gen,
            30.0,
            f"{skeleton / items * 1e6:.2f} vs {gen_item_ns / 1e3:.2f} us/item; its {least} lock "
            f"blocks alone: {least * lock / gen_item_ns:.0f}x",
        )
    )
    for leaner, blocks, how in (
        (counted_by_pool, 5, "a chunk counted as its task's writer in the pool-lock blocks"),
        (handed_off, 3, "and its result handed to the reader that ran it, past the channel"),
    ):
        rows.append(
            _bound_row(
                f"read(1) loop, a leaner design's floor: a skeleton chain at {blocks} lock "
                f"blocks per stage ({how})",
                "plain generator chain",
                leaner / gen,
                30.0,
                f"{leaner / items * 1e6:.2f} vs {gen_item_ns / 1e3:.2f} us/item",
            )
        )
    spent_ns = locks * lock + frames * frame
    rows.append(
        _bound_row(
            f"read(1) loop: its {locks:.0f} lock blocks + {frames:.0f} Python frames per item",
            "plain generator chain",
            spent_ns / gen_item_ns,
            30.0,
            f"{spent_ns / 1e3:.1f} us of the loop's {ours / items * 1e6:.1f} us/item (chain "
            f"built beforehand: {ours / gen:.0f}x)",
        )
    )
    whole, read_only, gen = (
        median(s)
        for s in interleave(
            (
                serial_pool_chain(items, False),
                serial_pool_chain(items, False, time_building=False),
                generator_chain(items),
            ),
            scale.pool_reps,
            scale.run_timeout_s,
            "bound: read(0)",
        )
    )
    rows.append(
        _bound_row(
            f"read(0) = building the {CHAIN_LENGTH + 1} tasks + reading every item",
            "plain generator chain",
            whole / gen,
            2.0,
            f"building {(whole - read_only) / gen:.2f}x ({(whole - read_only) * 1e6:.0f} us) + "
            f"reading {read_only / gen:.2f}x ({read_only * 1e6:.0f} us) vs {gen * 1e6:.0f} us",
        )
    )
    lock, frame = cost()
    rows.insert(
        0,
        Row(
            "cost of one uncontended lock block (with lock: pass)",
            "-",
            lock,
            "ns",
            Goal.INFO,
            note=f"median of {len(costs)} measurements in this group; "
            f"a Python frame (3 arguments): {frame:.0f} ns",
        ).judge(),
    )
    return rows
