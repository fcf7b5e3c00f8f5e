"""The sequential specification of task lifetime in pools (docs/semantics.md rule 4).

A task is *live* - counted by its pool's ``num_tasks()`` after ``gc.collect()`` - iff it
was not removed with ``remove_task`` and it is reachable, through "is the input of"
edges between tasks that were not removed, from a task whose reader the user still
holds. Edges cross pools: a task in one pool may read a task of another. A task chained
onto a reader holds a handle of its own; the reader stays the user's.

Pure functions over plain values; PEP 316 contracts for CrossHair.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("TaskSpec", "is_exact", "live_tasks", "pool_count")


@dataclass(frozen=True)
class TaskSpec:
    """One task: its pool, the task whose reader it reads (None: an iterator task),
    whether ``remove_task`` removed it, whether it was made to fail, and whether its
    items may go to more than one consumer (the user's reader and a dependent task, or
    two dependents: each gets some of them)."""

    pool: int
    input: int | None = None
    removed: bool = False
    failing: bool = False
    shared: bool = False


def live_tasks(tasks: dict[int, TaskSpec], user_readers: frozenset[int]) -> frozenset[int]:
    """The tasks kept alive by the readers the user holds (by task id).

    post: all(t in tasks and not tasks[t].removed for t in __return__)
    post: all(t in __return__ for t in user_readers if t in tasks and not tasks[t].removed)
    """
    live = {t for t in user_readers if t in tasks and not tasks[t].removed}
    frontier = set(live)
    while frontier:
        inputs = {tasks[t].input for t in frontier}
        frontier = {
            i for i in inputs if i is not None and i in tasks and not tasks[i].removed
        } - live
        live |= frontier
    return frozenset(live)


def pool_count(tasks: dict[int, TaskSpec], live: frozenset[int], pool: int) -> int:
    """What ``num_tasks()`` of ``pool`` must say.

    pre: all(t in tasks for t in live)
    post: 0 <= __return__ <= len(live)
    """
    return sum(1 for t in live if tasks[t].pool == pool)


def is_exact(tasks: dict[int, TaskSpec], task: int) -> bool:
    """Is the number of items a read of ``task`` returns determined? Not if the task or
    any task upstream was removed, made to fail, or shared (then a read returns fewer).

    pre: task in tasks
    pre: all(s.input is None or s.input in tasks for s in tasks.values())
    """
    current: int | None = task
    while current is not None:
        spec = tasks[current]
        if spec.removed or spec.failing or spec.shared:
            return False
        current = spec.input
    return True
