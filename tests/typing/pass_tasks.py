"""Tasks and pools as a user types them: a task's function types flow to its reader."""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from refasync import (
    ChannelThreadTask,
    Graph,
    IteratorThreadTask,
    Node,
    PoolReader,
    Reader,
    Task,
    ThreadPool,
)
from refasync.util import normalize_count, normalize_timeout


def to_text(number: int) -> str:
    return str(number)


def lengths(texts: list[str]) -> list[int]:
    return [len(t) for t in texts]


def check_task_types() -> None:
    assert_type(Task("single", to_text), Task[int, str])
    assert_type(Task("batch", lengths, False), Task[str, int])
    task = Task("limits", to_text, max_chunksize=4)
    task.min_count = 3
    task.max_chunksize = 0
    assert_type(Task("fresh", to_text).min_count, int | None)
    assert_type(task.error(), BaseException | None)


def check_pipeline() -> None:
    with ThreadPool(2) as pool:
        assert_type(pool, ThreadPool)
        numbers = IteratorThreadTask(iter(range(10)), "numbers", to_text)
        assert_type(numbers, IteratorThreadTask[int, str])
        texts = pool.add_task(numbers)
        assert_type(texts, PoolReader[str])
        sizes = ChannelThreadTask(texts, "sizes", lengths, False, max_chunksize=3)
        assert_type(sizes, ChannelThreadTask[str, int])
        size_reader = pool.add_task(sizes)
        assert_type(size_reader.read(4), list[int])
        assert_type(size_reader.read(), list[int])
        upstream: Reader[str] = texts  # a PoolReader is a Reader
        assert_type(upstream.read(1, True, 1.0), list[str])
        assert_type(size_reader.task(), Task[Any, int])
        assert_type(pool.num_tasks(), int)
        pool.set_size(0)


def check_explicit_passthrough() -> None:
    # Without a function items pass through; annotated because of bug_passthrough.py.
    task: IteratorThreadTask[str, str] = IteratorThreadTask(iter("ab"), "letters")
    pool = ThreadPool(0)
    assert_type(pool.add_task(task).read(), list[str])
    # fun=None is the identity for every task kind (F9).
    relay: ChannelThreadTask[str, str] = ChannelThreadTask(pool.add_task(
        IteratorThreadTask(iter("cd"), "more")), "relay", None)
    assert_type(pool.add_task(relay).read(), list[str])


def check_graph_and_helpers() -> None:
    graph: Graph[Node] = Graph()
    first, second = graph.add_node(Node("a")), graph.add_node(Node("b"))
    assert_type(graph.add_edge(first, second), Graph[Node])
    assert_type(graph.input_inclusive_dfirst_reversed(second), list[Node])
    assert_type(normalize_count(-1), int)
    assert_type(normalize_timeout(None), float | None)


CHECKS = (check_task_types, check_pipeline, check_explicit_passthrough, check_graph_and_helpers)
