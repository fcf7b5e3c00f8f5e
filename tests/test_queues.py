"""Unit tests for refasync.queues: AsyncQueue, SyncQueue and the argument normalizers
(the seed's names in refasync.util), and property tests that compare each fast path
with the general path it shortens.

Each test checks one rule and is named after it. Every AsyncQueue test runs with no hook
and under a recording hook (``sync_hook``, tests/conftest.py) with the same assertions;
"a thread is now blocked" is learnt from the condition's registered waiters.
"""

from __future__ import annotations

import _thread
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refasync.testing import run_bounded
from refasync.util import (
    ALL,
    AsyncQueue,
    Empty,
    Full,
    HSCondition,
    ReadOnly,
    SyncQueue,
    normalize_count,
    normalize_timeout,
)
from tests.sync_support import BOUND_S, join_or_fail, start_thread, wait_for_waiters

# --- AsyncQueue ---------------------------------------------------------------------------


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_is_fifo() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    for i in range(5):
        q.put(i)
    assert [q.get() for _ in range(5)] == [0, 1, 2, 3, 4]


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_get_many_takes_at_most_count_items() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    for i in range(5):
        q.put(i)
    assert q.get_many(2) == [0, 1]
    assert q.get_many(ALL, block=False) == [2, 3, 4]
    assert q.get_many(3, block=False) == []


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_get_many_all_blocks_until_closed() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    q.put(1)
    got: list[list[int]] = []
    reader = start_thread(lambda: got.append(q.get_many(ALL)), "reader")
    wait_for_waiters(q.not_empty, 1, "first wait")
    q.put(2)  # wakes the reader (its waiter is withdrawn), which waits again
    wait_for_waiters(q.not_empty, 1, "second wait")
    assert not got
    q.set_writable(False)
    join_or_fail(reader, "reader")
    assert got == [[1, 2]]


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_qsize_and_empty_follow_the_items() -> None:
    q: AsyncQueue[str] = AsyncQueue()
    assert q.empty() and q.qsize() == 0
    q.put("a")
    q.put("b")
    assert not q.empty() and q.qsize() == 2
    q.get()
    q.get()
    assert q.empty() and q.qsize() == 0


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_set_writable_returns_the_previous_state() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    assert q.writable()
    assert q.set_writable(True) is True  # still open: no change
    assert q.set_writable(False) is True
    assert not q.writable()
    assert q.set_writable(False) is False  # closing twice is fine


@pytest.mark.usefixtures("sync_hook")
def test_closed_async_queue_cannot_be_reopened() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    q.set_writable(False)
    with pytest.raises(ValueError):
        q.set_writable(True)
    assert not q.writable()


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_put_to_closed_queue_raises_read_only() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    q.put(1)
    q.set_writable(False)
    with pytest.raises(ReadOnly):
        q.put(2)
    assert q.get_many(ALL) == [1]  # the failed put added nothing


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_get_on_closed_drained_queue_raises_empty_at_once() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    q.put(1)
    q.set_writable(False)
    assert q.get() == 1
    with pytest.raises(Empty):
        run_bounded(q.get, BOUND_S, "get on closed queue")
    assert issubclass(Empty, queue.Empty)


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_nonblocking_get_on_empty_raises_empty() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    with pytest.raises(queue.Empty):
        q.get(block=False)


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_timed_get_raises_empty_after_the_timeout() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    start = time.monotonic()
    with pytest.raises(Empty):
        q.get(True, 0.1)
    assert time.monotonic() - start >= 0.09


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_get_many_timeout_restarts_for_each_item() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    gap_s, timeout_s, n = 0.1, 0.3, 5

    def writer() -> None:
        for i in range(n):
            # Write each item once the reader waits for it, gap_s later.
            wait_for_waiters(q.not_empty, 1, "reader wait")
            time.sleep(gap_s)  # the spacing under test, not synchronization
            q.put(i)

    thread = start_thread(writer, "writer")
    start = time.monotonic()
    got = q.get_many(n, True, timeout_s)
    elapsed = time.monotonic() - start
    join_or_fail(thread, "writer")
    assert got == list(range(n))
    assert elapsed >= n * gap_s * 0.9 > timeout_s  # longer than one timeout in total


