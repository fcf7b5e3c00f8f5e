"""Tasks: named units of work that read items, apply a function and write the results.

A task's lifecycle: it is processed in chunks (``process(count)``), possibly by several
threads at once; when its input is exhausted, it fails, or it is removed from its pool it
becomes *done*; its output channel is closed as soon as it is done and no chunk is still
writing, so its readers never wait for items that cannot come.

``Task`` itself (``refasync.task_base``) is re-exported here with the task kinds: tasks
reading an iterator (``IteratorThreadTask``) and tasks reading a channel, typically
another task's ``PoolReader`` (``ChannelThreadTask``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import (
    TYPE_CHECKING,
    ClassVar,
    Literal,
    TypeVar,
    cast,
    overload,
)

from .channel import IteratorReader, Reader, Writer
from .task_base import MAX_WRITE_BATCH as MAX_WRITE_BATCH
from .task_base import WRITE_BATCH as WRITE_BATCH
from .task_base import DemandLimitError, Task
from .util import Lock

if TYPE_CHECKING:
    from .pool import Pool

__all__ = (
    "ChannelThreadTask",
    "DemandLimitError",
    "IteratorTaskBase",
    "IteratorThreadTask",
    "Task",
    "ThreadTaskBase",
)

In = TypeVar("In")
Out = TypeVar("Out")


class ThreadTaskBase:
    """Describes tasks which can be used with threaded pools."""


class IteratorTaskBase(Task[In, Out]):
    """A task which processes the items of an iterator; thread-safe. With ``fun=None``
    items pass through unchanged."""

    @overload
    def __init__(
        self: IteratorTaskBase[In, In],
        iterator: Iterator[In],
        id: object,
        fun: None = None,
        apply_single: bool = True,
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[In] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        iterator: Iterator[In],
        id: object,
        fun: Callable[[In], Out],
        apply_single: Literal[True] = True,
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[Out] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        iterator: Iterator[In],
        id: object,
        fun: Callable[[list[In]], Iterable[Out]],
        apply_single: Literal[False],
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[Out] | None = None,
    ) -> None: ...

    def __init__(
        self,
        iterator: Iterator[In],
        id: object,
        fun: Callable[[In], Out] | Callable[[list[In]], Iterable[Out]] | None = None,
        apply_single: bool = True,
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[Out] | Writer[In] | None = None,
    ) -> None:
        self._setup_iterator(iterator, id, fun, apply_single, min_count, max_chunksize, writer)

    def _setup_iterator(
        self,
        iterator: Iterator[In],
        id: object,
        fun: Callable[[In], Out] | Callable[[list[In]], Iterable[Out]] | None,
        apply_single: bool,
        min_count: int | None,
        max_chunksize: int,
        writer: Writer[Out] | Writer[In] | None,
    ) -> None:
        reader: IteratorReader[In] = IteratorReader(iterator)
        # Without fun, items pass through: Out is In (the first overload says so).
        self._setup(
            id,
            fun,
            apply_single,
            min_count,
            max_chunksize,
            cast("Writer[Out] | None", writer),
        )
        self._read = reader.read
        self._take_unread = reader.take_held


class IteratorThreadTask(IteratorTaskBase[In, Out], ThreadTaskBase):
    """An input iterator for threaded pools."""

    lock_type: ClassVar[type[Lock]] = Lock

    # The overloads repeat IteratorTaskBase's so that, without fun, mypy infers
    # IteratorThreadTask[In, In] (a self-typed overload binds on its own class only).
    @overload
    def __init__(
        self: IteratorThreadTask[In, In],
        iterator: Iterator[In],
        id: object,
        fun: None = None,
        apply_single: bool = True,
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[In] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        iterator: Iterator[In],
        id: object,
        fun: Callable[[In], Out],
        apply_single: Literal[True] = True,
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[Out] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        iterator: Iterator[In],
        id: object,
        fun: Callable[[list[In]], Iterable[Out]],
        apply_single: Literal[False],
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[Out] | None = None,
    ) -> None: ...

    def __init__(
        self,
        iterator: Iterator[In],
        id: object,
        fun: Callable[[In], Out] | Callable[[list[In]], Iterable[Out]] | None = None,
        apply_single: bool = True,
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[Out] | Writer[In] | None = None,
    ) -> None:
        self._setup_iterator(iterator, id, fun, apply_single, min_count, max_chunksize, writer)


class ChannelThreadTask(Task[In, Out], ThreadTaskBase):
    """A task reading its input from a Reader (typically another task's PoolReader,
    which makes this task depend on that one). With ``fun=None`` items pass through
    unchanged.

    Added to a pool with a ``PoolReader`` input, the task reads through a handle of its
    own (``PoolReader.duplicate``): ``reader()`` then returns that handle, not the reader
    it was given, which stays the caller's."""

    @overload
    def __init__(
        self: ChannelThreadTask[In, In],
        in_reader: Reader[In],
        id: object,
        fun: None = None,
        apply_single: bool = True,
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[In] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        in_reader: Reader[In],
        id: object,
        fun: Callable[[In], Out],
        apply_single: Literal[True] = True,
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[Out] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        in_reader: Reader[In],
        id: object,
        fun: Callable[[list[In]], Iterable[Out]],
        apply_single: Literal[False],
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[Out] | None = None,
    ) -> None: ...

    def __init__(
        self,
        in_reader: Reader[In],
        id: object,
        fun: Callable[[In], Out] | Callable[[list[In]], Iterable[Out]] | None = None,
        apply_single: bool = True,
        min_count: int | None = None,
        max_chunksize: int = 0,
        writer: Writer[Out] | Writer[In] | None = None,
    ) -> None:
        if not isinstance(in_reader, Reader):
            raise TypeError(f"in_reader must be a Reader, got {in_reader!r}")
        self._setup(
            id, fun, apply_single, min_count, max_chunksize, cast("Writer[Out] | None", writer)
        )
        self._in_reader = in_reader
        self._read = in_reader.read

    def reader(self) -> Reader[In]:
        """:return: input channel from which we read"""
        return self._in_reader

    def input_reader(self) -> Reader[In] | None:
        return self._in_reader if self._read == self._in_reader.read else None

    def use_input(self, reader: Reader[In]) -> None:
        """Read from ``reader`` from now on (the pool gives the task its own handle); a
        read function installed with ``set_read`` is kept."""
        if self._read == self._in_reader.read:
            self._read = reader.read
        self._in_reader = reader

    def set_read(self, read: Callable[[int], list[In]]) -> None:
        """Adjust the read method to the given one."""
        self._read = read

    def set_pool(self, pool: Pool) -> None:
        """Attach this task to ``pool`` (``Pool.add_task`` does it).

        :raise ValueError: if it is attached to a pool already
        """
        self.claim(pool)

    def pool(self) -> Pool | None:
        """:return: pool we are attached to, or None"""
        return self.owner()
