"""Task and pool misuse mypy must reject: each marked line has exactly the errors it names."""

from __future__ import annotations

from refasync import ChannelThreadTask, Graph, IteratorThreadTask, Node, Reader, Task, ThreadPool, Writer


def to_text(number: int) -> str:
    return str(number)


def lengths(texts: list[str]) -> list[int]:
    return [len(t) for t in texts]


def misuse_tasks(ints: Writer[int]) -> None:
    Task("not-callable", 3)  # E: No overload variant of "Task" matches argument types "str", "int"
    Task("single-as-batch", to_text, False)  # E: No overload variant of "Task" matches
    Task("wrong-writer", to_text, writer=ints)  # E: [arg-type]
    Task("min-count", to_text, min_count="2")  # E: No overload variant of "Task" matches
    task = Task("limits", to_text)
    task.max_chunksize = None  # E: Incompatible types in assignment (expression has type "None", variable has type "int")
    with ThreadPool(1) as pool:
        texts = pool.add_task(IteratorThreadTask(iter([1, 2]), "numbers", to_text))
        ChannelThreadTask(texts, "wants-ints", to_text)  # E: Argument 3 to "ChannelThreadTask" has incompatible type "Callable[[int], str]"; expected "Callable[[str], str]"
        numbers: Reader[int] = texts  # E: expression has type "PoolReader[str]", variable has type "Reader[int]"
        pool.add_task(to_text)  # E: Argument 1 to "add_task" of "Pool" has incompatible type
        pool.set_size(1.5)  # E: Argument 1 to "set_size" of "Pool" has incompatible type "float"
    ThreadPool("2")  # E: Argument 1 to "ThreadPool" has incompatible type "str"
    graph: Graph[Node] = Graph()
    graph.add_edge("a", "b")  # E: to "add_edge" of "Graph" has incompatible type "str"
