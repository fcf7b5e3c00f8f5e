"""The profile behind the pool chain figures: per item of a pool chain's ``read(1)`` loop,
the calls and Python frames (cProfile) and the synchronization points by primitive (a
counting hook), per task too.

``python -m benchmarks.chain_profile [--stages 5] [--size 0] [--items 1000] [--top 25]``
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
from collections import Counter
from collections.abc import Sequence

from refasync.pool import PoolReader, ThreadPool
from refasync.sync import SyncPoint, SyncPrimitive, set_sync_hook

from .pool_bench import _build_chain

__all__ = ("count_sync_points", "main")


def _drain_one_at_a_time(reader: PoolReader[int]) -> int:
    read, total = reader.read, 0
    while True:
        items = read(1)
        if not items:
            return total
        total += len(items)


def count_sync_points(size: int, stages: int, n: int) -> Counter[tuple[str, str]]:
    """:return: the synchronization points (point, the primitive's owner: ``AsyncQueue``,
    ``Task``, ...) that a ``read(1)`` loop of ``n`` items through a chain of a feeder and
    ``stages`` identity tasks, on a pool of ``size``, reports to a counting hook."""
    points: Counter[tuple[str, str]] = Counter()

    def count_point(point: SyncPoint, primitive: SyncPrimitive) -> bool:
        points[(point.name, primitive.name.split(".")[0])] += 1
        return False

    with ThreadPool(size) as pool:
        reader = _build_chain(pool, n, stages)
        previous = set_sync_hook(count_point)
        try:
            assert _drain_one_at_a_time(reader) == n
        finally:
            set_sync_hook(previous)
    return points


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chain_profile")
    parser.add_argument("--stages", type=int, default=5, help="identity tasks after the feeder")
    parser.add_argument("--size", type=int, default=0, help="pool size")
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25, help="functions listed, by calls")
    args = parser.parse_args(argv)
    n, tasks = args.items, args.stages + 1

    with ThreadPool(args.size) as pool:
        reader = _build_chain(pool, n, args.stages)
        profile = cProfile.Profile()
        profile.enable()
        assert _drain_one_at_a_time(reader) == n
        profile.disable()
    stats = pstats.Stats(profile)
    # pstats keeps (primitive calls, total calls, ...) per (file, line, function).
    entries = [(key, value[1]) for key, value in getattr(stats, "stats").items()]
    calls = sum(count for _, count in entries)
    frames = sum(count for key, count in entries if key[0] != "~")
    print(f"read(1) loop, pool size {args.size}, feeder + {args.stages} tasks, {n} items")
    print(
        f"calls per item {calls / n:.0f} ({calls / n / tasks:.0f} per task); Python frames "
        f"per item {frames / n:.0f} ({frames / n / tasks:.0f} per task)"
    )
    for (file, line, function), count in sorted(entries, key=lambda e: -e[1])[: args.top]:
        where = function if file == "~" else f"{file.rsplit('/', 1)[-1]}:{line}({function})"
        print(f"  {count / n / tasks:7.2f} per task per item  {where}")

    points = count_sync_points(args.size, args.stages, n)
    acquisitions = sum(c for (point, _), c in points.items() if point == "ACQUIRE")
    print(
        f"hook points per item {sum(points.values()) / n:.0f}; lock acquisitions per item "
        f"{acquisitions / n:.0f} ({acquisitions / n / tasks:.1f} per task)"
    )
    for (point, owner), count in points.most_common():
        print(f"  {count / n / tasks:7.2f} per task per item  {point} {owner}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
