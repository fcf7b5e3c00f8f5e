"""Wake-up latency of a reader blocked in ``read(1)``, against a consumer blocked in
``queue.Queue.get``: the time from just before the write to the reader's return.

Two methods, both sides treated the same:

* ``waiter``: the writer waits until the reader is registered as a waiter of the queue's
  condition, then gives it a short settle time (0.3 ms) to fall asleep in the kernel.
* ``sleep``: the writer sleeps a fixed 0.2 ms before each write, without looking at the
  reader (the reader is normally asleep by then).

The original library's channel, where it is available, is measured the same way in
blocks of its own, interleaved with the others.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable

from .harness import Goal, Row, Versus, percentile, run_guarded
from .libraries import REFASYNC, Library
from .original import AT_MOST_ORIGINAL, library, not_available
from .report import seconds_text
from .scale import Scale

__all__ = ("latency_rows",)

BLOCK = 50  # wake-ups per block; blocks alternate between the two sides
SETTLE_S = 0.0003  # after the reader shows up as a waiter, let it reach the kernel
FIXED_SLEEP_S = 0.0002  # the ``sleep`` method: before every write, nothing else
METHODS = ("waiter", "sleep")
POLL_S = 0.00005


def _wait_until(predicate: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    # Polls with short sleeps (they release the GIL): there is no event for "blocked".
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: the reader never blocked")
        time.sleep(POLL_S)


def channel_block(samples: list[float], method: str = "waiter", lib: Library = REFASYNC) -> float:
    """Measure ``BLOCK`` wake-ups of a blocked ``read(1)``; :return: seconds spent."""
    writer, reader = lib.mkchannel(lib.channel)

    def consume() -> None:
        read = reader.read
        for _ in range(BLOCK):
            sent = read(1)[0]
            samples.append((time.perf_counter_ns() - sent) * 1e-9)

    return _drive(consume, lambda: lib.reader_blocked(writer), writer.write, method)


def queue_block(samples: list[float], method: str = "waiter") -> float:
    q: queue.Queue[int] = queue.Queue()

    def blocked() -> bool:
        with q.mutex:
            # threading.Condition keeps its waiters in the private _waiters deque.
            return bool(getattr(q.not_empty, "_waiters"))

    def consume() -> None:
        get = q.get
        for _ in range(BLOCK):
            sent = get()
            samples.append((time.perf_counter_ns() - sent) * 1e-9)

    return _drive(consume, blocked, q.put, method)


def _drive(
    consume: Callable[[], None],
    blocked: Callable[[], bool],
    send: Callable[[int], None],
    method: str,
) -> float:
    assert method in METHODS, method
    start = time.perf_counter()
    consumer = threading.Thread(target=consume, name="bench-blocked-reader", daemon=True)
    consumer.start()
    for _ in range(BLOCK):
        if method == "waiter":
            _wait_until(blocked, "wake-up latency")
            time.sleep(SETTLE_S)
        else:
            time.sleep(FIXED_SLEEP_S)
        send(time.perf_counter_ns())
    consumer.join()
    return time.perf_counter() - start


def latency_rows(scale: Scale) -> list[Row]:
    """One p50 and one p99 row per method; the blocks of every side and both methods are
    interleaved."""
    ours: dict[str, list[float]] = {m: [] for m in METHODS}
    theirs: dict[str, list[float]] = {m: [] for m in METHODS}
    # queue.Queue a second time, in its own blocks: how far two runs of the same code
    # land apart here (the floor under which a difference is not the library's).
    again: dict[str, list[float]] = {m: [] for m in METHODS}
    original = library()
    orig: dict[str, list[float]] = {m: [] for m in METHODS}
    blocks = max(1, scale.latency_samples // BLOCK)
    for index in range(blocks):
        for m in METHODS:
            run_guarded(
                functools.partial(channel_block, ours[m], m),
                scale.run_timeout_s,
                f"latency refasync {m} {index}",
            )
            run_guarded(
                functools.partial(queue_block, theirs[m], m),
                scale.run_timeout_s,
                f"latency queue {m} {index}",
            )
            run_guarded(
                functools.partial(queue_block, again[m], m),
                scale.run_timeout_s,
                f"latency queue again {m} {index}",
            )
            if isinstance(original, Library):
                lib = original
                run_guarded(
                    functools.partial(channel_block, orig[m], m, lib),
                    scale.run_timeout_s,
                    f"latency {lib.name} {m} {index}",
                )
    rows = []
    for m in METHODS:
        how = (
            "writer waits for a registered waiter + 0.3 ms"
            if m == "waiter"
            else "writer sleeps a fixed 0.2 ms before each write"
        )
        for label, fraction in (("p50", 0.5), ("p99", 0.99)):
            ours_s, theirs_s = percentile(ours[m], fraction), percentile(theirs[m], fraction)
            rows.append(
                Row(
                    f"wake-up latency of a blocked read(1), {label}, {m} method "
                    f"({len(ours[m])} samples)",
                    "queue.Queue get",
                    ours_s / theirs_s,
                    "x",
                    Goal.AT_MOST if label == "p50" else Goal.INFO,
                    1.0,
                    refasync_s=ours_s,
                    baseline_s=theirs_s,
                    note=f"{ours_s * 1e6:.0f} vs {theirs_s * 1e6:.0f} us; {how}",
                    original=_versus(original, ours_s, orig[m], fraction),
                ).judge()
            )
            if label == "p50":
                again_s = percentile(again[m], fraction)
                rows.append(
                    Row(
                        f"wake-up latency, p50, {m} method: queue.Queue against itself",
                        "queue.Queue get",
                        again_s / theirs_s,
                        "x",
                        Goal.INFO,
                        refasync_s=again_s,
                        baseline_s=theirs_s,
                        note="the same code in other blocks of the same run: the spread of "
                        "this measurement here",
                    ).judge()
                )
    return rows


def _versus(
    original: Library | str, ours_s: float, samples: list[float], fraction: float
) -> Versus:
    """The column's entry: the same percentile of the original's wake-ups (judged at the
    median, <= 1.0; the tail for information)."""
    if isinstance(original, str):
        return not_available(f"not available: {original}")
    theirs_s = percentile(samples, fraction)
    return Versus(
        ours_s / theirs_s,
        AT_MOST_ORIGINAL if fraction == 0.5 else None,
        theirs_s,
        f"{original.name} {seconds_text(theirs_s)}",
    ).judge()
