"""Unit tests for refasync.sync: locks, the condition, the sync hook and the library
clock (the seed's names in refasync.util).

Each test checks one rule and is named after it. Tests of blocking code run with no hook
and under a recording hook (``sync_hook``, tests/conftest.py) with the same assertions;
"a thread is now blocked" is learnt from the condition's registered waiters, never from
a sleep. Tests about the hook itself install their own.
"""

from __future__ import annotations

import threading
import time

import pytest

from refasync import util
from refasync.testing import run_bounded, wait_or_fail
from refasync.util import (
    ALL,
    AsyncQueue,
    DummyLock,
    HSCondition,
    Lock,
    SyncPoint,
    SyncPrimitive,
    get_sync_hook,
    set_sync_hook,
)
from tests.sync_support import BOUND_S, HookRecorder, join_or_fail, start_thread

# --- Lock and DummyLock -----------------------------------------------------------------


@pytest.mark.usefixtures("sync_hook")
def test_lock_is_held_between_acquire_and_release() -> None:
    lock = Lock("l")
    assert not lock.locked()
    assert lock.acquire()
    assert lock.locked()
    lock.release()
    assert not lock.locked()


@pytest.mark.usefixtures("sync_hook")
def test_lock_nonblocking_acquire_fails_while_held() -> None:
    lock = Lock("l")
    with lock:
        assert lock.acquire(False) is False
    assert lock.acquire(False) is True
    lock.release()


@pytest.mark.usefixtures("sync_hook")
def test_lock_timed_acquire_gives_up_while_held() -> None:
    lock = Lock("l")
    with lock:
        start = time.monotonic()
        assert lock.acquire(True, 0.05) is False
        assert time.monotonic() - start >= 0.04


@pytest.mark.usefixtures("sync_hook")
def test_lock_context_manager_releases_on_exception() -> None:
    lock = Lock("l")
    with pytest.raises(RuntimeError):
        with lock:
            raise RuntimeError("boom")
    assert not lock.locked()


@pytest.mark.usefixtures("sync_hook")
def test_lock_has_the_given_name_in_its_repr() -> None:
    lock = Lock("my.lock")
    assert lock.name == "my.lock"
    assert "my.lock" in repr(lock) and "unlocked" in repr(lock)


def test_lock_reports_acquire_before_taking_and_release_after_releasing() -> None:
    lock = Lock("observed")
    seen: list[tuple[SyncPoint, bool]] = []

    def hook(point: SyncPoint, primitive: SyncPrimitive) -> bool:
        if primitive is lock:
            seen.append((point, lock.locked()))
        return False

    previous = set_sync_hook(hook)
    try:
        with lock:
            pass
        lock.acquire()
        lock.release()
    finally:
        set_sync_hook(previous)
    expected = [(SyncPoint.ACQUIRE, False), (SyncPoint.RELEASE, False)] * 2
    assert seen == expected


def test_dummy_lock_never_blocks_and_does_nothing() -> None:
    lock = DummyLock()
    assert lock.acquire() is True
    assert lock.acquire(False) is True  # taking it twice is fine: it is no lock
    lock.release()
    lock.release()
    with lock as taken:
        assert taken is True
    assert lock.name == "dummy"


# --- HSCondition ------------------------------------------------------------------------


def start_waiter(cond: HSCondition, timeout: float | None, results: list[bool]) -> threading.Thread:
    """Start a thread that waits once on ``cond``; return once it is registered as a
    waiter (it released the lock inside wait, so our taking the lock proves it)."""
    ready = threading.Event()

    def waiter() -> None:
        with cond:
            ready.set()
            results.append(cond.wait(timeout))

    thread = start_thread(waiter, "waiter")
    wait_or_fail(ready, BOUND_S, "waiter start")
    with cond:  # granted only once the waiter released the lock inside wait()
        assert cond.has_waiters()
    return thread


@pytest.mark.usefixtures("sync_hook")
def test_wait_without_timeout_returns_true_when_notified() -> None:
    cond = HSCondition(name="c")
    results: list[bool] = []
    thread = start_waiter(cond, None, results)
    cond.notify()
    join_or_fail(thread, "notified waiter")
    assert results == [True]


@pytest.mark.usefixtures("sync_hook")
def test_wait_with_timeout_returns_true_when_notified_in_time() -> None:
    cond = HSCondition(name="c")
    results: list[bool] = []
    thread = start_waiter(cond, BOUND_S, results)
    cond.notify()
    join_or_fail(thread, "notified waiter")
    assert results == [True]


