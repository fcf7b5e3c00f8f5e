"""Peak memory while many items stream through a channel bounded at 100.

A producer thread writes with ``block=True``; the reader takes ``read(64)`` until the
channel is closed. Python allocations are traced with tracemalloc; the figure is the
peak above what was allocated before the stream started (channel and threads exist by
then). queue.Queue(100) with a sentinel runs the same stream for comparison.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
import tracemalloc
from typing import Callable

from refasync.channel import Channel, ChannelReader, ChannelWriter

from .harness import Goal, Row, run_guarded
from .scale import Scale

__all__ = ("memory_rows",)

BOUND = 100
MIB = 1 << 20


def _peak_growth(setup: Callable[[], Callable[[], int]], n: int) -> tuple[float, float]:
    """:return: (peak bytes above the start, seconds) for the stream ``setup`` prepares.

    ``setup`` builds the channel and its producer and returns the function that starts
    the producer and consumes every item, returning how many it got.
    """
    gc.collect()
    tracemalloc.start()
    try:
        stream = setup()
        gc.collect()
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        start = time.perf_counter()
        received = stream()
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == n, f"{received} of {n} items"
    return float(peak - before), elapsed


def refasync_stream(n: int) -> Callable[[], Callable[[], int]]:
    def setup() -> Callable[[], int]:
        channel: Channel[int] = Channel(BOUND)
        writer, reader = ChannelWriter(channel), ChannelReader(channel)

        def produce() -> None:
            write = writer.write
            for i in range(n):
                write(i, True)
            writer.close()

        producer = threading.Thread(target=produce, name="bench-bounded-producer", daemon=True)

        def stream() -> int:
            producer.start()
            received = 0
            read = reader.read
            while True:
                items = read(64)
                if not items:
                    break
                received += len(items)
            producer.join()
            return received

        return stream

    return setup


def queue_stream(n: int) -> Callable[[], Callable[[], int]]:
    def setup() -> Callable[[], int]:
        q: queue.Queue[int] = queue.Queue(BOUND)

        def produce() -> None:
            put = q.put
            for i in range(n):
                put(i)
            put(-1)

        producer = threading.Thread(target=produce, name="bench-bounded-producer", daemon=True)

        def stream() -> int:
            producer.start()
            received = 0
            get = q.get
            while get() != -1:
                received += 1
            producer.join()
            return received

        return stream

    return setup


def memory_rows(scale: Scale) -> list[Row]:
    n = scale.memory_items
    results: dict[str, tuple[float, float]] = {}

    def measure(name: str, setup: Callable[[], Callable[[], int]]) -> float:
        results[name] = _peak_growth(setup, n)
        return results[name][1]

    run_guarded(lambda: measure("refasync", refasync_stream(n)), scale.run_timeout_s * 4,
                "bounded stream refasync")
    run_guarded(lambda: measure("queue", queue_stream(n)), scale.run_timeout_s * 4,
                "bounded stream queue")
    ours_b, ours_s = results["refasync"]
    theirs_b, theirs_s = results["queue"]
    return [
        Row(
            f"{n:,} items through a channel bounded at {BOUND}: peak memory growth",
            f"queue.Queue({BOUND})",
            ours_b / MIB,
            " MiB",
            Goal.BELOW,
            1.0,
            refasync_s=ours_s,
            baseline_s=theirs_s,
            note=f"queue.Queue grew {theirs_b / 1024:.1f} KiB; refasync {ours_b / 1024:.1f} KiB "
            "(tracemalloc on, times inflated)",
        ).judge()
    ]
