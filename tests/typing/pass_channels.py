"""Channels, readers and writers as a user types them: item types flow through."""

from __future__ import annotations

from typing import Callable

from typing_extensions import assert_type

from refasync import (
    CallbackChannelReader,
    CallbackChannelWriter,
    Channel,
    ChannelReader,
    ChannelWriter,
    Full,
    IteratorReader,
    ReadOnly,
    Reader,
    SerialChannel,
    Writer,
    mkchannel,
)


def check_mkchannel() -> None:
    writer: Writer[int]
    reader: Reader[int]
    writer, reader = mkchannel()
    writer.write(1)
    writer.write(2, True, 0.5)
    writer.close()
    assert_type(reader.read(), list[int])
    assert_type(reader.read(1, block=False, timeout=None), list[int])
    assert_type(list(reader), list[int])


def check_typed_channel_class() -> None:
    writer, reader = mkchannel(Channel[str])
    assert_type(writer, Writer[str])
    assert_type(reader, Reader[str])
    writer.write("a")
    writer.close()
    assert_type(reader.read(0), list[str])


def check_explicit_ends() -> None:
    channel: Channel[bytes] = Channel(maxsize=2)
    writer = ChannelWriter(channel)
    reader = ChannelReader(channel)
    assert_type(writer, ChannelWriter[bytes])
    writer.write(b"x")
    try:
        writer.write(b"y", block=False)
        writer.write(b"z", block=False)
    except Full:
        pass
    assert_type(reader.read(1), list[bytes])
    assert_type(writer.size(), int)
    writer.close()
    assert_type(writer.closed(), bool)
    try:
        writer.write(b"late")
    except ReadOnly:
        pass


def check_serial_channel() -> None:
    channel = SerialChannel[float]()
    writer = ChannelWriter(channel)
    writer.write(1.5)
    writer.write(2)  # an int is a float for the type checker
    assert_type(ChannelReader(channel).read(), list[float])


def check_callbacks() -> None:
    channel: Channel[int] = Channel()
    # Annotated: the mixin constructors take *args, so T is not inferred (bug_*.py).
    writer: CallbackChannelWriter[int] = CallbackChannelWriter(channel)
    reader: CallbackChannelReader[int] = CallbackChannelReader(channel)
    writer.set_pre_cb(lambda item: item * 2)
    previous = reader.set_post_cb(lambda items: sorted(items))
    assert_type(previous, Callable[[list[int]], list[int]] | None)
    reader.set_pre_cb(lambda count: None)
    writer.write(3)
    writer.close()
    assert_type(reader.read(), list[int])


def check_iterator_reader() -> None:
    reader = IteratorReader(iter(["a", "b"]))
    assert_type(reader, IteratorReader[str])
    assert_type(reader.read(1), list[str])
    assert_type(next(reader), str)


CHECKS = (
    check_mkchannel,
    check_typed_channel_class,
    check_explicit_ends,
    check_serial_channel,
    check_callbacks,
    check_iterator_reader,
)
