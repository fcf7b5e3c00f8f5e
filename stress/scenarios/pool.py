"""Pool scenarios: random pipelines read by 1..4 threads per sink while pool sizes change,
failing tasks, orphan churn, ``set_size`` churn while reads are in flight, timed reads
on pools that keep their workers, and chains that cross two one-worker pools."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable

from refasync import util
from refasync.channel import ChannelReader, ChannelWriter, Reader, Writer
from refasync.pool import Pool, PoolReader
from refasync.task import ChannelThreadTask, IteratorThreadTask

from .. import oracles
from ..harness import Context
from .pipeline import Payload, Pipeline, build_pipeline

__all__ = (
    "TIMED_READ_QUANTUM_S",
    "cross_pool_chain",
    "orphan_churn",
    "pool_failure",
    "pool_pipeline",
    "pool_timed_reads",
    "set_size_churn",
)

MAX_POOL_SIZE = 8


def _reader_loop(
    ctx: Context, name: str, reader: PoolReader[Payload], mine: list[Payload]
) -> Callable[[], None]:
    """Read until the channel is closed and drained, with random counts and modes."""

    def run() -> None:
        rng = ctx.thread_rng(name)
        while True:
            ctx.check_aborted()
            count = rng.choice([0, 1, 1, 2, 3, 4, 4])
            draw = rng.random()
            if draw < 0.08:
                mine.extend(reader.read(count, False))  # may return nothing; loop on
                continue
            if draw < 0.14:
                mine.extend(reader.read(count, True, 0.002))  # per-item timeout
                continue
            items = reader.read(count)
            ctx.check(count == 0 or len(items) <= count, f"read({count}) got {len(items)}")
            mine.extend(items)
            if items:
                ctx.tick(len(items))
            if count == 0 or len(items) < count:
                return  # closed and drained

    return run


def _churn_loop(
    ctx: Context, pools: list[Pool], stop: threading.Event, pipe: Pipeline, pause_s: float
) -> Callable[[], None]:
    """Change pool sizes (and sometimes task chunk limits) until ``stop``, or until the
    watchdog gave up on the instance."""
    tasks = list(pipe.tasks.values())

    def run() -> None:
        rng = ctx.thread_rng("churn")
        for _ in range(ctx.limit("churn_rounds", 1 << 30)):
            ctx.check_aborted()  # a hung instance's churn must not outlive it
            if stop.is_set():
                break
            pool = rng.choice(pools)
            pool.set_size(rng.choice([0, 0, rng.randint(1, ctx.limit("pool_size", MAX_POOL_SIZE))]))
            if tasks and rng.random() < 0.2:
                task = rng.choice(tasks)
                task.max_chunksize = rng.choice([0, 1, 2, 4])
                task.min_count = rng.choice([None, 1, 3, 6])
            ctx.wait_event(stop, rng.uniform(0.0, pause_s))

    return run


def _read_everything(
    ctx: Context, pipe: Pipeline, churn_pause_s: float | None, max_readers: int = 4
) -> dict[str, list[Payload]]:
    """Read every sink to its end with 1..max_readers threads each, churning pool sizes
    meanwhile when ``churn_pause_s`` is given; :return: the items per sink."""
    results: dict[str, list[list[Payload]]] = {}
    readers: list[threading.Thread] = []
    for sid, reader in pipe.sinks:
        ctx.watch_channel(reader.channel.queue)
        results[sid] = []
        for j in range(ctx.rng.randint(1, ctx.limit("readers", max_readers))):
            mine: list[Payload] = []
            results[sid].append(mine)
            readers.append(
                ctx.spawn(f"read-{sid}-{j}", _reader_loop(ctx, f"read-{sid}-{j}", reader, mine))
            )
    stop = threading.Event()
    if churn_pause_s is not None:
        ctx.spawn("churn", _churn_loop(ctx, pipe.pools, stop, pipe, churn_pause_s))
    for thread in readers:
        thread.join()
    stop.set()
    ctx.join_all()
    return {sid: [item for mine in lists for item in mine] for sid, lists in results.items()}


def _check_paths(ctx: Context, pipe: Pipeline, delivered: dict[str, list[Payload]]) -> None:
    for sid, items in delivered.items():
        for source, seq, path in items:
            ok = (
                bool(path)
                and path[0] == f"t{source}"
                and path[-1] == sid
                and all((a, b) in pipe.edges for a, b in zip(path, path[1:], strict=False))
            )
            ctx.check(ok, f"item {(source, seq)} reached {sid} along {path}, not a DAG path")


def _all_source_items(
    pipe: Pipeline, exclude: frozenset[str] | set[str] = frozenset()
) -> list[tuple[int, int]]:
    return [
        item for tid, items in pipe.source_items.items() if tid not in exclude for item in items
    ]


def _check_delivery(ctx: Context, pipe: Pipeline, delivered: dict[str, list[Payload]]) -> None:
    """Exactly once without a failure; with one: at most once, exactly once for sources
    not upstream of the failed task, and everything it wrote before failing arrives."""
    _check_paths(ctx, pipe, delivered)
    got = [(s, q) for items in delivered.values() for s, q, _ in items]
    what = " | ".join(pipe.describe)
    failed = pipe.failing is not None and pipe.probes[pipe.failing].raised is not None
    if not failed:
        message = oracles.exactly_once(_all_source_items(pipe), got, what)
        ctx.check(not message, message)
        for tid, task in pipe.tasks.items():
            ctx.check(task.is_done(), f"{tid} not done after its sinks drained ({what})")
            ctx.check(task.error() is None, f"{tid} failed: {task.error()!r} ({what})")
        return
    assert pipe.failing is not None
    bad = pipe.failing
    message = oracles.at_most_once(_all_source_items(pipe), got, what)
    ctx.check(not message, message)
    upstream = pipe.ancestors[bad] | {bad}
    unaffected = {s for s in pipe.source_items if s not in upstream}
    unaffected_got = [item for item in got if f"t{item[0]}" in unaffected]
    message = oracles.exactly_once(
        _all_source_items(pipe, upstream), unaffected_got, f"sources not upstream of {bad} ({what})"
    )
    ctx.check(not message, message)
    task = pipe.tasks[bad]
    error = task.error()
    ctx.check(
        error is pipe.probes[bad].raised,
        f"{bad} raised {pipe.probes[bad].raised!r} but error() is {error!r} ({what})",
    )
    ctx.check(task.is_done() and task.is_closed(), f"failed {bad} not done and closed")
    if pipe.recorder is not None:
        with pipe.recorder.lock:
            written = [(s, q) for s, q, _ in pipe.recorder.written]
        missing = set(written) - set(got)
        ctx.check(
            not missing,
            f"items {bad} wrote before failing never arrived: {sorted(missing)[:10]} ({what})",
        )


def _close_all(writers: list[Writer[Payload] | None]) -> None:
    for writer in writers:
        if writer is not None:
            writer.close()


def _new_pools(ctx: Context, stack: contextlib.ExitStack, second: float) -> list[Pool]:
    size = ctx.limit("pool_size", MAX_POOL_SIZE)
    pools: list[Pool] = [stack.enter_context(ctx.new_pool(ctx.rng.randint(0, size)))]
    if ctx.rng.random() < second:
        pools.append(stack.enter_context(ctx.new_pool(ctx.rng.randint(0, size))))
    return pools


def _run_pipeline(
    ctx: Context, pools: list[Pool], fail: bool, churn_pause_s: float | None, max_tasks: int = 8
) -> bool:
    """Build, read and check one pipeline; :return: whether it had a fan-in."""
    pipe = build_pipeline(
        ctx.rng,
        pools,
        max_tasks=ctx.limit("tasks", max_tasks),
        fail=fail,
        items=(0, ctx.limit("items", 30)),
    )
    writers = [t.writer() for t in pipe.tasks.values()]
    ctx.on_abort(lambda: _close_all(writers))
    delivered = _read_everything(ctx, pipe, churn_pause_s)
    _check_delivery(ctx, pipe, delivered)
    has_merge = pipe.has_merge
    pipe.drop()
    return has_merge


def _finish(ctx: Context, stack: contextlib.ExitStack, pools: list[Pool], has_merge: bool) -> None:
    """Every handle is gone: orphans must be removed (exactly, after gc.collect()), then
    the pools close. A MergeReader is not a PoolReader, so the pool does not release its
    inputs when the merging task is removed; they die with the task, which a chunk still
    in flight upstream of a failure may hold for a while: with a merge, close the pools
    (which waits for in-flight chunks) first and allow a collection round per level."""
    if has_merge:
        _close_and_check(ctx, stack, pools)
    message = oracles.orphans_removed(pools, rounds=3 if has_merge else 1)
    ctx.check(not message, message)
    if not has_merge:
        _close_and_check(ctx, stack, pools)


def _close_and_check(ctx: Context, stack: contextlib.ExitStack, pools: list[Pool]) -> None:
    stack.close()  # ThreadPool.__exit__: close() ends and joins the workers
    for pool in pools:
        ctx.check(pool.size() == 0, f"pool size {pool.size()} after close()")


def pool_pipeline(ctx: Context) -> None:
    """A random DAG over one or two pools, sizes changed during the run."""
    with contextlib.ExitStack() as stack:
        pools = _new_pools(ctx, stack, second=0.3)
        churn = ctx.rng.choice([None, 0.002, 0.01])
        has_merge = _run_pipeline(ctx, pools, fail=False, churn_pause_s=churn)
        _finish(ctx, stack, pools, has_merge)


def pool_failure(ctx: Context) -> None:
    """A random DAG in which one task (or source iterator) fails at a random item."""
    with contextlib.ExitStack() as stack:
        pools = _new_pools(ctx, stack, second=0.2)
        churn = ctx.rng.choice([None, 0.005])
        has_merge = _run_pipeline(ctx, pools, fail=True, churn_pause_s=churn)
        _finish(ctx, stack, pools, has_merge)


def set_size_churn(ctx: Context) -> None:
    """Small pipelines read by several threads while set_size changes constantly,
    including to 0."""
    with contextlib.ExitStack() as stack:
        pools = _new_pools(ctx, stack, second=0.2)
        has_merge = _run_pipeline(ctx, pools, fail=False, churn_pause_s=0.0005, max_tasks=4)
        _finish(ctx, stack, pools, has_merge)


def _wait_closed(writer: ChannelWriter[Payload] | None) -> None:
    """Block until the channel is closed: a blocking read-all returns exactly then."""
    if writer is not None:
        ChannelReader(writer.channel).read(0)


def _churn_round(ctx: Context, pool: Pool) -> None:
    """Build a chain, read part of it, then drop it or remove it while it is read."""
    rng = ctx.rng
    pipe = build_pipeline(
        rng,
        [pool],
        max_tasks=ctx.limit("tasks", 3),
        items=(min(5, ctx.limit("items", 5)), ctx.limit("items", 60)),
        chain_only=True,
    )
    writers = [t.writer() for t in pipe.tasks.values()]
    ctx.on_abort(lambda: _close_all(writers))
    channel_writers = [w for w in writers if isinstance(w, ChannelWriter)]
    mode = rng.choice(["drop", "remove_while_reading"])
    if mode == "drop":
        for _, reader in pipe.sinks:
            reader.read(rng.randint(0, 6) or 1)
            ctx.tick()
        del reader
        tasks = list(pipe.tasks.values())
        probes = list(pipe.probes.values())
        pipe.drop()
        message = oracles.orphans_removed([pool])
        ctx.check(not message, "dropping every handle: " + message)
        ctx.check(all(t.is_done() for t in tasks), "an orphan was removed but is not done")
        for writer in channel_writers:
            _wait_closed(writer)  # a removed task's channel closes once no chunk writes
        late = [p.tid for p in probes if p.mark_gone()]
        ctx.check(not late, f"tasks {late} still ran a chunk after their channel closed")
        return
    # remove_while_reading: readers run while the sink task is removed explicitly.
    sid, handed_over = pipe.sinks[0]
    box = [handed_over]  # the reading thread takes the only handle the caller keeps
    del handed_over
    pipe.sinks.clear()
    got: list[Payload] = []
    first = threading.Event()
    stop = threading.Event()

    def read() -> None:
        reader = box.pop()
        while not stop.is_set():
            items = reader.read(rng.randint(1, 3))
            got.extend(items)
            first.set()
            ctx.tick(len(items))
            if not items:
                return

    thread = ctx.spawn(f"churn-read-{sid}", read)
    while not ctx.wait_event(first, 0.05) and thread.is_alive():
        ctx.check_aborted()
    ctx.raise_errors()
    sink_task = pipe.tasks[sid]
    pool.remove_task(sink_task)
    ctx.tick()
    # Everything upstream of the sink was held only by it: removed with it, and
    # remove_task returned only after their in-flight chunks finished.
    active = {p.tid: p.mark_gone() for p in pipe.probes.values()}
    busy = [tid for tid, n in active.items() if n]
    ctx.check(not busy, f"remove_task returned while chunks of {busy} ran")
    closed = [tid for tid, t in pipe.tasks.items() if t.is_done() and t.is_closed()]
    ctx.check(
        len(closed) == len(pipe.tasks),
        f"after remove_task only {closed} of {list(pipe.tasks)} are done and closed",
    )
    stop.set()
    thread.join()
    ctx.raise_errors()
    late = [p.tid for p in pipe.probes.values() if p.late_calls]
    ctx.check(not late, f"tasks {late} ran chunks after remove_task returned")
    counted = pool.num_tasks()
    ctx.check(counted == 0, f"num_tasks() is {counted} right after remove_task of the sink")
    pipe.drop()


def orphan_churn(ctx: Context) -> None:
    """Build and drop pipelines in a loop, with work in flight."""
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(ctx.new_pool(ctx.rng.randint(0, ctx.limit("pool_size", 6))))
        for _ in range(ctx.rng.randint(2, ctx.limit("rounds", 4))):
            _churn_round(ctx, pool)
        _finish(ctx, stack, [pool], has_merge=False)


# -- who runs chunks: timed reads and cross-pool chains (issue 9) --------------------------

#: One scheduling quantum, generously: how much a timed read may overrun its timeout on a
#: loaded 2-core machine under the ``pathological`` delay profile (at most 4 ms per sync
#: point) without the oracle flaking. A reader that ran a chunk itself instead of waiting
#: overruns by a whole chunk (``SLOW_ITEM_S``), which is longer.
TIMED_READ_QUANTUM_S = 0.25

#: How long a slow item takes in its task's function (a few instances have one).
SLOW_ITEM_S = 0.3

WORKER_THREAD_PREFIX = "refasync-worker-"


class _WorkerOnly:
    """A task function (identity on ints) that records every thread it runs in that is not
    a pool worker, and sleeps ``SLOW_ITEM_S`` on the item ``slow_at``."""

    def __init__(self, tid: str, slow_at: int | None) -> None:
        self.tid = tid
        self.slow_at = slow_at
        self._lock = threading.Lock()
        self.outsiders: list[str] = []  # guarded by _lock

    def __call__(self, item: int) -> int:
        name = threading.current_thread().name
        if not name.startswith(WORKER_THREAD_PREFIX):
            with self._lock:
                self.outsiders.append(name)
        if item == self.slow_at:
            threading.Event().wait(SLOW_ITEM_S)  # the workload, not a synchronization
        return item


def _build_chain(
    ctx: Context, pools: list[Pool], length: int, items: int, slow: bool
) -> tuple[PoolReader[int], list[_WorkerOnly]]:
    """A chain of ``length`` tasks over ``items`` ints; task k lives in pools[k % len]."""
    funs: list[_WorkerOnly] = []
    slow_task = ctx.rng.randrange(length) if slow else -1
    reader: Reader[int] | None = None
    for k in range(length):
        fun = _WorkerOnly(f"c{k}", ctx.rng.randrange(items) if k == slow_task else None)
        funs.append(fun)
        chunk = ctx.rng.choice([0, 1, 3])
        pool = pools[k % len(pools)]
        if reader is None:
            source: IteratorThreadTask[int, int] = IteratorThreadTask(
                iter(range(items)), fun.tid, fun, max_chunksize=chunk
            )
            reader = pool.add_task(source)
        else:
            reader = pool.add_task(ChannelThreadTask(reader, fun.tid, fun, max_chunksize=chunk))
    assert isinstance(reader, PoolReader)
    return reader, funs


def _timed_reader_loop(
    ctx: Context, name: str, reader: PoolReader[int], mine: list[int]
) -> Callable[[], None]:
    """Read until closed and drained, mostly with timed reads (0..4 ms): each must return
    within (items it got + 1) timeouts plus one quantum (the timeout is per item)."""

    def run() -> None:
        rng = ctx.thread_rng(name)
        came_up_empty = False  # then read blocking: no busy loop of empty timed reads
        while True:
            ctx.check_aborted()
            count = rng.randint(1, 4)
            draw = 1.0 if came_up_empty else rng.random()
            if draw < 0.6:
                timeout = rng.choice([0.0, rng.uniform(0.0, 0.004)])
                start = util.monotonic()
                items = reader.read(count, True, timeout)
                elapsed = util.monotonic() - start
                bound = (len(items) + 1) * timeout + TIMED_READ_QUANTUM_S
                if elapsed > bound and ctx.time_is_fair:
                    ctx.check(
                        False,
                        f"read({count}, timeout={timeout:.4f}) took {elapsed:.3f} s "
                        f"for {len(items)} items: overran its timeout by more than "
                        f"{TIMED_READ_QUANTUM_S} s",
                    )
            elif draw < 0.7:
                items = reader.read(count, False)
            else:
                items = reader.read(count)
                if len(items) < count:
                    mine.extend(items)
                    ctx.tick(len(items))
                    return  # closed and drained
            mine.extend(items)
            ctx.tick(len(items))
            came_up_empty = not items

    return run


def _read_chain(ctx: Context, reader: PoolReader[int], readers: int) -> list[int]:
    """Read ``reader`` to its end with ``readers`` outside threads; :return: every item."""
    results: list[list[int]] = []
    threads: list[threading.Thread] = []
    for j in range(readers):
        mine: list[int] = []
        results.append(mine)
        name = f"timed-read-{j}"
        threads.append(ctx.spawn(name, _timed_reader_loop(ctx, name, reader, mine)))
    for thread in threads:
        thread.join()
    ctx.join_all()
    return [item for mine in results for item in mine]


def _draw_items(ctx: Context, most: int) -> int:
    """:return: a chain's item count: 4..``most``, or up to the ``items`` limit."""
    most = ctx.limit("items", most)
    return ctx.rng.randint(min(4, most), most)


