"""The libraries a workload runs on: refasync, or the original it replaces.

Both spell the seed API the same way (``mkchannel(Channel)``, ``ThreadPool(size)``,
``IteratorThreadTask(iterator, name, fun)``, ``ChannelThreadTask(reader, name, fun)``,
``read(count, block, timeout)``), so a workload is written once against a
:class:`Library` and timed on each. The protocols below are what the workloads use of
them; :data:`REFASYNC` is this project, :mod:`benchmarks.original` makes the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from refasync.channel import Channel, ChannelWriter, SerialChannel, mkchannel
from refasync.pool import ThreadPool
from refasync.task import ChannelThreadTask, IteratorThreadTask
from refasync.util import AsyncQueue

__all__ = ("Library", "PoolHandle", "REFASYNC", "ReadEnd", "WriteEnd")

R_co = TypeVar("R_co", covariant=True)


class WriteEnd(Protocol):
    def write(self, item: int, block: bool = ..., timeout: float | None = ...) -> None: ...

    def close(self) -> None: ...


class ReadEnd(Protocol):
    def read(
        self, count: int = ..., block: bool = ..., timeout: float | None = ...
    ) -> Sequence[int]: ...


class PoolHandle(Protocol[R_co]):
    """A pool; ``add_task`` returns the library's reader type (``R_co``)."""

    # Any: each library takes its own task classes.
    def add_task(self, task: Any) -> R_co: ...


@dataclass(frozen=True)
class Library:
    """One library's seed API, as the workloads call it.

    ``channel`` and ``serial_channel`` are its channel classes, to be given to its
    ``mkchannel``; ``thread_pool(size)`` is a context manager that shuts the pool down
    on exit; ``reader_blocked(writer)`` tells, under the channel's lock, whether a reader
    of the writer's channel is waiting in a blocking read.
    """

    name: str
    channel: Callable[[], object]
    serial_channel: Callable[[], object]
    # Any: a channel class of the same library.
    mkchannel: Callable[[Any], tuple[WriteEnd, ReadEnd]]
    thread_pool: Callable[[int], AbstractContextManager[PoolHandle[ReadEnd]]]
    iterator_task: Callable[..., object]
    channel_task: Callable[..., object]
    reader_blocked: Callable[[WriteEnd], bool]


def _refasync_reader_blocked(writer: WriteEnd) -> bool:
    assert isinstance(writer, ChannelWriter)
    queue = writer.channel.queue
    assert isinstance(queue, AsyncQueue)
    with queue.mutex:
        return queue.not_empty.has_waiters()


def _refasync_mkchannel(ctype: Callable[[], Channel[int]]) -> tuple[WriteEnd, ReadEnd]:
    return mkchannel(ctype)


REFASYNC = Library(
    name="refasync",
    channel=Channel,
    serial_channel=SerialChannel,
    mkchannel=_refasync_mkchannel,
    thread_pool=ThreadPool,
    iterator_task=IteratorThreadTask,
    channel_task=ChannelThreadTask,
    reader_blocked=_refasync_reader_blocked,
)
