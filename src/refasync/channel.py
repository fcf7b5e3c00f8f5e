"""Contains a queue based channel implementation.

A channel is a queue with a write end and one or more read ends that can be closed:
closing wakes every waiting reader and writer. Readers return lists, like ``file.read``
returns strings, and never raise because a channel is empty or closed.
"""

from __future__ import annotations

import collections.abc
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar, Generic, TypeVar

from .util import (
    AsyncQueue,
    Full,
    ItemQueue,
    Lock,
    ReadOnly,
    SyncQueue,
    check_read_args,
    check_wait_args,
    normalize_timeout,
)


def _ends_bind(queue: ItemQueue[Any]) -> bool:
    """:return: True if the channel ends may be the queue's own ``put`` and ``read``
    (``ItemQueue.channel_ends_bind``, in the queue class's own namespace)."""
    return type(queue).__dict__.get("channel_ends_bind", False) is True


__all__: tuple[str, ...] = (
    "CallbackChannelReader",
    "CallbackChannelWriter",
    "CallbackReaderMixin",
    "CallbackWriterMixin",
    "Channel",
    "ChannelReader",
    "ChannelWriter",
    "Full",
    "IteratorReader",
    "ReadOnly",
    "Reader",
    "SerialChannel",
    "Writer",
    "mkchannel",
)

T = TypeVar("T")


class Channel(Generic[T]):
    """A channel is similar to a file like object. It has a write end as well as one or
    more read ends. If data is in the channel, it can be read; if not, the read operation
    blocks until data becomes available or the channel is closed.

    ``maxsize`` > 0 bounds the channel: a writer then waits for space (see
    ``Writer.write``). Usually created through :func:`mkchannel`.
    """

    __slots__ = ("queue",)

    # Any: the class attribute is the generic queue class; its item type is fixed per
    # channel instance by the assignment in __init__.
    QueueCls: ClassVar[type[ItemQueue[Any]]] = AsyncQueue

    def __init__(self, maxsize: int = 0) -> None:
        self.queue: ItemQueue[T] = self.QueueCls(maxsize)


class SerialChannel(Channel[T]):
    """A faster channel for one thread only: it never blocks (see ``SyncQueue``)."""

    __slots__ = ()
    QueueCls: ClassVar[type[ItemQueue[Any]]] = SyncQueue


