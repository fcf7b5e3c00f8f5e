"""os.fork() (rule S10 of docs/semantics.md): in the child, every refasync lock
that was free at the fork works, and every lock that some thread held makes the
operation that needs it fail at once with ``ForkedLockError``; no timed or non-blocking
read in the child hangs.

The worst moment is forced with the hook's points: a thread paused inside a hook
callback while it holds a lock, and the fork taken from inside another hook callback.
The randomized test forks again and again while pool workers are inside chunks and
threads are inside channel critical sections.
"""

from __future__ import annotations

import json
import os
import random
import select
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator

import pytest

from refasync import (
    CallbackChannelReader,
    CallbackChannelWriter,
    Channel,
    ChannelReader,
    ChannelThreadTask,
    ChannelWriter,
    IteratorReader,
    IteratorThreadTask,
    ThreadPool,
)
from refasync.sync import SyncPoint, SyncPrimitive, set_sync_hook
from refasync.testing import Hang, dump_stacks
from refasync.thread import WorkerThread
from refasync.util import AsyncQueue, ForkedLockError, Full, HSCondition, Lock

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

BOUND_S = 10.0  # generous bound for anything another thread or the child must do
CHILD_S = 20.0  # a child that has not reported by then is hung
Result = dict[str, object]


def fork() -> int:
    with warnings.catch_warnings():  # "multi-threaded, use of fork() may lead to deadlocks"
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def child_report(write_end: int, body: Callable[[], Result]) -> None:
    """In the child: run ``body``, send its result (or its traceback) through the pipe,
    and leave at once (no pytest teardown, no atexit in the child)."""
    try:
        try:
            result: Result = {"ok": body()}
        except BaseException:
            result = {"error": traceback.format_exc()}
        os.write(write_end, json.dumps(result).encode())
    finally:
        os._exit(0)


def parent_collect(pid: int, read_end: int) -> Result:
    """In the parent: the child's result; a child that does not report within CHILD_S
    is killed and the test fails."""
    chunks = []
    deadline = time.monotonic() + CHILD_S
    while True:
        ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise Hang(f"the forked child hung; the parent's threads:\n{dump_stacks()}")
        data = os.read(read_end, 1 << 16)
        if not data:
            break
        chunks.append(data)
    os.close(read_end)
    os.waitpid(pid, 0)
    result = json.loads(b"".join(chunks))
    assert "error" not in result, "the child raised:\n" + str(result.get("error"))
    ok = result["ok"]
    assert isinstance(ok, dict)
    return ok


def outcome(call: Callable[[], object]) -> object:
    """What ``call`` did in the child, in a form JSON carries, with how long it took."""
    start = time.monotonic()
    try:
        value: object = call()
    except ForkedLockError:
        value = "ForkedLockError"
    took = time.monotonic() - start
    return value if took < BOUND_S / 2 else {"slow": took, "value": value}


@pytest.fixture
def no_hook_left() -> Iterator[None]:
    previous = set_sync_hook(None)
    try:
        yield
    finally:
        set_sync_hook(previous)


class PauseHolder:
    """A hook that pauses ``holder`` at a point where it holds ``lock`` (NOTIFY or WAIT,
    reported with the lock held) until ``release`` is set, and forks the process from
    inside the callback of the next ACQUIRE of ``lock`` by the forking thread."""

    def __init__(self, lock: Lock, point: SyncPoint, child_body: Callable[[], Result]) -> None:
        self.lock = lock
        self.point = point
        self.child_body = child_body
        self.parent = os.getpid()
        self.holding = threading.Event()
        self.release = threading.Event()
        self.holder: int | None = None
        self.forker: int | None = None
        self.pid = 0
        self.read_end = -1

    def __call__(self, point: SyncPoint, primitive: SyncPrimitive) -> bool:
        if os.getpid() != self.parent:
            return False  # the child: observe nothing
        me = threading.get_ident()
        if me == self.holder and point is self.point and not self.holding.is_set():
            self.holding.set()
            self.release.wait(BOUND_S)
        elif me == self.forker and point is SyncPoint.ACQUIRE and primitive is self.lock:
            self.forker = None
            assert self.holding.wait(BOUND_S), "the holder never paused"
            read_end, write_end = os.pipe()
            pid = fork()
            if pid == 0:
                os.close(read_end)
                # The child returns from this hook into the acquisition that called it,
                # which must fail: the body runs in the child's test code below.
                self.read_end = write_end
                return False
            os.close(write_end)
            self.pid, self.read_end = pid, read_end
            self.release.set()  # the parent goes on: the holder finishes its section
        return False