@pytest.mark.usefixtures("sync_hook")
def test_wait_with_timeout_returns_false_once_it_expired() -> None:
    cond = HSCondition(name="c")
    with cond:
        start = time.monotonic()
        assert cond.wait(0.1) is False
        elapsed = time.monotonic() - start
        assert not cond.has_waiters()  # a timed-out waiter withdrew
    assert 0.09 <= elapsed < BOUND_S


@pytest.mark.usefixtures("sync_hook")
def test_wait_with_zero_timeout_returns_false_at_once() -> None:
    cond = HSCondition(name="c")
    with cond:
        assert cond.wait(0) is False
        assert not cond.has_waiters()


@pytest.mark.usefixtures("sync_hook")
def test_wait_retakes_the_lock_before_returning() -> None:
    lock = Lock("shared")
    cond = HSCondition(lock, "c")
    with cond:
        cond.wait(0.01)
        assert lock.locked()
        assert lock.acquire(False) is False


@pytest.mark.usefixtures("sync_hook")
def test_condition_uses_the_lock_it_is_given() -> None:
    lock = Lock("shared")
    cond = HSCondition(lock, "c")
    assert cond.acquire()
    assert lock.locked()
    cond.release()
    assert not lock.locked()
    with lock:
        assert cond.acquire(False) is False


@pytest.mark.usefixtures("sync_hook")
def test_condition_takes_a_standard_lock() -> None:
    standard = threading.Lock()  # the seed's HSCondition(lock=None) with a standard lock
    cond = HSCondition(standard, "c")
    assert cond.lock.raw is standard and cond.lock.name == "c.lock"
    results: list[bool] = []
    thread = start_waiter(cond, None, results)
    with standard:  # the standard lock itself guards the same state
        cond.notify_locked()
    join_or_fail(thread, "notified waiter")
    assert results == [True]
    with cond:
        assert standard.locked()
        assert cond.wait(0.01) is False
        assert standard.locked()
    assert not standard.locked()


@pytest.mark.usefixtures("sync_hook")
def test_notify_wakes_exactly_n_waiters() -> None:
    cond = HSCondition(name="c")
    results: list[bool] = []
    threads = [start_waiter(cond, None, results) for _ in range(3)]
    cond.notify(2)
    with cond:
        assert cond.has_waiters()  # one waiter is left
    cond.notify(1)
    with cond:
        assert not cond.has_waiters()
    for thread in threads:
        join_or_fail(thread, "notified waiter")
    assert results == [True, True, True]


@pytest.mark.usefixtures("sync_hook")
def test_notify_with_no_waiters_is_a_no_op() -> None:
    cond = HSCondition(name="c")
    cond.notify()
    cond.notify_all()
    with cond:
        cond.notify_locked(5)
        cond.notify_all_locked()
        assert not cond.has_waiters()


@pytest.mark.usefixtures("sync_hook")
def test_notify_all_wakes_every_waiter() -> None:
    cond = HSCondition(name="c")
    results: list[bool] = []
    threads = [start_waiter(cond, BOUND_S, results) for _ in range(4)]
    cond.notify_all()
    for thread in threads:
        join_or_fail(thread, "notified waiter")
    assert results == [True] * 4


@pytest.mark.usefixtures("sync_hook")
def test_notify_locked_wakes_a_waiter_when_called_with_the_lock_held() -> None:
    cond = HSCondition(name="c")
    results: list[bool] = []
    thread = start_waiter(cond, None, results)
    with cond:
        cond.notify_locked()
        assert not cond.has_waiters()
    join_or_fail(thread, "notified waiter")
    assert results == [True]


@pytest.mark.usefixtures("sync_hook")
def test_notify_waits_for_a_lock_held_by_another_thread() -> None:
    cond = HSCondition(name="c")
    notified = threading.Event()

    def notifier() -> None:
        cond.notify()
        notified.set()

    with cond:
        thread = start_thread(notifier, "notifier")
        # Negative check: while we hold the lock the notifier cannot finish.
        assert not notified.wait(0.1)
    wait_or_fail(notified, BOUND_S, "notify after the lock was released")
    join_or_fail(thread, "notifier")


@pytest.mark.parametrize(
    "lock", [threading.RLock(), threading.Condition(), DummyLock(), "lock", 1], ids=repr
)
def test_condition_refuses_any_other_lock_at_construction(lock: object) -> None:
    with pytest.raises(TypeError, match="lock must be"):
        HSCondition(lock, "c")  # type: ignore[arg-type]


