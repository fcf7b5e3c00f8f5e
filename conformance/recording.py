"""A channel whose every call is recorded as a history (HISTORY.md's operations): the
stress harness's channel scenarios and ``python -m conformance.bench_check --shape
stress`` record through it.

A call interrupted by the explorer's injected fault (inside ``interruptible()``) is
retried, as a user would; the recorded operation is the one that completed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Protocol

from refasync.channel import Channel, ChannelReader, ChannelWriter
from refasync.explore import InjectedFault
from refasync.util import AsyncQueue, Full, ReadOnly

__all__ = ("HistoryRecorder", "Item", "NoRecorder", "RecordedChannel", "Recorder")

Item = tuple[int, int]


class Recorder(Protocol):
    def call(self, thread: str, kind: str, arg: object) -> int: ...

    def ret(self, token: int, result: object) -> None: ...

    def ops(self) -> list[object]: ...


class NoRecorder:
    def call(self, thread: str, kind: str, arg: object) -> int:
        return 0

    def ret(self, token: int, result: object) -> None:
        pass

    def ops(self) -> list[object]:
        return []


class HistoryRecorder:
    """Adapts models.linearizability.History (imported lazily) to :class:`Recorder`."""

    def __init__(self) -> None:
        from models.linearizability import History

        self._history = History()

    def call(self, thread: str, kind: str, arg: object) -> int:
        return self._history.call(thread, kind, arg)

    def ret(self, token: int, result: object) -> None:
        self._history.ret(token, result)

    def ops(self) -> list[object]:
        return list(self._history.ops())


class RecordedChannel:
    """A writer and a reader of one channel whose every call is recorded."""

    def __init__(
        self,
        maxsize: int,
        recorder: Recorder,
        interruptible: Callable[
            [], contextlib.AbstractContextManager[None]
        ] = contextlib.nullcontext,
    ) -> None:
        self._interruptible = interruptible
        self.maxsize = maxsize
        channel: Channel[Item] = Channel(maxsize)
        self.writer = ChannelWriter(channel)
        self.reader = ChannelReader(channel)
        self.recorder = recorder

    def queue(self) -> AsyncQueue[Item]:
        queue = self.writer.channel.queue
        assert isinstance(queue, AsyncQueue)
        return queue

    def write(self, who: str, item: Item, block: bool, timeout: float | None) -> str | None:
        """:return: None if written, else "ReadOnly" or "Full"."""
        token = self.recorder.call(who, "write", item)
        outcome: str | None = None
        while True:  # an injected interrupt (explorer --faults) is retried, like a user would
            try:
                with self._interruptible():
                    self.writer.write(item, block, timeout)
            except ReadOnly:
                outcome = "ReadOnly"
            except Full:
                outcome = "Full"
            except InjectedFault:
                continue
            break
        self.recorder.ret(token, outcome)
        return outcome

    def read(self, who: str, count: int, block: bool, timeout: float | None) -> list[Item]:
        arg = (count, block) if timeout is None else (count, block, timeout)
        token = self.recorder.call(who, "read", arg)
        while True:
            try:
                with self._interruptible():
                    items = self.reader.read(count, block, timeout)
            except InjectedFault:
                continue  # a read that took items and was interrupted put them back
            break
        self.recorder.ret(token, list(items))
        return items

    def close(self, who: str) -> None:
        token = self.recorder.call(who, "close", None)
        while True:
            try:
                with self._interruptible():
                    self.writer.close()
            except InjectedFault:
                continue
            break
        self.recorder.ret(token, None)