@pytest.mark.usefixtures("no_hook_left")
@pytest.mark.parametrize("point", [SyncPoint.WAIT, SyncPoint.NOTIFY])
def test_a_fork_while_another_thread_holds_a_channel_lock_fails_the_childs_reads_at_once(
    point: SyncPoint,
) -> None:
    busy: AsyncQueue[int] = AsyncQueue()
    free_writer, free_reader = int_channel()
    free_writer.write(7)
    hook = PauseHolder(busy.mutex, point, lambda: {})
    got: list[int] = []

    def hold() -> None:
        hook.holder = threading.get_ident()
        if point is SyncPoint.WAIT:
            got.extend(busy.read(1))  # WAIT is reported with the mutex held
        else:
            busy.put(1)  # NOTIFY (a reader waits) is reported with the mutex held

    if point is SyncPoint.NOTIFY:
        waiter = threading.Thread(target=lambda: got.extend(busy.read(1)), daemon=True)
        waiter.start()
        while not busy.not_empty.has_waiters():
            time.sleep(0.001)
    set_sync_hook(hook)
    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert hook.holding.wait(BOUND_S)
    hook.forker = threading.get_ident()
    try:
        busy.put(2)  # the fork happens in the hook, at this put's ACQUIRE
        in_child = False
    except ForkedLockError:
        in_child = True
    if os.getpid() != hook.parent:
        write_end = hook.read_end

        def child() -> Result:
            return {
                "put": "ForkedLockError" if in_child else "returned",
                "timed read": outcome(lambda: busy.read(1, True, 0.05)),
                "non-blocking read": outcome(lambda: busy.read(0, False)),
                "qsize": outcome(busy.qsize),
                "close": outcome(lambda: busy.set_writable(False)),
                "free channel": outcome(lambda: free_reader.read(1, True, 0.05)),
                "new channel": outcome(new_channel_round_trip),
            }

        child_report(write_end, child)
    assert not in_child
    result = parent_collect(hook.pid, hook.read_end)
    assert result == {
        "put": "ForkedLockError",
        "timed read": "ForkedLockError",
        "non-blocking read": "ForkedLockError",
        "qsize": "ForkedLockError",
        "close": "ForkedLockError",
        "free channel": [7],
        "new channel": [1, 2],
    }
    holder.join(BOUND_S)
    set_sync_hook(None)
    written = [2] if point is SyncPoint.WAIT else [1, 2]
    assert sorted(got + busy.read(0, False)) == written  # the parent lost nothing


def int_channel(maxsize: int = 0) -> tuple[ChannelWriter[int], ChannelReader[int]]:
    channel: Channel[int] = Channel(maxsize)
    return ChannelWriter(channel), ChannelReader(channel)


def new_channel_round_trip() -> list[int]:
    writer, reader = int_channel()
    writer.write_many([1, 2])
    return reader.read(2, True, 0.05)


@pytest.mark.usefixtures("sync_hook")
def test_a_fork_while_an_iterator_is_being_read_fails_its_reads_and_its_task_in_the_child() -> None:
    inside = threading.Event()
    go_on = threading.Event()

    def slow_numbers() -> Iterator[int]:
        yield 0
        inside.set()
        go_on.wait(BOUND_S)  # the IteratorReader's lock is held meanwhile
        yield from range(1, 5)

    source = IteratorReader(slow_numbers())
    assert source.read(1) == [0]
    channel: Channel[int] = Channel()
    task = ChannelThreadTask(source, "t", lambda x: x * 10, writer=ChannelWriter(channel))
    reading = threading.Thread(target=lambda: source.read(2), daemon=True)
    reading.start()
    assert inside.wait(BOUND_S)
    read_end, write_end = os.pipe()
    pid = fork()
    if pid == 0:
        os.close(read_end)

        def child() -> Result:
            return {
                "iterator read": outcome(lambda: source.read(1)),
                "process": outcome(lambda: task.process(2)),
                "task failed": task.error() is not None,
                "its channel": outcome(lambda: ChannelReader(channel).read(0, False)),
            }

        child_report(write_end, child)
    os.close(write_end)
    go_on.set()
    result = parent_collect(pid, read_end)
    # The task's input failed with ForkedLockError: re-raised, the task is not failed.
    assert result == {
        "iterator read": "ForkedLockError",
        "process": "ForkedLockError",
        "task failed": False,
        "its channel": [],
    }
    reading.join(BOUND_S)
    assert source.read(0) == [3, 4]


