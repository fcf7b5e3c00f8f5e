"""Unit tests for refasync.util: locks, the condition, the sync hook, the queues, the
argument normalizers, the mailbox and cpu_count.

Each test checks one rule and is named after it. Waits on other threads are bounded
(refasync.testing); "the thread is now blocked" is learnt from the sync hook, never
from a sleep.
"""

from __future__ import annotations

import functools
import gc
import math
import queue
import threading
import time
import weakref
from collections import Counter
from typing import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refasync import util
from refasync.testing import run_bounded, wait_or_fail
from refasync.util import (
    ALL,
    AsyncQueue,
    DummyLock,
    Empty,
    Full,
    HSCondition,
    Lock,
    Mailbox,
    ReadOnly,
    SyncPoint,
    SyncPrimitive,
    SyncQueue,
    cpu_count,
    get_sync_hook,
    normalize_count,
    normalize_timeout,
    set_sync_hook,
)

BOUND_S = 10.0  # generous bound for anything another thread must do


# --- helpers ------------------------------------------------------------------------------


class HookRecorder:
    """A sync hook that records (point, primitive name, thread) and can signal once a
    point on a named primitive was reached a given number of times, optionally by one
    thread (other tests may leave threads that wait on primitives of the same name).

    It takes only stdlib locks (a hook must not take refasync locks)."""

    def __init__(self, spurious_waits: bool = False) -> None:
        self.events: list[tuple[SyncPoint, str, int]] = []
        self.spurious_waits = spurious_waits  # True: every WAIT becomes a spurious wake-up
        self._watches: list[tuple[SyncPoint, str, int | None, int, threading.Event]] = []
        # (point, name, thread ident or None for all threads) -> times seen.
        self._counts: Counter[tuple[SyncPoint, str, int | None]] = Counter()
        self._guard = threading.Lock()  # guards events, _watches and _counts

    def __call__(self, point: SyncPoint, primitive: SyncPrimitive) -> bool:
        with self._guard:
            me = threading.get_ident()
            self.events.append((point, primitive.name, me))
            self._counts[(point, primitive.name, me)] += 1
            self._counts[(point, primitive.name, None)] += 1
            for w_point, w_name, w_ident, times, event in self._watches:
                if self._count_locked(w_point, w_name, w_ident) >= times:
                    event.set()
        return self.spurious_waits and point is SyncPoint.WAIT

    def watch(
        self, point: SyncPoint, name: str, times: int = 1, thread: threading.Thread | None = None
    ) -> threading.Event:
        """:return: an event set once ``point`` on ``name`` was seen ``times`` times in
        total (counting those already seen), from ``thread`` if given."""
        event = threading.Event()
        ident = None if thread is None else thread.ident
        with self._guard:
            if self._count_locked(point, name, ident) >= times:
                event.set()
            self._watches.append((point, name, ident, times, event))
        return event

    def count(self, point: SyncPoint, name: str, thread: threading.Thread | None = None) -> int:
        with self._guard:
            return self._count_locked(point, name, None if thread is None else thread.ident)

    def _count_locked(self, point: SyncPoint, name: str, ident: int | None) -> int:
        return self._counts[(point, name, ident)]

    def points(self) -> set[SyncPoint]:
        with self._guard:
            return {point for point, _, _ in self.events}

    def by_thread(self, thread: threading.Thread) -> list[tuple[SyncPoint, str]]:
        with self._guard:
            return [(p, n) for p, n, t in self.events if t == thread.ident]


@pytest.fixture
def recorder() -> Iterator[HookRecorder]:
    """Install a recording hook for the test; restore the previous hook afterwards."""
    hook = HookRecorder()
    previous = set_sync_hook(hook)
    try:
        yield hook
    finally:
        set_sync_hook(previous)


