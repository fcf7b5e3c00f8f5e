"""Pool workloads: a serial task chain against a generator chain, and threads paying off
(sha256, sleeps) against concurrent.futures.ThreadPoolExecutor.map. Speedups are measured
against a one-worker pool (the executor's against ThreadPoolExecutor(1)); one worker is
one thread, so a one-worker pool should match ThreadPoolExecutor(1) on sleeps."""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .harness import Goal, Row, Timed, median
from .libraries import REFASYNC, Library, PoolHandle
from .original import FORCES_SIZE_0, READ1_LOOP_LIMIT, OriginalSide
from .scale import Scale

__all__ = ("pool_rows",)

T = TypeVar("T")
R = TypeVar("R")
Handle = TypeVar("Handle")

CHAIN_LENGTH = 5  # identity tasks after the feeder


def identity(item: int) -> int:
    return item


# -- serial pool: feeder + 5 identity tasks ------------------------------------------------


def _build_chain(
    pool: PoolHandle[Handle], n: int, stages: int = CHAIN_LENGTH, lib: Library = REFASYNC
) -> Handle:
    reader = pool.add_task(lib.iterator_task(iter(range(n)), "feeder", identity))
    for index in range(stages):
        reader = pool.add_task(lib.channel_task(reader, f"identity-{index}", identity))
    return reader


def serial_pool_chain(
    n: int,
    read_one_at_a_time: bool,
    size: int = 0,
    stages: int = CHAIN_LENGTH,
    time_building: bool = True,
    lib: Library = REFASYNC,
) -> Timed:
    """Time building the tasks (unless not ``time_building``) and reading every item (the
    pool is made beforehand)."""

    def run() -> float:
        with lib.thread_pool(size) as pool:
            start = time.perf_counter()
            reader = _build_chain(pool, n, stages, lib)
            if not time_building:
                start = time.perf_counter()
            out: Sequence[int]
            if read_one_at_a_time:
                out = []
                read = reader.read
                while True:
                    items = read(1)
                    if not items:
                        break
                    out.extend(items)
            else:
                out = reader.read(0)
            elapsed = time.perf_counter() - start
        assert list(out) == list(range(n)), "the chain delivers every item, in order"
        return elapsed

    return run


def _growth_chain(n: int, size: int, stages: int, lib: Library) -> Timed:
    """The growth rows' workload: a ``read(1)`` loop over a chain of ``stages`` tasks."""
    return serial_pool_chain(n, True, size, stages, time_building=False, lib=lib)


def generator_chain(n: int, stages: int = CHAIN_LENGTH) -> Timed:
    def run() -> float:
        start = time.perf_counter()
        chain: Iterator[int] = (identity(i) for i in iter(range(n)))
        for _ in range(stages):
            chain = (identity(i) for i in chain)
        out = list(chain)
        elapsed = time.perf_counter() - start
        assert len(out) == n
        return elapsed

    return run


# -- threads paying off ------------------------------------------------------------------


def serial_map(fun: Callable[[T], R], items: list[T]) -> Timed:
    def run() -> float:
        start = time.perf_counter()
        out = [fun(item) for item in items]
        elapsed = time.perf_counter() - start
        assert len(out) == len(items)
        return elapsed

    return run


def refasync_map(
    fun: Callable[[T], R], items: list[T], size: int, lib: Library = REFASYNC
) -> Timed:
    """Time add_task + read(0) on a pool of ``size`` workers started beforehand; one item
    per chunk so that every worker can take a share (with workers, the reader only
    waits; with size 0 it does all the work)."""

    def run() -> float:
        with lib.thread_pool(size) as pool:
            task = lib.iterator_task(iter(items), "map", fun, max_chunksize=1)
            start = time.perf_counter()
            out = pool.add_task(task).read(0)
            elapsed = time.perf_counter() - start
        assert len(out) == len(items), f"{len(out)} of {len(items)} results"
        return elapsed

    return run


def executor_map(fun: Callable[[T], R], items: list[T], size: int) -> Timed:
    def run() -> float:
        with ThreadPoolExecutor(size) as executor:
            start = time.perf_counter()
            out = list(executor.map(fun, items))
            elapsed = time.perf_counter() - start
        assert len(out) == len(items)
        return elapsed

    return run


def sha256_digest(block: bytes) -> bytes:
    return hashlib.sha256(block).digest()


def sleep_2ms(item: int) -> int:
    time.sleep(0.002)
    return item