# --- the hook at conditions: notify, timed waits, spurious wake-ups ----------------------


def test_notify_takes_the_lock_itself(recorder: HookRecorder) -> None:
    cond = HSCondition(name="c")
    cond.notify()  # called without the lock: no error (unlike threading.Condition)
    assert recorder.by_thread(threading.current_thread()) == [
        (SyncPoint.ACQUIRE, "c.lock"),
        (SyncPoint.NOTIFY, "c"),
        (SyncPoint.RELEASE, "c.lock"),
    ]


def test_notify_all_takes_the_lock_itself(recorder: HookRecorder) -> None:
    cond = HSCondition(name="c")
    cond.notify_all()
    assert recorder.by_thread(threading.current_thread()) == [
        (SyncPoint.ACQUIRE, "c.lock"),
        (SyncPoint.NOTIFY, "c"),
        (SyncPoint.RELEASE, "c.lock"),
    ]


def test_timed_wait_reports_one_wait_point_not_a_poll_loop(recorder: HookRecorder) -> None:
    cond = HSCondition(name="idle")
    with cond:
        start = time.monotonic()
        cond.wait(0.3)
        assert time.monotonic() - start >= 0.29
    assert recorder.count(SyncPoint.WAIT, "idle") == 1
    assert recorder.count(SyncPoint.WAKE, "idle") == 1
    assert recorder.count(SyncPoint.ACQUIRE, "idle.lock") <= 3


def test_timed_queue_read_does_not_busy_poll(recorder: HookRecorder) -> None:
    q: AsyncQueue[int] = AsyncQueue()
    start = time.monotonic()
    assert q.get_many(1, True, 0.3) == []
    assert time.monotonic() - start >= 0.29
    # One wait (a few on a noisy machine would be fine); a poll loop reports hundreds.
    me = threading.current_thread()
    assert 1 <= recorder.count(SyncPoint.WAIT, "AsyncQueue.not_empty", me) <= 3
    assert recorder.count(SyncPoint.ACQUIRE, "AsyncQueue.mutex", me) <= 5


def test_hook_returning_true_at_wait_makes_a_spurious_wakeup() -> None:
    cond = HSCondition(name="c")
    hook = HookRecorder(spurious_waits=True)
    previous = set_sync_hook(hook)
    try:
        # Without a timeout and without a notify, only the hook can end this wait.
        def spurious_wait() -> bool:
            with cond:
                woke = cond.wait()
                assert cond._lock.locked()  # the lock was re-taken
                return woke

        assert run_bounded(spurious_wait, BOUND_S, "spurious wake-up") is False
    finally:
        set_sync_hook(previous)
    assert hook.count(SyncPoint.WAIT, "c") == 1
    assert hook.count(SyncPoint.WAKE, "c") == 1
    # The lock was released and re-taken, letting other threads run.
    assert hook.count(SyncPoint.RELEASE, "c.lock") == 2
    with cond:
        assert not cond.has_waiters()  # it never registered as a waiter


def test_blocking_get_survives_spurious_wakeups() -> None:
    q: AsyncQueue[str] = AsyncQueue()
    hook = HookRecorder(spurious_waits=True)
    previous = set_sync_hook(hook)
    try:
        got: list[list[str]] = []
        reader = start_thread(lambda: got.append(q.get_many(1)), "reader")
        # The reader spins through spurious wake-ups; each must re-check its predicate.
        spins = hook.watch(SyncPoint.WAIT, "AsyncQueue.not_empty", 5, reader)
        wait_or_fail(spins, BOUND_S, "spurious wake-ups")
        assert not got  # no item yet: a spurious wake-up returned nothing
        q.put("item")
        join_or_fail(reader, "reader")
    finally:
        set_sync_hook(previous)
    assert got == [["item"]]


def test_blocked_writer_survives_spurious_wakeups() -> None:
    q: AsyncQueue[int] = AsyncQueue(1)
    q.put(0)
    hook = HookRecorder(spurious_waits=True)
    previous = set_sync_hook(hook)
    try:
        writer = start_thread(lambda: q.put(1, True, BOUND_S), "writer")
        spins = hook.watch(SyncPoint.WAIT, "AsyncQueue.not_full", 5, writer)
        wait_or_fail(spins, BOUND_S, "spurious wake-ups")
        assert q.qsize() == 1  # still blocked: the full queue was not overfilled
        assert q.get() == 0
        join_or_fail(writer, "writer")
    finally:
        set_sync_hook(previous)
    assert q.get_many(ALL, False) == [1]