def start_thread(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def join_or_fail(thread: threading.Thread, what: str) -> None:
    thread.join(BOUND_S)
    assert not thread.is_alive(), f"{what}: thread still running after {BOUND_S} s"


# --- Lock and DummyLock -----------------------------------------------------------------


def test_lock_is_held_between_acquire_and_release() -> None:
    lock = Lock("l")
    assert not lock.locked()
    assert lock.acquire()
    assert lock.locked()
    lock.release()
    assert not lock.locked()


def test_lock_nonblocking_acquire_fails_while_held() -> None:
    lock = Lock("l")
    with lock:
        assert lock.acquire(False) is False
    assert lock.acquire(False) is True
    lock.release()


def test_lock_timed_acquire_gives_up_while_held() -> None:
    lock = Lock("l")
    with lock:
        start = time.monotonic()
        assert lock.acquire(True, 0.05) is False
        assert time.monotonic() - start >= 0.04


def test_lock_context_manager_releases_on_exception() -> None:
    lock = Lock("l")
    with pytest.raises(RuntimeError):
        with lock:
            raise RuntimeError("boom")
    assert not lock.locked()


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


def start_waiter(
    cond: HSCondition, timeout: float | None, results: list[bool]
) -> threading.Thread:
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


def test_wait_without_timeout_returns_true_when_notified() -> None:
    cond = HSCondition(name="c")
    results: list[bool] = []
    thread = start_waiter(cond, None, results)
    cond.notify()
    join_or_fail(thread, "notified waiter")
    assert results == [True]


def test_wait_with_timeout_returns_true_when_notified_in_time() -> None:
    cond = HSCondition(name="c")
    results: list[bool] = []
    thread = start_waiter(cond, BOUND_S, results)
    cond.notify()
    join_or_fail(thread, "notified waiter")
    assert results == [True]


def test_wait_with_timeout_returns_false_once_it_expired() -> None:
    cond = HSCondition(name="c")
    with cond:
        start = time.monotonic()
        assert cond.wait(0.1) is False
        elapsed = time.monotonic() - start
        assert not cond.has_waiters()  # a timed-out waiter withdrew
    assert 0.09 <= elapsed < BOUND_S


def test_wait_with_zero_timeout_returns_false_at_once() -> None:
    cond = HSCondition(name="c")
    with cond:
        assert cond.wait(0) is False
        assert not cond.has_waiters()


def test_wait_retakes_the_lock_before_returning() -> None:
    lock = Lock("shared")
    cond = HSCondition(lock, "c")
    with cond:
        cond.wait(0.01)
        assert lock.locked()
        assert lock.acquire(False) is False


def test_condition_uses_the_lock_it_is_given() -> None:
    lock = Lock("shared")
    cond = HSCondition(lock, "c")
    assert cond.acquire()
    assert lock.locked()
    cond.release()
    assert not lock.locked()
    with lock:
        assert cond.acquire(False) is False


def test_condition_takes_a_standard_lock() -> None:
    standard = threading.Lock()  # the seed's HSCondition(lock=None) with a standard lock
    cond = HSCondition(standard, "c")
    assert cond.lock._lock is standard and cond.lock.name == "c.lock"
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


@pytest.mark.parametrize("lock", [threading.RLock(), threading.Condition(), DummyLock(),
                                  "lock", 1], ids=repr)
def test_condition_refuses_any_other_lock_at_construction(lock: object) -> None:
    with pytest.raises(TypeError, match="lock must be"):
        HSCondition(lock, "c")  # type: ignore[arg-type]


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


def test_notify_with_no_waiters_is_a_no_op() -> None:
    cond = HSCondition(name="c")
    cond.notify()
    cond.notify_all()
    with cond:
        cond.notify_locked(5)
        cond.notify_all_locked()
        assert not cond.has_waiters()


def test_notify_all_wakes_every_waiter() -> None:
    cond = HSCondition(name="c")
    results: list[bool] = []
    threads = [start_waiter(cond, BOUND_S, results) for _ in range(4)]
    cond.notify_all()
    for thread in threads:
        join_or_fail(thread, "notified waiter")
    assert results == [True] * 4


def test_notify_locked_wakes_a_waiter_when_called_with_the_lock_held() -> None:
    cond = HSCondition(name="c")
    results: list[bool] = []
    thread = start_waiter(cond, None, results)
    with cond:
        cond.notify_locked()
        assert not cond.has_waiters()
    join_or_fail(thread, "notified waiter")
    assert results == [True]


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
        SyncPoint.TRY_ACQUIRE, SyncPoint.THREAD_START, SyncPoint.JOIN, SyncPoint.YIELD}
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


