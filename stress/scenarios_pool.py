"""Pool scenarios: random pipelines read by 1..4 threads per sink while pool sizes change,
failing tasks, orphan churn, and ``set_size`` churn while reads are in flight."""

from __future__ import annotations

import contextlib
import threading
from typing import Callable

from refasync.channel import ChannelReader, ChannelWriter, Writer
from refasync.pool import Pool, PoolReader, ThreadPool

from . import oracles
from .harness import Context
from .pipeline import Payload, Pipeline, build_pipeline

__all__ = ("orphan_churn", "pool_failure", "pool_pipeline", "set_size_churn")

MAX_POOL_SIZE = 8


def _reader_loop(ctx: Context, name: str, reader: PoolReader[Payload],
                 mine: list[Payload]) -> Callable[[], None]:
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


def _churn_loop(ctx: Context, pools: list[Pool], stop: threading.Event,
                pipe: Pipeline, pause_s: float) -> Callable[[], None]:
    """Change pool sizes (and sometimes task chunk limits) until ``stop``."""
    tasks = list(pipe.tasks.values())

    def run() -> None:
        rng = ctx.thread_rng("churn")
        for _ in range(ctx.limit("churn_rounds", 1 << 30)):
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


def _read_everything(ctx: Context, pipe: Pipeline, churn_pause_s: float | None,
                     max_readers: int = 4) -> dict[str, list[Payload]]:
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
            readers.append(ctx.spawn(f"read-{sid}-{j}", _reader_loop(ctx, f"read-{sid}-{j}",
                                                                      reader, mine)))
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
            ok = bool(path) and path[0] == f"t{source}" and path[-1] == sid and all(
                (a, b) in pipe.edges for a, b in zip(path, path[1:]))
            ctx.check(ok, f"item {(source, seq)} reached {sid} along {path}, not a DAG path")


def _all_source_items(pipe: Pipeline, exclude: set[str] = set()) -> list[tuple[int, int]]:
    return [item for tid, items in pipe.source_items.items() if tid not in exclude
            for item in items]


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
    message = oracles.exactly_once(_all_source_items(pipe, upstream), unaffected_got,
                                   f"sources not upstream of {bad} ({what})")
    ctx.check(not message, message)
    task = pipe.tasks[bad]
    error = task.error()
    ctx.check(error is pipe.probes[bad].raised,
              f"{bad} raised {pipe.probes[bad].raised!r} but error() is {error!r} ({what})")
    ctx.check(task.is_done() and task.is_closed(), f"failed {bad} not done and closed")
    if pipe.recorder is not None:
        with pipe.recorder.lock:
            written = [(s, q) for s, q, _ in pipe.recorder.written]
        missing = set(written) - set(got)
        ctx.check(not missing, f"items {bad} wrote before failing never arrived: "
                  f"{sorted(missing)[:10]} ({what})")


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


def _run_pipeline(ctx: Context, pools: list[Pool], fail: bool, churn_pause_s: float | None,
                  max_tasks: int = 8) -> bool:
    """Build, read and check one pipeline; :return: whether it had a fan-in."""
    pipe = build_pipeline(ctx.rng, pools, max_tasks=ctx.limit("tasks", max_tasks), fail=fail,
                          items=(0, ctx.limit("items", 30)))
    writers = [t.writer() for t in pipe.tasks.values()]
    ctx.on_abort(lambda: _close_all(writers))
    delivered = _read_everything(ctx, pipe, churn_pause_s)
    _check_delivery(ctx, pipe, delivered)
    has_merge = pipe.has_merge
    pipe.drop()
    return has_merge


def _finish(ctx: Context, stack: contextlib.ExitStack, pools: list[Pool],
            has_merge: bool) -> None:
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
    pipe = build_pipeline(rng, [pool], max_tasks=ctx.limit("tasks", 3),
                          items=(min(5, ctx.limit("items", 5)), ctx.limit("items", 60)),
                          chain_only=True)
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
    ctx.check(len(closed) == len(pipe.tasks),
              f"after remove_task only {closed} of {list(pipe.tasks)} are done and closed")
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
