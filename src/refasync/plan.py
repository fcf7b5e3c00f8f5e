"""The pool's chunk plan: pure functions deciding how a demand is split into chunks.

Nothing here locks or touches shared state, so CrossHair can check the contracts.
"""

from __future__ import annotations

__all__ = ("plan_chunks", "plan_unbounded")


def plan_chunks(demand: int, min_count: int, max_chunksize: int) -> list[int]:
    """Split a demand for ``demand`` items into chunk sizes.

    The total processed is ``max(demand, min_count)``; each chunk holds at most
    ``max_chunksize`` items (0: no limit), none is empty, and their number is the least
    possible (every chunk is full but the last).

    pre: demand >= 1
    pre: min_count >= 0
    pre: max_chunksize >= 0
    post: sum(__return__) == max(demand, min_count)
    post: all(c >= 1 for c in __return__)
    post: max_chunksize == 0 or all(c <= max_chunksize for c in __return__)
    post: len(__return__) == (1 if max_chunksize == 0 else -(-max(demand, min_count) // max_chunksize))
    post: max_chunksize == 0 or all(c == max_chunksize for c in __return__[:-1])
    """
    total = max(demand, min_count)
    if max_chunksize == 0 or total <= max_chunksize:
        return [total]
    full, rest = divmod(total, max_chunksize)
    return [max_chunksize] * full + ([rest] if rest else [])


def plan_unbounded(max_chunksize: int, parallelism: int) -> list[int]:
    """Chunks for a demand of every item (a read with count < 1).

    Without a chunk limit one chunk processes everything (count 0). With one, a batch
    of ``parallelism`` full chunks; the reader schedules the next batch when this one
    is no longer pending.

    pre: max_chunksize >= 0
    pre: parallelism >= 1
    post: __return__ == [0] if max_chunksize == 0 else __return__ == [max_chunksize] * parallelism
    """
    if max_chunksize == 0:
        return [0]
    return [max_chunksize] * parallelism