# --- AsyncQueue ---------------------------------------------------------------------------


def test_async_queue_is_fifo() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    for i in range(5):
        q.put(i)
    assert [q.get() for _ in range(5)] == [0, 1, 2, 3, 4]


def test_async_queue_get_many_takes_at_most_count_items() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    for i in range(5):
        q.put(i)
    assert q.get_many(2) == [0, 1]
    assert q.get_many(ALL, block=False) == [2, 3, 4]
    assert q.get_many(3, block=False) == []


def test_async_queue_get_many_all_blocks_until_closed() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    q.put(1)
    got: list[list[int]] = []
    recorder = HookRecorder()
    previous = set_sync_hook(recorder)
    try:
        reader = start_thread(lambda: got.append(q.get_many(ALL)), "reader")
        first = recorder.watch(SyncPoint.WAIT, "AsyncQueue.not_empty", 1, reader)
        wait_or_fail(first, BOUND_S, "first wait")
        q.put(2)
        second = recorder.watch(SyncPoint.WAIT, "AsyncQueue.not_empty", 2, reader)
        wait_or_fail(second, BOUND_S, "second wait")
        assert not got
        q.set_writable(False)
        join_or_fail(reader, "reader")
    finally:
        set_sync_hook(previous)
    assert got == [[1, 2]]


def test_async_queue_qsize_and_empty_follow_the_items() -> None:
    q: AsyncQueue[str] = AsyncQueue()
    assert q.empty() and q.qsize() == 0
    q.put("a")
    q.put("b")
    assert not q.empty() and q.qsize() == 2
    q.get()
    q.get()
    assert q.empty() and q.qsize() == 0


def test_async_queue_set_writable_returns_the_previous_state() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    assert q.writable()
    assert q.set_writable(True) is True  # still open: no change
    assert q.set_writable(False) is True
    assert not q.writable()
    assert q.set_writable(False) is False  # closing twice is fine


def test_closed_async_queue_cannot_be_reopened() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    q.set_writable(False)
    with pytest.raises(ValueError):
        q.set_writable(True)
    assert not q.writable()


def test_async_queue_put_to_closed_queue_raises_read_only() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    q.put(1)
    q.set_writable(False)
    with pytest.raises(ReadOnly):
        q.put(2)
    assert q.get_many(ALL) == [1]  # the failed put added nothing


def test_async_queue_get_on_closed_drained_queue_raises_empty_at_once() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    q.put(1)
    q.set_writable(False)
    assert q.get() == 1
    with pytest.raises(Empty):
        run_bounded(q.get, BOUND_S, "get on closed queue")
    assert issubclass(Empty, queue.Empty)


def test_async_queue_nonblocking_get_on_empty_raises_empty() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    with pytest.raises(queue.Empty):
        q.get(block=False)


def test_async_queue_timed_get_raises_empty_after_the_timeout() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    start = time.monotonic()
    with pytest.raises(Empty):
        q.get(True, 0.1)
    assert time.monotonic() - start >= 0.09