@pytest.mark.usefixtures("sync_hook")
def test_bounded_put_blocks_until_a_get_makes_room() -> None:
    q: AsyncQueue[int] = AsyncQueue(2)
    q.put(0)
    q.put(1)
    writer = start_thread(lambda: q.put(2, True, None), "writer")
    wait_for_waiters(q.not_full, 1, "writer wait")
    assert q.qsize() == 2  # the blocked writer did not overfill
    assert q.get() == 0
    join_or_fail(writer, "writer")
    assert q.get_many(ALL, False) == [1, 2]


@pytest.mark.usefixtures("sync_hook")
def test_bounded_put_without_block_raises_full() -> None:
    q: AsyncQueue[int] = AsyncQueue(1)
    q.put(0)
    with pytest.raises(Full):
        q.put(1, block=False)
    assert issubclass(Full, queue.Full)
    assert q.get_many(ALL, False) == [0]


@pytest.mark.usefixtures("sync_hook")
def test_bounded_put_raises_full_once_its_timeout_expired() -> None:
    q: AsyncQueue[int] = AsyncQueue(1)
    q.put(0)
    start = time.monotonic()
    with pytest.raises(Full):
        q.put(1, True, 0.1)
    assert time.monotonic() - start >= 0.09
    assert q.get_many(ALL, False) == [0]


@pytest.mark.usefixtures("sync_hook")
def test_close_wakes_a_blocked_writer_with_read_only() -> None:
    q: AsyncQueue[int] = AsyncQueue(1)
    q.put(0)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            q.put(1, True, None)
        except BaseException as exc:
            errors.append(exc)

    thread = start_thread(writer, "writer")
    wait_for_waiters(q.not_full, 1, "writer wait")
    q.set_writable(False)
    join_or_fail(thread, "writer")
    assert len(errors) == 1 and isinstance(errors[0], ReadOnly)
    assert q.get_many(ALL) == [0]


@pytest.mark.usefixtures("sync_hook")
def test_close_wakes_blocked_readers() -> None:
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
    wait_for_waiters(q.not_empty, 2, "reader waits")
    q.set_writable(False)
    for thread in threads:
        join_or_fail(thread, "reader")
    assert len(outcomes) == 2
    assert [] in outcomes
    assert any(isinstance(o, Empty) for o in outcomes)


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_maxsize_is_validated() -> None:
    with pytest.raises(ValueError):
        AsyncQueue(-1)
    with pytest.raises(TypeError):
        AsyncQueue(1.5)  # type: ignore[arg-type]  # the wrong type is the point
    with pytest.raises(TypeError):
        AsyncQueue(True)


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_put_back_restores_items_in_order_at_the_front() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    for i in range(4):
        q.put(i)
    taken = q.get_many(2)
    q.put_back(taken)
    q.set_writable(False)
    q.put_back([])  # nothing to return: no-op, even when closed
    assert q.get_many(ALL) == [0, 1, 2, 3]


@pytest.mark.usefixtures("sync_hook")
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


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_wait_for_change_returns_on_poke() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    _, generation, _ = q.take_nowait(1)
    thread = start_thread(lambda: q.wait_for_change(generation, None), "waiter")
    wait_for_waiters(q.not_empty, 1, "waiter wait")
    q.poke()
    join_or_fail(thread, "wait_for_change")


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_wait_for_change_returns_at_once_on_stale_generation() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    _, generation, _ = q.take_nowait(1)
    q.put(1)
    run_bounded(lambda: q.wait_for_change(generation, None), BOUND_S, "stale generation")


@pytest.mark.usefixtures("sync_hook")
def test_async_queue_wait_for_change_gives_up_after_timeout() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    _, generation, _ = q.take_nowait(1)
    start = time.monotonic()
    q.wait_for_change(generation, 0.1)
    assert time.monotonic() - start >= 0.09


#: Every change a reader waiting for a change must see (the pool's readers wait so), and
#: how many of two such readers it wakes: a write of n items wakes n, the others all.
CHANGES: dict[str, tuple[Callable[[AsyncQueue[int]], object], int]] = {
    "put": (lambda q: q.put(1), 1),
    "put_many": (lambda q: q.put_many([1, 2]), 2),
    "close": (lambda q: q.set_writable(False), 2),
    "poke": (lambda q: q.poke(), 2),
    "put_back": (lambda q: q.put_back([1]), 2),
}


