"""refasync: a strictly typed, formally tested reference implementation of the "async"
channel / task-graph / thread-pool library, with a threaded pool that works."""

from .channel import (
    CallbackChannelReader as CallbackChannelReader,
)
from .channel import (
    CallbackChannelWriter as CallbackChannelWriter,
)
from .channel import (
    CallbackReaderMixin as CallbackReaderMixin,
)
from .channel import (
    CallbackWriterMixin as CallbackWriterMixin,
)
from .channel import (
    Channel as Channel,
)
from .channel import (
    ChannelReader as ChannelReader,
)
from .channel import (
    ChannelWriter as ChannelWriter,
)
from .channel import (
    Full as Full,
)
from .channel import (
    IteratorReader as IteratorReader,
)
from .channel import (
    Reader as Reader,
)
from .channel import (
    ReadOnly as ReadOnly,
)
from .channel import (
    SerialChannel as SerialChannel,
)
from .channel import (
    Writer as Writer,
)
from .channel import __all__ as __all__
from .channel import (
    mkchannel as mkchannel,
)
from .graph import Graph, Node
from .pool import Pool, PoolReader, ThreadPool
from .task import ChannelThreadTask, IteratorTaskBase, IteratorThreadTask, Task, ThreadTaskBase
from .util import ForkedLockError

# The channel module's names, then the rest of the package's.
__all__ += (
    "ChannelThreadTask",
    "ForkedLockError",
    "Graph",
    "IteratorTaskBase",
    "IteratorThreadTask",
    "Node",
    "Pool",
    "PoolReader",
    "Task",
    "ThreadPool",
    "ThreadTaskBase",
)

__version__ = "0.1.0"