def test_async_queue_get_many_timeout_restarts_for_each_item(recorder: HookRecorder) -> None:
    q: AsyncQueue[int] = AsyncQueue()
    gap_s, timeout_s, n = 0.1, 0.3, 5
    reader = threading.current_thread()

    def writer() -> None:
        for i in range(n):
            # Write each item once the reader waits for it, gap_s later.
            wait_or_fail(
                recorder.watch(SyncPoint.WAIT, "AsyncQueue.not_empty", i + 1, reader),
                BOUND_S,
                "reader wait",
            )
            time.sleep(gap_s)  # the spacing under test, not synchronization
            q.put(i)

    thread = start_thread(writer, "writer")
    start = time.monotonic()
    got = q.get_many(n, True, timeout_s)
    elapsed = time.monotonic() - start
    join_or_fail(thread, "writer")
    assert got == list(range(n))
    assert elapsed >= n * gap_s * 0.9 > timeout_s  # longer than one timeout in total


def test_bounded_put_blocks_until_a_get_makes_room(recorder: HookRecorder) -> None:
    q: AsyncQueue[int] = AsyncQueue(2)
    q.put(0)
    q.put(1)
    writer = start_thread(lambda: q.put(2, True, None), "writer")
    waiting = recorder.watch(SyncPoint.WAIT, "AsyncQueue.not_full", 1, writer)
    wait_or_fail(waiting, BOUND_S, "writer wait")
    assert q.qsize() == 2  # the blocked writer did not overfill
    assert q.get() == 0
    join_or_fail(writer, "writer")
    assert q.get_many(ALL, False) == [1, 2]


def test_bounded_put_without_block_raises_full() -> None:
    q: AsyncQueue[int] = AsyncQueue(1)
    q.put(0)
    with pytest.raises(Full):
        q.put(1, block=False)
    assert issubclass(Full, queue.Full)
    assert q.get_many(ALL, False) == [0]


def test_bounded_put_raises_full_once_its_timeout_expired() -> None:
    q: AsyncQueue[int] = AsyncQueue(1)
    q.put(0)
    start = time.monotonic()
    with pytest.raises(Full):
        q.put(1, True, 0.1)
    assert time.monotonic() - start >= 0.09
    assert q.get_many(ALL, False) == [0]


def test_close_wakes_a_blocked_writer_with_read_only(recorder: HookRecorder) -> None:
    q: AsyncQueue[int] = AsyncQueue(1)
    q.put(0)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            q.put(1, True, None)
        except BaseException as exc:
            errors.append(exc)

    thread = start_thread(writer, "writer")
    waiting = recorder.watch(SyncPoint.WAIT, "AsyncQueue.not_full", 1, thread)
    wait_or_fail(waiting, BOUND_S, "writer wait")
    q.set_writable(False)
    join_or_fail(thread, "writer")
    assert len(errors) == 1 and isinstance(errors[0], ReadOnly)
    assert q.get_many(ALL) == [0]


def test_close_wakes_blocked_readers(recorder: HookRecorder) -> None:
    q: AsyncQueue[int] = AsyncQueue()
    outcomes: list[object] = []

    def get_one() -> None:
        try:
            outcomes.append(q.get())
        except Empty as exc:
            outcomes.append(exc)

    def get_many() -> None:
        outcomes.append(q.get_many(3))

    threads = [start_thread(get_one, "get"), start_thread(get_many, "get_many")]
    for thread in threads:
        waiting = recorder.watch(SyncPoint.WAIT, "AsyncQueue.not_empty", 1, thread)
        wait_or_fail(waiting, BOUND_S, "reader wait")
    q.set_writable(False)
    for thread in threads:
        join_or_fail(thread, "reader")
    assert len(outcomes) == 2
    assert [] in outcomes
    assert any(isinstance(o, Empty) for o in outcomes)


def test_async_queue_maxsize_is_validated() -> None:
    with pytest.raises(ValueError):
        AsyncQueue(-1)
    with pytest.raises(TypeError):
        AsyncQueue(1.5)  # type: ignore[arg-type]  # the wrong type is the point
    with pytest.raises(TypeError):
        AsyncQueue(True)


