"""The seed's usage-guide examples, run serial (pool size 0) and threaded (size 4)."""

from __future__ import annotations

from refasync.pool import ThreadPool
from refasync.task import ChannelThreadTask, IteratorThreadTask


def power_and_mult(size: int) -> tuple[list[int], list[int]]:
    with ThreadPool(size) as pool:
        assert pool.size() == size

        # A task performing processing on items from an iterator
        t = IteratorThreadTask(iter(range(10)), "power", lambda i: i * i)
        reader = pool.add_task(t)
        powers = reader.read()  # read all items
        assert len(powers) == 10 and powers[0] == 0 and powers[-1] == 81

        # Chaining: a second task reads the first one's output.
        t = IteratorThreadTask(iter(range(10)), "power", lambda i: i * i)
        reader = pool.add_task(t)
        tmult = ChannelThreadTask(reader, "mult", lambda i: i * 2)
        result_reader = pool.add_task(tmult)
        doubled = result_reader.read()
        assert len(doubled) == 10
        # With several workers, chunks may finish out of order; the values are exact.
        assert sorted(doubled) == [2 * i * i for i in range(10)]
        return powers, doubled


def main() -> None:
    for size in (0, 4):
        powers, doubled = power_and_mult(size)
        mode = "serial" if size == 0 else "threaded"
        print(f"pool size {size} ({mode}): power -> {powers}")
        print(f"pool size {size} ({mode}): power -> mult -> {doubled}")


if __name__ == "__main__":
    main()
