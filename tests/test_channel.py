"""Unit tests for refasync.channel: channels, their ends, callbacks, IteratorReader and
mkchannel, with the decided channel semantics (rules 1, 5, 6 and the bad-input rules).

Each test checks one rule and is named after it. "A thread is now blocked" is learnt
from the sync hook (its WAIT point), never from a sleep.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections import deque
from typing import Callable, Iterator

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from refasync import (
    CallbackChannelReader,
    CallbackChannelWriter,
    Channel,
    ChannelReader,
    ChannelWriter,
    Full,
    IteratorReader,
    ReadOnly,
    Reader,
    SerialChannel,
    Writer,
    mkchannel,
)
from refasync.testing import run_bounded, wait_or_fail
from refasync.util import AsyncQueue, SyncPoint, SyncPrimitive, SyncQueue, set_sync_hook

BOUND_S = 10.0  # generous bound for anything another thread must do
NOT_EMPTY = "AsyncQueue.not_empty"
NOT_FULL = "AsyncQueue.not_full"


# --- helpers ------------------------------------------------------------------------------


class WaitWatcher:
    """A sync hook that counts WAIT points per (primitive name, thread) and signals when
    a thread reached a given number of them. Takes only a stdlib lock."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._watches: list[tuple[str, int, int, threading.Event]] = []
        self._guard = threading.Lock()  # guards _counts and _watches

    def __call__(self, point: SyncPoint, primitive: SyncPrimitive) -> bool:
        if point is SyncPoint.WAIT:
            key = (primitive.name, threading.get_ident())
            with self._guard:
                self._counts[key] = self._counts.get(key, 0) + 1
                for name, ident, times, event in self._watches:
                    if self._counts.get((name, ident), 0) >= times:
                        event.set()
        return False

    def waiting(self, name: str, thread: threading.Thread, times: int = 1) -> threading.Event:
        """:return: an event set once ``thread`` began its ``times``-th wait on ``name``."""
        assert thread.ident is not None
        event = threading.Event()
        with self._guard:
            if self._counts.get((name, thread.ident), 0) >= times:
                event.set()
            self._watches.append((name, thread.ident, times, event))
        return event

    def count(self, name: str, thread: threading.Thread) -> int:
        assert thread.ident is not None
        with self._guard:
            return self._counts.get((name, thread.ident), 0)


@pytest.fixture
def watcher() -> Iterator[WaitWatcher]:
    hook = WaitWatcher()
    previous = set_sync_hook(hook)
    try:
        yield hook
    finally:
        set_sync_hook(previous)


def wait_until_blocked(
    watcher: WaitWatcher, name: str, thread: threading.Thread, times: int = 1
) -> None:
    wait_or_fail(watcher.waiting(name, thread, times), BOUND_S, f"{thread.name} waits on {name}")


def int_channel(maxsize: int = 0) -> tuple[ChannelWriter[int], ChannelReader[int]]:
    channel: Channel[int] = Channel(maxsize)
    return ChannelWriter(channel), ChannelReader(channel)


def callback_channel(
    maxsize: int = 0,
) -> tuple[CallbackChannelWriter[int], CallbackChannelReader[int]]:
    channel: Channel[int] = Channel(maxsize)
    return CallbackChannelWriter(channel), CallbackChannelReader(channel)


def serial_channel(maxsize: int = 0) -> tuple[ChannelWriter[int], ChannelReader[int]]:
    channel: SerialChannel[int] = SerialChannel(maxsize)
    return ChannelWriter(channel), ChannelReader(channel)


class ResultThread:
    """A daemon thread running ``fn``, keeping its result or exception."""

    def __init__(self, fn: Callable[[], list[int]], name: str) -> None:
        self.result: list[list[int]] = []
        self.error: list[BaseException] = []
        self._fn = fn
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result.append(self._fn())
        except BaseException as exc:
            self.error.append(exc)

    def join(self) -> None:
        self.thread.join(BOUND_S)
        assert not self.thread.is_alive(), f"{self.thread.name} still running"