def test_async_queue_put_back_restores_items_in_order_at_the_front() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    for i in range(4):
        q.put(i)
    taken = q.get_many(2)
    q.put_back(taken)
    q.set_writable(False)
    q.put_back([])  # nothing to return: no-op, even when closed
    assert q.get_many(ALL) == [0, 1, 2, 3]


def test_async_queue_take_nowait_reports_generation_and_drained() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    items, gen0, drained = q.take_nowait(ALL)
    assert items == [] and not drained
    q.put(1)
    items, gen1, drained = q.take_nowait(ALL)
    assert items == [1] and gen1 != gen0 and not drained
    q.set_writable(False)
    items, gen2, drained = q.take_nowait(5)
    assert items == [] and gen2 != gen1 and drained


def test_async_queue_wait_for_change_returns_on_poke(recorder: HookRecorder) -> None:
    q: AsyncQueue[int] = AsyncQueue()
    _, generation, _ = q.take_nowait(1)
    thread = start_thread(lambda: q.wait_for_change(generation, None), "waiter")
    waiting = recorder.watch(SyncPoint.WAIT, "AsyncQueue.not_empty", 1, thread)
    wait_or_fail(waiting, BOUND_S, "waiter wait")
    q.poke()
    join_or_fail(thread, "wait_for_change")


def test_async_queue_wait_for_change_returns_at_once_on_stale_generation() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    _, generation, _ = q.take_nowait(1)
    q.put(1)
    run_bounded(lambda: q.wait_for_change(generation, None), BOUND_S, "stale generation")


def test_async_queue_wait_for_change_gives_up_after_timeout() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    _, generation, _ = q.take_nowait(1)
    start = time.monotonic()
    q.wait_for_change(generation, 0.1)
    assert time.monotonic() - start >= 0.09


# --- SyncQueue ----------------------------------------------------------------------------


def test_sync_queue_is_fifo_and_reports_its_size() -> None:
    q: SyncQueue[int] = SyncQueue()
    assert q.empty() and q.qsize() == 0
    for i in range(3):
        q.put(i)
    assert q.qsize() == 3 and not q.empty()
    assert q.get() == 0
    assert q.get_many(ALL) == [1, 2]


def test_sync_queue_get_on_empty_raises_empty_even_when_blocking() -> None:
    q: SyncQueue[int] = SyncQueue()
    with pytest.raises(Empty):
        run_bounded(lambda: q.get(True, None), BOUND_S, "sync get")


def test_sync_queue_get_many_returns_what_is_there_without_blocking() -> None:
    q: SyncQueue[int] = SyncQueue()
    q.put(1)
    assert run_bounded(lambda: q.get_many(5, True, None), BOUND_S, "sync read") == [1]
    assert q.get_many(ALL, True, None) == []


def test_sync_queue_put_to_full_queue_raises_full_even_when_blocking() -> None:
    q: SyncQueue[int] = SyncQueue(1)
    q.put(0)
    with pytest.raises(Full):
        run_bounded(lambda: q.put(1, True, None), BOUND_S, "sync put")
    assert q.get_many(ALL) == [0]


def test_sync_queue_put_to_closed_queue_raises_read_only() -> None:
    q: SyncQueue[int] = SyncQueue()
    q.put(1)
    assert q.set_writable(False) is True
    assert not q.writable()
    with pytest.raises(ReadOnly):
        q.put(2)
    assert q.get_many(ALL) == [1]
    _, _, drained = q.take_nowait(ALL)
    assert drained


def test_sync_queue_set_writable_returns_previous_and_cannot_reopen() -> None:
    q: SyncQueue[int] = SyncQueue()
    assert q.set_writable(True) is True
    assert q.set_writable(False) is True
    assert q.set_writable(False) is False
    with pytest.raises(ValueError):
        q.set_writable(True)


