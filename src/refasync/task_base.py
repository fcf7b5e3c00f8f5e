"""The task base class: a named unit of work that reads items, applies a function and
writes the results (the task kinds are in ``refasync.task``).

A task's lifecycle: it is processed in chunks (``process(count)``), possibly by several
threads at once; when its input is exhausted, it fails, or it is removed from its pool it
becomes *done*; its output channel is closed as soon as it is done and no chunk is still
writing, so its readers never wait for items that cannot come.
"""

from __future__ import annotations

import traceback
import weakref
from collections.abc import Callable, Iterable
from itertools import islice
from typing import (
    TYPE_CHECKING,
    Generic,
    Literal,
    TypeVar,
    cast,
    overload,
)

from .channel import Reader, Writer
from .graph import Node
from .util import ForkedLockError, Lock, ReadOnly, normalize_count

if TYPE_CHECKING:
    from .pool import Pool

__all__ = ("MAX_WRITE_BATCH", "WRITE_BATCH", "DemandLimitError", "Task")

In = TypeVar("In")
Out = TypeVar("Out")

#: A chunk writes its first ``WRITE_BATCH`` results in one batch, then batches twice as
#: large each time, up to ``MAX_WRITE_BATCH``: early results for a waiting reader, and
#: few lock acquisitions for a long chunk.
WRITE_BATCH = 64
MAX_WRITE_BATCH = 1024


class DemandLimitError(RuntimeError):
    """A limit of the library itself (chunks nested too deep in one thread, the recursion
    limit, memory) stopped a pool read. It is raised to the reader that asked; no task
    fails because of it (``Task.process`` re-raises it without keeping it) and no item
    is lost."""


def _check_min_count(min_count: int | None) -> int | None:
    if min_count is None:
        return None
    if isinstance(min_count, bool) or not isinstance(min_count, int):
        raise TypeError(f"min_count must be an int or None, got {min_count!r}")
    if min_count < 0:
        raise ValueError(f"min_count must be >= 0 or None, got {min_count}")
    return min_count or None


def _check_max_chunksize(max_chunksize: int) -> int:
    if isinstance(max_chunksize, bool) or not isinstance(max_chunksize, int):
        raise TypeError(f"max_chunksize must be an int, got {max_chunksize!r}")
    if max_chunksize < 0:
        raise ValueError(f"max_chunksize must be >= 0 (0: no limit), got {max_chunksize}")
    return max_chunksize


