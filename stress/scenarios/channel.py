"""Channel scenarios: k writers and m readers on bounded and unbounded channels closed at
various moments, and readers and writers blocked when the channel closes.

Items are ``(writer, seq)`` pairs, so every reader's sequence can be checked for
per-writer order (a FIFO hands each reader a subsequence of its order).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.recording import HistoryRecorder, Item, NoRecorder, RecordedChannel, Recorder
from refasync.util import HSCondition, Lock

from .. import oracles
from ..harness import Context
from ..histories import Recorded

__all__ = ("channel_close_blocked", "channel_mpmc", "linearizability_available")

#: Histories longer than this are not recorded nor checked (the checker's search can be
#: exponential in the number of overlapping operations; the read-order pruning makes the
#: harness's histories take milliseconds).
MAX_CHECKED_OPS = 1000
#: A check still undecided after this long is reported as a note ("unknown"), not a
#: failure (the watchdog never counts checking time: Context.checking).
CHECK_BUDGET_S = 60.0


def linearizability_available() -> bool:
    try:
        import models.linearizability  # noqa: F401
    except ImportError:
        return False
    return True


def _recorder(ctx: Context, planned_ops: int) -> Recorder:
    if planned_ops > min(MAX_CHECKED_OPS, ctx.limit("history_ops", MAX_CHECKED_OPS)):
        return NoRecorder()
    if not linearizability_available():
        ctx.notes.append("linearizability: skipped (models.linearizability missing)")
        return NoRecorder()
    return HistoryRecorder()


def recorded_channel(ctx: Context, maxsize: int, recorder: Recorder, what: str) -> RecordedChannel:
    """:return: a recorded channel whose interrupts are the context's, whose history the
    instance keeps (``--history``, ``--html``) and whose invariants the explorer watches."""
    chan = RecordedChannel(maxsize, recorder, ctx.interruptible)
    ctx.add_history(lambda: Recorded(what, maxsize, recorder.ops()))
    ctx.watch_channel(chan.queue())
    return chan


def check_history(ctx: Context, chan: RecordedChannel, what: str) -> None:
    """Fail the instance if the channel's recorded history is not linearizable (an
    undecided check is a note)."""
    ops = chan.recorder.ops()
    if ops:
        from models.linearizability import CheckTimeout

        deadline = time.monotonic() + CHECK_BUDGET_S
        try:
            with ctx.checking():
                message = oracles.linearizable(ops, chan.maxsize, what, deadline)
        except CheckTimeout:
            ctx.notes.append(f"linearizability of {what}: unknown after {CHECK_BUDGET_S} s")
            return
        ctx.check(not message, message)


@dataclass
class _Tally:
    """Shared bookkeeping of one channel_mpmc instance, guarded by ``cond`` (a refasync
    condition, so the explorer controls waits on it too; notify with ``_locked``)."""

    cond: HSCondition = field(default_factory=lambda: HSCondition(Lock("stress.tally")))
    written: list[Item] = field(default_factory=list)  # writes that returned normally
    read_total: int = 0
    writers_done: int = 0
    close_returned: bool = False  # set once close() returned: later writes must fail


def channel_mpmc(ctx: Context) -> None:
    """k writers, m readers, bounded or unbounded, closed after draining, after the
    writes, or in the middle of the stream."""
    rng = ctx.rng
    writers = rng.randint(1, ctx.limit("writers", 4))
    readers = rng.randint(1, ctx.limit("readers", 4))
    maxsize = rng.choice([0, 0, 1, 2, 3, 4][: ctx.limit("maxsize", 4) + 2])
    per_writer = rng.randint(1, ctx.limit("items", 12))
    close_mode = rng.choice(["drained", "after_writes", "midstream"])
    total = writers * per_writer
    chan = recorded_channel(
        ctx, maxsize, _recorder(ctx, 3 * total), f"channel(maxsize={maxsize}, {close_mode})"
    )
    ctx.on_abort(lambda: chan.close("watchdog"))  # recorded: later ReadOnly needs it
    tally = _Tally()
    reads: list[list[Item]] = [[] for _ in range(readers)]

    def write_loop(wid: int) -> None:
        trng = ctx.thread_rng(f"writer-{wid}")
        who = f"w{wid}"
        for seq in range(per_writer):
            fulls = 0
            while True:
                ctx.check_aborted()
                block, timeout = True, None
                draw = trng.random()
                if maxsize and fulls < 3 and draw < 0.15:
                    block = False
                elif maxsize and fulls < 3 and draw < 0.3:
                    timeout = trng.uniform(0.0005, 0.003)
                elif not maxsize and draw < 0.5:
                    block = False  # the seed's default; never Full when unbounded
                with tally.cond:
                    closed_before = tally.close_returned
                outcome = chan.write(who, (wid, seq), block, timeout)
                if outcome == "Full":
                    ctx.check(maxsize > 0, "an unbounded channel raised Full")
                    fulls += 1
                    continue
                break
            if outcome == "ReadOnly":
                ctx.check(
                    close_mode == "midstream",
                    f"write raised ReadOnly before close (mode {close_mode})",
                )
                ctx.tick()
                break
            ctx.check(not closed_before, "a write after close() returned succeeded")
            ctx.tick(1)
            with tally.cond:
                tally.written.append((wid, seq))
                tally.cond.notify_all_locked()
        with tally.cond:
            tally.writers_done += 1
            tally.cond.notify_all_locked()

    def read_loop(rid: int) -> None:
        trng = ctx.thread_rng(f"reader-{rid}")
        who = f"r{rid}"
        mine = reads[rid]
        force_block = False
        while True:
            ctx.check_aborted()
            count = trng.randint(1, 4)
            block, timeout = True, None
            draw = trng.random()
            if not force_block and draw < 0.25:
                block = False
                count = trng.choice([0, count])
            elif not force_block and draw < 0.45:
                timeout = trng.uniform(0.0005, 0.003)
            elif draw < 0.5:
                count = 0  # blocking "everything until closed"
            items = chan.read(who, count, block, timeout)
            ctx.check(count == 0 or len(items) <= count, f"read({count}) returned {len(items)}")
            if maxsize:
                # One non-blocking read is one atomic take: never more than fit.
                if not block and len(items) > maxsize:
                    ctx.check(False, f"a non-blocking read got {len(items)} > maxsize {maxsize}")
                size = chan.writer.size()
                ctx.check(size <= maxsize, f"bounded channel holds {size} > {maxsize} items")
            mine.extend(items)
            if items:
                ctx.tick(len(items))
                with tally.cond:
                    tally.read_total += len(items)
                    tally.cond.notify_all_locked()
            force_block = not items
            if block and timeout is None and (count == 0 or len(items) < count):
                return  # closed and drained
            if not items and chan.writer.closed() and chan.writer.size() == 0:
                ctx.check(
                    chan.read(who, 1, True, None) == [],
                    "read of a closed, drained channel returned items",
                )
                return

    def closer() -> None:
        target = ctx.thread_rng("closer").randint(0, total)
        with tally.cond:
            while True:
                ctx.check_aborted()
                if close_mode == "midstream" and len(tally.written) >= target:
                    break
                # "drained": every write is done and the channel is empty (a reader may
                # still wait for more items in a multi-item read).
                if tally.writers_done == writers and (
                    close_mode != "drained" or chan.writer.size() == 0
                ):
                    break
                tally.cond.wait(0.1)
        chan.close("closer")
        if ctx.thread_rng("closer2").random() < 0.3:
            chan.close("closer")  # closing twice is fine
        with tally.cond:
            tally.close_returned = True
        ctx.tick()

    for wid in range(writers):
        ctx.spawn(f"writer-{wid}", functools.partial(write_loop, wid))
    for rid in range(readers):
        ctx.spawn(f"reader-{rid}", functools.partial(read_loop, rid))
    ctx.spawn("closer", closer)
    ctx.join_all()

    everything = [item for mine in reads for item in mine]
    with tally.cond:
        written = list(tally.written)
    message = oracles.exactly_once(written, everything, f"channel(maxsize={maxsize})")
    ctx.check(not message, message)
    for rid, mine in enumerate(reads):
        message = oracles.per_source_order(mine, f"reader {rid}")
        ctx.check(not message, message)
    if close_mode != "midstream":
        ctx.check(len(written) == total, f"only {len(written)} of {total} writes succeeded")
    check_history(ctx, chan, f"channel(maxsize={maxsize}, {close_mode})")


def _waiters(cond: HSCondition) -> int:
    # Test-only peek at the condition's waiter list, under its lock.
    with cond:
        return len(cond._waiters)


def _await_waiters(ctx: Context, conds: list[tuple[HSCondition, int]], limit_s: float) -> None:
    """Best effort: poll until each condition has the given number of waiters, for at
    most ``limit_s`` (the oracles hold whether or not they got there)."""
    deadline = time.monotonic() + limit_s
    never = threading.Event()
    for _ in range(ctx.limit("polls", 1 << 30)):
        ctx.check_aborted()
        if all(_waiters(cond) >= n for cond, n in conds) or time.monotonic() > deadline:
            return
        ctx.wait_event(never, 0.0005)


def channel_close_blocked(ctx: Context) -> None:
    """Readers blocked on an empty channel, readers blocked wanting more than there is,
    writers blocked on a full bounded channel: close must release every one of them."""
    rng = ctx.rng
    n_empty = rng.randint(1, ctx.limit("readers", 4))
    n_partial = rng.randint(1, min(3, ctx.limit("readers", 3)))
    n_writers = rng.randint(1, min(3, ctx.limit("writers", 3)))
    prefill = rng.randint(0, min(4, ctx.limit("items", 4)))
    bound = rng.randint(1, min(3, ctx.limit("maxsize", 3)))
    empty = recorded_channel(
        ctx, rng.choice([0, 2]), _recorder(ctx, 2 * n_empty + 1), "close_blocked/empty"
    )
    partial = recorded_channel(
        ctx, 0, _recorder(ctx, prefill + 2 * n_partial + 1), "close_blocked/partial"
    )
    full = recorded_channel(
        ctx, bound, _recorder(ctx, bound + 2 * n_writers + 1), "close_blocked/full"
    )
    for chan in (empty, partial, full):
        ctx.on_abort(functools.partial(chan.close, "watchdog"))  # recorded: ReadOnly needs it
    for seq in range(prefill):
        ctx.check(partial.write("main", (0, seq), False, None) is None, "prefill failed")
    for seq in range(bound):
        ctx.check(full.write("main", (1, seq), False, None) is None, "fill failed")
    results: dict[str, list[Item]] = {}
    outcomes: dict[str, str | None] = {}
    lock = threading.Lock()

    def reader(chan: RecordedChannel, who: str, count: int) -> Callable[[], None]:
        def run() -> None:
            items = chan.read(who, count, True, None)
            with lock:
                results[who] = items
            ctx.tick(len(items))

        return run

    def writer(who: str, timeout: float | None) -> Callable[[], None]:
        def run() -> None:
            outcome = full.write(who, (2, int(who[1:])), True, timeout)
            with lock:
                outcomes[who] = outcome
            ctx.tick()

        return run

    for i in range(n_empty):
        ctx.spawn(f"e{i}", reader(empty, f"e{i}", rng.choice([0, 1, 2, 4])))
    for i in range(n_partial):
        ctx.spawn(f"p{i}", reader(partial, f"p{i}", prefill + rng.randint(1, 3)))
    timeouts = [rng.choice([None, 30.0]) for _ in range(n_writers)]
    for i in range(n_writers):
        ctx.spawn(f"w{i}", writer(f"w{i}", timeouts[i]))
    _await_waiters(
        ctx,
        [
            (empty.queue().not_empty, n_empty),
            (partial.queue().not_empty, n_partial),
            (full.queue().not_full, n_writers),
        ],
        0.5,
    )
    order = [empty, partial, full]
    rng.shuffle(order)
    for chan in order:
        chan.close("main")
        ctx.tick()
    ctx.join_all()

    for i in range(n_empty):
        ctx.check(
            results.get(f"e{i}") == [],
            f"reader e{i} of a never-written channel got {results.get(f'e{i}')!r}",
        )
    got = [item for i in range(n_partial) for item in results.get(f"p{i}", [])]
    message = oracles.exactly_once([(0, s) for s in range(prefill)], got, "partial reads")
    ctx.check(not message, message)
    for i in range(n_writers):
        # Under the explorer's virtual time a 30 s timeout may expire before the close.
        allowed = ("ReadOnly",) if timeouts[i] is None else ("ReadOnly", "Full")
        ctx.check(
            outcomes.get(f"w{i}") in allowed,
            f"writer w{i} blocked on a full channel ended with {outcomes.get(f'w{i}')!r}",
        )
    left = full.read("main", 0, False, None)
    ctx.check(left == [(1, s) for s in range(bound)], f"full channel then held {left!r}")
    for count in (0, 1, 3):
        ctx.check(
            full.read("main", count, True, None) == [],
            "read of a closed, drained channel returned items",
        )
    for chan, what in ((empty, "empty"), (partial, "partial"), (full, "full")):
        check_history(ctx, chan, f"close_blocked/{what}")
