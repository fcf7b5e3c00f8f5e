"""Channel misuse mypy must reject: each marked line has exactly the errors it names."""

from __future__ import annotations

from refasync import Channel, ChannelReader, ChannelWriter, IteratorReader, Reader, Writer, mkchannel


def misuse_channels() -> None:
    writer: Writer[int]
    reader: Reader[int]
    writer, reader = mkchannel()
    writer.write("text")  # E: Argument 1 to "write" of "Writer" has incompatible type "str"; expected "int"
    texts: list[str] = reader.read()  # E: expression has type "list[int]", variable has type "list[str]"
    reader.read("3")  # E: Argument 1 to "read" of "Reader" has incompatible type "str"
    reader.read(1, timeout="soon")  # E: Argument "timeout" to "read" of "Reader" has incompatible type "str"
    reader.write(1)  # E: "Reader[int]" has no attribute "write"
    writer.read()  # E: "Writer[int]" has no attribute "read"
    other: Writer[str] = writer  # E: expression has type "Writer[int]", variable has type "Writer[str]"
    channel: Channel[int] = Channel()
    ChannelWriter(channel).write(b"x")  # E: incompatible type "bytes"; expected "int"
    bytes_reader: ChannelReader[bytes] = ChannelReader(channel)  # E: [arg-type]
    IteratorReader([1, 2])  # E: Argument 1 to "IteratorReader" has incompatible type "list[int]"
    Channel(maxsize="2")  # E: Argument "maxsize" to "Channel" has incompatible type "str"
