"""Peak memory while many items stream through a channel bounded at 100.

A producer thread writes with ``block=True``; the reader takes ``read(64)`` until the
channel is closed. queue.Queue(100) runs the same stream, its consumer taking one item
per ``get`` until a sentinel. Both consumers keep nothing of what they took when they
take again. Python allocations are traced with tracemalloc; the figure is the peak above
what was allocated before the stream started (channel, reader and writer exist by then;
the producer thread starts inside the traced region, on both sides alike).

What a ``read(64)`` holds beyond a ``get`` is the batch it returns: while it waits for
the rest of its 64 items, the ones it took have left the channel, which the writer fills
again (a bulk read takes what is there at once, C9), so up to 100 + 63 items are alive.

``python -m benchmarks.memory_bench [--items N] [--top K]`` prints both peaks and what
was alive, by the line that allocated it, at the highest points sampled in the stream
(exit status 0; 2 with a one-line message for arguments out of range).
"""

from __future__ import annotations

import argparse
import gc
import inspect
import queue
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence

from refasync.channel import Channel, ChannelReader, ChannelWriter
from refasync.sync import SyncPoint, SyncPrimitive, get_sync_hook, set_sync_hook

from .harness import Goal, Row, run_guarded
from .original import NO_BOUNDED_CHANNEL, not_available
from .scale import Scale

__all__ = ("memory_rows",)

BOUND = 100
MIB = 1 << 20
KIB = 1 << 10
#: The target: refasync's peak at most this times queue.Queue's.
PEAK_RATIO_LIMIT = 1.5
MAX_ITEMS = 10_000_000  # the command line's limit: a minute or so per side, traced

#: Called by a consumer after each take (the by-line profile samples there).
AfterTake = Callable[[], None]
#: Builds a stream; the returned function starts the producer, consumes every item
#: (calling the given function after each take, if any) and returns how many it got.
Stream = Callable[[], Callable[[AfterTake | None], int]]


def _peak_growth(setup: Stream, n: int) -> tuple[float, float]:
    """:return: (peak bytes above the start, seconds) for the stream ``setup`` prepares."""
    gc.collect()
    tracemalloc.start()
    try:
        stream = setup()
        gc.collect()
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        start = time.perf_counter()
        received = stream(None)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == n, f"{received} of {n} items"
    return float(peak - before), elapsed


def refasync_stream(n: int) -> Stream:
    def setup() -> Callable[[AfterTake | None], int]:
        channel: Channel[int] = Channel(BOUND)
        writer, reader = ChannelWriter(channel), ChannelReader(channel)

        def produce() -> None:
            write = writer.write
            for i in range(n):
                write(i, True)
            writer.close()

        producer = threading.Thread(target=produce, name="bench-bounded-producer", daemon=True)

        def stream(after_take: AfterTake | None) -> int:
            producer.start()
            received = 0
            read = reader.read
            while True:
                taken = len(read(64))  # the batch is dropped before the next read
                if after_take is not None:
                    after_take()
                if not taken:
                    break
                received += taken
            producer.join()
            return received

        return stream

    return setup


def queue_stream(n: int) -> Stream:
    def setup() -> Callable[[AfterTake | None], int]:
        q: queue.Queue[int] = queue.Queue(BOUND)

        def produce() -> None:
            put = q.put
            for i in range(n):
                put(i)
            put(-1)

        producer = threading.Thread(target=produce, name="bench-bounded-producer", daemon=True)

        def stream(after_take: AfterTake | None) -> int:
            producer.start()
            received = 0
            get = q.get
            while get() != -1:
                if after_take is not None:
                    after_take()
                received += 1
            producer.join()
            return received

        return stream

    return setup


