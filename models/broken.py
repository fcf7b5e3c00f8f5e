"""Deliberately broken variants of refasync, one bug each, for models/test_teeth.py.

Each is a test-only subclass overriding one method with a plausible mistake; each model
must catch every variant aimed at it. A model that cannot fail is worthless.
"""

from __future__ import annotations

from typing import TypeVar

from refasync import Channel, ChannelThreadTask, PoolReader, ThreadPool
from refasync.graph import Graph, Node
from refasync.pool import _TaskState
from refasync.util import ALL, AsyncQueue, Full, ReadOnly

T = TypeVar("T")
N = TypeVar("N", bound=Node)


# --- queues: the channel and close models ----------------------------------------------


class DropsLastItemQueue(AsyncQueue[T]):
    """A bulk read (more than one item) loses its last item."""

    def get_many(self, count: int, block: bool = True, timeout: float | None = None) -> list[T]:
        items = super().get_many(count, block, timeout)
        return items[:-1] if len(items) > 1 else items


class ReturnsAnItemTwiceQueue(AsyncQueue[T]):
    """A read-all returns its first item twice."""

    def get_many(self, count: int, block: bool = True, timeout: float | None = None) -> list[T]:
        items = super().get_many(count, block, timeout)
        return items + items[:1] if count == ALL else items


class PutBackAtTheEndQueue(AsyncQueue[T]):
    """Items of a failed post-read callback go to the back, not the front."""

    def put_back(self, items: list[T]) -> None:
        with self.mutex:
            self._items.extend(items)


class IgnoresCapacityQueue(AsyncQueue[T]):
    """A non-blocking write to a full bounded channel succeeds anyway."""

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        with self.mutex:
            if not self._writable:
                raise ReadOnly("write to a closed channel")
            self._items.append(item)
            self._generation += 1
            self.not_empty.notify_locked()


class WritableAfterCloseQueue(AsyncQueue[T]):
    """A write to a closed channel succeeds (capacity is still honoured)."""

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        with self.mutex:
            if self.maxsize and len(self._items) >= self.maxsize:
                raise Full("full")
            self._items.append(item)
            self._generation += 1
            self.not_empty.notify_locked()


class CloseForgetsReadersQueue(AsyncQueue[T]):
    """Closing does not wake blocked readers."""

    def set_writable(self, state: bool) -> bool:
        with self.mutex:
            previous = self._writable
            self._writable = state
            self._generation += 1
            self.not_full.notify_all_locked()
            return previous


class CloseForgetsWritersQueue(AsyncQueue[T]):
    """Closing does not wake writers blocked on a full channel."""

    def set_writable(self, state: bool) -> bool:
        with self.mutex:
            previous = self._writable
            self._writable = state
            self._generation += 1
            self.not_empty.notify_all_locked()
            return previous


class CloseWakesOneReaderQueue(AsyncQueue[T]):
    """Closing wakes a single reader, however many wait."""

    def set_writable(self, state: bool) -> bool:
        with self.mutex:
            previous = self._writable
            self._writable = state
            self._generation += 1
            self.not_empty.notify_locked(1)
            self.not_full.notify_all_locked()
            return previous


class WriteWakesNobodyQueue(AsyncQueue[T]):
    """A write does not wake a blocked reader (a lost wake-up)."""

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        with self.mutex:
            if not self._writable:
                raise ReadOnly("write to a closed channel")
            if self.maxsize and len(self._items) >= self.maxsize:
                self._wait_for_space(block, timeout)
            self._items.append(item)
            self._generation += 1


class InterruptedReadLosesItemsQueue(AsyncQueue[T]):
    """A blocking read interrupted in its wait loses what it took (no put-back)."""

    def _get_many_locked(self, count: int, block: bool, timeout: float | None) -> list[T]:
        return self._get_many_into_locked([], count, block, timeout)


def channel_class(queue_cls: type[AsyncQueue[int]]) -> type[Channel[int]]:
    """A Channel subclass whose queue is ``queue_cls``."""
    return type(f"ChannelWith{queue_cls.__name__}", (Channel,), {"QueueCls": queue_cls})


# --- pools: the orphan model ----------------------------------------------------------


class NeverRemovesOrphansPool(ThreadPool):
    """Orphans are never removed: the mailbox is drained and ignored."""

    def _collect_orphans_locked(self) -> list[_TaskState]:
        self._orphans.take_all()
        return []


class ForgetsInputsPool(ThreadPool):
    """Removing a task does not release the handle it held on its input, so orphaned
    inputs are not followed recursively."""

    def _remove_locked(self, state: _TaskState) -> None:
        task = state.task
        del self._states[task]
        self._tasks.remove_node(task)
        self._queue.discard_locked(state)
        task.set_done()


class RemovesDependentsPool(ThreadPool):
    """Removing a task also removes the tasks reading from it, though they are held."""

    def _remove_locked(self, state: _TaskState) -> None:
        dependents = [self._states[d] for d in state.task.out_nodes if d in self._states]
        super()._remove_locked(state)
        for dependent in dependents:
            if dependent.task in self._states:
                self._remove_locked(dependent)


class CountsRemovedTasksPool(ThreadPool):
    """remove_task marks the task done but leaves it in the graph."""

    def remove_task(self, task: object, _from_destructor_: bool = False) -> ThreadPool:
        with self._lock:
            state = self._states.get(task)  # type: ignore[call-overload]  # any object may be passed
            if state is not None:
                state.task.set_done()
                if isinstance(state.task, ChannelThreadTask):
                    source = state.task.reader()
                    if isinstance(source, PoolReader):
                        source.release()
        return self


# --- graphs: the graph model ----------------------------------------------------------


class NoCycleCheckGraph(Graph[N]):
    """add_edge never checks for a cycle (self-edges still raise)."""

    def add_edge(self, u: N, v: N) -> Graph[N]:
        if u not in self.nodes or v not in self.nodes or u is v:
            raise ValueError("missing node or self-edge")
        if v not in u.out_nodes and u not in v.out_nodes:
            u.out_nodes.append(v)
            v.in_nodes.append(u)
        return self


class ReverseEdgeIsACycleGraph(Graph[N]):
    """Re-adding an edge in the reverse direction raises instead of being a no-op."""

    def add_edge(self, u: N, v: N) -> Graph[N]:
        if u in v.out_nodes:
            raise ValueError("reverse edge: would create a cycle")
        return super().add_edge(u, v)


class RemoveKeepsEdgesGraph(Graph[N]):
    """remove_node leaves the edges to its neighbours in place."""

    def remove_node(self, node: N) -> Graph[N]:
        if node in self.nodes:
            self.nodes.remove(node)
        return self


class DuplicateAncestorsGraph(Graph[N]):
    """input_inclusive_dfirst_reversed lists a shared ancestor once per path."""

    def input_inclusive_dfirst_reversed(self, node: N) -> list[N]:
        out: list[N] = []
        for input_node in node.in_nodes:
            out.extend(self.input_inclusive_dfirst_reversed(input_node))
        out.append(node)
        return out