def writes_spaced(writer: Writer[int], items: list[int], before_each: Callable[[int], None]) -> None:
    for index, item in enumerate(items):
        before_each(index)
        writer.write(item)


# --- mkchannel and channel classes --------------------------------------------------------


def test_mkchannel_returns_writer_then_reader_of_one_channel() -> None:
    w: Writer[int]
    r: Reader[int]
    w, r = mkchannel()
    assert isinstance(w, ChannelWriter) and isinstance(r, ChannelReader)
    assert w.channel is r.channel
    w.write(1)
    assert r.read(1) == [1]


def test_mkchannel_builds_the_given_types() -> None:
    w, r = mkchannel(SerialChannel[int], CallbackChannelWriter[int], CallbackChannelReader[int])
    assert type(w) is CallbackChannelWriter and type(r) is CallbackChannelReader
    assert isinstance(w.channel, SerialChannel) and w.channel is r.channel


def test_channel_uses_an_async_queue_and_serial_channel_a_sync_queue() -> None:
    assert Channel.QueueCls is AsyncQueue and SerialChannel.QueueCls is SyncQueue
    assert isinstance(Channel[int]().queue, AsyncQueue)
    assert isinstance(SerialChannel[int]().queue, SyncQueue)
    assert Channel[int](3).queue.maxsize == 3


def test_abstract_writer_and_reader_must_be_overridden() -> None:
    writer: Writer[int] = Writer(None)
    reader: Reader[int] = Reader(None)
    for call in (lambda: writer.write(1), writer.size, writer.close, writer.closed, reader.read):
        with pytest.raises(NotImplementedError):
            call()


# --- reading counts, blocking and timeouts -------------------------------------------------


def test_read_one_returns_one_item_in_a_list() -> None:
    w, r = int_channel()
    w.write(1)
    w.write(2)
    assert r.read(1) == [1]
    assert r.read(1) == [2]


def test_read_n_returns_n_items_in_order() -> None:
    w, r = int_channel()
    for i in range(5):
        w.write(i)
    assert r.read(3) == [0, 1, 2]
    assert w.size() == 2


@pytest.mark.parametrize("count", [0, -1, -100])
def test_blocking_read_below_one_returns_every_item_until_closed(
    watcher: WaitWatcher, count: int
) -> None:
    w, r = int_channel()
    w.write(0)
    reader = ResultThread(lambda: r.read(count), "reader")
    wait_until_blocked(watcher, NOT_EMPTY, reader.thread)
    w.write(1)
    wait_until_blocked(watcher, NOT_EMPTY, reader.thread, 2)
    assert not reader.result  # still reading: the channel is open
    w.close()
    reader.join()
    assert reader.result == [[0, 1]]


@pytest.mark.parametrize("count", [0, -1])
def test_nonblocking_read_below_one_returns_every_item_available_now(count: int) -> None:
    w, r = int_channel()
    for i in range(4):
        w.write(i)
    assert r.read(count, block=False) == [0, 1, 2, 3]
    assert r.read(count, block=False) == []


def test_nonblocking_read_returns_fewer_items_at_once() -> None:
    w, r = int_channel()
    w.write(1)
    assert run_bounded(lambda: r.read(5, block=False), BOUND_S, "read") == [1]
    assert run_bounded(lambda: r.read(1, block=False), BOUND_S, "read") == []


def test_blocking_read_waits_for_the_items_it_asked_for(watcher: WaitWatcher) -> None:
    w, r = int_channel()
    reader = ResultThread(lambda: r.read(3), "reader")
    for i in range(3):
        wait_until_blocked(watcher, NOT_EMPTY, reader.thread, i + 1)
        assert not reader.result
        w.write(i)
    reader.join()
    assert reader.result == [[0, 1, 2]]


