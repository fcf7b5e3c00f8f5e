"""Channel model: the real Channel / SerialChannel (through callback and plain ends) and
IteratorReader driven in lockstep with :mod:`models.channel_spec`, single-threaded.

Each rule performs one call on the real object and the same step on the specification,
and compares the results; the invariants compare ``size()`` and ``closed()`` after every
step. Blocking calls are made only where the specification says they return at once;
elsewhere the same call is made with ``timeout=0`` (one attempt). Blocking proper is the
close model's business (test_close_model.py).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from refasync import (
    CallbackChannelReader,
    CallbackChannelWriter,
    Channel,
    ChannelReader,
    ChannelWriter,
    Full,
    IteratorReader,
    ReadOnly,
    SerialChannel,
)

from . import channel_spec as spec
from ._settings import model_timeout
from .channel_spec import IteratorState


class CallbackError(Exception):
    """Raised by the models' failing callbacks."""


class PreWrite(enum.Enum):
    NONE = "none"
    PLUS_1000 = "plus_1000"  # writes item + 1000
    FAIL = "fail"  # raises: nothing is written


class PreRead(enum.Enum):
    NONE = "none"
    RECORD = "record"  # records the count it is called with
    FAIL = "fail"  # raises: nothing is read


class PostRead(enum.Enum):
    NONE = "none"
    REVERSE = "reverse"  # the caller receives the items reversed
    FAIL = "fail"  # raises: the items go back to the front


ChannelEnds = tuple[
    CallbackChannelWriter[int], CallbackChannelReader[int], ChannelWriter[int], ChannelReader[int]
]


def real_channel(serial: bool, maxsize: int) -> ChannelEnds:
    """Both kinds of ends on one new channel: (callback writer, callback reader, plain
    writer, plain reader)."""
    channel: Channel[int] = SerialChannel(maxsize) if serial else Channel(maxsize)
    return (
        CallbackChannelWriter(channel),
        CallbackChannelReader(channel),
        ChannelWriter(channel),
        ChannelReader(channel),
    )


def fail_callback(arg: object) -> list[int]:
    raise CallbackError(f"callback refuses {arg!r}")


def fail_write(item: int) -> int:
    raise CallbackError(f"pre-write callback refuses {item!r}")


def plus_1000(item: int) -> int:
    return item + 1000


def reverse(items: list[int]) -> list[int]:
    return items[::-1]