def _speedup_rows(
    name: str,
    fun: Callable[[T], R],
    items: list[T],
    sizes: tuple[int, ...],
    reps: int,
    scale: Scale,
    judge: Callable[[int, float, float], tuple[Goal, float, str]],
) -> list[Row]:
    """Interleave serial, refasync(size) and executor(size) runs; one row per size.

    Speedups are measured against one worker: refasync(n) against refasync(1), the
    executor's against ThreadPoolExecutor(1) (a pool's reader does not run chunks there, so a
    one-worker pool is one thread). The size-1 row compares refasync(1) with
    ThreadPoolExecutor(1) directly (time ratio), and size 0 with a plain loop.
    ``judge(size, speedup, executor_speedup)`` gives each row of size >= 2 its goal.
    The original library runs the workload once per repetition, asked for the largest
    size (it runs serially whatever the size).
    """
    assert 1 in sizes, "speedups are measured against a one-worker pool"
    variants: list[Timed] = [serial_map(fun, items)]
    for size in sizes:
        variants.append(refasync_map(fun, items, size))
        if size > 0:
            variants.append(executor_map(fun, items, size))
    original = OriginalSide(lambda lib: refasync_map(fun, items, max(sizes), lib))
    samples, (orig,) = original.interleave(variants, reps, scale.run_timeout_s, name)
    serial_s = median(samples[0])
    ours: dict[int, float] = {}
    theirs: dict[int, float] = {}
    index = 1
    for size in sizes:
        ours[size] = median(samples[index])
        index += 1
        if size > 0:
            theirs[size] = median(samples[index])
            index += 1
    rows: list[Row] = []
    for size in sizes:
        ours_s = ours[size]
        if size == 0:
            rows.append(
                Row(
                    f"{name}, pool size 0",
                    "plain loop",
                    serial_s / ours_s,
                    "x",
                    Goal.INFO,
                    refasync_s=ours_s,
                    baseline_s=serial_s,
                    note="speedup over a plain loop: the price of the serial pool",
                ).judge()
            )
            continue
        exec_s = theirs[size]
        if size == 1:
            ratio = ours_s / exec_s
            rows.append(
                Row(
                    f"{name}, pool size 1: |time / ThreadPoolExecutor(1) time - 1|",
                    "ThreadPoolExecutor(1)",
                    abs(ratio - 1.0),
                    "",
                    Goal.AT_MOST,
                    0.10,
                    refasync_s=ours_s,
                    baseline_s=exec_s,
                    note=f"time ratio {ratio:.3f} (one worker each; target 1.0 within 10%); "
                    f"serial loop {serial_s * 1e3:.1f} ms",
                    details={"time_ratio": ratio, "serial_s": serial_s},
                ).judge()
            )
            continue
        speedup = ours[1] / ours_s
        exec_speedup = theirs[1] / exec_s
        goal, limit, verdict = judge(size, speedup, exec_speedup)
        note = (
            f"speedup over a one-worker pool; executor over ThreadPoolExecutor(1) "
            f"{exec_speedup:.2f}, ours/executor {speedup / exec_speedup:.3f}"
        )
        if verdict:
            note += f"; {verdict}"
        rows.append(
            Row(
                f"{name}, pool size {size}",
                "one-worker pool",
                speedup,
                "x",
                goal,
                limit,
                refasync_s=ours_s,
                baseline_s=ours[1],
                note=note,
                details={"serial_s": serial_s, "executor_speedup": exec_speedup},
            ).judge()
        )
    for size, row in zip(sizes, rows, strict=False):
        row.original = original.versus(ours[size], orig, note=FORCES_SIZE_0)
    return rows


#: Below this executor speedup on 2 workers, the machine lacks 2 free cores right now.
FREE_CORES_EVIDENCE = 1.5


def _sha_judge(size: int, speedup: float, exec_speedup: float) -> tuple[Goal, float, str]:
    # Target: speedup >= 1.85 on 2 workers, and >= 0.98 of the executor's at each size.
    floor = 0.98 * exec_speedup
    if size != 2:
        return Goal.AT_LEAST, floor, "target: 0.98 x the executor's speedup"
    if exec_speedup < FREE_CORES_EVIDENCE:
        return (
            Goal.AT_LEAST,
            floor,
            "target >= 1.85 NOT MEASURABLE: the executor itself got "
            f"{exec_speedup:.2f}, so 2 cores were not free; judged on 0.98 x executor only",
        )
    return Goal.AT_LEAST, max(floor, 1.85), "target: >= 1.85 and 0.98 x the executor's"


def _sleep_judge(size: int, speedup: float, exec_speedup: float) -> tuple[Goal, float, str]:
    # 200 sleeps on 16 workers take 13 rounds: 200 / 13 = 15.4x is the ideal.
    if size == 16:
        return Goal.AT_LEAST, 0.95 * exec_speedup, "target: 0.95 x the executor's (ideal 15.4)"
    return Goal.INFO, 0.0, ""