class Writer(Generic[T]):
    """A writer is an object providing write access to a possibly blocking device."""

    __slots__ = ()

    def __init__(self, device: object) -> None:
        """Initialize the instance with the device to write to."""

    def write(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        """Write the given item into the device.

        :param block: True if the device may block until space for the item is available
        :param timeout: the time in seconds to wait for the device to become ready in
            blocking mode
        :raise ReadOnly: if the device is closed
        :raise Full: if the device is full and may not wait, or stayed full for timeout
        """
        raise NotImplementedError

    def write_many(
        self, items: Iterable[T], block: bool = True, timeout: float | None = None
    ) -> None:
        """Write ``items`` (any iterable) in order, as ``write`` would one by one (a
        subclass may do it under one lock acquisition). The iterable is consumed before
        anything is written, so one that raises writes nothing; on an exception from a
        write the items before it were written."""
        for item in list(items):
            self.write(item, block, timeout)

    def size(self) -> int:
        """:return: number of items already in the device, they could be read with a reader"""
        raise NotImplementedError

    def close(self) -> None:
        """Close the channel. Multiple close calls on a closed channel are no error."""
        raise NotImplementedError

    def closed(self) -> bool:
        """:return: True if the channel was closed"""
        raise NotImplementedError


class ChannelWriter(Writer[T]):
    """The write end of a channel, a file-like interface for a channel.

    On an unbounded channel of the library's own queues, ``write`` is the queue's ``put``
    and ``write_many`` its ``put_many``, bound on the instance (one Python frame between
    the caller and the deque): there ``block`` changes nothing, so ``put``'s default
    (True) and ``write``'s (False) agree, and the queue makes the same argument checks.
    A subclass that overrides ``write`` or ``write_many`` keeps its own.
    """

    __slots__ = ("channel", "_put", "__dict__")

    def __init__(self, channel: Channel[T]) -> None:
        self.channel = channel
        queue = channel.queue
        self._put = queue.put
        if not queue.maxsize and _ends_bind(queue):
            # An instance attribute shadows the method (unless a subclass overrides it).
            if type(self).write is ChannelWriter.write:
                setattr(self, "write", queue.put)
            if type(self).write_many is ChannelWriter.write_many:
                setattr(self, "write_many", queue.put_many)

    def write(self, item: T, block: bool = False, timeout: float | None = None) -> None:
        """Write ``item``. The default ``block=False`` (the seed's) matters only for a
        bounded channel: a full one then raises ``Full`` at once."""
        self._put(item, block, timeout)  # the queue checks block and timeout

    def write_many(
        self, items: Iterable[T], block: bool = True, timeout: float | None = None
    ) -> None:
        """Write ``items`` (any iterable, consumed first) in order; on an unbounded
        channel all under one lock."""
        if (block is not True and block is not False) or timeout is not None:
            block, timeout = check_wait_args(block, timeout)
        if not isinstance(items, list):
            items = list(items)
        queue = self.channel.queue
        if queue.maxsize:
            for item in items:
                self.write(item, block, timeout)
        elif items:
            queue.put_many(items)

    def size(self) -> int:
        return self.channel.queue.qsize()

    def close(self) -> None:
        """Close the channel. Multiple close calls on a closed channel are no error."""
        self.channel.queue.set_writable(False)

    def closed(self) -> bool:
        return not self.channel.queue.writable()


class Reader(Generic[T]):
    """Allows reading from a device."""

    __slots__ = ()

    def __init__(self, device: object) -> None:
        """Initialize the instance with the device to read from."""

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        """Iterate individual items: one blocking ``read(1)`` each, until it returns []."""
        items = self.read(1)
        if items:
            return items[0]
        raise StopIteration

    def next(self) -> T:
        """Support the Python 2 iterator syntax."""
        return self.__next__()

    def read(self, count: int = 0, block: bool = True, timeout: float | None = None) -> list[T]:
        """Read a list of items from the device, like ``file.read`` reads characters.

        :param count: given amount of items to read. If < 1, all items will be read:
            until the channel is closed when blocking, else those available now.
        :param block: if True, the call will block until an item is available
        :param timeout: if not None and block is True, wait at most this many seconds for
            each item, returning the items received so far when it expires.
        :return: a list of at most ``count`` items; fewer (possibly none) when the channel
            is closed and drained, when not blocking, or when the timeout expired.
        :raise TypeError: if count is not an int, or block not a bool
        :raise ValueError: if timeout is negative; a timeout of ``util.TIMEOUT_MAX`` or
            more (``float('inf')``) means no limit
        """
        raise NotImplementedError


class ChannelReader(Reader[T]):
    """Allows reading from a channel. The reader is thread-safe if the channel is as well."""

    __slots__ = ("channel", "_get_many", "__dict__")

    def __init__(self, channel: Channel[T]) -> None:
        self.channel = channel
        queue = channel.queue
        self._get_many = queue.get_many
        if type(self).read is ChannelReader.read and _ends_bind(queue):
            # The queue's ``read`` is this method's contract (defaults, argument
            # checks): bound on the instance, it is ``read`` with one frame fewer.
            setattr(self, "read", queue.read)

    def read(self, count: int = 0, block: bool = True, timeout: float | None = None) -> list[T]:
        if type(count) is not int or count < 0 or (block is not True and block is not False):
            count, block, timeout = check_read_args(count, block, timeout)
        elif timeout is not None:
            timeout = normalize_timeout(timeout)
        return self._get_many(count, block, timeout)


class CallbackWriterMixin(Writer[T]):
    """A writer which calls a callback with each item before writing it, and writes what
    the callback returns instead."""

    # Callbacks are published to reading threads under _cb_lock.
    _pre_cb: Callable[[T], T] | None
    _cb_lock: Lock

    def __init__(self, *args: Any) -> None:
        # Any: a cooperative mixin forwards its arguments unchanged to the next class.
        super().__init__(*args)
        self._pre_cb = None
        self._cb_lock = Lock("CallbackWriter.callbacks")

    def set_pre_cb(self, fun: Callable[[T], T] | None = None) -> Callable[[T], T] | None:
        """Install a callback called with each item before it is written; the channel
        receives what it returns. None uninstalls it.

        :return: the previously installed function or None
        :note: Must be thread-safe if the channel is used in multiple threads
        """
        _check_callback(fun)
        with self._cb_lock.held:
            previous = self._pre_cb
            self._pre_cb = fun
        return previous

    def write(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        """Write ``item`` through the pre-write callback; if it raises, nothing is written."""
        with self._cb_lock.held:
            pre_cb = self._pre_cb
        if pre_cb is not None:
            item = pre_cb(item)
        super().write(item, block, timeout)

    def write_many(
        self, items: Iterable[T], block: bool = True, timeout: float | None = None
    ) -> None:
        """Write ``items`` through the pre-write callback; if it raises for an item, the
        items before it are written and the exception propagates."""
        with self._cb_lock.held:
            pre_cb = self._pre_cb
        items = list(items)  # an iterable that raises writes nothing
        if pre_cb is None:
            super().write_many(items, block, timeout)
            return
        converted: list[T] = []
        try:
            for item in items:
                converted.append(pre_cb(item))
        finally:
            super().write_many(converted, block, timeout)


class CallbackChannelWriter(CallbackWriterMixin[T], ChannelWriter[T]):
    """Implements a channel writer with callback functionality."""

    def __init__(self, channel: Channel[T]) -> None:
        super().__init__(channel)


class CallbackReaderMixin(Reader[T]):
    """A reader which calls a callback with the count before reading and another one with
    the items before returning them."""

    # Callbacks are published to reading threads under _cb_lock.
    _pre_cb: Callable[[int], object] | None
    _post_cb: Callable[[list[T]], list[T]] | None
    _cb_lock: Lock

    def __init__(self, *args: Any) -> None:
        # Any: a cooperative mixin forwards its arguments unchanged to the next class.
        super().__init__(*args)
        self._pre_cb = None
        self._post_cb = None
        self._cb_lock = Lock("CallbackReader.callbacks")

    def set_pre_cb(
        self, fun: Callable[[int], object] | None = None
    ) -> Callable[[int], object] | None:
        """Install a callback to call with the item count to be read before any item is
        read. Its exceptions propagate, and then nothing is read. None uninstalls it.

        :return: the previously installed callback or None
        :note: The callback must be threadsafe if the channel is used by multiple threads.
        """
        _check_callback(fun)
        with self._cb_lock.held:
            previous = self._pre_cb
            self._pre_cb = fun
        return previous

    def set_post_cb(
        self, fun: Callable[[list[T]], list[T]] | None = None
    ) -> Callable[[list[T]], list[T]] | None:
        """Install a callback to call after items have been read, but before they are
        returned to the caller; the caller receives what it returns. If it raises, the
        items go back to the front of the channel and the exception propagates. None
        uninstalls it.

        :return: the previously installed function or None
        """
        _check_callback(fun)
        with self._cb_lock.held:
            previous = self._post_cb
            self._post_cb = fun
        return previous

    def read(self, count: int = 0, block: bool = True, timeout: float | None = None) -> list[T]:
        return self._with_callbacks(super().read, count, block, timeout)

    def _with_callbacks(
        self,
        read: Callable[[int, bool, float | None], list[T]],
        count: int,
        block: bool,
        timeout: float | None,
    ) -> list[T]:
        # pre-read callback, read, post-read callback; put the items back if it raises.
        if type(count) is not int or count < 0 or (block is not True and block is not False):
            count, block, timeout = check_read_args(count, block, timeout)
        elif timeout is not None:
            timeout = normalize_timeout(timeout)
        with self._cb_lock.held:
            pre_cb, post_cb = self._pre_cb, self._post_cb
        if pre_cb is not None:
            pre_cb(count)
        items = read(count, block, timeout)
        if post_cb is None:
            return items
        try:
            return post_cb(items)
        except BaseException:
            self._put_back(items)
            raise

    def _put_back(self, items: list[T]) -> None:
        """Return items a failed post-read callback was given to the front of the device."""
        raise NotImplementedError


class CallbackChannelReader(CallbackReaderMixin[T], ChannelReader[T]):
    """Implements a channel reader with callback functionality."""

    def __init__(self, channel: Channel[T]) -> None:
        super().__init__(channel)

    def _put_back(self, items: list[T]) -> None:
        self.channel.queue.put_back(items)


def _check_callback(fun: object) -> None:
    if fun is not None and not callable(fun):
        raise TypeError(f"callback must be callable or None, got {fun!r}")


class IteratorReader(Reader[T]):
    """A Reader allowing to read items from an iterator, instead of a channel.

    Reads never block. It is thread-safe: each item goes to exactly one read. If the
    iterator raises, the exception propagates and the items already taken by that read
    are kept for the next one.
    """

    __slots__ = ("_iter", "_exhausted", "_held", "_lock")

    lock_type: ClassVar[type[Lock]] = Lock

    def __init__(self, iterator: Iterator[T]) -> None:
        if not isinstance(iterator, collections.abc.Iterator):
            raise ValueError(
                f"IteratorReader needs an iterator (with __next__), got {type(iterator).__name__}"
            )
        self._lock = self.lock_type("IteratorReader.lock")
        # Guarded by _lock: the iterator, whether it is exhausted, and items taken from
        # it by a read that then failed, to be returned first by the next read.
        self._iter = iterator
        self._exhausted = False
        self._held: list[T] = []

    def read(self, count: int = 0, block: bool = True, timeout: float | None = None) -> list[T]:
        """Non-blocking read: up to ``count`` items (all that are left when < 1)."""
        count, block, timeout = check_read_args(count, block, timeout)
        out: list[T] | None = None  # set once the critical section read the items
        try:
            # An interrupt from the hook at the lock waits until the read is done ...
            with self._lock.completing:
                out = self._read_locked(count)
                return out
        except BaseException:
            if out is not None:
                # ... and then what it took is kept for the next read: nothing is lost.
                with self._lock.completing:
                    self._held = out + self._held
            raise

    def _read_locked(self, count: int) -> list[T]:
        if count and len(self._held) >= count:
            out, self._held = self._held[:count], self._held[count:]
            return out
        out, self._held = self._held, []
        if self._exhausted:
            return out
        try:
            if count == 0:
                out.extend(self._iter)
                self._exhausted = True
            else:
                next_item = self._iter.__next__
                while len(out) < count:
                    out.append(next_item())
        except StopIteration:
            self._exhausted = True
        except BaseException:
            self._held = out
            raise
        return out

    def take_held(self) -> list[T]:
        """:return: the items a failed read took from the iterator (they are no longer
        kept for the next read). A task uses it to deliver what its input produced
        before failing."""
        with self._lock.held:
            held, self._held = self._held, []
            return held


def mkchannel(
    ctype: Callable[[], Channel[T]] = Channel,
    wtype: Callable[[Channel[T]], Writer[T]] = ChannelWriter,
    rtype: Callable[[Channel[T]], Reader[T]] = ChannelReader,
) -> tuple[Writer[T], Reader[T]]:
    """Create a channel, with a writer and a reader.

    :return: tuple(writer, reader)  (the seed's docstring said the reverse; its code and
        refasync return the writer first)
    :param ctype: Channel to instantiate
    :param wtype: The type of the write end to instantiate
    :param rtype: The type of the read end to instantiate
    """
    channel = ctype()
    return wtype(channel), rtype(channel)