class ChannelModel(RuleBasedStateMachine):
    """Drives one channel and its specification. models/test_teeth.py runs it (on
    thread-safe channels only: ``serial_choices``) with each defect of models/broken.py."""

    make_channel: Callable[[bool, int], ChannelEnds] = staticmethod(real_channel)
    serial_choices: tuple[bool, ...] = (False, True)  # which kinds make_channel can build

    def __init__(self) -> None:
        super().__init__()
        self.state = spec.empty_channel()
        self.serial = False
        self.next_item = 0
        self.pre_write = PreWrite.NONE
        self.pre_read = PreRead.NONE
        self.post_read = PostRead.NONE
        self.recorded: list[int] = []  # counts seen by the RECORD pre-read callback
        self.expected_recorded: list[int] = []

    @initialize(data=st.data(), maxsize=st.sampled_from([0, 0, 1, 2, 3]))
    def create(self, data: st.DataObject, maxsize: int) -> None:
        serial = data.draw(st.sampled_from(self.serial_choices), label="serial")
        self.serial = serial
        self.state = spec.empty_channel(maxsize)
        self.cb_writer, self.cb_reader, self.writer, self.reader = self.make_channel(
            serial, maxsize
        )

    # -- writing --

    def _new_item(self) -> int:
        self.next_item += 1
        return self.next_item

    @rule(block=st.booleans(), via_callbacks=st.booleans())
    def write(self, block: bool, via_callbacks: bool) -> None:
        item = self._new_item()
        would_block = (
            block and not self.serial and not self.state.closed and spec.is_full(self.state)
        )
        timeout = 0.0 if would_block else None  # one attempt instead of waiting forever
        if via_callbacks:
            if self.pre_write is PreWrite.FAIL:
                with pytest.raises(CallbackError):
                    self.cb_writer.write(item, block, timeout)
                return
            written = plus_1000(item) if self.pre_write is PreWrite.PLUS_1000 else item
            self._expect_write(lambda: self.cb_writer.write(item, block, timeout), written)
        else:
            self._expect_write(lambda: self.writer.write(item, block, timeout), item)

    @rule(count=st.sampled_from([1, 1, 2, 0]), writes_first=st.integers(0, 2))
    def read_with_a_failing_post_callback(self, count: int, writes_first: int) -> None:
        """After ``writes_first`` writes, a post-read callback that raises puts the items
        back at the front: the next read returns the first of them."""
        for _ in range(writes_first):
            self.write(False, False)
        previous = self.cb_reader.set_post_cb(fail_callback)
        assert previous is self._post_read_fun(self.post_read)
        pre_cb = self.cb_reader.set_pre_cb(None)
        with pytest.raises(CallbackError):
            self.cb_reader.read(count, block=False)
        assert self.cb_reader.set_pre_cb(pre_cb) is None
        assert self.cb_reader.set_post_cb(previous) is fail_callback
        self.state, expected = spec.read_now(self.state, 1)
        assert self.reader.read(1, block=False) == list(expected)

    @rule()
    def write_with_seed_default(self) -> None:
        """ChannelWriter.write(item) does not block (the seed's default block=False)."""
        item = self._new_item()
        self._expect_write(lambda: self.writer.write(item), item)

    def _expect_write(self, call: Callable[[], None], item: int) -> None:
        self.state, outcome = spec.write(self.state, item)
        if outcome is None:
            call()
        elif outcome == "ReadOnly":
            with pytest.raises(ReadOnly):
                call()
        else:
            with pytest.raises(Full):
                call()

    @rule(now=st.integers(0, 3))
    def close(self, now: int) -> None:
        """Closes (and closes again) one time in four: most examples keep writing."""
        if now:
            return
        self.writer.close()
        self.state = spec.close(self.state)

    # -- reading --

    @rule(
        count=st.integers(-1, 4),
        block=st.booleans(),
        via_callbacks=st.booleans(),
        iterate=st.integers(0, 5),
    )
    def read(self, count: int, block: bool, via_callbacks: bool, iterate: int) -> None:
        if iterate == 0 and (self.state.closed or self.serial):
            # Iterating yields the items until the channel is closed and drained.
            self.state, expected = spec.read_now(self.state, 0)
            assert list(iter(self.reader)) == list(expected)
            return
        at_once = self.serial or not block or spec.read_returns_at_once(self.state, count)
        timeout = None if at_once else 0.0  # would wait: one timed attempt instead
        if not via_callbacks:
            self.state, expected = spec.read_now(self.state, count)
            assert self.reader.read(count, block, timeout) == list(expected)
            return
        if self.pre_read is PreRead.FAIL:
            with pytest.raises(CallbackError):
                self.cb_reader.read(count, block, timeout)
            return
        if self.pre_read is PreRead.RECORD:
            self.expected_recorded.append(max(count, 0))  # it sees the normalized count
        after, expected = spec.read_now(self.state, count)
        if self.post_read is PostRead.FAIL:
            with pytest.raises(CallbackError):
                self.cb_reader.read(count, block, timeout)
            self.state = spec.put_back(after, expected)
            return
        self.state = after
        got = self.cb_reader.read(count, block, timeout)
        if self.post_read is PostRead.REVERSE:
            expected = expected[::-1]
        assert got == list(expected)

    # -- callbacks: set_* returns the previous one (one rule, so that reads and writes
    # -- keep most of the steps) --

    @rule(
        pre_write=st.sampled_from(PreWrite),
        pre_read=st.sampled_from(PreRead),
        post_read=st.sampled_from(PostRead),
        which=st.integers(0, 2),
    )
    def set_a_callback(
        self, pre_write: PreWrite, pre_read: PreRead, post_read: PostRead, which: int
    ) -> None:
        if which == 0:
            previous_w = self.cb_writer.set_pre_cb(self._pre_write_fun(pre_write))
            assert previous_w is self._pre_write_fun(self.pre_write)
            self.pre_write = pre_write
        elif which == 1:
            previous_r = self.cb_reader.set_pre_cb(self._pre_read_fun(pre_read))
            assert previous_r == self._pre_read_fun(self.pre_read)  # bound methods: equal
            self.pre_read = pre_read
        else:
            previous_p = self.cb_reader.set_post_cb(self._post_read_fun(post_read))
            assert previous_p is self._post_read_fun(self.post_read)
            self.post_read = post_read

    @staticmethod
    def _pre_write_fun(choice: PreWrite) -> Callable[[int], int] | None:
        return {PreWrite.NONE: None, PreWrite.PLUS_1000: plus_1000, PreWrite.FAIL: fail_write}[
            choice
        ]

    def _pre_read_fun(self, choice: PreRead) -> Callable[[int], object] | None:
        if choice is PreRead.RECORD:
            return self._record
        return fail_callback if choice is PreRead.FAIL else None

    def _record(self, count: int) -> None:
        self.recorded.append(count)

    @staticmethod
    def _post_read_fun(choice: PostRead) -> Callable[[list[int]], list[int]] | None:
        return {PostRead.NONE: None, PostRead.REVERSE: reverse, PostRead.FAIL: fail_callback}[
            choice
        ]

    # -- bad input --

    @rule(bad=st.sampled_from(["2", 2.0, None, True, "negative timeout"]))
    def bad_input(self, bad: object) -> None:
        if bad == "negative timeout":
            with pytest.raises(ValueError):
                self.reader.read(1, True, -1.0)
            with pytest.raises(ValueError):
                self.writer.write(self._new_item(), True, -1.0)
            return
        with pytest.raises(TypeError):
            self.reader.read(bad, False)  # type: ignore[arg-type]  # the point of the rule

    # -- invariants --

    @invariant()
    def size_and_closed_agree(self) -> None:
        if not hasattr(self, "writer"):
            return
        assert self.writer.size() == len(self.state.items)
        assert self.cb_writer.size() == len(self.state.items)
        assert self.writer.closed() == self.state.closed
        assert self.recorded == self.expected_recorded


