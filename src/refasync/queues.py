"""The channel queues: a thread-safe FIFO (:class:`AsyncQueue`), its single-thread twin
(:class:`SyncQueue`), the interface a channel needs (:class:`ItemQueue`), and the argument
checks every read and write shares.

Every lock and wait here is taken through :mod:`refasync.sync`: a critical section is
``with self.mutex.held:`` (or ``.completing``), whose reporting the sync layer decides;
the logic is one body whether a hook is installed or not.
Absolute imports only: tests/test_crosshair.py compiles mutated copies of this file as
top-level modules.
"""

from __future__ import annotations

import queue as _stdlib_queue
from collections import deque
from collections.abc import Iterable
from typing import ClassVar, Generic, TypeVar

from refasync.sync import TIMEOUT_MAX, HSCondition, Lock, check_block, monotonic

__all__ = (
    "ALL",
    "AsyncQueue",
    "Empty",
    "Full",
    "ItemQueue",
    "ReadOnly",
    "SyncQueue",
    "check_block",
    "check_read_args",
    "check_wait_args",
    "normalize_count",
    "normalize_timeout",
)

T = TypeVar("T")

#: Read size meaning "every item until the channel is closed" after normalization.
ALL = 0


# --- argument normalization -------------------------------------------------------------


def normalize_count(count: int) -> int:
    """:return: the count as given, or ``ALL`` (0) for any count below 1.

    :raise TypeError: if ``count`` is not an int (bool included: it is almost always a
        misplaced ``block`` argument).

    post: __return__ >= 0
    post: (count < 1) == (__return__ == 0)
    post: count < 1 or __return__ == count
    """
    if type(count) is not int:
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(f"count must be an int, got {type(count).__name__}: {count!r}")
    return count if count > 0 else ALL