def test_bulk_read_takes_the_available_items_under_one_lock() -> None:
    w, r = int_channel()
    for i in range(100):
        w.write(i)
    acquisitions: list[str] = []

    def hook(point: SyncPoint, primitive: SyncPrimitive) -> bool:
        if point is SyncPoint.ACQUIRE and threading.current_thread() is me:
            acquisitions.append(primitive.name)
        return False

    me = threading.current_thread()
    previous = set_sync_hook(hook)
    try:
        items = r.read(0, block=False)
    finally:
        set_sync_hook(previous)
    assert items == list(range(100))
    assert acquisitions == ["AsyncQueue.mutex"]


def test_timeout_applies_per_item_not_to_the_whole_read(watcher: WaitWatcher) -> None:
    w, r = int_channel()
    gap_s, timeout_s, n = 0.1, 0.3, 5
    reader_thread = threading.current_thread()

    def before_each(index: int) -> None:
        # The next item arrives gap_s after the reader started waiting for it.
        wait_until_blocked(watcher, NOT_EMPTY, reader_thread, index + 1)
        time.sleep(gap_s)  # the spacing under test, not synchronization

    writer = threading.Thread(
        target=writes_spaced, args=(w, list(range(n)), before_each), daemon=True
    )
    writer.start()
    start = time.monotonic()
    items = r.read(n, timeout=timeout_s)
    elapsed = time.monotonic() - start
    writer.join(BOUND_S)
    assert items == list(range(n))
    assert elapsed > timeout_s  # the whole read outlasted one timeout: it is per item


def test_expired_timeout_returns_the_items_received_so_far() -> None:
    w, r = int_channel()
    w.write(1)
    start = time.monotonic()
    assert r.read(3, timeout=0.1) == [1]
    assert 0.09 <= time.monotonic() - start < BOUND_S


def test_zero_timeout_returns_what_is_there_at_once() -> None:
    w, r = int_channel()
    w.write(1)
    assert run_bounded(lambda: r.read(3, timeout=0), BOUND_S, "read") == [1]


@pytest.mark.parametrize("count", [0, 1, 5, -1])
def test_read_of_closed_drained_channel_returns_empty_at_once(count: int) -> None:
    w, r = int_channel()
    w.write(1)
    w.close()
    assert r.read(1) == [1]
    assert run_bounded(lambda: r.read(count), BOUND_S, "read of closed channel") == []
    assert run_bounded(lambda: r.read(count, timeout=None), BOUND_S, "read again") == []


def test_read_of_closed_channel_returns_the_items_left_first() -> None:
    w, r = int_channel()
    for i in range(3):
        w.write(i)
    w.close()
    assert r.read(5) == [0, 1, 2]
    assert r.read(5) == []


def test_reader_blocked_in_read_wakes_on_close_with_exactly_the_items_written(
    watcher: WaitWatcher,
) -> None:
    w, r = int_channel()
    reader = ResultThread(lambda: r.read(5), "reader")
    wait_until_blocked(watcher, NOT_EMPTY, reader.thread)
    w.write(1)
    w.write(2)
    wait_until_blocked(watcher, NOT_EMPTY, reader.thread, 2)
    w.close()
    reader.join()
    assert reader.result == [[1, 2]]


@pytest.mark.parametrize("count", [True, 1.0, "1", None])
def test_read_with_non_int_count_raises_type_error(count: object) -> None:
    w, r = int_channel()
    w.write(1)
    with pytest.raises(TypeError):
        r.read(count)  # type: ignore[arg-type]  # the wrong type is the point
    assert w.size() == 1  # nothing consumed


def test_read_with_negative_timeout_raises_value_error() -> None:
    w, r = int_channel()
    w.write(1)
    with pytest.raises(ValueError):
        r.read(1, timeout=-1)
    assert w.size() == 1


def test_write_with_negative_timeout_raises_value_error() -> None:
    w, _ = int_channel()
    with pytest.raises(ValueError):
        w.write(1, True, -0.5)
    assert w.size() == 0


# --- closing, size, iteration -------------------------------------------------------------


def test_write_after_close_raises_read_only_and_adds_nothing() -> None:
    w, r = int_channel()
    w.write(1)
    w.close()
    with pytest.raises(ReadOnly):
        w.write(2)
    assert r.read() == [1]


