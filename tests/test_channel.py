"""Unit tests for refasync.channel: channels, their ends and mkchannel, with the decided
channel semantics (rules C*, B*, S6 of docs/semantics.md). Callbacks and IteratorReader
are tests/test_callbacks.py; the channel state machine is models/test_channel_model.py.

Each test checks one rule and is named after it. Every test runs with no hook and under
a recording hook (``sync_hook``) with the same assertions; "a thread is now blocked" is
learnt from the channel's registered waiters, never from a sleep.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable

import pytest

from refasync import (
    CallbackChannelReader,
    CallbackChannelWriter,
    Channel,
    ChannelReader,
    ChannelWriter,
    Full,
    Reader,
    ReadOnly,
    SerialChannel,
    Writer,
    mkchannel,
)
from refasync.testing import run_bounded
from refasync.util import AsyncQueue, SyncPoint, SyncPrimitive, SyncQueue, set_sync_hook
from tests.channel_support import (
    ResultThread,
    int_channel,
    queue_of,
    serial_channel,
    writes_spaced,
)
from tests.sync_support import BOUND_S, wait_for_waiters

pytestmark = pytest.mark.usefixtures("sync_hook")


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
def test_blocking_read_below_one_returns_every_item_until_closed(count: int) -> None:
    w, r = int_channel()
    w.write(0)
    reader = ResultThread(lambda: r.read(count), "reader")
    wait_for_waiters(queue_of(r).not_empty)
    w.write(1)
    wait_for_waiters(queue_of(r).not_empty)
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


def test_blocking_read_waits_for_the_items_it_asked_for() -> None:
    w, r = int_channel()
    reader = ResultThread(lambda: r.read(3), "reader")
    for i in range(3):
        wait_for_waiters(queue_of(r).not_empty)
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


def test_timeout_applies_per_item_not_to_the_whole_read() -> None:
    w, r = int_channel()
    gap_s, timeout_s, n = 0.1, 0.3, 5

    def before_each(index: int) -> None:
        # The next item arrives gap_s after the reader started waiting for it.
        wait_for_waiters(queue_of(r).not_empty)
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


def test_reader_blocked_in_read_wakes_on_close_with_exactly_the_items_written() -> None:
    w, r = int_channel()
    reader = ResultThread(lambda: r.read(5), "reader")
    wait_for_waiters(queue_of(r).not_empty)
    w.write(1)
    w.write(2)
    wait_for_waiters(queue_of(r).not_empty)
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


def test_blocking_write_to_full_channel_waits_for_a_read() -> None:
    w, r = int_channel(1)
    w.write(0)
    writer = threading.Thread(target=lambda: w.write(1, block=True), daemon=True)
    writer.start()
    wait_for_waiters(queue_of(r).not_full)
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


def test_close_wakes_a_blocked_writer_with_read_only() -> None:
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
    wait_for_waiters(queue_of(r).not_full)
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


def run_in_thread(
    fn: Callable[[], list[tuple[int, int]]], name: str
) -> Callable[[], list[tuple[int, int]]]:
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


# -- the channel ends as the queue's own methods (one frame per operation) ----------------


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
