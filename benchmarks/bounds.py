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
  says which a stage cannot do without.

Each row's value is the bound as a ratio to the target's baseline, like the row it bounds:
if it exceeds the target, the target cannot be met without giving up a lock the semantics
need (``docs/semantics.md``, "Locks and what they guard").
"""

from __future__ import annotations

import cProfile
import pstats
import threading
import time
from collections import Counter

from refasync.channel import Channel, SerialChannel
from refasync.pool import ThreadPool
from refasync.sync import SyncPoint, SyncPrimitive, set_sync_hook

from .channel_bench import queue_put_drain, queue_put_get, write_close_drain, write_read1
from .harness import Goal, Row, interleave, median
from .pool_bench import CHAIN_LENGTH, _build_chain, generator_chain, serial_pool_chain
from .scale import Scale

__all__ = ("LOCKS_PER_STAGE", "bound_rows", "chain_counts", "frame_ns", "lock_block_ns")

#: The lock blocks one stage of a serial pool chain needs per item read with ``read(1)``,
#: whatever the design, if every piece of shared state stays guarded: the reader takes
#: from the stage's channel twice (finds it empty, then takes the item the chunk wrote),
#: the chunk writes to it once; the pool lock plans and starts the chunk, then counts it
#: out; the task's lock counts the chunk in as a writer and out again (the channel closes
#: when the last writer of a done task leaves).
LOCKS_PER_STAGE = 7


def _best_per_loop_ns(body: str, setup: str, loops: int) -> float:
    """:return: the least time per loop of ``body`` over 7 runs, minus an empty loop's."""
    namespace: dict[str, object] = {}
    exec(  # one function per body, so that its names are fast locals
        f"def _timed(loops):\n    {setup}\n    for _ in range(loops):\n        {body}\n"
        f"def _empty(loops):\n    {setup}\n    for _ in range(loops):\n        pass\n",
        {"threading": threading}, namespace)
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
    return _best_per_loop_ns("f(1, True, None)",
                             "f = lambda count, block, timeout: None", loops)


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
    row = Row(f"bound: {workload}", baseline, value, "x", Goal.INFO, limit,
              note=f"{note}; the target: <= {limit:g}x")
    return row.judge()


def bound_rows(scale: Scale) -> list[Row]:
    """:return: one row per missed-prone target: the least the workload costs."""
    lock, frame = lock_block_ns(), frame_ns()
    rows = [Row("cost of one uncontended lock block (with lock: pass)", "-", lock, "ns",
                Goal.INFO, note=f"a Python frame (3 arguments): {frame:.0f} ns").judge()]

    n = scale.items
    serial, theirs = (median(s) for s in interleave(
        (write_read1(SerialChannel, n), queue_put_get(n)), scale.reps, scale.run_timeout_s,
        "bound: write + read(1)"))
    floor = serial + 2 * n * lock * 1e-9
    rows.append(_bound_row(
        "write + read(1) [Channel] >= the same code without locks [SerialChannel] + 2 lock "
        "blocks per item", "queue.Queue put/get", floor / theirs, 0.40,
        f"{serial / n * 1e9:.0f} + 2 x {lock:.0f} ns vs {theirs / n * 1e9:.0f} ns/item"))

    serial, theirs = (median(s) for s in interleave(
        (write_close_drain(SerialChannel, n), queue_put_drain(n)), scale.reps,
        scale.run_timeout_s, "bound: drain"))
    floor = serial + n * lock * 1e-9
    rows.append(_bound_row(
        "write N, close, read(0) [Channel] >= [SerialChannel] + 1 lock block per write",
        "queue.Queue put + get loop", floor / theirs, 0.20,
        f"{serial / n * 1e9:.0f} + {lock:.0f} ns vs {theirs / n * 1e9:.0f} ns/item"))

    items = scale.pool_items
    locks, frames = chain_counts(items)
    ours, gen = (median(s) for s in interleave(
        (serial_pool_chain(items, True, time_building=False), generator_chain(items)),
        scale.pool_reps, scale.run_timeout_s, "bound: read(1) loop"))
    gen_item_ns = gen / items * 1e9
    least = LOCKS_PER_STAGE * (CHAIN_LENGTH + 1)
    rows.append(_bound_row(
        f"read(1) loop >= the {LOCKS_PER_STAGE} lock blocks per stage the rules need "
        f"({least} per item)", "plain generator chain", least * lock / gen_item_ns, 30.0,
        f"{least} x {lock:.0f} ns = {least * lock / 1e3:.1f} us vs {gen_item_ns:.0f} ns/item"))
    spent_ns = locks * lock + frames * frame
    rows.append(_bound_row(
        f"read(1) loop: its {locks:.0f} lock blocks + {frames:.0f} Python frames per item",
        "plain generator chain", spent_ns / gen_item_ns, 30.0,
        f"{spent_ns / 1e3:.1f} us of the loop's {ours / items * 1e6:.1f} us/item (chain "
        "built beforehand)"))
    return rows