def test_closing_twice_is_no_error() -> None:
    w, _ = int_channel()
    assert not w.closed()
    w.close()
    w.close()
    assert w.closed()


def test_size_counts_the_unread_items() -> None:
    w, r = int_channel()
    assert w.size() == 0
    w.write(1)
    w.write(2)
    assert w.size() == 2
    r.read(1)
    assert w.size() == 1


def test_reader_is_its_own_iterator() -> None:
    _, r = int_channel()
    assert iter(r) is r


def test_for_loop_over_reader_stops_when_channel_is_closed() -> None:
    w, r = int_channel()

    def produce() -> None:
        for i in range(20):
            w.write(i)
        w.close()

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    assert run_bounded(lambda: list(r), BOUND_S, "iterate") == list(range(20))
    producer.join(BOUND_S)


def test_next_returns_one_item_then_stops_at_close() -> None:
    w, r = int_channel()
    w.write(5)
    w.close()
    assert r.next() == 5
    with pytest.raises(StopIteration):
        r.next()
    with pytest.raises(StopIteration):
        next(r)


# --- bounded channels ---------------------------------------------------------------------


def test_default_write_to_full_bounded_channel_raises_full_at_once() -> None:
    w, r = int_channel(2)
    w.write(0)
    w.write(1)
    with pytest.raises(Full):
        run_bounded(lambda: w.write(2), BOUND_S, "default write")
    assert r.read(0, block=False) == [0, 1]


def test_blocking_write_to_full_channel_waits_for_a_read(watcher: WaitWatcher) -> None:
    w, r = int_channel(1)
    w.write(0)
    writer = threading.Thread(target=lambda: w.write(1, block=True), daemon=True)
    writer.start()
    wait_until_blocked(watcher, NOT_FULL, writer)
    assert w.size() == 1
    assert r.read(1) == [0]
    writer.join(BOUND_S)
    assert not writer.is_alive()
    assert r.read(0, block=False) == [1]


def test_blocking_write_raises_full_when_its_timeout_expires() -> None:
    w, r = int_channel(1)
    w.write(0)
    start = time.monotonic()
    with pytest.raises(Full):
        w.write(1, True, 0.1)
    assert time.monotonic() - start >= 0.09
    assert r.read(0, block=False) == [0]


def test_close_wakes_a_blocked_writer_with_read_only(watcher: WaitWatcher) -> None:
    w, r = int_channel(1)
    w.write(0)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            w.write(1, block=True)
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    wait_until_blocked(watcher, NOT_FULL, writer)
    w.close()
    writer.join(BOUND_S)
    assert not writer.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ReadOnly)
    assert r.read() == [0]


# --- SerialChannel ------------------------------------------------------------------------


def test_serial_channel_read_returns_what_is_there_without_blocking() -> None:
    w, r = serial_channel()
    w.write(1)
    assert run_bounded(lambda: r.read(3), BOUND_S, "serial read") == [1]
    assert run_bounded(lambda: r.read(1, True, None), BOUND_S, "serial read") == []
    assert run_bounded(lambda: r.read(0), BOUND_S, "serial read") == []


def test_serial_channel_write_to_full_raises_full_even_when_blocking() -> None:
    w, r = serial_channel(1)
    w.write(0)
    with pytest.raises(Full):
        run_bounded(lambda: w.write(1, True, None), BOUND_S, "serial write")
    assert r.read() == [0]


def test_serial_channel_close_read_only_and_drain() -> None:
    w, r = serial_channel()
    w.write(1)
    w.close()
    w.close()
    assert w.closed()
    with pytest.raises(ReadOnly):
        w.write(2)
    assert r.read() == [1]
    assert list(r) == []


# --- callbacks ----------------------------------------------------------------------------


def test_writer_pre_callback_writes_what_it_returns() -> None:
    w, r = callback_channel()
    w.set_pre_cb(lambda item: item * 10)
    w.write(1)
    w.write(2)
    assert r.read(2) == [10, 20]


