"""Channel helpers shared by the channel and callback tests."""

from __future__ import annotations

import threading
from collections.abc import Callable

from refasync import (
    CallbackChannelReader,
    CallbackChannelWriter,
    Channel,
    ChannelReader,
    ChannelWriter,
    SerialChannel,
    Writer,
)
from refasync.util import AsyncQueue
from tests.sync_support import BOUND_S

__all__ = (
    "ResultThread",
    "callback_channel",
    "int_channel",
    "queue_of",
    "serial_channel",
    "writes_spaced",
)


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


def writes_spaced(
    writer: Writer[int], items: list[int], before_each: Callable[[int], None]
) -> None:
    for index, item in enumerate(items):
        before_each(index)
        writer.write(item)


def queue_of(reader: ChannelReader[int]) -> AsyncQueue[int]:
    """The thread-safe queue behind ``reader`` (whose conditions show who waits)."""
    queue = reader.channel.queue
    assert isinstance(queue, AsyncQueue)
    return queue