@pytest.mark.usefixtures("sync_hook")
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_change_advances_the_generation_and_wakes_the_readers_waiting_for_one(
    change: str,
) -> None:
    q: AsyncQueue[int] = AsyncQueue()
    _, generation, _ = q.take_nowait(1)
    woken = threading.Semaphore(0)

    def wait_for_a_change() -> None:
        q.wait_for_change(generation, None)
        woken.release()

    waiting = [start_thread(wait_for_a_change, f"waiting for a change {k}") for k in range(2)]
    wait_for_waiters(q.not_empty, 2, "readers waiting for a change")
    make_change, wakes = CHANGES[change]
    make_change(q)
    for _ in range(wakes):
        assert woken.acquire(timeout=BOUND_S), f"a reader waiting for a change slept on {change}"
    assert q.take_nowait(0)[1] != generation
    if wakes < len(waiting):  # a one-item write woke one reader: the other still waits
        wait_for_waiters(q.not_empty, 1, "the other reader")
        q.set_writable(False)
    for thread in waiting:
        join_or_fail(thread, "a reader waiting for a change")


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


# --- fast paths against the general path --------------------------------------------------
#
# A fast path is a second body for a common case; it must do exactly what the general
# path does on the same state: the same items, the same generation, the same waiters
# woken. The waiters are planted (locked waiter locks in the conditions' queues, as
# blocked threads leave them), so one thread sees whom each path wakes.


class Planted:
    """An AsyncQueue in a drawn state, with planted waiters on both conditions."""

    def __init__(
        self, maxsize: int, items: list[int], closed: bool, readers: int, writers: int
    ) -> None:
        self.queue: AsyncQueue[int] = AsyncQueue(maxsize)
        self.queue._items.extend(items)
        self.queue._writable = not closed
        self.readers = [self._plant(self.queue.not_empty) for _ in range(readers)]
        self.writers = [self._plant(self.queue.not_full) for _ in range(writers)]

    @staticmethod
    def _plant(condition: HSCondition) -> _thread.LockType:
        waiter = _thread.allocate_lock()
        waiter.acquire()
        condition._waiters.append(waiter)
        return waiter

    def state(self) -> tuple[list[int], int, bool, int, int]:
        """The items, the generation, closed, and the readers and writers woken."""
        q = self.queue
        return (
            list(q._items),
            q._generation,
            not q._writable,
            sum(not w.locked() for w in self.readers),
            sum(not w.locked() for w in self.writers),
        )


queue_states = st.fixed_dictionaries(
    {
        "maxsize": st.sampled_from([0, 0, 1, 3]),
        "items": st.lists(st.integers(0, 99), max_size=5),
        "closed": st.booleans(),
        "readers": st.integers(0, 2),
        "writers": st.integers(0, 3),
    }
)


def planted_pair(state: dict[str, Any]) -> tuple[Planted, Planted]:
    items = state["items"][: state["maxsize"]] if state["maxsize"] else state["items"]
    args = (state["maxsize"], items, state["closed"], state["readers"], state["writers"])
    return Planted(*args), Planted(*args)


@pytest.mark.usefixtures("sync_hook")
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=queue_states, block=st.booleans())
def test_the_read_shortcut_does_what_the_general_read_does(
    state: dict[str, Any], block: bool
) -> None:
    fast, general = planted_pair(state)
    if block and not fast.queue._items and not state["closed"]:
        block = False  # a read that would wait: one thread cannot show it
    got = fast.queue.read(1, block)
    with general.queue.mutex.held:
        expected = general.queue._get_many_locked(1, block, None)
    assert got == expected
    assert fast.state() == general.state()


@pytest.mark.usefixtures("sync_hook")
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=queue_states, count=st.sampled_from([1, 1, 2, ALL]))
def test_the_take_nowait_shortcut_does_what_the_general_take_does(
    state: dict[str, Any], count: int
) -> None:
    fast, general = planted_pair(state)
    got = fast.queue.take_nowait(count)
    with general.queue.mutex.held:
        items = general.queue._get_many_locked(count, False, None)
        q = general.queue
        expected = (items, q._generation, not q._writable and not q._items)
    assert got == expected
    assert fast.state() == general.state()


@given(items=st.lists(st.integers(0, 99), max_size=5))
def test_the_serial_read_shortcut_does_what_the_general_read_does(items: list[int]) -> None:
    fast: SyncQueue[int] = SyncQueue()
    general: SyncQueue[int] = SyncQueue()
    for q in (fast, general):
        q.put_many(items)
    assert fast.read(1) == general._take(1)
    assert list(fast._items) == list(general._items)
    assert fast._generation == general._generation