def test_writer_set_pre_callback_returns_previous_and_none_uninstalls() -> None:
    w, r = callback_channel()

    def double(item: int) -> int:
        return item * 2

    assert w.set_pre_cb(double) is None
    assert w.set_pre_cb(None) is double
    w.write(3)
    assert r.read(1) == [3]


def test_writer_pre_callback_that_raises_writes_nothing() -> None:
    w, _ = callback_channel()

    def refuse(item: int) -> int:
        raise KeyError(item)

    w.set_pre_cb(refuse)
    with pytest.raises(KeyError):
        w.write(1)
    assert w.size() == 0


def test_non_callable_callbacks_raise_type_error_and_keep_the_old_one() -> None:
    w, r = callback_channel()

    def keep(item: int) -> int:
        return item

    def keep_all(items: list[int]) -> list[int]:
        return items

    w.set_pre_cb(keep)
    r.set_post_cb(keep_all)
    with pytest.raises(TypeError):
        w.set_pre_cb(5)  # type: ignore[arg-type]  # the wrong type is the point
    with pytest.raises(TypeError):
        r.set_pre_cb("no")  # type: ignore[arg-type]  # the wrong type is the point
    with pytest.raises(TypeError):
        r.set_post_cb(3.0)  # type: ignore[arg-type]  # the wrong type is the point
    assert w.set_pre_cb(None) is keep
    assert r.set_post_cb(None) is keep_all
    assert r.set_pre_cb(None) is None


def test_reader_pre_callback_gets_the_count_before_reading() -> None:
    w, r = callback_channel()
    w.write(1)
    seen: list[tuple[int, int]] = []
    r.set_pre_cb(lambda count: seen.append((count, w.size())))
    assert r.read(4, block=False) == [1]
    assert seen == [(4, 1)]  # called before the item was taken


def test_reader_pre_callback_that_raises_consumes_nothing() -> None:
    w, r = callback_channel()
    w.write(1)

    def refuse(count: int) -> None:
        raise KeyError(count)

    previous = r.set_pre_cb(refuse)
    assert previous is None
    with pytest.raises(KeyError):
        r.read(1)
    assert w.size() == 1
    assert r.set_pre_cb(None) is refuse
    assert r.read(1) == [1]


def test_reader_post_callback_returns_what_it_makes_of_the_items() -> None:
    w, r = callback_channel()
    for i in range(3):
        w.write(i)
    r.set_post_cb(lambda items: [sum(items)])
    assert r.read(3) == [3]


def test_reader_set_post_callback_returns_previous_and_none_uninstalls() -> None:
    w, r = callback_channel()

    def reverse(items: list[int]) -> list[int]:
        return items[::-1]

    assert r.set_post_cb(reverse) is None
    assert r.set_post_cb(None) is reverse
    w.write(1)
    w.write(2)
    assert r.read(2) == [1, 2]


def test_failing_post_callback_puts_the_items_back_in_order() -> None:
    w, r = callback_channel()
    for i in range(5):
        w.write(i)

    def refuse(items: list[int]) -> list[int]:
        raise KeyError(len(items))

    r.set_post_cb(refuse)
    with pytest.raises(KeyError):
        r.read(3)
    assert w.size() == 5
    r.set_post_cb(None)
    assert r.read(5) == [0, 1, 2, 3, 4]


def test_failing_post_callback_puts_items_back_into_a_closed_channel() -> None:
    w, r = callback_channel()
    w.write(1)
    w.write(2)
    w.close()

    def refuse(items: list[int]) -> list[int]:
        raise KeyError(len(items))

    r.set_post_cb(refuse)
    with pytest.raises(KeyError):
        r.read()
    r.set_post_cb(None)
    assert r.read() == [1, 2]


def test_callback_writer_writes_to_a_bounded_channel_with_block_and_timeout() -> None:
    w, r = callback_channel(1)
    w.write(1, block=False)
    with pytest.raises(Full):
        w.write(2, block=False)
    with pytest.raises(Full):
        w.write(2, True, 0.05)
    assert r.read(1) == [1]


