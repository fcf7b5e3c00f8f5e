"""Unit tests for the channel ends with callbacks and for IteratorReader (rules K* of
docs/semantics.md). Every test runs with no hook and under a recording hook
(``sync_hook``) with the same assertions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from refasync import Full, IteratorReader
from refasync.testing import run_bounded
from tests.channel_support import ResultThread, callback_channel
from tests.sync_support import BOUND_S

pytestmark = pytest.mark.usefixtures("sync_hook")


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
