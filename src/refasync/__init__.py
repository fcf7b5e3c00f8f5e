"""refasync: a strictly typed, formally tested reference implementation of the "async"
channel / task-graph / thread-pool library, with a threaded pool that works."""

from .channel import *  # noqa: F403 (channel.__all__, which begins the package's)
from .channel import __all__ as __all__
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