# --- IteratorReader -----------------------------------------------------------------------


@pytest.mark.parametrize("not_an_iterator", [[1, 2], (1,), 5, "abc", range(3)])
def test_iterator_reader_rejects_non_iterators(not_an_iterator: object) -> None:
    with pytest.raises(ValueError):
        IteratorReader(not_an_iterator)  # type: ignore[arg-type]  # the wrong type is the point


def test_iterator_reader_reads_counts_then_the_rest_then_nothing() -> None:
    r = IteratorReader(iter(range(7)))
    assert r.read(2) == [0, 1]
    assert r.read(1) == [2]
    assert r.read() == [3, 4, 5, 6]
    assert r.read() == []
    assert r.read(1) == []


def test_iterator_reader_never_blocks() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2

    r = IteratorReader(items())
    assert run_bounded(lambda: r.read(5, True, None), BOUND_S, "iterator read") == [1, 2]
    assert run_bounded(lambda: r.read(1, True, None), BOUND_S, "iterator read") == []


def test_iterator_reader_iteration_protocol_yields_every_item() -> None:
    assert list(IteratorReader(iter("abc"))) == ["a", "b", "c"]


def test_iterator_reader_validates_count_and_timeout() -> None:
    r = IteratorReader(iter(range(3)))
    with pytest.raises(TypeError):
        r.read(1.5)  # type: ignore[arg-type]  # the wrong type is the point
    with pytest.raises(ValueError):
        r.read(1, timeout=-1)
    assert r.read() == [0, 1, 2]  # the failed reads took nothing


def test_iterator_reader_gives_each_item_to_exactly_one_of_many_threads() -> None:
    n_items, n_threads = 10_000, 4
    r = IteratorReader(iter(range(n_items)))
    start = threading.Barrier(n_threads)

    def consume() -> list[int]:
        got: list[int] = []
        start.wait(BOUND_S)
        while chunk := r.read(3):
            assert len(chunk) <= 3
            got.extend(chunk)
        return got

    readers = [ResultThread(consume, f"reader{k}") for k in range(n_threads)]
    for reader in readers:
        reader.join()
        assert not reader.error
    per_thread = [reader.result[0] for reader in readers]
    assert sorted(item for got in per_thread for item in got) == list(range(n_items))
    for got in per_thread:
        assert got == sorted(got)  # each thread sees the iterator's order


class FlakyIterator:
    """Yields 0..n-1, raising once instead of yielding the item ``fail_at``."""

    def __init__(self, n: int, fail_at: int) -> None:
        self._next = 0
        self._n = n
        self._fail_at: int | None = fail_at

    def __iter__(self) -> FlakyIterator:
        return self

    def __next__(self) -> int:
        if self._next == self._fail_at:
            self._fail_at = None
            raise KeyError("flaky")
        if self._next >= self._n:
            raise StopIteration
        self._next += 1
        return self._next - 1


def test_iterator_that_raises_keeps_taken_items_for_the_next_read() -> None:
    r = IteratorReader(FlakyIterator(6, fail_at=2))
    with pytest.raises(KeyError):
        r.read(4)
    assert r.read(4) == [0, 1, 2, 3]
    assert r.read() == [4, 5]


def test_iterator_that_raises_during_read_all_keeps_taken_items() -> None:
    r = IteratorReader(FlakyIterator(5, fail_at=3))
    with pytest.raises(KeyError):
        r.read()
    assert r.read() == [0, 1, 2, 3, 4]
    assert r.read() == []


def test_read_after_a_failed_read_returns_at_most_count_items() -> None:
    # Regression: held items were all returned at once (fixed in 7b1e9bc).
    r = IteratorReader(FlakyIterator(6, fail_at=2))
    with pytest.raises(KeyError):
        r.read(4)  # took 0 and 1, then the iterator raised
    assert r.read(1) == [0]
    assert r.read(1) == [1]
    assert r.read() == [2, 3, 4, 5]


