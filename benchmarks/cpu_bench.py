"""Pure-Python CPU work: threads pay off only where the GIL is off.

8 items of ``sum(i * i for i in range(2_000_000))`` go through a plain loop, the pool at
sizes 0, 1 and 2, and ``ThreadPoolExecutor(2)``, interleaved in one run; speedup = plain
loop time / time. Targets: with the GIL off (free-threaded 3.13t), size 2 at least 1.8x
and at least the executor's speedup; under the GIL about 1.0x (at least 0.9x), since only
one thread runs Python at a time. ``make bench-cpu`` runs this row on both interpreters.
"""

from __future__ import annotations

from stress.gil import gil_enabled

from .harness import Goal, Row, Timed, interleave, median
from .original import not_available
from .pool_bench import FREE_CORES_EVIDENCE, executor_map, refasync_map, serial_map
from .scale import Scale

__all__ = ("cpu_rows",)

ITEMS = 8
N = 2_000_000
#: The original library is left out of this group: it would run serially at every size,
#: as the plain loop does (plus its per-item cost), at about a second a run.
NOT_RUN = (
    "not run: async 0.6.2 forces pool size 0 (its Pool.set_size), so it would run "
    "as the plain loop does"
)
SIZES = (0, 1, 2)
EXECUTOR_WORKERS = 2
TARGET_GIL_OFF = 1.8  # size 2, GIL off
TARGET_GIL_ON = 0.9  # size 2 under the GIL: about 1.0x, no worse than 0.9x


def sum_of_squares(n: int) -> int:
    return sum(i * i for i in range(n))


def _judge(size: int, speedup: float, executor: float, gil_on: bool) -> tuple[Goal, float, str]:
    if size != 2:
        return Goal.INFO, 0.0, ""
    if gil_on:
        return Goal.AT_LEAST, TARGET_GIL_ON, "target under the GIL: about 1.0x"
    if executor < FREE_CORES_EVIDENCE:
        return (
            Goal.AT_LEAST,
            executor,
            f"target >= {TARGET_GIL_OFF} NOT MEASURABLE: the "
            f"executor itself got {executor:.2f}, so 2 cores were not free; judged on "
            "the executor's speedup only",
        )
    return (
        Goal.AT_LEAST,
        max(TARGET_GIL_OFF, executor),
        f"target with the GIL off: >= {TARGET_GIL_OFF} and >= the executor's",
    )


def cpu_rows(scale: Scale) -> list[Row]:
    """:return: one row per pool size and one for the executor, from one interleaved run."""
    gil_on = gil_enabled()
    items = [N] * ITEMS
    variants: list[Timed] = [serial_map(sum_of_squares, items)]
    variants += [refasync_map(sum_of_squares, items, size) for size in SIZES]
    variants.append(executor_map(sum_of_squares, items, EXECUTOR_WORKERS))
    name = f"pure-Python sum of squares, {ITEMS} x {N:_} [GIL {'on' if gil_on else 'off'}]"
    samples = interleave(variants, scale.sha_reps, scale.run_timeout_s, name)
    serial_s = median(samples[0])
    executor_s = median(samples[-1])
    executor = serial_s / executor_s
    rows = []
    for index, size in enumerate(SIZES, start=1):
        ours_s = median(samples[index])
        speedup = serial_s / ours_s
        goal, limit, verdict = _judge(size, speedup, executor, gil_on)
        note = (
            f"serial {serial_s * 1e3:.0f} ms; ThreadPoolExecutor({EXECUTOR_WORKERS}) "
            f"speedup {executor:.2f}, ours/executor {speedup / executor:.3f}"
        )
        rows.append(
            Row(
                f"{name}, pool size {size}",
                "plain loop",
                speedup,
                "x",
                goal,
                limit,
                refasync_s=ours_s,
                baseline_s=serial_s,
                note=f"{note}; {verdict}" if verdict else note,
                details={"serial_s": serial_s, "executor_speedup": executor},
                original=not_available(NOT_RUN),
            ).judge()
        )
    rows.append(
        Row(
            f"{name}, ThreadPoolExecutor({EXECUTOR_WORKERS})",
            "plain loop",
            executor,
            "x",
            Goal.INFO,
            refasync_s=executor_s,
            baseline_s=serial_s,
            note="the standard library, for scale",
        ).judge()
    )
    return rows