def normalize_timeout(timeout: float | None) -> float | None:
    """:return: ``timeout`` as a float, or None for "wait as long as it takes" (also for
        timeouts of ``TIMEOUT_MAX`` or more, such as ``float('inf')``).

    :raise TypeError: if ``timeout`` is not a real number or None.
    :raise ValueError: if ``timeout`` is negative (or NaN).

    pre: timeout is None or timeout >= 0
    post: (__return__ is None) == (timeout is None or timeout >= TIMEOUT_MAX)
    post: __return__ is None or (__return__ >= 0 and __return__ == timeout)
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
    if not timeout >= 0:
        raise ValueError(f"timeout must be >= 0 seconds or None, got {timeout!r}")
    if timeout >= TIMEOUT_MAX:
        return None
    return float(timeout)


def check_wait_args(block: bool, timeout: float | None) -> tuple[bool, float | None]:
    """:return: ``(block, timeout)`` checked and normalized as every read and write takes
    them (:func:`check_block`, :func:`normalize_timeout`). A caller skips the call when
    ``block`` is True or False and ``timeout`` None: then there is nothing to check."""
    given: object = block  # typed bool; any object can come
    if given is not True and given is not False:
        block = check_block(block)
    if timeout is not None:
        timeout = normalize_timeout(timeout)
    return block, timeout


def check_read_args(
    count: int, block: bool, timeout: float | None
) -> tuple[int, bool, float | None]:
    """:return: ``(count, block, timeout)`` checked and normalized as ``Reader.read``
    takes them (:func:`normalize_count`: a count below 1 is ``ALL``), in that order. A
    caller whose ``count`` is an int >= 0 and ``block`` a bool skips the call, and
    normalizes a ``timeout`` that is not None alone."""
    if type(count) is not int or count < 0:
        count = normalize_count(count)
    given: object = block  # typed bool; any object can come
    if given is not True and given is not False:
        block = check_block(block)
    if timeout is not None:
        timeout = normalize_timeout(timeout)
    return count, block, timeout


# --- queues -------------------------------------------------------------------------------


class ReadOnly(Exception):
    """Thrown when trying to write to a read-only (closed) queue or channel."""


class Empty(_stdlib_queue.Empty):
    """Raised by ``get`` when no item can be had (also a ``queue.Empty``)."""


class Full(_stdlib_queue.Full):
    """Raised by ``put`` on a full bounded queue when it may not wait, or its timeout
    expired (also a ``queue.Full``)."""


class ItemQueue(Generic[T]):
    """The interface a channel needs from its queue. ``get_many`` is the bulk read: it
    returns up to ``count`` items (``ALL``: until closed) and never raises ``Empty``."""

    __slots__ = ()
    maxsize: int  # 0: unbounded
    #: True in a class whose ``put`` and ``read`` make the channel ends' argument checks
    #: (``read`` being its whole bulk read): a channel end then *is* that method, one
    #: frame fewer (``ChannelWriter``). Looked up in the class's own namespace only, so a
    #: subclass that overrides ``put`` or ``get_many`` does not inherit it.
    channel_ends_bind: ClassVar[bool] = False

    def __init__(self, maxsize: int = 0) -> None:
        raise NotImplementedError

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        raise NotImplementedError

    def put_many(
        self, items: Iterable[T], block: bool = True, timeout: float | None = None
    ) -> None:
        """Append ``items`` (any iterable, consumed first) in order, atomically; the queue
        must be unbounded, so ``block`` and ``timeout`` change nothing (they are checked
        as ``Writer.write_many`` checks them: a channel writer's ``write_many`` can be
        this method itself).

        :raise ReadOnly: if the queue is closed (then nothing is added)
        """
        if (block is not True and block is not False) or timeout is not None:
            check_wait_args(block, timeout)
        if self.maxsize:
            raise ValueError("put_many needs an unbounded queue; use put on a bounded one")
        if not isinstance(items, list):
            items = list(items)  # an iterable that raises adds nothing
        if items:  # writing no item adds nothing, and is no error even when closed
            self._extend(items)

    def _extend(self, items: list[T]) -> None:
        """Append ``items`` (a non-empty list) in order, atomically (``put_many``).

        :raise ReadOnly: if the queue is closed (then nothing is added)
        """
        raise NotImplementedError

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        raise NotImplementedError

    def get_many(self, count: int, block: bool = True, timeout: float | None = None) -> list[T]:
        raise NotImplementedError

    def read(self, count: int = ALL, block: bool = True, timeout: float | None = None) -> list[T]:
        """``get_many`` with ``Reader.read``'s defaults and argument checks (any count
        below 1 means ``ALL``). The library's queues implement it as their bulk read, so
        that a channel reader can be this method itself (``ChannelReader``)."""
        if type(count) is not int or count < 0 or (block is not True and block is not False):
            count, block, timeout = check_read_args(count, block, timeout)
        elif timeout is not None:
            timeout = normalize_timeout(timeout)
        return self.get_many(count, block, timeout)

    def take_nowait(self, count: int) -> tuple[list[T], int, bool]:
        """:return: (up to ``count`` items, the change generation, closed-and-now-empty)."""
        raise NotImplementedError

    def wait_for_change(self, generation: int, timeout: float | None) -> None:
        """Wait until the generation differs from ``generation`` or the queue is closed."""
        raise NotImplementedError

    def poke(self) -> None:
        """Advance the generation and wake every reader waiting for a change."""
        raise NotImplementedError

    def put_back(self, items: list[T]) -> None:
        """Return ``items`` to the front of the queue, in order (even when closed)."""
        raise NotImplementedError

    def qsize(self) -> int:
        raise NotImplementedError

    def writable_and_size(self) -> tuple[bool, int]:
        """:return: ``(writable(), qsize())``, read together."""
        raise NotImplementedError

    def empty(self) -> bool:
        raise NotImplementedError

    def writable(self) -> bool:
        raise NotImplementedError

    def set_writable(self, state: bool) -> bool:
        raise NotImplementedError


def _check_maxsize(maxsize: int) -> int:
    if isinstance(maxsize, bool) or not isinstance(maxsize, int):
        raise TypeError(f"maxsize must be an int, got {maxsize!r}")
    if maxsize < 0:
        raise ValueError(f"maxsize must be >= 0 (0 means unbounded), got {maxsize}")
    return maxsize


class AsyncQueue(ItemQueue[T]):
    """A thread-safe FIFO with a writable flag and an optional capacity.

    Closing (``set_writable(False)``) wakes every reader and every blocked writer; readers
    then drain what is left, writers raise ``ReadOnly``. All state below is guarded by
    ``mutex``; ``not_empty`` and ``not_full`` are conditions on it.
    """

    __slots__ = ("_items", "_writable", "_generation", "maxsize", "mutex", "not_empty", "not_full")

    channel_ends_bind = True

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = _check_maxsize(maxsize)  # 0: unbounded; immutable
        self.mutex = Lock("AsyncQueue.mutex")
        # Readers wait here for: an item, close, or a generation change.
        self.not_empty = HSCondition(self.mutex, "AsyncQueue.not_empty")
        # Writers of a bounded queue wait here for: space, or close.
        self.not_full = HSCondition(self.mutex, "AsyncQueue.not_full")
        self._items: deque[T] = deque()
        self._writable = True  # False once closed; never True again after close()
        self._generation = 0  # bumped by every put, close and poke

    # -- writing --

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        """Append ``item``; on a full bounded queue wait for space when ``block``.

        :raise ReadOnly: if the queue is closed, or closes while we wait for space.
        :raise Full: if the queue is full and ``block`` is False or ``timeout`` expired.
        """
        if (block is not True and block is not False) or timeout is not None:
            block, timeout = check_wait_args(block, timeout)
        # An interrupt at the lock's RELEASE point comes after a complete write.
        with self.mutex.held:
            if not self._writable:
                raise ReadOnly("write to a closed channel")
            if self.maxsize and len(self._items) >= self.maxsize:
                self._wait_for_space(block, timeout)
            self._items.append(item)
            self._generation += 1
            if self.not_empty._waiters:
                self.not_empty.notify_locked()

    def _extend(self, items: list[T]) -> None:
        # Never half done: an interrupt at the lock waits until the items are in, and the
        # notify (the block's last step) wakes its waiters whatever the hook raises there.
        with self.mutex.completing:
            if not self._writable:
                raise ReadOnly("write to a closed channel")
            self._items.extend(items)
            self._generation += 1
            if self.not_empty._waiters:
                self.not_empty.notify_locked(len(items))

    def _wait_for_space(self, block: bool, timeout: float | None) -> None:
        # Called with the mutex held on a full, open queue.
        if not block:
            raise Full(f"channel is full ({self.maxsize} items) and block is False")
        deadline = None if timeout is None else monotonic() + timeout
        while len(self._items) >= self.maxsize and self._writable:
            if deadline is None:
                self.not_full.wait()
            else:
                remaining = deadline - monotonic()
                if remaining <= 0:
                    raise Full(f"channel stayed full ({self.maxsize} items) for {timeout} s")
                self.not_full.wait(remaining)
        if not self._writable:
            raise ReadOnly("channel was closed while a writer waited for space")

    def set_writable(self, state: bool) -> bool:
        """Set the writable flag; closing wakes every reader and blocked writer.

        :return: the previous state
        """
        # Closing always completes, even if the hook raises (the exception comes after):
        # an interrupt at the lock waits for the block, and the writers are woken even
        # if the hook raises at the readers' NOTIFY.
        with self.mutex.completing:
            previous = self._writable
            if not state and previous:
                self._writable = False
                self._generation += 1
                try:
                    self.not_empty.notify_all_locked()
                finally:
                    self.not_full.notify_all_locked()
            elif state and not previous:
                raise ValueError("a closed queue cannot be reopened")
        return previous

    def writable(self) -> bool:
        with self.mutex.held:
            return self._writable

    def poke(self) -> None:
        # As put_many: the generation moves and every waiting reader is woken, whatever
        # the hook raises.
        with self.mutex.completing:
            self._generation += 1
            if self.not_empty._waiters:
                self.not_empty.notify_all_locked()

    def put_back(self, items: list[T]) -> None:
        if not items:
            return
        # Recovery path (a read that failed after taking items): an exception the hook
        # raises now must not lose the items, so it is raised after them.
        with self.mutex.completing:
            self._put_back_locked(items)

    def _put_back_locked(self, items: list[T]) -> None:
        # A put-back may leave a bounded queue above maxsize until it is read: the items
        # were in it before, and dropping them would lose them.
        self._items.extendleft(reversed(items))
        self._generation += 1
        waiters = self.not_empty._waiters
        while waiters:  # wake every reader without the NOTIFY point: nothing may raise
            waiters.popleft().release()

    # -- reading --

    def qsize(self) -> int:
        with self.mutex.held:
            return len(self._items)

    def writable_and_size(self) -> tuple[bool, int]:
        with self.mutex.held:
            return self._writable, len(self._items)

    def empty(self) -> bool:
        with self.mutex.held:
            return not self._items

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        """:return: the oldest item.

        :raise Empty: if none arrives (not ``block``, timeout, or closed and drained).
        """
        if (block is not True and block is not False) or timeout is not None:
            block, timeout = check_wait_args(block, timeout)
        items = self.get_many(1, block, timeout)
        if not items:
            raise Empty("channel is empty" if block else "channel is empty and block is False")
        return items[0]

    def get_many(self, count: int, block: bool = True, timeout: float | None = None) -> list[T]:
        """Take up to ``count`` items (``ALL``: every item until closed): ``read``."""
        return self.read(count, block, timeout)

    def read(self, count: int = ALL, block: bool = True, timeout: float | None = None) -> list[T]:
        """Take up to ``count`` items (``ALL``, or any count below 1: every item until
        closed); the arguments are checked as ``Reader.read`` checks them.

        Available items are taken in one critical section. When ``block``, wait for the
        rest; the ``timeout`` is per item: it restarts whenever an item arrives. If the
        read is interrupted after taking items (``KeyboardInterrupt`` in the wait, a
        raising hook), the items go back to the front of the queue, in order.
        """
        if type(count) is not int or count < 0 or (block is not True and block is not False):
            count, block, timeout = check_read_args(count, block, timeout)
        elif timeout is not None:
            timeout = normalize_timeout(timeout)
        out: list[T] | None = None  # set once the critical section took the items
        try:
            with self.mutex.held:
                items = self._items
                if count == 1 and items and not self.maxsize:
                    # The common case, kept short: one item, and no writer can be
                    # waiting for space on an unbounded queue (_take_locked otherwise).
                    out = [items.popleft()]
                else:
                    out = self._get_many_locked(count, block, timeout)
                return out
        except BaseException:
            # Interrupted once the items were taken (at RELEASE): they go back first.
            if out:
                self.put_back(out)
            raise

    def _get_many_locked(self, count: int, block: bool, timeout: float | None) -> list[T]:
        out: list[T] = []
        try:
            return self._get_many_into_locked(out, count, block, timeout)
        except BaseException:
            # Interrupted in a wait (the condition re-took the lock) or at a NOTIFY:
            # the items go back within this critical section, so nothing is lost.
            self._put_back_locked(out)
            raise

    def _get_many_into_locked(
        self, out: list[T], count: int, block: bool, timeout: float | None
    ) -> list[T]:
        items = self._items
        deadline = None
        while True:
            if items:
                taken = self._take_locked(out, count)
                if taken and deadline is not None and timeout is not None:
                    deadline = monotonic() + timeout  # per item: restart
            if (count and len(out) >= count) or not self._writable or not block:
                return out
            if timeout is None:
                self.not_empty.wait()
            else:
                if deadline is None:
                    deadline = monotonic() + timeout
                remaining = deadline - monotonic()
                if remaining <= 0:
                    return out
                self.not_empty.wait(remaining)

    def _take_locked(self, out: list[T], count: int) -> int:
        # Move up to count - len(out) items (all when count is ALL) into out.
        items = self._items
        if count == ALL or count - len(out) >= len(items):
            taken = len(items)
            out.extend(items)
            items.clear()
        else:
            # Item by item into out: no second list of the items while they move.
            taken = count - len(out)
            popleft, append = items.popleft, out.append
            for _ in range(taken):
                append(popleft())
        if taken and self.maxsize and self.not_full._waiters:
            self.not_full.notify_locked(taken)
        return taken

    def take_nowait(self, count: int) -> tuple[list[T], int, bool]:
        out: list[T] | None = None  # set once the critical section took the items
        try:
            with self.mutex.held:
                items = self._items
                if not items:
                    return [], self._generation, not self._writable
                if count == 1 and not self.maxsize:  # the common case, kept short (read)
                    out = [items.popleft()]
                else:
                    out = self._get_many_locked(count, False, None)
                return out, self._generation, not self._writable and not items
        except BaseException:
            if out:  # interrupted at RELEASE, after the take: the items go back first
                self.put_back(out)
            raise

    def wait_for_change(self, generation: int, timeout: float | None) -> None:
        with self.mutex.held:
            deadline = None if timeout is None else monotonic() + timeout
            while self._generation == generation and self._writable:
                if deadline is None:
                    self.not_empty.wait()
                else:
                    remaining = deadline - monotonic()
                    if remaining <= 0:
                        return
                    self.not_empty.wait(remaining)


class SyncQueue(ItemQueue[T]):
    """Adapter to allow using a deque like a queue, without locking.

    For one thread only: it never waits, because no other thread could ever wake it. A
    read takes what is there; a write to a full queue raises ``Full`` even when blocking.
    """

    __slots__ = ("_items", "_writable", "_generation", "maxsize")

    channel_ends_bind = True

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = _check_maxsize(maxsize)
        self._items: deque[T] = deque()
        self._writable = True
        self._generation = 0

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        if (block is not True and block is not False) or timeout is not None:
            block, timeout = check_wait_args(block, timeout)
        if not self._writable:
            raise ReadOnly("write to a closed channel")
        if self.maxsize and len(self._items) >= self.maxsize:
            raise Full(f"serial channel is full ({self.maxsize} items); it cannot wait")
        self._items.append(item)
        self._generation += 1

    def _extend(self, items: list[T]) -> None:
        if not self._writable:
            raise ReadOnly("write to a closed channel")
        self._items.extend(items)
        self._generation += 1

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        if (block is not True and block is not False) or timeout is not None:
            block, timeout = check_wait_args(block, timeout)
        try:
            return self._items.popleft()
        except IndexError:
            raise Empty("serial channel is empty") from None

    def get_many(self, count: int, block: bool = True, timeout: float | None = None) -> list[T]:
        return self.read(count, block, timeout)

    def read(self, count: int = ALL, block: bool = True, timeout: float | None = None) -> list[T]:
        if type(count) is not int or count < 0 or (block is not True and block is not False):
            count, block, timeout = check_read_args(count, block, timeout)
        elif timeout is not None:
            timeout = normalize_timeout(timeout)
        items = self._items
        if count == 1 and items:  # the common case, kept short (_take otherwise)
            return [items.popleft()]
        return self._take(count)

    def _take(self, count: int) -> list[T]:
        # Up to count items (all when count is ALL).
        items = self._items
        if count == ALL or count >= len(items):
            out = list(items)
            items.clear()
            return out
        popleft = items.popleft
        return [popleft() for _ in range(count)]

    def take_nowait(self, count: int) -> tuple[list[T], int, bool]:
        out = self.read(count)
        return out, self._generation, not self._writable and not self._items

    def wait_for_change(self, generation: int, timeout: float | None) -> None:
        return None

    def poke(self) -> None:
        self._generation += 1

    def put_back(self, items: list[T]) -> None:
        self._items.extendleft(reversed(items))

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def writable(self) -> bool:
        return self._writable

    def writable_and_size(self) -> tuple[bool, int]:
        return self._writable, len(self._items)

    def set_writable(self, state: bool) -> bool:
        previous = self._writable
        if state and not previous:
            raise ValueError("a closed queue cannot be reopened")
        self._writable = state
        return previous