@pytest.mark.usefixtures("sync_hook")
def test_locks_free_at_the_fork_work_in_the_child_and_waiters_of_the_parent_are_gone() -> None:
    condition = HSCondition(name="c")
    parked = threading.Event()

    def park() -> None:
        with condition:
            parked.set()
            condition.wait(BOUND_S)

    waiter = threading.Thread(target=park, daemon=True)
    waiter.start()
    assert parked.wait(BOUND_S)
    with condition:  # the waiter released the lock inside wait(): it is registered
        assert condition.has_waiters()
    read_end, write_end = os.pipe()
    pid = fork()
    if pid == 0:
        os.close(read_end)

        def child() -> Result:
            # A waiter of the parent's would swallow this notify (the thread is gone).
            with condition:
                stale = condition.has_waiters()
            woke: list[bool] = []

            def wait_here() -> None:
                with condition:
                    woke.append(condition.wait(BOUND_S))

            thread = threading.Thread(target=wait_here)
            thread.start()
            while True:
                with condition:
                    if condition.has_waiters():
                        break
                time.sleep(0.001)
            condition.notify()
            thread.join(BOUND_S)
            return {"stale waiters": stale, "woke": woke, "lock free": not condition.lock.locked()}

        child_report(write_end, child)
    os.close(write_end)
    result = parent_collect(pid, read_end)
    assert result == {"stale waiters": False, "woke": [True], "lock free": True}
    condition.notify()
    waiter.join(BOUND_S)


@pytest.mark.usefixtures("no_hook_left")
@pytest.mark.timeout(120)
def test_forks_while_workers_are_inside_chunks_never_leave_a_timed_read_hanging() -> None:
    rng = random.Random(2024)
    with ThreadPool(2) as pool:
        feeder = pool.add_task(IteratorThreadTask(iter(range(10**9)), "feeder", max_chunksize=5))
        middle = pool.add_task(
            ChannelThreadTask(feeder, "middle", lambda x: x + 1, max_chunksize=3)
        )
        leaf = pool.add_task(ChannelThreadTask(middle, "leaf", lambda x: x * 2))
        writer, reader = int_channel(4)
        stop = threading.Event()

        def churn_channel() -> None:
            coin = random.Random(7)
            while not stop.is_set():
                if coin.random() < 0.5:
                    write_unless_full(writer, 0.01)
                else:
                    reader.read(1, True, 0.01)

        def churn_pool() -> None:
            while not stop.is_set():
                leaf.read(3, True, 0.05)

        # A hook that lingers where the other threads hold a lock (a NOTIFY, a WAIT,
        # just after an ACQUIRE's callback), so that forks land in critical sections.
        forker = threading.get_ident()
        linger = random.Random(11)

        def slow_down(point: SyncPoint, primitive: SyncPrimitive) -> bool:
            if threading.get_ident() != forker and point in LINGER_AT and linger.random() < 0.3:
                time.sleep(0.0005)
            return False

        set_sync_hook(slow_down)
        threads = [threading.Thread(target=f, daemon=True) for f in (churn_channel, churn_pool)]
        for thread in threads:
            thread.start()
        outcomes: set[str] = set()
        try:
            for _ in range(int(os.environ.get("FORKS", "12"))):
                time.sleep(rng.uniform(0.0, 0.02))  # a random moment, not synchronization
                read_end, write_end = os.pipe()
                pid = fork()
                if pid == 0:
                    os.close(read_end)

                    def child() -> Result:
                        reads = {
                            "leaf timed": outcome(lambda: leaf.read(2, True, 0.05)),
                            "leaf non-blocking": outcome(lambda: leaf.read(2, False)),
                            "middle timed": outcome(lambda: middle.read(1, True, 0.05)),
                            "channel timed": outcome(lambda: reader.read(1, True, 0.05)),
                            "channel write": outcome(lambda: write_unless_full(writer)),
                            "new channel": outcome(new_channel_round_trip),
                        }
                        return {name: kind(value) for name, value in reads.items()}

                    child_report(write_end, child)
                os.close(write_end)
                result = parent_collect(pid, read_end)
                assert result["new channel"] == "items", result
                assert set(result.values()) <= {"items", "ForkedLockError", "Full"}, result
                outcomes.update(str(v) for v in result.values())
        finally:
            stop.set()
            for thread in threads:
                thread.join(BOUND_S)
        assert "items" in outcomes


#: Points reported with the lock held (NOTIFY, WAIT), and RELEASE (between two sections).
LINGER_AT = {SyncPoint.NOTIFY, SyncPoint.WAIT, SyncPoint.RELEASE}


