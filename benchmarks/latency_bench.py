"""Wake-up latency of a reader blocked in ``read(1)``, against a consumer blocked in
``queue.Queue.get``: the time from just before the write to the reader's return.

The writer waits until the reader is registered as a waiter of the queue's condition and
then gives it a short settle time to fall asleep in the kernel; both sides get the same.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable

from refasync.channel import Channel, ChannelReader, ChannelWriter
from refasync.util import AsyncQueue

from .harness import Goal, Row, percentile, run_guarded
from .scale import Scale

__all__ = ("latency_rows",)

BLOCK = 50  # wake-ups per block; blocks alternate between the two sides
SETTLE_S = 0.0003  # after the reader shows up as a waiter, let it reach the kernel
POLL_S = 0.00005


def _wait_until(predicate: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    # Polls with short sleeps (they release the GIL): there is no event for "blocked".
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: the reader never blocked")
        time.sleep(POLL_S)


def refasync_block(samples: list[float]) -> float:
    """Measure ``BLOCK`` wake-ups of a blocked ``read(1)``; :return: seconds spent."""
    channel: Channel[float] = Channel()
    writer, reader = ChannelWriter(channel), ChannelReader(channel)
    q = channel.queue
    assert isinstance(q, AsyncQueue)

    def blocked() -> bool:
        with q.mutex:
            return q.not_empty.has_waiters()

    def consume() -> None:
        read = reader.read
        for _ in range(BLOCK):
            sent = read(1)[0]
            samples.append(time.perf_counter() - sent)

    return _drive(consume, blocked, writer.write)


def queue_block(samples: list[float]) -> float:
    q: queue.Queue[float] = queue.Queue()

    def blocked() -> bool:
        with q.mutex:
            # threading.Condition keeps its waiters in the private _waiters deque.
            return bool(getattr(q.not_empty, "_waiters"))

    def consume() -> None:
        get = q.get
        for _ in range(BLOCK):
            sent = get()
            samples.append(time.perf_counter() - sent)

    return _drive(consume, blocked, q.put)


def _drive(
    consume: Callable[[], None], blocked: Callable[[], bool], send: Callable[[float], None]
) -> float:
    start = time.perf_counter()
    consumer = threading.Thread(target=consume, name="bench-blocked-reader", daemon=True)
    consumer.start()
    for _ in range(BLOCK):
        _wait_until(blocked, "wake-up latency")
        time.sleep(SETTLE_S)
        send(time.perf_counter())
    consumer.join()
    return time.perf_counter() - start


def latency_rows(scale: Scale) -> list[Row]:
    ours: list[float] = []
    theirs: list[float] = []
    blocks = max(1, scale.latency_samples // BLOCK)
    for index in range(blocks):
        run_guarded(lambda: refasync_block(ours), scale.run_timeout_s, f"latency refasync {index}")
        run_guarded(lambda: queue_block(theirs), scale.run_timeout_s, f"latency queue {index}")
    rows = []
    for label, fraction in (("p50", 0.5), ("p99", 0.99)):
        ours_s, theirs_s = percentile(ours, fraction), percentile(theirs, fraction)
        rows.append(
            Row(
                f"wake-up latency of a blocked read(1), {label} ({len(ours)} samples)",
                "queue.Queue get",
                ours_s / theirs_s,
                "x",
                Goal.AT_MOST,
                0.8,
                refasync_s=ours_s,
                baseline_s=theirs_s,
                note=f"{ours_s * 1e6:.0f} vs {theirs_s * 1e6:.0f} us",
            ).judge()
        )
    return rows
