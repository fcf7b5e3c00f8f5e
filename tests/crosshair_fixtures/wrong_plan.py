"""Wrong chunk plans under the exact contract of ``refasync.plan.plan_chunks``.

Each function breaks one promise of the plan (sum, no empty chunk, chunk limit, least
number of chunks); ``tests/test_crosshair.py`` checks that CrossHair finds a counterexample
for every one, and that each docstring's conditions equal those of the real function.
Never import these from library code.
"""

from __future__ import annotations

#: The functions CrossHair must reject, in file order.
WRONG_PLANS = (
    "plan_zero_tail",
    "plan_ignores_min_count",
    "plan_oversized_chunk",
    "plan_half_chunks",
)


def plan_zero_tail(demand: int, min_count: int, max_chunksize: int) -> list[int]:
    """Off by one: a demand that is a multiple of ``max_chunksize`` gets an empty
    last chunk.

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
    return [max_chunksize] * full + [rest]  # BUG: [rest] even when rest == 0


def plan_ignores_min_count(demand: int, min_count: int, max_chunksize: int) -> list[int]:
    """Splits the demand, forgetting ``min_count`` once the total is over a chunk.

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
    full, rest = divmod(demand, max_chunksize)  # BUG: demand instead of total
    return [max_chunksize] * full + ([rest] if rest else [])


def plan_oversized_chunk(demand: int, min_count: int, max_chunksize: int) -> list[int]:
    """Lets a chunk exceed ``max_chunksize`` by one item.

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
    if max_chunksize == 0 or total <= max_chunksize + 1:  # BUG: + 1
        return [total]
    full, rest = divmod(total, max_chunksize)
    return [max_chunksize] * full + ([rest] if rest else [])


def plan_half_chunks(demand: int, min_count: int, max_chunksize: int) -> list[int]:
    """Valid chunks, but twice as many as needed (half-size chunks).

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
    half = max(1, max_chunksize // 2)  # BUG: not the least number of chunks
    full, rest = divmod(total, half)
    return [half] * full + ([rest] if rest else [])