def memory_rows(scale: Scale) -> list[Row]:
    n = scale.memory_items
    results: dict[str, tuple[float, float]] = {}

    def measure(name: str, setup: Stream) -> float:
        results[name] = _peak_growth(setup, n)
        return results[name][1]

    run_guarded(
        lambda: measure("refasync", refasync_stream(n)),
        scale.run_timeout_s * 4,
        "bounded stream refasync",
    )
    run_guarded(
        lambda: measure("queue", queue_stream(n)), scale.run_timeout_s * 4, "bounded stream queue"
    )
    ours_b, ours_s = results["refasync"]
    theirs_b, theirs_s = results["queue"]
    sizes = f"refasync {ours_b / KIB:.1f} KiB, queue.Queue {theirs_b / KIB:.1f} KiB"
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
            note=f"{sizes} (tracemalloc on, times inflated)",
        ).judge(),
        Row(
            f"{n:,} items through a channel bounded at {BOUND}, reader read(64): peak memory "
            f"/ queue.Queue({BOUND}) get",
            f"queue.Queue({BOUND})",
            ours_b / theirs_b,
            "x",
            Goal.AT_MOST,
            PEAK_RATIO_LIMIT,
            note=f"{sizes}; the same run",
            original=not_available(NO_BOUNDED_CHANNEL),
        ).judge(),
    ]


def allocations_by_line(setup: Stream, n: int, top: int, at_waits: bool = False) -> list[str]:
    """Stream ``n`` items and snapshot the traced memory whenever it is higher than ever
    before at a sampling point: after each take, and with ``at_waits`` (refasync) also
    where the reading thread waits in a read, before and after (a sync hook that only
    looks).

    :return: the ``top`` lines that allocated what was alive in the highest snapshot
        and not before the stream (this function's own lines left out)
    """
    gc.collect()
    tracemalloc.start()
    previous_hook = get_sync_hook()
    try:
        stream = setup()
        gc.collect()
        base = tracemalloc.take_snapshot()
        highest, snapshot = tracemalloc.get_traced_memory()[0], base
        reader = threading.get_ident()

        def sample() -> None:
            nonlocal highest, snapshot
            if tracemalloc.get_traced_memory()[0] > highest:
                snapshot = tracemalloc.take_snapshot()
                highest = tracemalloc.get_traced_memory()[0]

        def at_wait(point: SyncPoint, primitive: SyncPrimitive) -> bool:
            if point in (SyncPoint.WAIT, SyncPoint.WAKE) and threading.get_ident() == reader:
                sample()
            return False

        if at_waits:
            set_sync_hook(at_wait)
        received = stream(sample)
    finally:
        set_sync_hook(previous_hook)
        tracemalloc.stop()
    assert received == n, f"{received} of {n} items"
    source, first = inspect.getsourcelines(allocations_by_line)
    own = [tracemalloc.Filter(False, tracemalloc.__file__)]
    own += [tracemalloc.Filter(False, __file__, line) for line in range(first, first + len(source))]
    lines: list[str] = []
    for stat in snapshot.filter_traces(own).compare_to(base.filter_traces(own), "lineno"):
        if stat.size_diff > 0 and len(lines) < top:
            frame = stat.traceback[0]
            lines.append(
                f"  {stat.size_diff:7,d} B in {stat.count_diff:4d} blocks  "
                f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
            )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.memory_bench",
        description="peak memory of the bounded stream, by line",
    )
    parser.add_argument(
        "--items", type=int, default=100_000, help=f"items streamed, 1 to {MAX_ITEMS:,}"
    )
    parser.add_argument("--top", type=int, default=12, help="lines listed per side, 1 to 100")
    args = parser.parse_args(argv)
    if not 1 <= args.items <= MAX_ITEMS or not 1 <= args.top <= 100:
        parser.error(f"--items must be 1 to {MAX_ITEMS:,} and --top 1 to 100")
    ours, _ = _peak_growth(refasync_stream(args.items), args.items)
    theirs, _ = _peak_growth(queue_stream(args.items), args.items)
    print(
        f"peak growth: refasync Channel({BOUND}) with read(64) {ours / KIB:.2f} KiB, "
        f"queue.Queue({BOUND}) with get {theirs / KIB:.2f} KiB: ratio {ours / theirs:.2f} "
        f"(target <= {PEAK_RATIO_LIMIT})"
    )
    for title, setup, at_waits in (
        ("refasync, highest after a take", refasync_stream(args.items), False),
        (
            "refasync, highest after a take or where the reader waits in read(64), before "
            "and after (a sync hook installed)",
            refasync_stream(args.items),
            True,
        ),
        ("queue.Queue, highest after a get", queue_stream(args.items), False),
    ):
        print(f"{title}: alive then, by the line that allocated it:")
        print("\n".join(allocations_by_line(setup, args.items, args.top, at_waits)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
