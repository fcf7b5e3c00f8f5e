"""Who runs chunks (issue 9): a thread outside every chunk only waits on a pool with
workers and its timeout bounds the wait; a thread inside a chunk helps; with size 0 the
reader runs the chunks; resizing during a wait neither hangs nor loses items."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator

import pytest

from refasync import (
    ChannelThreadTask,
    IteratorThreadTask,
    Pool,
    PoolReader,
    Reader,
    ThreadPool,
    util,
)
from refasync.testing import wait_or_fail
from refasync.util import AsyncQueue
from stress.broken import broken
from tests.pool_support import BOUND_S, Gate, read_in_pieces, running_pool, start_bounded

#: How much a timed read may overrun its timeout here: generous, for a loaded 2-core box.
MARGIN_S = 1.0

WORKER_PREFIX = "refasync-worker-"


class ThreadLog:
    """A task function (identity) recording the name of the thread running each item."""

    def __init__(self, then: Callable[[int], int] = lambda x: x) -> None:
        self._lock = threading.Lock()
        self._ran: dict[int, str] = {}  # guarded by _lock
        self._then = then

    def __call__(self, x: int) -> int:
        with self._lock:
            self._ran[x] = threading.current_thread().name
        return self._then(x)

    def threads(self) -> set[str]:
        with self._lock:
            return set(self._ran.values())

    def thread_of(self, x: int) -> str:
        with self._lock:
            return self._ran[x]


def source(
    pool: Pool, n: int, fun: Callable[[int], int], max_chunksize: int = 0, name: str = "src"
) -> PoolReader[int]:
    task: IteratorThreadTask[int, int] = IteratorThreadTask(
        iter(range(n)), name, fun, max_chunksize=max_chunksize
    )
    return pool.add_task(task)


def then(
    pool: Pool, reader: Reader[int], fun: Callable[[int], int], name: str, max_chunksize: int = 0
) -> PoolReader[int]:
    return pool.add_task(ChannelThreadTask(reader, name, fun, max_chunksize=max_chunksize))


@pytest.fixture(params=[1, 2, 4], ids=lambda size: f"size{size}")
def threaded(request: pytest.FixtureRequest) -> Iterator[ThreadPool]:
    with running_pool(request.param) as pool:
        yield pool


# --- a thread outside every chunk only waits ---------------------------------------------


@pytest.mark.parametrize("timeout", [0.0, 0.05])
def test_timed_read_returns_within_its_timeout_while_a_slow_chunk_runs_on_a_worker(
    threaded: ThreadPool, timeout: float
) -> None:
    gate = Gate(block_at=0)
    reader = source(threaded, 3, gate)
    start = util.monotonic()
    first = reader.read(1, timeout=timeout)  # schedules the chunk; a worker runs it
    elapsed = util.monotonic() - start
    assert elapsed < timeout + MARGIN_S, f"read(1, timeout={timeout}) took {elapsed:.3f} s"
    wait_or_fail(gate.entered, BOUND_S, "a worker entered the gated item")
    start = util.monotonic()
    second = reader.read(1, timeout=timeout)  # the chunk is in flight on the worker
    elapsed = util.monotonic() - start
    assert elapsed < timeout + MARGIN_S, f"read(1, timeout={timeout}) took {elapsed:.3f} s"
    assert first == second == []
    assert reader.read(2, block=False) == []
    gate.release.set()
    assert sorted(reader.read(0)) == [0, 1, 2]


def test_with_workers_task_functions_run_only_in_worker_threads(threaded: ThreadPool) -> None:
    logs = [ThreadLog() for _ in range(3)]
    reader: PoolReader[int] = source(threaded, 120, logs[0], max_chunksize=3)
    for k, log in enumerate(logs[1:], 1):
        reader = then(threaded, reader, log, f"t{k}", max_chunksize=k)
    got = reader.read(5, block=False)
    got += reader.read(7, timeout=0.001)
    got += reader.read(4, timeout=0)
    got += read_in_pieces(reader, [1, 6, 0])
    assert sorted(got) == list(range(120))
    for log in logs:
        outsiders = {name for name in log.threads() if not name.startswith(WORKER_PREFIX)}
        assert not outsiders, f"task functions ran outside the workers: {outsiders}"


def test_several_outside_readers_at_once(threaded: ThreadPool) -> None:
    log = ThreadLog()
    reader = then(threaded, source(threaded, 400, log, max_chunksize=7), log, "shared")

    def read_mixed(timeout: float | None) -> list[int]:
        out: list[int] = []
        if timeout is not None:
            for _ in range(30):  # timed reads first, then to the end
                out.extend(reader.read(3, timeout=timeout))
        return out + read_in_pieces(reader, [3])

    calls = [
        start_bounded(functools.partial(read_mixed, t), f"reader-{k}")
        for k, t in enumerate([None, None, 0.0, 0.002])
    ]
    got = [x for call in calls for x in call.result()]
    assert sorted(got) == list(range(400))
    assert all(name.startswith(WORKER_PREFIX) for name in log.threads())


# --- size 0: the reader runs the chunks --------------------------------------------------


def test_serial_pool_runs_chunks_in_the_reading_thread_even_with_timeout_zero() -> None:
    with running_pool(0) as pool:
        log = ThreadLog()
        reader = source(pool, 3, log)
        assert reader.read(1, timeout=0) == [0]
        assert log.threads() == {threading.current_thread().name}


def test_set_size_zero_during_an_outside_wait_makes_the_reader_do_the_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_pool(1) as pool:
        gate = Gate(block_at=0)
        done_2 = threading.Event()

        def fun(x: int) -> int:
            gate(x)
            if x == 2:
                done_2.set()
            return x

        log = ThreadLog(fun)
        reader = source(pool, 5, log, max_chunksize=1)
        assert reader.read(1, block=False) == []  # item 0 goes to the worker, held there
        wait_or_fail(gate.entered, BOUND_S, "the worker entered item 0")
        waiting = threading.Event()
        real_wait = AsyncQueue.wait_for_change

        def spy(queue: AsyncQueue[object], generation: int, timeout: float | None) -> None:
            waiting.set()
            real_wait(queue, generation, timeout)

        monkeypatch.setattr(AsyncQueue, "wait_for_change", spy)
        outside = start_bounded(lambda: reader.read(3), "outside reader")
        wait_or_fail(waiting, BOUND_S, "the outside reader waits for the worker")
        pool.set_size(0)  # the worker is stuck in item 0: the reader must take over
        wait_or_fail(done_2, BOUND_S, "the outside reader ran the queued chunks itself")
        assert log.thread_of(1) == log.thread_of(2) == outside.name
        gate.release.set()
        assert sorted(outside.result()) == [0, 1, 2]
        assert sorted(reader.read(0)) == [3, 4]


def test_growing_the_pool_during_a_serial_read_is_safe() -> None:
    with running_pool(0) as pool:
        grown = threading.Event()

        def grow_at_10(x: int) -> int:
            if x == 10 and not grown.is_set():
                pool.set_size(2)  # from inside a chunk the reading thread runs
                grown.set()
            return x

        reader = then(pool, source(pool, 200, grow_at_10, max_chunksize=4), lambda x: x, "t")
        got = read_in_pieces(reader, [7, 1])
        assert grown.is_set() and pool.size() == 2
        assert sorted(got) == list(range(200))


# --- a thread inside a chunk helps: cross-pool chains ------------------------------------


def cross_chain(a: Pool, b: Pool, n: int) -> tuple[PoolReader[int], list[ThreadLog]]:
    """A -> B -> A: a task of A, read by a task of B, read by a task of A."""
    logs = [ThreadLog() for _ in range(3)]
    first = source(a, n, logs[0])
    middle = then(b, first, logs[1], "in B")
    last = then(a, middle, logs[2], "back in A")
    return last, logs


@pytest.mark.parametrize("sizes", [(1, 1), (1, 0), (0, 1), (2, 1)])
def test_cross_pool_chain_a_b_a(sizes: tuple[int, int]) -> None:
    with running_pool(sizes[0]) as a, running_pool(sizes[1]) as b:
        reader, logs = cross_chain(a, b, 60)
        call = start_bounded(lambda: read_in_pieces(reader, [0]), "read all")
        assert sorted(call.result()) == list(range(60))
        reader, logs = cross_chain(a, b, 60)
        call = start_bounded(lambda: read_in_pieces(reader, [1, 5, 2]), "read in pieces")
        assert sorted(call.result()) == list(range(60))
        if 0 not in sizes:
            for log in logs:
                assert all(name.startswith(WORKER_PREFIX) for name in log.threads())


def test_without_helping_a_cross_pool_chain_hangs() -> None:
    """Mutation check: with the policy broken (threads inside a chunk only wait), A's
    worker waits for B's chunk, which waits for a chunk queued behind A's busy worker."""
    with running_pool(1) as a, running_pool(1) as b:
        reader, _ = cross_chain(a, b, 20)
        with broken("no_helping"):
            call = start_bounded(lambda: reader.read(0), "read all, no helping")
            assert not call.finished.wait(1.0), "the broken policy did not hang"
        # Repair: the real policy is back; shrinking A to 0 pokes the readers waiting on
        # A's queued chunk (B's worker), which now helps and runs it.
        a.set_size(0)
        assert sorted(call.result()) == list(range(20))


def _two_waiting_readers_of_one_chunk(timeout: float) -> list[list[int]]:
    """Reader A's read(1) plans one chunk of one item on a one-worker pool, held in
    flight; reader B finds that chunk covers the demand and waits too. The chunk's write
    wakes one of them; only the chunk's end (which pokes the readers counted as waiting)
    tells the other to plan the next chunk. :return: what each read returned."""
    gate = Gate(0)
    waiting: set[int] = set()
    both_wait = threading.Event()
    guard = threading.Lock()

    def hook(point: util.SyncPoint, primitive: util.SyncPrimitive) -> bool:
        if point is util.SyncPoint.WAIT and primitive.name == "AsyncQueue.not_empty":
            with guard:
                waiting.add(threading.get_ident())
                if len(waiting) == 2:
                    both_wait.set()
        return False

    with running_pool(1) as pool:
        reader = source(pool, 10, gate, max_chunksize=1)
        util.set_sync_hook(hook)
        try:
            a = start_bounded(lambda: reader.read(1, timeout=timeout), "reader A")
            wait_or_fail(gate.entered, BOUND_S, "the chunk of item 0 started")
            b = start_bounded(lambda: reader.read(1, timeout=timeout), "reader B")
            wait_or_fail(both_wait, BOUND_S, "both readers wait")
            gate.release.set()
            return [a.result(), b.result()]
        finally:
            util.set_sync_hook(None)


def test_a_chunk_end_wakes_every_reader_waiting_for_its_task() -> None:
    assert sorted(_two_waiting_readers_of_one_chunk(BOUND_S)) == [[0], [1]]


def test_without_the_poke_at_a_chunk_end_a_waiting_reader_times_out_empty() -> None:
    with broken("chunk_end_pokes_nobody"):
        assert sorted(_two_waiting_readers_of_one_chunk(2.0)) == [[], [0]]
