"""The finalizers' mailbox: the one synchronization object that is not hooked."""

from __future__ import annotations

import queue as _stdlib_queue
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ("Mailbox",)

T = TypeVar("T")


class Mailbox(Generic[T]):
    """A multi-producer queue whose ``post`` is safe inside a finalizer.

    A ``weakref.finalize`` callback runs in whatever thread dropped the last reference,
    possibly while that thread holds a refasync lock, so it must not take one.
    ``queue.SimpleQueue.put`` is documented as reentrant for exactly this use. This is the
    one synchronization object in refasync that is not hooked: a hook could block inside
    a finalizer. A port uses a lock-free MPSC queue.
    """

    __slots__ = ("_queue", "is_empty")

    def __init__(self) -> None:
        self._queue: _stdlib_queue.SimpleQueue[T] = _stdlib_queue.SimpleQueue()
        #: ``is_empty()``: True if nothing was posted since the last ``take_all`` (the
        #: queue's own method: no Python frame on a hot path that only checks).
        self.is_empty: Callable[[], bool] = self._queue.empty

    def post(self, message: T) -> None:
        self._queue.put(message)

    def take_all(self) -> list[T]:
        """:return: every message posted so far, oldest first; never blocks."""
        if self._queue.empty():  # the common case, without raising Empty
            return []
        messages: list[T] = []
        while True:
            try:
                messages.append(self._queue.get_nowait())
            except _stdlib_queue.Empty:
                return messages