def write_unless_full(writer: ChannelWriter[int], timeout: float = 0.05) -> str | None:
    try:
        writer.write(9, True, timeout)
    except Full:
        return "Full"
    return None


def kind(value: object) -> str:
    if value in ("ForkedLockError", "Full"):
        return str(value)
    if isinstance(value, (list, bool)) or value is None:
        return "items"  # what the operation returns when it works
    return repr(value)


@pytest.mark.usefixtures("sync_hook")
def test_a_fork_while_a_worker_runs_the_last_chunk_of_an_input_never_hangs_the_child() -> None:
    # The lost chunk would have closed the feeder's channel: in the child nobody will.
    inside = threading.Event()
    go_on = threading.Event()

    def pause_on_last(item: int) -> int:
        if item == 2:
            inside.set()
            go_on.wait(BOUND_S)
        return item

    with ThreadPool(1) as pool:
        feeder = pool.add_task(IteratorThreadTask(iter(range(3)), "feeder", pause_on_last))
        middle = pool.add_task(ChannelThreadTask(feeder, "middle", lambda x: x + 1))
        taken: list[int] = []
        reading = threading.Thread(target=lambda: taken.extend(feeder.read(0)), daemon=True)
        reading.start()
        assert inside.wait(BOUND_S)  # the worker is inside the feeder's only chunk
        read_end, write_end = os.pipe()
        pid = fork()
        if pid == 0:
            os.close(read_end)

            def child() -> Result:
                return {
                    "middle timed": outcome(lambda: middle.read(5, True, 0.05)),
                    "middle non-blocking": outcome(lambda: middle.read(5, False)),
                    "feeder timed": outcome(lambda: feeder.read(5, True, 0.05)),
                }

            child_report(write_end, child)
        os.close(write_end)
        go_on.set()
        result = parent_collect(pid, read_end)
        assert result == {
            "middle timed": "ForkedLockError",
            "middle non-blocking": "ForkedLockError",
            "feeder timed": "ForkedLockError",
        }
        reading.join(BOUND_S)
        # The parent goes on: each item once, to the reader or through the middle task.
        assert sorted(taken + [x - 1 for x in middle.read(0)]) == [0, 1, 2]


def _lock_sites() -> dict[str, tuple[Lock, Callable[[], object]]]:
    """Each kind of refasync lock a child can reach, with an operation that needs it."""
    channel: Channel[int] = Channel()
    ChannelWriter(channel).write(1)
    callbacks: Channel[int] = Channel()
    callback_writer = CallbackChannelWriter(callbacks)
    callback_reader = CallbackChannelReader(callbacks)
    source = IteratorReader(iter(range(5)))
    task = IteratorThreadTask(iter(range(5)), "t", writer=ChannelWriter(Channel()))
    worker = WorkerThread()
    assert isinstance(channel.queue, AsyncQueue)
    return {
        "channel mutex": (channel.queue.mutex, lambda: ChannelReader(channel).read(1, True, 0.05)),
        "task lock": (task._wlock, lambda: task.process(1)),
        "iterator reader lock": (source._lock, lambda: source.read(1)),
        "callback reader lock": (callback_reader._cb_lock, lambda: callback_reader.read(1, False)),
        "callback writer lock": (callback_writer._cb_lock, lambda: callback_writer.write(1)),
        "thread's terminate lock": (worker._terminate_lock, worker._should_terminate),
    }


@pytest.mark.usefixtures("sync_hook")
@pytest.mark.parametrize("site", sorted(_lock_sites()))
@pytest.mark.parametrize("held", [True, False], ids=["held at the fork", "free at the fork"])
def test_every_kind_of_lock_is_renewed_or_fails_at_once_in_the_child(site: str, held: bool) -> None:
    lock, operation = _lock_sites()[site]
    holding = threading.Event()
    done = threading.Event()

    def hold() -> None:
        with lock.held:
            holding.set()
            done.wait(BOUND_S)

    holder = threading.Thread(target=hold, daemon=True)
    if held:
        holder.start()
        assert holding.wait(BOUND_S)
    read_end, write_end = os.pipe()
    pid = fork()
    if pid == 0:
        os.close(read_end)
        child_report(write_end, lambda: {"operation": kind(outcome(operation)), "repr": repr(lock)})
    os.close(write_end)
    done.set()
    result = parent_collect(pid, read_end)
    if held:
        assert result == {
            "operation": "ForkedLockError",
            "repr": f"<refasync.util.Lock {lock.name!r} held when the process forked>",
        }
        holder.join(BOUND_S)
    else:
        assert result["operation"] == "items"
    assert kind(outcome(operation)) == "items"  # the parent's lock works on
