"""Faults: interrupts (KeyboardInterrupt, a raising sync hook), failing user code and bad
arguments. Each test is a rule of docs/semantics.md, section "Faults" (F*)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator

import pytest

from refasync import (
    CallbackChannelWriter,
    Channel,
    ChannelReader,
    ChannelThreadTask,
    ChannelWriter,
    IteratorReader,
    IteratorThreadTask,
    SerialChannel,
    Task,
    mkchannel,
    util,
)
from refasync.testing import wait_or_fail
from refasync.thread import WorkerThread
from refasync.util import AsyncQueue, HSCondition, Lock, SyncPoint, SyncPrimitive
from tests.channel_support import queue_of
from tests.pool_support import BOUND_S, live_workers, running_pool, start_bounded
from tests.sync_support import wait_for_waiters


class Interrupt(BaseException):
    """What the tests raise from the hook or from user code: not an Exception."""


class InterruptOnce:
    """A sync hook that raises ``Interrupt`` once, in ``thread``, at the first ``point``
    reached once that thread has reported a WAIT (so: inside a blocking operation)."""

    def __init__(self, point: SyncPoint, thread: int | None = None) -> None:
        self.point = point
        self.thread = thread
        self.waiting = threading.Event()  # the thread reported WAIT
        self.fired = threading.Event()

    def __call__(self, point: SyncPoint, primitive: SyncPrimitive) -> bool:
        if threading.get_ident() != self.thread or self.fired.is_set():
            return False
        if point is SyncPoint.WAIT:
            self.waiting.set()
        if self.waiting.is_set() and point is self.point:
            self.fired.set()
            raise Interrupt(f"at {point.value} of {primitive.name}")
        return False


@pytest.fixture(autouse=True)
def no_hook_left() -> Iterator[None]:
    yield
    util.set_sync_hook(None)


def filled(n: int, maxsize: int = 0) -> tuple[ChannelWriter[int], ChannelReader[int]]:
    channel: Channel[int] = Channel(maxsize)
    writer, reader = ChannelWriter(channel), ChannelReader(channel)
    for i in range(n):
        writer.write(i)
    return writer, reader


# --- F1: a blocking read interrupted after taking items puts them back ---------------------


@pytest.mark.parametrize(
    "point", [SyncPoint.WAIT, SyncPoint.RELEASE, SyncPoint.ACQUIRE, SyncPoint.WAKE]
)
def test_interrupted_blocking_read_puts_its_items_back_at_the_front_in_order(
    point: SyncPoint,
) -> None:
    writer, reader = filled(3)
    queue = reader.channel.queue
    assert isinstance(queue, AsyncQueue)
    hook = InterruptOnce(point)

    def read() -> list[int]:
        hook.thread = threading.get_ident()
        return reader.read(5)

    util.set_sync_hook(hook)
    call = start_bounded(read, "reader")
    wait_or_fail(hook.waiting, BOUND_S, "reader blocked after taking 3 items")
    if not hook.fired.is_set():
        queue.poke()  # wake it: it is interrupted at ACQUIRE or WAKE
    with pytest.raises(Interrupt):
        call.result()
    util.set_sync_hook(None)
    assert not queue.mutex.locked()
    assert not queue.not_empty.has_waiters()
    writer.write(3)
    assert reader.read(0, block=False) == [0, 1, 2, 3]


@pytest.mark.usefixtures("sync_hook")
def test_keyboard_interrupt_in_a_blocking_read_loses_nothing() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    writer, reader = filled(3)
    main = threading.get_ident()
    raised = threading.Event()

    def once(signum: int, frame: object) -> None:
        if not raised.is_set():  # later signals (sent while racing) are ignored
            raised.set()
            raise KeyboardInterrupt

    def send_sigint() -> None:
        # A signal that lands just before the thread blocks is only seen at its next
        # bytecode: repeat until the handler ran.
        wait_for_waiters(queue_of(reader).not_empty, 1, "main thread blocked in read")
        while not raised.wait(0.05):
            signal.pthread_kill(main, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, once)
    try:
        sender = start_bounded(send_sigint, "sigint")
        with pytest.raises(KeyboardInterrupt):
            reader.read(5)
        sender.result()
    finally:
        signal.signal(signal.SIGINT, previous)
    writer.close()
    assert reader.read(0) == [0, 1, 2]


@pytest.mark.usefixtures("sync_hook")
def test_infinite_timeout_means_no_limit() -> None:
    writer, reader = filled(3)
    closer = threading.Timer(0.05, writer.close)
    closer.start()
    assert reader.read(5, timeout=float("inf")) == [0, 1, 2]
    assert util.normalize_timeout(float("inf")) is None
    assert util.normalize_timeout(1e300) is None
    assert util.normalize_timeout(util.TIMEOUT_MAX) is None
    assert util.normalize_timeout(2.5) == 2.5
    queue: AsyncQueue[int] = AsyncQueue(1)
    queue.put(1, timeout=float("inf"))
    assert queue.get(timeout=float("inf")) == 1


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_put_and_get_reject_negative_timeouts() -> None:
    queue: AsyncQueue[int] = AsyncQueue()
    with pytest.raises(ValueError, match="timeout"):
        queue.put(1, timeout=-1)
    assert queue.qsize() == 0
    queue.put(1)
    with pytest.raises(ValueError, match="timeout"):
        queue.get(timeout=-0.5)
    assert queue.qsize() == 1


# --- F2: one interrupt anywhere in a write/read exchange: nothing lost, no lock held -----


def _sync_points_of(fn: Callable[[], object]) -> int:
    seen: list[SyncPoint] = []

    def count(point: SyncPoint, primitive: SyncPrimitive) -> bool:
        seen.append(point)
        return False

    util.set_sync_hook(count)
    try:
        fn()
    finally:
        util.set_sync_hook(None)
    return len(seen)


@pytest.mark.parametrize("maxsize", [0, 2])
def test_a_raising_hook_at_any_point_of_write_and_read_loses_and_duplicates_nothing(
    maxsize: int,
) -> None:
    def exchange(
        writer: ChannelWriter[int], reader: ChannelReader[int], returned: list[int], read: list[int]
    ) -> None:
        for item in (10, 11):
            writer.write(item, block=True)
            returned.append(item)
        read.extend(reader.read(2))

    def fresh() -> tuple[ChannelWriter[int], ChannelReader[int]]:
        return filled(0, maxsize)

    total = _sync_points_of(lambda: exchange(*fresh(), [], []))
    assert total >= 6
    for k in range(total):
        writer, reader = fresh()
        returned: list[int] = []
        read: list[int] = []
        calls = [0]

        def hook(
            point: SyncPoint, primitive: SyncPrimitive, calls: list[int] = calls, k: int = k
        ) -> bool:
            calls[0] += 1
            if calls[0] == k + 1:
                raise Interrupt(f"point {k}: {point.value} of {primitive.name}")
            return False

        util.set_sync_hook(hook)
        try:
            exchange(writer, reader, returned, read)
        except Interrupt:
            pass
        finally:
            util.set_sync_hook(None)
        queue = reader.channel.queue
        assert isinstance(queue, AsyncQueue)
        assert not queue.mutex.locked(), f"interrupt at point {k} left the mutex held"
        left = reader.read(0, block=False)
        everything = read + left
        assert len(everything) == len(set(everything)), (k, read, left)
        assert set(returned) <= set(everything) <= {10, 11}, (k, returned, read, left)
        assert everything == sorted(everything), (k, read, left)  # order kept


# --- F3: HSCondition misuse and interrupted waits strand nobody ---------------------------


@pytest.mark.usefixtures("sync_hook")
def test_wait_without_the_lock_raises_and_leaves_no_stale_waiter() -> None:
    condition = HSCondition(Lock("test"), "test")
    with pytest.raises(RuntimeError, match="lock"):
        condition.wait(0.01)
    with condition:
        assert not condition.has_waiters()
    woke = threading.Event()

    def waiter() -> None:
        with condition:
            condition.wait()
        woke.set()

    start_bounded(waiter, "waiter")
    while True:
        with condition:
            if condition.has_waiters():
                break
    condition.notify()  # a stale waiter would swallow this one
    wait_or_fail(woke, BOUND_S, "the real waiter woke")


def test_an_interrupted_waiter_passes_its_notify_on() -> None:
    condition = HSCondition(Lock("test"), "test")
    hook = InterruptOnce(SyncPoint.WAKE)
    both_waiting = threading.Barrier(3)
    woke = threading.Event()
    interrupted = threading.Event()

    def first() -> None:
        hook.thread = threading.get_ident()
        with condition:
            both_waiting.wait()
            try:
                condition.wait()
            except Interrupt:
                interrupted.set()

    def second() -> None:
        both_waiting.wait()
        with condition:
            condition.wait()
        woke.set()

    util.set_sync_hook(hook)
    start_bounded(first, "first")
    start_bounded(second, "second")
    both_waiting.wait()
    while True:
        with condition:
            if len(condition._waiters) == 2:
                break
    with condition:  # wake exactly the first waiter (the oldest)
        condition.notify_locked(1)
    wait_or_fail(interrupted, BOUND_S, "first waiter interrupted")
    wait_or_fail(woke, BOUND_S, "second waiter got the notify the first passed on")


# --- F4: bad arguments: a clear error naming the argument, nothing changed ---------------


@pytest.mark.usefixtures("sync_hook")
def test_block_must_be_a_flag_everywhere() -> None:
    writer, reader = filled(2)
    for call in (
        lambda: reader.read(5, 0.5),  # type: ignore[arg-type]
        lambda: reader.read(5, 2),  # type: ignore[arg-type]
        lambda: writer.write(1, 0.5),  # type: ignore[arg-type]
        lambda: writer.write_many([1], 0.0),  # type: ignore[arg-type]
        lambda: writer.write_many([1], -1),  # type: ignore[arg-type]
        lambda: IteratorReader(iter([1])).read(1, 0.5),  # type: ignore[arg-type]
        lambda: AsyncQueue[int]().put(1, 0.5),  # type: ignore[arg-type]
        lambda: AsyncQueue[int]().get(1.0),  # type: ignore[arg-type]
        lambda: HSCondition().acquire(0.5),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError, match="block"):
            call()
    assert reader.read(0, block=False) == [0, 1]
    with running_pool(0) as pool:
        pool_reader = pool.add_task(IteratorThreadTask(iter(range(3)), "t"))
        with pytest.raises(TypeError, match="block"):
            pool_reader.read(5, 0.5)  # type: ignore[arg-type]
        assert pool_reader.read(0) == [0, 1, 2]


@pytest.mark.usefixtures("sync_hook")
def test_block_takes_0_and_1_as_queue_queue_does() -> None:
    # CPython's own test_queue passes block=0; a seed user may too.
    queue: AsyncQueue[int] = AsyncQueue(1)
    queue.put(1, 1)  # type: ignore[arg-type]
    with pytest.raises(util.Full):
        queue.put(2, 0)  # type: ignore[arg-type]  # a flag: no wait
    assert queue.get(0) == 1  # type: ignore[arg-type]
    with pytest.raises(util.Empty):
        queue.get(0)  # type: ignore[arg-type]
    writer, reader = filled(2)
    writer.write_many([2], 1)  # type: ignore[arg-type]
    assert reader.read(2, 1, 0.01) == [0, 1]  # type: ignore[arg-type]
    assert reader.read(0, 0) == [2]  # type: ignore[arg-type]
    assert IteratorReader(iter([5])).read(1, 0) == [5]  # type: ignore[arg-type]
    condition = HSCondition()
    assert condition.acquire(1)  # type: ignore[arg-type]
    assert not condition.acquire(0)  # type: ignore[arg-type]
    condition.release()
    with running_pool(0) as pool:
        pool_reader = pool.add_task(IteratorThreadTask(iter(range(3)), "t"))
        assert pool_reader.read(2, 1) == [0, 1]  # type: ignore[arg-type]
        assert pool_reader.read(0, 0) == [2]  # type: ignore[arg-type]


def test_other_arguments_are_checked() -> None:
    previous = util.get_sync_hook()
    with pytest.raises(TypeError, match="hook"):
        util.set_sync_hook(5)  # type: ignore[arg-type]
    assert util.get_sync_hook() is previous
    condition = HSCondition(Lock("test"), "test")
    with pytest.raises(TypeError, match="n must be an int"):
        condition.notify("x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n must be >= 0"):
        condition.notify(-1)
    with pytest.raises(TypeError, match="apply_single"):
        IteratorThreadTask(iter([1]), "t", lambda x: x, apply_single="no")  # type: ignore
    with pytest.raises(TypeError, match="writer"):
        IteratorThreadTask(iter([1]), "t", writer="w")  # type: ignore[call-overload]
    task = IteratorThreadTask(iter([1]), "t")
    with pytest.raises(TypeError, match="writer"):
        task.set_writer("w")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="inq"):
        WorkerThread(inq="x")  # type: ignore[arg-type]


# --- F5: write_many takes any iterable, atomically with respect to the iterable ----------


def _numbers(n: int, fail_at: int | None = None) -> Iterator[int]:
    for i in range(n):
        if i == fail_at:
            raise ValueError("generator failed")
        yield i


@pytest.mark.usefixtures("sync_hook")
@pytest.mark.parametrize(
    "make",
    [
        lambda: mkchannel(),
        lambda: mkchannel(lambda: Channel(10)),
        lambda: mkchannel(SerialChannel),
        lambda: mkchannel(wtype=CallbackChannelWriter),
    ],
)
def test_write_many_takes_a_generator_and_one_that_raises_writes_nothing(
    make: Callable[[], tuple[object, object]],
) -> None:
    writer, reader = make()
    assert isinstance(writer, ChannelWriter) and isinstance(reader, ChannelReader)
    writer.write_many(_numbers(3), True)
    assert reader.read(0, block=False) == [0, 1, 2]
    with pytest.raises(ValueError, match="generator failed"):
        writer.write_many(_numbers(3, fail_at=2), True)
    assert reader.read(0, block=False) == []


@pytest.mark.usefixtures("sync_hook")
def test_write_many_of_a_generator_wakes_a_blocked_reader() -> None:
    writer, reader = filled(0)
    call = start_bounded(lambda: reader.read(2), "reader")
    wait_for_waiters(queue_of(reader).not_empty, 1, "reader")
    writer.write_many(_numbers(2))
    assert call.result() == [0, 1]


# --- F6: a chunk interrupted by any BaseException fails the task, delivering what came first


def _fails_at(bad: int, exc: BaseException) -> Callable[[int], int]:
    def fun(x: int) -> int:
        if x == bad:
            raise exc
        return x

    return fun


def _drain(read: Callable[[], list[int]], expected: type[BaseException] | None) -> list[int]:
    """Read until [] ; the expected exception may surface in this thread (a chunk it ran)."""
    got: list[int] = []
    for _ in range(100):
        try:
            items = read()
        except BaseException as exc:
            if expected is None or not isinstance(exc, expected):
                raise
            continue
        if not items:
            return got
        got.extend(items)
    raise AssertionError(f"reads did not end: {got}")


@pytest.mark.usefixtures("worker_reports")
@pytest.mark.usefixtures("sync_hook")
@pytest.mark.parametrize("size", [0, 2])
@pytest.mark.parametrize(
    "exc",
    [KeyboardInterrupt(), SystemExit(3), Interrupt(), ValueError()],
    ids=["KeyboardInterrupt", "SystemExit", "BaseException", "Exception"],
)
@pytest.mark.parametrize("count", [0, 1, 4])
def test_a_chunk_interrupted_in_fun_fails_the_task_and_delivers_what_came_before(
    size: int, exc: BaseException, count: int
) -> None:
    with running_pool(size) as pool:
        task = IteratorThreadTask(iter(range(10)), "t", _fails_at(5, exc))
        reader = pool.add_task(task)
        got = _drain(lambda: reader.read(count), type(exc))
        assert sorted(got) == [0, 1, 2, 3, 4]
        assert task.error() is exc
        assert task.is_done() and task.is_closed()
        assert pool.size() == size == len(live_workers(pool))


@pytest.mark.usefixtures("sync_hook")
def test_keyboard_interrupt_in_a_serial_chunk_reaches_the_reading_thread() -> None:
    with running_pool(0) as pool:
        task = IteratorThreadTask(iter(range(10)), "t", _fails_at(5, KeyboardInterrupt()))
        reader = pool.add_task(task)
        with pytest.raises(KeyboardInterrupt):
            reader.read(0)
        assert reader.read(0) == [0, 1, 2, 3, 4]
        assert isinstance(task.error(), KeyboardInterrupt)


def _yields_then_raises(exc: BaseException) -> Iterator[int]:
    yield 0
    yield 1
    yield 2
    raise exc


@pytest.mark.usefixtures("worker_reports")
@pytest.mark.usefixtures("sync_hook")
@pytest.mark.parametrize("size", [0, 2])
@pytest.mark.parametrize("max_chunksize", [0, 1, 2, 5])
@pytest.mark.parametrize("count", [0, 1, 10])
@pytest.mark.parametrize(
    "exc", [ValueError("input"), KeyboardInterrupt()], ids=["Exception", "KeyboardInterrupt"]
)
def test_an_input_that_raises_after_three_items_delivers_them_whatever_the_chunking(
    size: int, max_chunksize: int, count: int, exc: BaseException
) -> None:
    with running_pool(size) as pool:
        task = IteratorThreadTask(_yields_then_raises(exc), "t", max_chunksize=max_chunksize)
        reader = pool.add_task(task)
        got = _drain(lambda: reader.read(count), type(exc))
        assert task.error() is exc
        assert sorted(got) == [0, 1, 2]


@pytest.mark.usefixtures("worker_reports")
@pytest.mark.usefixtures("sync_hook")
def test_worker_thread_survives_base_exceptions_from_work_items() -> None:
    queue: AsyncQueue[object] = AsyncQueue()
    worker = WorkerThread(queue).start()  # type: ignore[arg-type]
    ran = threading.Event()

    def raise_(exc: BaseException) -> None:
        raise exc

    for exc in (KeyboardInterrupt(), SystemExit(1), Interrupt()):
        queue.put((raise_, (exc,)))
    queue.put(ran.set)
    wait_or_fail(ran, BOUND_S, "the worker ran the item after three BaseExceptions")
    assert worker.is_alive()
    queue.put((WorkerThread.stop,))
    worker.join(BOUND_S)


# --- F7: fun=None is the identity for every task kind ------------------------------------


@pytest.mark.usefixtures("sync_hook")
@pytest.mark.parametrize("apply_single", [True, False])
def test_fun_none_passes_items_through_for_every_task_kind(apply_single: bool) -> None:
    with running_pool(0) as pool:
        source = pool.add_task(
            IteratorThreadTask(iter(range(4)), "src", None, apply_single=apply_single)
        )
        middle = pool.add_task(ChannelThreadTask(source, "mid", None, apply_single=apply_single))
        assert middle.read(0) == [0, 1, 2, 3]
    writer, reader = filled(0)
    plain: Task[int, int] = Task("plain", None, apply_single=apply_single)
    plain.set_writer(writer)
    plain._read = IteratorReader(iter([7, 8])).read
    plain.process(0)
    assert reader.read(0) == [7, 8]


def test_a_raising_hook_at_any_point_of_an_iterator_read_loses_nothing() -> None:
    total = _sync_points_of(lambda: IteratorReader(iter(range(5))).read(3))
    assert total >= 2
    for k in range(total):
        reader = IteratorReader(iter(range(5)))
        calls = [0]

        def hook(
            point: SyncPoint, primitive: SyncPrimitive, calls: list[int] = calls, k: int = k
        ) -> bool:
            calls[0] += 1
            if calls[0] == k + 1:
                raise Interrupt(f"point {k}")
            return False

        first: list[int] = []
        util.set_sync_hook(hook)
        try:
            first = reader.read(3)
        except Interrupt:
            pass
        finally:
            util.set_sync_hook(None)
        assert first + reader.read(0) == [0, 1, 2, 3, 4], k