def _check_chain(
    ctx: Context, got: list[int], items: int, funs: list[_WorkerOnly], workers_only: bool, what: str
) -> None:
    message = oracles.exactly_once(range(items), got, what)
    ctx.check(not message, message)
    if workers_only:
        for fun in funs:
            with fun._lock:
                outsiders = list(fun.outsiders)
            ctx.check(
                not outsiders,
                f"task {fun.tid} ran in {sorted(set(outsiders))}, "
                f"not only in pool workers ({what})",
            )


def _finish_chain(
    ctx: Context, stack: contextlib.ExitStack, pools: list[Pool], length: int
) -> None:
    """Every handle is gone: the chain's orphans are removed, then the pools close. The
    removal goes back and forth between the pools (each removal releases a handle in the
    other pool), so every pool is asked up to ``length`` times; one ``gc.collect()``
    first (a full collection per round is slow in a big test process)."""
    gc.collect()
    for _ in range(length):
        if not any([pool.num_tasks() for pool in reversed(pools)]):
            break
    else:
        message = oracles.orphans_removed(pools, rounds=length)
        ctx.check(not message, message)
    _close_and_check(ctx, stack, pools)


def pool_timed_reads(ctx: Context) -> None:
    """A chain on a pool that keeps its workers (1..3; sometimes a second pool), read by
    1..3 outside threads mostly with timed reads; some instances have one slow item.
    Oracles: timed reads never overrun by more than a quantum, task functions run only in
    worker threads, every item exactly once."""
    with contextlib.ExitStack() as stack:
        size = ctx.limit("pool_size", 3)
        pools: list[Pool] = [stack.enter_context(ctx.new_pool(ctx.rng.randint(1, size)))]
        if ctx.rng.random() < 0.3:
            pools.append(stack.enter_context(ctx.new_pool(ctx.rng.randint(1, size))))
        items = _draw_items(ctx, 30)
        length = ctx.rng.randint(1, ctx.limit("tasks", 3))
        # A slow item exercises the timing oracle, which virtual time turns off: under the
        # explorer no task sleeps (an explored run never waits on the wall clock).
        slow = ctx.time_is_fair and ctx.rng.random() < 0.1
        reader, funs = _build_chain(ctx, pools, length, items, slow=slow)
        writers = [reader.channel]
        ctx.on_abort(lambda: [c.queue.set_writable(False) for c in writers])
        got = _read_chain(ctx, reader, ctx.rng.randint(1, ctx.limit("readers", 3)))
        what = f"chain of {length} over {[p.size() for p in pools]} workers, {items} items"
        _check_chain(ctx, got, items, funs, workers_only=True, what=what)
        del reader
        _finish_chain(ctx, stack, pools, length)