# --- set_sync_hook ----------------------------------------------------------------------


def test_set_sync_hook_returns_the_previous_hook() -> None:
    first = HookRecorder()
    second = HookRecorder()
    original = set_sync_hook(first)
    try:
        assert get_sync_hook() is first
        assert set_sync_hook(second) is first
        assert get_sync_hook() is second
        assert set_sync_hook(None) is second
        assert get_sync_hook() is None
    finally:
        set_sync_hook(original)


def test_uninstalled_hook_is_no_longer_called() -> None:
    hook = HookRecorder()
    original = set_sync_hook(hook)
    set_sync_hook(original)
    q: AsyncQueue[int] = AsyncQueue()
    q.put(1)
    assert hook.events == []


def test_hook_sees_every_sync_point_of_a_blocking_channel_exchange(
    recorder: HookRecorder,
) -> None:
    from refasync import Channel, ChannelReader, ChannelWriter

    channel: Channel[int] = Channel()
    writer, reader = ChannelWriter(channel), ChannelReader(channel)
    got: list[list[int]] = []
    thread = start_thread(lambda: got.append(reader.read(1)), "reader")
    waiting = recorder.watch(SyncPoint.WAIT, "AsyncQueue.not_empty", 1, thread)
    wait_or_fail(waiting, BOUND_S, "reader wait")
    writer.write(7)
    join_or_fail(thread, "reader")
    assert got == [[7]]
    lock_and_condition_points = set(SyncPoint) - {
        SyncPoint.TRY_ACQUIRE,
        SyncPoint.THREAD_START,
        SyncPoint.JOIN,
        SyncPoint.YIELD,
    }
    assert recorder.points() == lock_and_condition_points
    names = {name for _, name, _ in recorder.events}
    assert {"AsyncQueue.mutex", "AsyncQueue.not_empty"} <= names
    me = threading.current_thread()
    assert recorder.count(SyncPoint.NOTIFY, "AsyncQueue.not_empty", me) >= 1
    assert recorder.count(SyncPoint.WAKE, "AsyncQueue.not_empty", thread) >= 1


def test_hook_sees_lock_points_at_a_nonblocking_channel_write(recorder: HookRecorder) -> None:
    from refasync import Channel, ChannelWriter

    writer: ChannelWriter[int] = ChannelWriter(Channel())
    writer.write(1)
    writer.close()
    me = threading.current_thread()
    assert recorder.count(SyncPoint.ACQUIRE, "AsyncQueue.mutex", me) >= 2
    assert recorder.count(SyncPoint.RELEASE, "AsyncQueue.mutex", me) >= 2


def test_hook_sees_thread_start_join_and_non_blocking_acquisitions(
    recorder: HookRecorder,
) -> None:
    from refasync.thread import WorkerThread

    worker = WorkerThread(name="hooked-worker")
    worker.start()
    worker.inq.put((WorkerThread.stop,))
    worker.join()
    lock = Lock("try")
    assert lock.acquire(False)
    lock.release()
    me = threading.current_thread()
    assert recorder.count(SyncPoint.THREAD_START, "hooked-worker", me) == 1
    assert recorder.count(SyncPoint.JOIN, "hooked-worker", me) == 1
    assert recorder.count(SyncPoint.TRY_ACQUIRE, "try", me) == 1


# --- the library clock ------------------------------------------------------------------


def test_deadlines_come_from_the_library_clock() -> None:
    # A clock that jumps an hour at every read: a timed wait sees its deadline passed at
    # once, so an hour-long timeout returns immediately. time.monotonic would block.
    readings = iter(range(0, 10**9, 3600))
    previous = util.set_clock(lambda: float(next(readings)))
    try:
        q: AsyncQueue[int] = AsyncQueue()
        assert run_bounded(lambda: q.get_many(1, True, 3000.0), 5.0, "timed get_many") == []
    finally:
        util.set_clock(previous)
    assert util.monotonic() == pytest.approx(time.monotonic(), abs=1.0)


def test_set_clock_rejects_what_is_not_callable() -> None:
    with pytest.raises(TypeError, match="clock"):
        util.set_clock(5)  # type: ignore[arg-type]