TestChannelModel = model_timeout(ChannelModel.TestCase)


# --- IteratorReader ---------------------------------------------------------------------


class FlakyIterator(Iterator[int]):
    """Yields ``items``, raising CallbackError once just before the ``fail_at``-th."""

    def __init__(self, items: list[int], fail_at: int) -> None:
        self._items = items
        self._position = 0
        self._fail_at = fail_at

    def __next__(self) -> int:
        if self._position == self._fail_at:
            self._fail_at = -1
            raise CallbackError("the iterator fails once")
        if self._position >= len(self._items):
            raise StopIteration
        self._position += 1
        return self._items[self._position - 1]


def real_iterator_reader(iterator: Iterator[int]) -> IteratorReader[int]:
    return IteratorReader(iterator)


class IteratorReaderModel(RuleBasedStateMachine):
    """Drives an IteratorReader over a FlakyIterator and :func:`spec.iterator_read`."""

    make_reader: Callable[[Iterator[int]], IteratorReader[int]] = staticmethod(real_iterator_reader)

    def __init__(self) -> None:
        super().__init__()
        self.state = IteratorState()

    @initialize(size=st.integers(0, 12), fail_at=st.integers(-1, 11))
    def create(self, size: int, fail_at: int) -> None:
        fail_at = fail_at if fail_at < size else -1
        items = list(range(100, 100 + size))
        self.state = IteratorState(tuple(items), fail_at)
        self.reader = self.make_reader(FlakyIterator(items, fail_at))

    @precondition(lambda self: hasattr(self, "reader"))
    @rule(count=st.integers(-1, 5), block=st.booleans())
    def read(self, count: int, block: bool) -> None:
        self.state, expected, raises = spec.iterator_read(self.state, count)
        if raises:
            with pytest.raises(CallbackError):
                self.reader.read(count, block)
        else:
            assert self.reader.read(count, block) == list(expected)

    @precondition(lambda self: hasattr(self, "reader"))
    @rule(bad=st.sampled_from(["1", 1.5, False]))
    def bad_count(self, bad: object) -> None:
        with pytest.raises(TypeError):
            self.reader.read(bad)  # type: ignore[arg-type]  # the point of the rule


TestIteratorReaderModel = model_timeout(IteratorReaderModel.TestCase)


@pytest.mark.parametrize("not_an_iterator", [[1, 2], range(3), "abc", 5])
def test_iterator_reader_needs_an_iterator(not_an_iterator: object) -> None:
    with pytest.raises(ValueError):
        IteratorReader(not_an_iterator)  # type: ignore[arg-type]  # the point of the test


def test_iterator_reader_read_after_failure_respects_count() -> None:
    reader = IteratorReader(FlakyIterator([1, 2, 3, 4, 5], fail_at=3))
    with pytest.raises(CallbackError):
        reader.read(5)
    assert reader.read(1) == [1]
    assert reader.read(0) == [2, 3, 4, 5]