def test_sync_queue_put_back_restores_items_in_order() -> None:
    q: SyncQueue[int] = SyncQueue()
    for i in range(3):
        q.put(i)
    q.put_back(q.get_many(2))
    assert q.get_many(ALL) == [0, 1, 2]


def test_sync_queue_maxsize_is_validated() -> None:
    with pytest.raises(ValueError):
        SyncQueue(-1)


# --- normalize_count / normalize_timeout ---------------------------------------------------


@pytest.mark.parametrize(("count", "expected"), [(5, 5), (1, 1), (0, ALL), (-3, ALL)])
def test_normalize_count_maps_counts_below_one_to_all(count: int, expected: int) -> None:
    assert normalize_count(count) == expected


@pytest.mark.parametrize("count", [True, False, 1.0, "3", None])
def test_normalize_count_rejects_non_int_counts(count: object) -> None:
    with pytest.raises(TypeError):
        normalize_count(count)  # type: ignore[arg-type]  # the wrong type is the point


@given(st.integers())
def test_normalize_count_never_negative_and_zero_only_below_one(count: int) -> None:
    result = normalize_count(count)
    assert result >= 0
    assert (count < 1) == (result == 0)
    if count >= 1:
        assert result == count


@pytest.mark.parametrize(("timeout", "expected"), [(None, None), (0, 0.0), (2, 2.0), (0.5, 0.5)])
def test_normalize_timeout_returns_float_seconds_or_none(
    timeout: float | None, expected: float | None
) -> None:
    result = normalize_timeout(timeout)
    assert result == expected
    assert result is None or type(result) is float


@pytest.mark.parametrize("timeout", [-0.1, -1, math.nan, -math.inf])
def test_normalize_timeout_rejects_negative_or_nan(timeout: float) -> None:
    with pytest.raises(ValueError):
        normalize_timeout(timeout)


@pytest.mark.parametrize("timeout", ["1", True, [1]])
def test_normalize_timeout_rejects_non_numbers(timeout: object) -> None:
    with pytest.raises(TypeError):
        normalize_timeout(timeout)  # type: ignore[arg-type]  # the wrong type is the point


# --- Mailbox and cpu_count ----------------------------------------------------------------


def test_mailbox_take_all_returns_posts_oldest_first_then_nothing() -> None:
    box: Mailbox[int] = Mailbox()
    assert box.take_all() == []
    for i in range(3):
        box.post(i)
    assert box.take_all() == [0, 1, 2]
    assert box.take_all() == []


def test_mailbox_receives_every_post_from_many_threads() -> None:
    box: Mailbox[tuple[int, int]] = Mailbox()
    n_threads, n_posts = 4, 500

    def poster(k: int) -> None:
        for i in range(n_posts):
            box.post((k, i))

    threads = [
        start_thread(functools.partial(poster, k), f"poster{k}") for k in range(n_threads)
    ]
    for thread in threads:
        join_or_fail(thread, "poster")
    messages = box.take_all()
    assert sorted(messages) == [(k, i) for k in range(n_threads) for i in range(n_posts)]
    for k in range(n_threads):  # each poster's messages stay in its order
        assert [i for kk, i in messages if kk == k] == list(range(n_posts))


class _Collectable:
    pass


def test_mailbox_post_works_from_a_finalizer() -> None:
    box: Mailbox[str] = Mailbox()
    obj = _Collectable()
    weakref.finalize(obj, box.post, "collected")
    del obj
    gc.collect()
    assert box.take_all() == ["collected"]


def test_cpu_count_is_a_positive_int() -> None:
    count = cpu_count()
    assert type(count) is int and count >= 1


def test_util_exports_the_seed_names() -> None:
    for name in ("AsyncQueue", "DummyLock", "HSCondition", "ReadOnly", "SyncQueue", "cpu_count"):
        assert name in util.__all__ and hasattr(util, name)


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