class Task(Node, Generic[In, Out]):
    """A named task: how items are read, processed and written, and in which chunks.

    Results are sent to a writer, set by the creator (or the pool) with ``set_writer``.
    Items are read with the ``_read`` callable, which subclasses set to a function with
    the ``Reader.read(count)`` interface.

    * **min_count**: a read that demands fewer items makes the task process at least
      ``min_count`` (None or 0: no minimum).
    * **max_chunksize**: chunks are never larger than this (0: no limit), so that one
      demand can be spread over several workers.
    * **apply_single**: if True (the default) ``fun`` is called with each item and
      returns one result; if False it is called with the list of items read by a chunk
      and returns an iterable of results.
    """

    # Guarded by _wlock: _num_writers (chunks currently in process()), _done, _exc,
    # _exc_traceback, _pool_ref (the pool the task was added to), min_count and
    # max_chunksize.
    _wlock: Lock

    @overload
    def __init__(
        self: Task[In, In],
        id: object,
        fun: None,
        apply_single: bool = True,
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[In] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: Task[In, Out],
        id: object,
        fun: Callable[[In], Out],
        apply_single: Literal[True] = True,
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[Out] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: Task[In, Out],
        id: object,
        fun: Callable[[list[In]], Iterable[Out]],
        apply_single: Literal[False],
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[Out] | None = None,
    ) -> None: ...

    def __init__(
        self,
        id: object,
        fun: Callable[[In], Out] | Callable[[list[In]], Iterable[Out]] | None,
        apply_single: bool = True,
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[Out] | Writer[In] | None = None,
    ) -> None:
        self._setup(
            id, fun, apply_single, min_count, max_chunksize, cast("Writer[Out] | None", writer)
        )

    def _setup(
        self,
        id: object,
        fun: Callable[[In], Out] | Callable[[list[In]], Iterable[Out]] | None,
        apply_single: bool,
        min_count: int | None,
        max_chunksize: int,
        writer: Writer[Out] | None,
    ) -> None:
        # The constructor proper, shared by subclasses (whose overloads narrow fun).
        Node.__init__(self, id)
        if fun is None:
            # Every task kind: None passes items through unchanged (Out is In), as in the
            # original; with apply_single=False the identity returns the chunk itself.
            fun = cast("Callable[[In], Out]", _identity)
        if not callable(fun):
            raise TypeError(f"Task {id!r}: fun must be callable or None, got {fun!r}")
        _check_apply_single(id, apply_single)
        _check_writer(writer)
        self._wlock = Lock("Task.wlock")
        self.fun = fun
        self.apply_single = apply_single
        self._min_count = _check_min_count(min_count)
        self._max_chunksize = _check_max_chunksize(max_chunksize)
        self._out_writer: Writer[Out] | None = writer
        self._read: Callable[[int], list[In]] | None = None  # set by subclasses
        # Set by subclasses whose input keeps what a failed read took (IteratorReader).
        self._take_unread = cast("Callable[[], list[In]]", _nothing_held)
        self._num_writers = 0
        self._done = False
        self._exc: BaseException | None = None
        self._exc_traceback: str | None = None
        self._pool_ref: weakref.ref[Pool] | None = None

    # -- configuration --

    @property
    def min_count(self) -> int | None:
        with self._wlock.held:
            return self._min_count

    @min_count.setter
    def min_count(self, value: int | None) -> None:
        value = _check_min_count(value)
        with self._wlock.held:
            self._min_count = value

    @property
    def max_chunksize(self) -> int:
        with self._wlock.held:
            return self._max_chunksize

    @max_chunksize.setter
    def max_chunksize(self, value: int) -> None:
        value = _check_max_chunksize(value)
        with self._wlock.held:
            self._max_chunksize = value

    def chunk_limits(self) -> tuple[int, int]:
        """:return: (min_count or 0, max_chunksize), read together."""
        with self._wlock.held:
            return self._min_count or 0, self._max_chunksize

    def limits_unless_done(self) -> tuple[int, int] | None:
        """:return: ``chunk_limits()``, or None if the task is done: what a pool plans
        with, read under one acquisition of the task's lock."""
        with self._wlock.held:
            if self._done:
                return None
            return self._min_count or 0, self._max_chunksize

    def set_writer(self, writer: Writer[Out]) -> None:
        """Set the write channel to the given one.

        :raise TypeError: if ``writer`` is not a Writer
        """
        if not isinstance(writer, Writer):
            raise TypeError(f"task {self.id!r}: writer must be a Writer, got {writer!r}")
        self._out_writer = writer

    def writer(self) -> Writer[Out] | None:
        """:return: our write channel or None if none is set

        :note: the task closes it once it is done and no chunk is writing to it.
        """
        return self._out_writer

    # -- state --

    def is_done(self) -> bool:
        """:return: True if we are finished processing"""
        with self._wlock.held:
            return self._done

    def error(self) -> BaseException | None:
        """:return: the exception that made the task fail, or None. Its ``__traceback__``
        is cleared (frames would keep the chunk's objects alive): see
        ``error_traceback()``. A ``KeyboardInterrupt``, ``SystemExit`` or other
        non-``Exception`` is kept too, and was also re-raised by ``process``."""
        with self._wlock.held:
            return self._exc

    def error_traceback(self) -> str | None:
        """:return: the formatted traceback of ``error()``, or None"""
        with self._wlock.held:
            return self._exc_traceback

    def is_closed(self) -> bool:
        """:return: True if the task's write channel is closed"""
        return self._require_writer().closed()

    def close(self) -> None:
        """Close our channel so its readers wake up. Safe to call multiple times."""
        self._require_writer().close()

    def set_done(self) -> None:
        """Mark the task done: it processes nothing more, and its channel closes as soon
        as no chunk is writing to it (at once if none is)."""
        # Never half done: an interrupt from the hook is raised once the channel is closed.
        close_now = False
        try:
            with self._wlock.completing:
                self._done = True
                close_now = self._num_writers == 0
        finally:
            if close_now and self._out_writer is not None:
                self._out_writer.close()

    def claim(self, pool: Pool) -> None:
        """Record the pool this task is added to (``Pool.add_task`` does it); a task
        belongs to one pool, once.

        :raise ValueError: if it was added to a pool already
        """
        with self._wlock.held:
            if self._pool_ref is not None:
                owner = self._pool_ref()
                where = "this pool" if owner is pool else "another pool"
                raise ValueError(f"task {self.id!r} was already added to {where}")
            self._pool_ref = weakref.ref(pool)

    def owner(self) -> Pool | None:
        """:return: the pool this task was added to, or None"""
        with self._wlock.held:
            return None if self._pool_ref is None else self._pool_ref()

    def has_input(self) -> bool:
        """:return: True if the task has something to read from"""
        return self._read is not None

    def input_reader(self) -> Reader[In] | None:
        """:return: the reader whose ``read`` is this task's input, or None if the task
        reads an iterator or a function set with ``set_read`` (a pool can then produce
        the input of a chunk before the chunk runs only through the function itself)."""
        return None

    def _require_writer(self) -> Writer[Out]:
        if self._out_writer is None:
            raise ValueError(f"task {self.id!r} has no writer; call set_writer() first")
        return self._out_writer

    # -- processing --

    def process(self, count: int = 0) -> None:
        """Read ``count`` items (all, if < 1), process them and write the results.

        Anything raised by the input, by ``fun`` or by the writer (other than the
        ``ReadOnly`` of a channel closed under us) makes the task fail: the results
        computed before it are written, including those of the items the input produced
        before it raised; the exception is kept (``error()``) and the task is done: no
        chunk starts any more, and its channel closes as soon as the chunks in flight
        have written their results. An ``Exception`` is never raised to the caller, so a
        failing task never kills a worker thread; a ``KeyboardInterrupt``, ``SystemExit``
        or other ``BaseException`` is kept and then re-raised in this thread. A
        ``ForkedLockError`` (a lock held when this process was forked) or a
        ``DemandLimitError`` from the input is re-raised without failing the task: it is
        a limit of the process or of the library, not the task's failure.
        """
        if type(count) is not int or count < 0:  # no call when it is valid
            count = normalize_count(count)
        read = self._read
        writer = self._out_writer
        if writer is None:
            writer = self._require_writer()  # raises
        if read is None:
            raise ValueError(f"task {self.id!r} has no input to read from")
        counted = False  # counted in as a chunk in process (_num_writers)
        exhausted = False
        reraising = False  # a KeyboardInterrupt, SystemExit, ... is on its way out
        results: list[Out] = []  # computed, not yet written
        try:
            # Counting in always completes: an interrupt from the hook at the lock is
            # raised after it (Lock.completing), and then fails the chunk as any would.
            with self._wlock.completing:
                counted = not self._done
                if counted:
                    self._num_writers += 1
            if not counted:
                return
            input_failure: BaseException | None = None
            try:
                items = read(count)
            except BaseException as exc:
                # The items the input produced before it raised are delivered first.
                input_failure = exc
                items = self._take_unread()
            else:
                exhausted = count == 0 or len(items) < count
            if items:
                # Results go out in batches: one lock acquisition per batch, not per item.
                # The first batch is small, so that a reader gets results early; each
                # next one is twice as large, up to MAX_WRITE_BATCH.
                size = WRITE_BATCH
                if self.apply_single:
                    if TYPE_CHECKING:  # typing.cast is a call: checked, not run
                        fun_single = cast("Callable[[In], Out]", self.fun)
                    else:
                        fun_single = self.fun
                    todo = iter(items)  # consumed batch by batch, without copies
                    left = len(items)
                    while left > 0:
                        # extend() keeps the results before an exception: they are
                        # delivered before the failure (tests/test_task.py checks it).
                        results.extend(map(fun_single, islice(todo, size)))
                        batch, results = results, []
                        writer.write_many(batch, True)
                        left -= size
                        if size < MAX_WRITE_BATCH:
                            size *= 2
                else:
                    if TYPE_CHECKING:
                        fun_many = cast("Callable[[list[In]], Iterable[Out]]", self.fun)
                    else:
                        fun_many = self.fun
                    for result in fun_many(items):
                        results.append(result)
                        if len(results) >= size:
                            batch, results = results, []
                            writer.write_many(batch, True)
                            if size < MAX_WRITE_BATCH:
                                size *= 2
                if results:
                    batch, results = results, []
                    writer.write_many(batch, True)
            if input_failure is not None:
                raise input_failure
        except ReadOnly:
            # Our channel was closed under us (the task failed in another chunk, or was
            # removed): stop quietly, the first cause is already recorded.
            exhausted = True
        except BaseException as exc:
            # Items produced before the failure are delivered, then the channel closes
            # (a chunk of a done task interrupted while counting in only propagates it).
            if not counted:
                raise
            try:
                writer.write_many(results, True)
            except BaseException:
                pass  # closed under us, or the writer itself failed: exc is the cause
            if isinstance(exc, (ForkedLockError, DemandLimitError)):
                reraising = True
                raise  # a limit of the process or the library, not a failure of the task
            self._fail(exc)
            if not isinstance(exc, Exception):
                reraising = True
                raise  # KeyboardInterrupt, SystemExit, ...: still reach this thread
        finally:
            if counted:
                # Counting the chunk out and closing always complete: an interrupt from
                # the hook at the lock is raised after them (unless one is on its way).
                close_now = False
                try:
                    with self._wlock.completing:
                        self._num_writers -= 1
                        if exhausted:
                            self._done = True
                        close_now = self._done and self._num_writers == 0
                except BaseException:
                    if not reraising:
                        raise
                finally:
                    if close_now:
                        writer.close()

    def _fail(self, exc: BaseException) -> None:
        # The traceback's frames hold whatever the failing chunk had in hand, PoolReader
        # handles included; kept, they would pin those tasks forever. Keep its text.
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        _drop_tracebacks(exc)
        try:
            with self._wlock.completing:
                if self._exc is None:
                    self._exc = exc
                    self._exc_traceback = text
                # Done: no chunk starts any more. The channel closes when the chunks in
                # flight (this one included) have written what they produced before it.
                self._done = True
        except BaseException:
            pass  # an interrupt from the hook, after the block: exc is the one that counts


def _identity(item: object) -> object:
    return item


def _nothing_held() -> list[object]:
    return []


def _check_apply_single(id: object, apply_single: object) -> None:
    if apply_single is not True and apply_single is not False:
        raise TypeError(f"Task {id!r}: apply_single must be a bool, got {apply_single!r}")


def _check_writer(writer: object) -> None:
    if writer is not None and not isinstance(writer, Writer):
        raise TypeError(f"writer must be a Writer or None, got {writer!r}")


def _drop_tracebacks(exc: BaseException) -> None:
    """Clear the traceback of ``exc`` and of every exception chained to it."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending.extend((current.__cause__, current.__context__))