def pool_rows(scale: Scale) -> list[Callable[[], list[Row]]]:
    """:return: the pool rows, grouped by workload; each group is run by the caller."""
    n = scale.pool_items

    def chain_rows() -> list[Row]:
        original = OriginalSide(
            lambda lib: serial_pool_chain(n, False, lib=lib),
            lambda lib: serial_pool_chain(n, True, lib=lib),
        )
        (read0, read1, gen), (orig0, orig1) = original.interleave(
            (serial_pool_chain(n, False), serial_pool_chain(n, True), generator_chain(n)),
            scale.pool_reps,
            scale.run_timeout_s,
            "serial pool chain",
        )
        gen_s = median(gen)
        rows = []
        # The targets: read(0) <= 2.0x, the read(1) loop <= 30x a generator chain.
        for label, samples, limit in (("read(0)", read0, 2.0), ("read(1) loop", read1, 30.0)):
            ours_s = median(samples)
            rows.append(
                Row(
                    f"serial pool: feeder + {CHAIN_LENGTH} identity tasks, {n} items, {label}",
                    "plain generator chain",
                    ours_s / gen_s,
                    "x",
                    Goal.AT_MOST,
                    limit,
                    refasync_s=ours_s,
                    baseline_s=gen_s,
                    note=f"{ours_s / n * 1e6:.2f} vs {gen_s / n * 1e6:.2f} us/item",
                ).judge()
            )
        rows[0].original = original.versus(median(read0), orig0)
        rows[1].original = original.versus(median(read1), orig1, READ1_LOOP_LIMIT)
        return rows

    def sha_rows() -> list[Row]:
        blocks = [os.urandom(1 << 20) for _ in range(scale.sha_blocks)]
        return _speedup_rows(
            f"sha256 of 1 MiB x {scale.sha_blocks}",
            sha256_digest,
            blocks,
            (0, 1, 2, 4),
            scale.sha_reps,
            scale,
            _sha_judge,
        )

    def sleep_rows() -> list[Row]:
        return _speedup_rows(
            f"sleep 2 ms x {scale.sleep_calls}",
            sleep_2ms,
            list(range(scale.sleep_calls)),
            (1, 4, 8, 16),
            scale.sleep_reps,
            scale,
            _sleep_judge,
        )

    def depth_rows() -> list[Row]:
        return chain_growth_rows(scale)

    return [chain_rows, sha_rows, sleep_rows, depth_rows]


#: The read(1) loop's growth table: identity stages after the feeder, and pool sizes.
GROWTH_STAGES = (1, 2, 4, 8, 16)
GROWTH_SIZES = (0, 1, 2)


def chain_growth_rows(scale: Scale) -> list[Row]:
    """How the cost of a read(1) loop grows with chain depth and pool size: one row per
    (size, stages), us per item and per task (the feeder counts as a task), next to a
    generator chain of the same depth (building the tasks is not timed). Linear growth in
    depth: a constant (the reader's own read, and with workers the hand-offs) plus a
    slope per stage; the last row of each size gives the slope from the first to the last
    depth, and where the middle depth lies against that line. The original library runs
    the same chain at the same size (which it runs serially)."""
    n = scale.growth_items
    rows: list[Row] = []
    for size in GROWTH_SIZES:
        per_item: dict[int, float] = {}
        for stages in GROWTH_STAGES:
            original = OriginalSide(functools.partial(_growth_chain, n, size, stages))
            (ours, gen), (orig,) = original.interleave(
                (
                    serial_pool_chain(n, True, size, stages, time_building=False),
                    generator_chain(n, stages),
                ),
                scale.growth_reps,
                scale.run_timeout_s,
                f"read(1) growth {size}/{stages}",
            )
            ours_s, gen_s = median(ours), median(gen)
            per_item_us = ours_s / n * 1e6
            per_task_us = per_item_us / (stages + 1)
            per_item[stages] = per_item_us
            note = (
                f"{per_task_us:.1f} us per task per item; {ours_s / gen_s:.0f}x a "
                f"generator chain of the same depth"
            )
            if stages == GROWTH_STAGES[-1]:
                first, middle = GROWTH_STAGES[0], GROWTH_STAGES[len(GROWTH_STAGES) // 2]
                slope = (per_item_us - per_item[first]) / (stages - first)
                on_line = per_item[first] + slope * (middle - first)
                note += (
                    f"; slope {slope:.1f} us per added stage ({first} -> {stages}); "
                    f"{middle} stages measured {per_item[middle]:.0f} us, the line "
                    f"says {on_line:.0f} us"
                )
            rows.append(
                Row(
                    f"read(1) loop growth: pool size {size}, feeder + {stages} identity tasks, "
                    f"{n} items",
                    "plain generator chain",
                    per_item_us,
                    " us/item",
                    Goal.INFO,
                    refasync_s=ours_s,
                    baseline_s=gen_s,
                    note=note,
                    details={"per_task_us": per_task_us},
                    original=original.versus(ours_s, orig, note=FORCES_SIZE_0 if size else ""),
                ).judge()
            )
    return rows
