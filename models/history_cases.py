"""Channel histories for the checker's tests: short builders of operations, the
hand-written cases it must accept or reject, and a recorder of real concurrent histories."""

from __future__ import annotations

import threading

from refasync import Channel, ChannelReader, ChannelWriter, Full, ReadOnly
from refasync.testing import run_bounded

from .linearizability import History, Op


def w(thread: str, item: object, call: int, ret: int | None, result: object = None) -> Op:
    return Op(thread, "write", item, result, call, ret)


def r(
    thread: str,
    count: int,
    block: bool,
    result: list[object] | None,
    call: int,
    ret: int | None,
    timeout: float | None = None,
) -> Op:
    arg = (count, block) if timeout is None else (count, block, timeout)
    return Op(thread, "read", arg, result, call, ret)


def c(thread: str, call: int, ret: int | None) -> Op:
    return Op(thread, "close", None, None, call, ret)


ACCEPT: dict[str, tuple[list[Op], int]] = {
    "sequential write then read": ([w("a", 1, 0, 1), r("a", 1, False, [1], 2, 3)], 0),
    "overlapping read may miss the write": ([w("a", 1, 0, 10), r("b", 1, False, [], 5, 6)], 0),
    "overlapping read may see the write": ([w("a", 1, 0, 10), r("b", 1, False, [1], 5, 6)], 0),
    "concurrent writes in either order": (
        [w("a", 1, 0, 10), w("b", 2, 0, 10), r("c", 2, False, [2, 1], 11, 12)],
        0,
    ),
    "a blocking read takes items in steps around another reader": (
        [
            w("a", 1, 0, 1),
            r("r", 3, True, [1, 3], 2, 20),
            w("a", 2, 3, 4),
            r("s", 1, False, [2], 5, 6),
            w("a", 3, 7, 8),
            c("a", 9, 10),
        ],
        0,
    ),
    "read all until close": (
        [r("r", 0, True, [1, 2], 0, 20), w("a", 1, 1, 2), w("a", 2, 3, 4), c("a", 5, 6)],
        0,
    ),
    "read-all takes its last items long before the close": (
        [w("a", 1, 0, 1), r("r", 0, True, [1], 2, 20), r("s", 0, False, [], 5, 6), c("a", 9, 10)],
        0,
    ),
    "blocking read on closed drained channel returns []": (
        [c("a", 0, 1), r("r", 5, True, [], 2, 3)],
        0,
    ),
    "write after close raises ReadOnly": ([c("a", 0, 1), w("a", 1, 2, 3, "ReadOnly")], 0),
    "ReadOnly for a write overlapping the close": ([c("a", 0, 10), w("b", 1, 2, 3, "ReadOnly")], 0),
    "close twice": ([c("a", 0, 1), c("b", 2, 3), r("a", 0, False, [], 4, 5)], 0),
    "Full on a full bounded channel": (
        [w("a", 1, 0, 1), w("a", 2, 2, 3, "Full"), r("a", 0, False, [1], 4, 5)],
        1,
    ),
    "a blocked writer gets space from a reader": (
        [
            w("a", 1, 0, 1),
            w("a", 2, 2, 10),
            r("b", 1, False, [1], 3, 4),
            r("b", 1, True, [2], 11, 12),
        ],
        1,
    ),
    "a blocked writer woken by close gets ReadOnly": (
        [w("a", 1, 0, 1), w("a", 2, 2, 10, "ReadOnly"), c("b", 3, 4)],
        1,
    ),
    "pending write that took effect": ([w("a", 1, 0, None), r("b", 1, False, [1], 5, 6)], 0),
    "pending write that did not": ([w("a", 1, 0, None), r("b", 1, False, [], 5, 6)], 0),
    "pending read took the item": (
        [w("a", 1, 0, 1), r("p", 1, True, None, 2, None), r("b", 1, False, [], 3, 4)],
        0,
    ),
    "pending read whose bound holds the item took it": (
        [w("a", 1, 0, 1), r("p", 1, True, [1, 2], 2, None), r("b", 1, False, [], 3, 4)],
        0,
    ),
    "pending read took a prefix of its bound": (
        [
            w("a", 1, 0, 1),
            w("a", 2, 2, 3),
            r("p", 1, True, [1, 2, 3], 4, None),
            r("b", 1, False, [2], 5, 6),
        ],
        0,
    ),
    "timed read returns fewer items": (
        [w("a", 1, 0, 1), r("r", 3, True, [1], 2, 10, timeout=0.1)],
        0,
    ),
    "timed read takes items in steps": (
        [w("a", 1, 0, 1), r("r", 3, True, [1, 2], 2, 10, timeout=0.1), w("a", 2, 3, 4)],
        0,
    ),
    "unhashable items": ([w("a", [1], 0, 1), r("b", 1, False, [[1]], 2, 3)], 0),
    "empty history": ([], 0),
    "a pending read took the item ahead of a read one": (
        [
            w("a", 1, 0, 1),
            w("a", 2, 2, 3),
            r("p", 1, False, None, 4, None),
            r("b", 1, False, [2], 10, 11),
        ],
        0,
    ),
    "a pending read's bound held the item ahead of a read one": (
        [
            w("a", 1, 0, 1),
            w("a", 2, 2, 3),
            r("p", 1, False, [1], 4, None),
            r("b", 1, False, [2], 10, 11),
        ],
        0,
    ),
    "a pending read whose bound lists another read's item did not take it": (
        [
            w("a", 1, 0, 1),
            r("p", 1, True, [1], 2, None),
            w("a", 2, 3, 4),
            r("b", 2, False, [1, 2], 10, 11),
        ],
        0,
    ),
    "a pending non-blocking read took its whole bound at once, later": (
        [
            w("a", 0, 0, 1),
            r("q", 3, False, [0, 2], 2, None),
            w("a", 2, 3, 4),
            w("a", 3, 5, 6),
            w("a", 6, 7, 8),
        ],
        2,
    ),
    "a later read of a repeated item took the first copy": (
        [
            w("a", 1, 0, 1),
            r("r", 1, False, [1], 2, 20),
            r("q", 1, False, [1], 2, 10),
            w("a", 1, 11, 12),
        ],
        0,
    ),
    "a read called earlier took its item later": (
        [
            w("a", 1, 0, 1),
            w("a", 2, 2, 3),
            r("y", 1, False, [2], 4, 30),
            r("x", 1, False, [1], 5, 6),
        ],
        0,
    ),
    "overlapping reads: the later item's read returns first": (
        [
            w("a", 1, 0, 1),
            w("a", 2, 2, 3),
            r("b", 1, False, [1], 10, 30),
            r("c", 1, False, [2], 15, 20),
        ],
        0,
    ),
}

