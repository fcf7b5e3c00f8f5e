"""refasync: a strictly typed, formally tested reference implementation of the "async"
channel / task-graph / thread-pool library, with a threaded pool that works."""

from .channel import (
    CallbackChannelReader,
    CallbackChannelWriter,
    CallbackReaderMixin,
    CallbackWriterMixin,
    Channel,
    ChannelReader,
    ChannelWriter,
    IteratorReader,
    Reader,
    SerialChannel,
    Writer,
    mkchannel,
)
from .graph import Graph, Node
from .pool import Pool, PoolReader, ThreadPool
from .task import ChannelThreadTask, IteratorTaskBase, IteratorThreadTask, Task, ThreadTaskBase
from .util import ForkedLockError, Full, ReadOnly

__all__ = (
    "CallbackChannelReader",
    "CallbackChannelWriter",
    "CallbackReaderMixin",
    "CallbackWriterMixin",
    "Channel",
    "ChannelReader",
    "ChannelThreadTask",
    "ChannelWriter",
    "ForkedLockError",
    "Full",
    "Graph",
    "IteratorReader",
    "IteratorTaskBase",
    "IteratorThreadTask",
    "Node",
    "Pool",
    "PoolReader",
    "ReadOnly",
    "Reader",
    "SerialChannel",
    "Task",
    "ThreadPool",
    "ThreadTaskBase",
    "Writer",
    "mkchannel",
)

__version__ = "0.1.0"