def cross_pool_chain(ctx: Context) -> None:
    """A chain alternating between two pools of one worker each (A -> B -> A ...), read
    by 1..2 outside threads (3..4 tasks, up to 20 items: cheap, since a hang, not volume,
    is what it looks for); a quarter of the instances give one side zero workers.
    Without helping (a worker runs queued upstream chunks itself) this hangs."""
    with contextlib.ExitStack() as stack:
        sizes = [1, 1]
        if ctx.rng.random() < 0.25:
            sizes[ctx.rng.randrange(2)] = 0
        pools: list[Pool] = [stack.enter_context(ctx.new_pool(size)) for size in sizes]
        items = _draw_items(ctx, 20)
        # Three tasks are the shortest chain that crosses back (A -> B -> A).
        length = ctx.rng.randint(3, max(3, min(4, ctx.limit("tasks", 4))))
        reader, funs = _build_chain(ctx, pools, length, items, slow=False)
        writers = [reader.channel]
        ctx.on_abort(lambda: [c.queue.set_writable(False) for c in writers])
        got = _read_chain(ctx, reader, ctx.rng.randint(1, min(2, ctx.limit("readers", 2))))
        what = f"chain of {length} across pools of {sizes} workers, {items} items"
        _check_chain(ctx, got, items, funs, workers_only=0 not in sizes, what=what)
        del reader
        _finish_chain(ctx, stack, pools, length)