REJECT: dict[str, tuple[list[Op], int]] = {
    "an item never written": ([w("a", 1, 0, 1), r("a", 1, False, [2], 2, 3)], 0),
    "an item read twice": (
        [w("a", 1, 0, 1), r("a", 1, False, [1], 2, 3), r("b", 1, False, [1], 4, 5)],
        0,
    ),
    "FIFO order broken": ([w("a", 1, 0, 1), w("a", 2, 2, 3), r("a", 2, False, [2, 1], 4, 5)], 0),
    "read returned before the write was called": (
        [r("b", 1, False, [1], 0, 1), w("a", 1, 2, 3)],
        0,
    ),
    "non-blocking read missed an item surely there": (
        [w("a", 1, 0, 1), r("b", 1, False, [], 2, 3)],
        0,
    ),
    "non-blocking bulk read left an item behind": (
        [w("a", 1, 0, 1), w("a", 2, 2, 3), r("b", 0, False, [1], 4, 5)],
        0,
    ),
    "blocking read returned short without close": (
        [w("a", 1, 0, 1), r("r", 2, True, [1], 2, 3)],
        0,
    ),
    "blocking read-all returned without close": ([w("a", 1, 0, 1), r("r", 0, True, [1], 2, 3)], 0),
    "a blocking read's step left available items behind": (
        [
            w("a", 1, 0, 1),
            w("a", 2, 2, 3),
            r("r", 3, True, [1, 3], 4, 20),
            r("s", 1, False, [2], 5, 6),
            w("a", 3, 7, 8),
            c("a", 9, 10),
        ],
        0,
    ),
    "write succeeded after close": ([c("a", 0, 1), w("a", 1, 2, 3)], 0),
    "ReadOnly before any close": ([w("a", 1, 0, 1, "ReadOnly"), c("a", 2, 3)], 0),
    "Full on a channel with space": ([w("a", 1, 0, 1, "Full")], 2),
    "Full on an unbounded channel": ([w("a", 1, 0, 1), w("a", 2, 2, 3, "Full")], 0),
    "write beyond capacity": (
        [w("a", 1, 0, 1), w("a", 2, 2, 3), r("b", 0, False, [1, 2], 4, 5)],
        1,
    ),
    "item lost: read-all after close misses it": (
        [w("a", 1, 0, 1), c("a", 2, 3), r("b", 0, True, [], 4, 5)],
        0,
    ),
    "pending read cannot explain a short blocking read": (
        [
            w("a", 1, 0, 1),
            w("a", 2, 2, 3),
            r("p", 1, True, None, 4, None),
            r("b", 0, False, [2, 1], 5, 6),
        ],
        0,
    ),
    "pending read's bound does not hold the item": (
        [w("a", 1, 0, 1), r("p", 1, True, [2], 2, None), r("b", 1, False, [], 3, 4)],
        0,
    ),
    "pending read may take only a prefix of its bound": (
        [
            w("a", 1, 0, 1),
            w("a", 2, 2, 3),
            r("p", 0, True, [2, 1], 4, None),
            r("b", 1, False, [], 5, 6),
        ],
        0,
    ),
}


def record_concurrent_history(threads: int, per_thread: int, maxsize: int) -> list[Op]:
    """Writers (blocking), readers (mixed counts, blocking and not) on one real channel;
    the main thread closes it once the writers are done, which ends the readers."""
    channel: Channel[tuple[int, int]] = Channel(maxsize)
    writer, reader = ChannelWriter(channel), ChannelReader(channel)
    history = History()
    start = threading.Barrier(threads)

    def write_some(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            token = history.call(f"w{t}", "write", (t, i))
            try:
                writer.write((t, i), block=True)
                history.ret(token, None)
            except ReadOnly:
                history.ret(token, "ReadOnly")
            except Full:
                history.ret(token, "Full")

    def read_some(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            count, block = (i % 4, i % 3 != 0)
            token = history.call(f"r{t}", "read", (count, block))
            history.ret(token, reader.read(count, block))

    workers = [
        threading.Thread(target=write_some if t % 2 else read_some, args=(t,))
        for t in range(threads)
    ]
    for thread in workers:
        thread.start()
    for thread in workers[1::2]:
        run_bounded(lambda th=thread: th.join(), 30, "writer thread")  # type: ignore[misc]  # lambda default binds the loop variable
    token = history.call("main", "close", None)
    writer.close()
    history.ret(token, None)
    for thread in workers[0::2]:
        run_bounded(lambda th=thread: th.join(), 30, "reader thread")  # type: ignore[misc]  # lambda default binds the loop variable
    return history.ops()