# --- concurrency ----------------------------------------------------------------------------


def check_exactly_once_in_writer_order(
    per_reader: list[list[tuple[int, int]]], n_writers: int, n_items: int
) -> None:
    everything = sorted(item for got in per_reader for item in got)
    assert everything == [(k, i) for k in range(n_writers) for i in range(n_items)]
    for got in per_reader:
        for k in range(n_writers):
            mine = [i for kk, i in got if kk == k]
            assert mine == sorted(mine), f"writer {k}'s items out of order for a reader"


@pytest.mark.parametrize("maxsize", [0, 3], ids=["unbounded", "bounded"])
@pytest.mark.parametrize(("n_writers", "n_readers"), [(1, 4), (4, 1), (3, 3)])
def test_writers_and_readers_get_every_item_exactly_once_in_writer_order(
    maxsize: int, n_writers: int, n_readers: int
) -> None:
    channel: Channel[tuple[int, int]] = Channel(maxsize)
    writer = ChannelWriter(channel)
    n_items = 2000
    start = threading.Barrier(n_writers + n_readers)

    def write(k: int) -> None:
        start.wait(BOUND_S)
        for i in range(n_items):
            writer.write((k, i), block=True)

    def read(seed: int) -> list[tuple[int, int]]:
        reader = ChannelReader(channel)
        rng = random.Random(seed)
        got: list[tuple[int, int]] = []
        start.wait(BOUND_S)
        while chunk := reader.read(rng.choice([1, 2, 5, 17])):
            got.extend(chunk)
        return got

    readers = [
        run_in_thread(functools.partial(read, seed), f"reader{seed}") for seed in range(n_readers)
    ]
    writers = [threading.Thread(target=write, args=(k,), daemon=True) for k in range(n_writers)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(BOUND_S * 3)
        assert not thread.is_alive(), "writer hangs"
    writer.close()
    check_exactly_once_in_writer_order([collect() for collect in readers], n_writers, n_items)


def run_in_thread(fn: Callable[[], list[tuple[int, int]]], name: str) -> Callable[[], list[tuple[int, int]]]:
    """Start ``fn`` in a daemon thread; :return: a function that joins it (bounded) and
    returns its result or re-raises its exception."""
    result: list[list[tuple[int, int]]] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()

    def collect() -> list[tuple[int, int]]:
        thread.join(BOUND_S * 3)
        assert not thread.is_alive(), f"{name} hangs"
        if error:
            raise error[0]
        return result[0]

    return collect


# --- model-based: one thread, any sequence of operations ------------------------------------


class ChannelModel(RuleBasedStateMachine):
    """Drives a channel from one thread with calls that cannot block, and compares every
    result with a deque model: FIFO order, capacity (Full), close (ReadOnly, drain)."""

    serial: bool = False  # subclasses set True to drive a SerialChannel

    def __init__(self) -> None:
        super().__init__()
        self.writer: ChannelWriter[int] | None = None
        self.reader: ChannelReader[int] | None = None
        self.model: deque[int] = deque()
        self.maxsize = 0
        self.closed = False
        self.next_item = 0

    @initialize(maxsize=st.integers(0, 4))
    def make_channel(self, maxsize: int) -> None:
        self.maxsize = maxsize
        make = serial_channel if self.serial else int_channel
        self.writer, self.reader = make(maxsize)

    def ends(self) -> tuple[ChannelWriter[int], ChannelReader[int]]:
        assert self.writer is not None and self.reader is not None
        return self.writer, self.reader

    @rule()
    def write(self) -> None:
        writer, _ = self.ends()
        item, self.next_item = self.next_item, self.next_item + 1
        if self.closed:
            with pytest.raises(ReadOnly):
                writer.write(item)
        elif self.maxsize and len(self.model) >= self.maxsize:
            with pytest.raises(Full):
                writer.write(item, block=False)
        else:
            writer.write(item)
            self.model.append(item)

    @rule(count=st.integers(-1, 5))
    def read_nonblocking(self, count: int) -> None:
        _, reader = self.ends()
        expected = self.take(count)
        assert reader.read(count, block=False) == expected

    @rule(count=st.integers(-1, 5))
    def read_blocking_when_it_cannot_block(self, count: int) -> None:
        # A blocking read returns at once when it is satisfied or the channel is closed
        # (a serial channel never blocks).
        enough = count >= 1 and len(self.model) >= count
        if not (enough or self.closed or self.serial):
            return
        _, reader = self.ends()
        expected = self.take(count)
        assert reader.read(count) == expected

    @rule()
    def close(self) -> None:
        writer, _ = self.ends()
        writer.close()
        self.closed = True

    @invariant()
    def size_and_closed_agree(self) -> None:
        if self.writer is not None:
            assert self.writer.size() == len(self.model)
            assert self.writer.closed() == self.closed

    def take(self, count: int) -> list[int]:
        n = len(self.model) if count < 1 else min(count, len(self.model))
        return [self.model.popleft() for _ in range(n)]


class SerialChannelModel(ChannelModel):
    serial = True


TestChannelMatchesDequeModel = ChannelModel.TestCase
TestSerialChannelMatchesDequeModel = SerialChannelModel.TestCase


# -- the channel ends as the queue's own methods (issue 14: one frame per operation) -------


class _OwnQueue(AsyncQueue[int]):
    """A subclass overriding get_many: it must not inherit the binding."""

    def get_many(self, count: int, block: bool = True, timeout: float | None = None) -> list[int]:
        return [-1 for _ in super().get_many(count, block, timeout)]


class _OwnQueueChannel(Channel[int]):
    QueueCls = _OwnQueue


@pytest.mark.parametrize("channel_cls", [Channel, SerialChannel])
def test_unbounded_channel_ends_are_the_queue_methods(channel_cls: type[Channel[int]]) -> None:
    channel = channel_cls()
    w, r = ChannelWriter(channel), ChannelReader(channel)
    assert w.write == channel.queue.put and r.read == channel.queue.read
    # Same contract: read's defaults and argument checks, nothing consumed on an error.
    w.write(1)
    w.write(2)
    with pytest.raises(TypeError):
        r.read(True)
    with pytest.raises(TypeError):
        r.read(1, 0.5)  # type: ignore[arg-type]  # a timeout passed as block
    with pytest.raises(ValueError):
        r.read(1, timeout=-1)
    with pytest.raises(ValueError):
        w.write(3, True, -0.5)
    assert r.read(-5, False) == [1, 2]  # below 1: all
    # write_many is the queue's put_many, with write_many's contract.
    assert w.write_many == channel.queue.put_many
    w.write_many(iter([3, 4]))  # any iterable
    with pytest.raises(TypeError):
        w.write_many([5], 0.5)  # type: ignore[arg-type]  # a timeout passed as block
    with pytest.raises(ValueError):
        w.write_many([5], True, -1)
    assert r.read(0, False) == [3, 4]
    w.close()
    w.write_many([])  # writing no item: no error, even when closed
    with pytest.raises(ReadOnly):
        w.write_many([6])
    assert r.read() == []


def test_bounded_channels_subclasses_and_callback_ends_keep_their_own_methods() -> None:
    bounded: Channel[int] = Channel(1)
    w = ChannelWriter(bounded)
    assert w.write != bounded.queue.put  # write's block=False default matters when bounded
    assert w.write_many != bounded.queue.put_many  # put_many needs an unbounded queue
    w.write(1)
    with pytest.raises(Full):
        w.write(2)  # block=False: Full at once, no wait
    own = _OwnQueueChannel()
    ChannelWriter(own).write(5)
    assert ChannelReader(own).read(1) == [-1]  # the subclass's get_many is used
    plain: Channel[int] = Channel()
    cw, cr = CallbackChannelWriter(plain), CallbackChannelReader(plain)
    cw.set_pre_cb(lambda item: item * 10)
    cw.write(1)
    assert cr.read(1) == [10]
