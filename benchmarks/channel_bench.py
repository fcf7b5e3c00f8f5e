"""One-channel workloads against queue.Queue: single-thread write/read, drain, producer and
consumer threads, and the collections.deque floor. The channel workloads run on refasync
and, where it is available, on the original library in the same interleaved run."""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable

from refasync.channel import Channel, SerialChannel

from .harness import Goal, Row, Timed, median
from .libraries import REFASYNC, Library
from .original import OriginalSide
from .scale import Scale

__all__ = ("channel_rows",)

#: A channel class of the library the workload runs on (given to its ``mkchannel``).
ChannelType = Callable[[], object]


# -- write + read(1), one thread ---------------------------------------------------------


def write_read1(ctype: ChannelType, n: int, lib: Library = REFASYNC) -> Timed:
    def run() -> float:
        writer, reader = lib.mkchannel(ctype)
        write, read = writer.write, reader.read
        start = time.perf_counter()
        for i in range(n):
            write(i)
            read(1)
        elapsed = time.perf_counter() - start
        assert not reader.read(0, False), "every written item was read"
        return elapsed

    return run


def queue_put_get(n: int) -> Timed:
    def run() -> float:
        q: queue.Queue[int] = queue.Queue()
        put, get = q.put, q.get
        start = time.perf_counter()
        for i in range(n):
            put(i)
            get()
        return time.perf_counter() - start

    return run


def deque_append_popleft(n: int) -> Timed:
    def run() -> float:
        d: deque[int] = deque()
        append, popleft = d.append, d.popleft
        start = time.perf_counter()
        for i in range(n):
            append(i)
            popleft()
        return time.perf_counter() - start

    return run


# -- write N, close, one read(0) -----------------------------------------------------------


def write_close_drain(ctype: ChannelType, n: int, lib: Library = REFASYNC) -> Timed:
    def run() -> float:
        writer, reader = lib.mkchannel(ctype)
        write = writer.write
        start = time.perf_counter()
        for i in range(n):
            write(i)
        writer.close()
        items = reader.read(0)
        elapsed = time.perf_counter() - start
        assert len(items) == n
        return elapsed

    return run


def queue_put_drain(n: int) -> Timed:
    def run() -> float:
        q: queue.Queue[int] = queue.Queue()
        put, get = q.put, q.get
        start = time.perf_counter()
        for i in range(n):
            put(i)
        items = [get() for _ in range(n)]
        elapsed = time.perf_counter() - start
        assert len(items) == n
        return elapsed

    return run


# -- a producer thread, the consumer reads 64 at a time ----------------------------------


def producer_read64(n: int, lib: Library = REFASYNC) -> Timed:
    def run() -> float:
        writer, reader = lib.mkchannel(lib.channel)

        def produce() -> None:
            write = writer.write
            for i in range(n):
                write(i)
            writer.close()

        producer = threading.Thread(target=produce, name="bench-producer", daemon=True)
        read = reader.read
        received = 0
        start = time.perf_counter()
        producer.start()
        while True:
            items = read(64)
            if not items:
                break
            received += len(items)
        producer.join()
        elapsed = time.perf_counter() - start
        assert received == n
        return elapsed

    return run


_SENTINEL = -1


def queue_producer_sentinel(n: int) -> Timed:
    def run() -> float:
        q: queue.Queue[int] = queue.Queue()

        def produce() -> None:
            put = q.put
            for i in range(n):
                put(i)
            put(_SENTINEL)

        producer = threading.Thread(target=produce, name="bench-producer", daemon=True)
        get = q.get
        received = 0
        start = time.perf_counter()
        producer.start()
        while get() != _SENTINEL:
            received += 1
        producer.join()
        elapsed = time.perf_counter() - start
        assert received == n
        return elapsed

    return run


# -- rows ----------------------------------------------------------------------------------


def _ratio_row(
    workload: str,
    baseline: str,
    variants: tuple[Timed, Timed],
    limit: float,
    scale: Scale,
    items: int,
    goal: Goal = Goal.AT_MOST,
    original: Callable[[Library], Timed] | None = None,
) -> Row:
    """Interleave refasync's run, the baseline's and, given ``original``, the original
    library's run of the same workload; one row."""
    side = OriginalSide(*([original] if original is not None else []))
    (ours, theirs), originals = side.interleave(variants, scale.reps, scale.run_timeout_s, workload)
    ours_s, theirs_s = median(ours), median(theirs)
    row = Row(
        workload,
        baseline,
        ours_s / theirs_s,
        "x",
        goal,
        limit,
        refasync_s=ours_s,
        baseline_s=theirs_s,
        note=f"{ours_s / items * 1e9:.0f} vs {theirs_s / items * 1e9:.0f} ns/item",
    ).judge()
    row.original = side.versus(ours_s, originals[0]) if originals else None
    return row


def channel_rows(scale: Scale) -> list[Callable[[], Row]]:
    """:return: the one-channel rows, each to be run (and guarded) by the caller."""
    n = scale.items
    return [
        lambda: _ratio_row(
            f"write + read(1), one thread, {n // 1000}k items [Channel]",
            "queue.Queue put/get",
            (write_read1(Channel, n), queue_put_get(n)),
            0.40,
            scale,
            n,
            original=lambda lib: write_read1(lib.channel, n, lib),
        ),
        lambda: _ratio_row(
            f"write + read(1), one thread, {n // 1000}k items [SerialChannel]",
            "queue.Queue put/get",
            (write_read1(SerialChannel, n), queue_put_get(n)),
            0.35,
            scale,
            n,
            original=lambda lib: write_read1(lib.serial_channel, n, lib),
        ),
        lambda: _ratio_row(
            "floor: deque append+popleft (for scale)",
            "queue.Queue put/get",
            (deque_append_popleft(n), queue_put_get(n)),
            0.0,
            scale,
            n,
            Goal.INFO,
        ),
        lambda: _ratio_row(
            f"write {n // 1000}k, close, one read(0) [Channel]",
            "queue.Queue put + get loop",
            (write_close_drain(Channel, n), queue_put_drain(n)),
            0.20,
            scale,
            n,
            original=lambda lib: write_close_drain(lib.channel, n, lib),
        ),
        lambda: _ratio_row(
            f"write {n // 1000}k, close, one read(0) [SerialChannel]",
            "queue.Queue put + get loop",
            (write_close_drain(SerialChannel, n), queue_put_drain(n)),
            0.20,
            scale,
            n,
            original=lambda lib: write_close_drain(lib.serial_channel, n, lib),
        ),
        lambda: _ratio_row(
            f"producer thread, consumer read(64) until closed, {n // 1000}k items",
            "queue.Queue + sentinel",
            (producer_read64(n), queue_producer_sentinel(n)),
            0.15,
            scale,
            n,
            original=lambda lib: producer_read64(n, lib),
        ),
    ]
