"""Type inference a user relies on: pass-through tasks and callback channel ends."""

from __future__ import annotations

from typing import Callable

from typing_extensions import assert_type

from refasync import CallbackChannelReader, CallbackChannelWriter, Channel, IteratorThreadTask


def passthrough_task_keeps_item_type() -> None:
    # Without fun, items pass through: the task's output type is its input type.
    task = IteratorThreadTask(iter([1, 2]), "numbers")
    assert_type(task, IteratorThreadTask[int, int])


def callback_ends_infer_item_type() -> None:
    # The callback ends infer their item type from the channel they are given.
    channel: Channel[int] = Channel()
    assert_type(CallbackChannelWriter(channel), CallbackChannelWriter[int])
    assert_type(CallbackChannelReader(channel), CallbackChannelReader[int])


CHECKS: list[Callable[[], None]] = [passthrough_task_keeps_item_type, callback_ends_infer_item_type]
