"""What a read allocates (rule B5): the list it returns, and no second list of the items
it takes. tracemalloc measures one read in one thread, after a first read of the same
shape has warmed the interpreter's caches, so the figures are the same on every run.

The check gets a planted defect it must catch: a queue whose take also makes a
temporary copy of the items it took.
"""

from __future__ import annotations

import gc
import sys
import sysconfig
import tracemalloc

import pytest

from refasync.util import ALL, AsyncQueue, SyncQueue

ITEMS = 300
COUNT = 256  # a result list of about 2 KiB: a second copy of it is plain to see

# On the free-threaded build the allocator never grows a block in place: a list that grows
# by appends holds its old and its new block at once, as large as a copy of the items, so
# the measure cannot tell a copy from the growth of the result itself.
pytestmark = pytest.mark.skipif(
    bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    reason="free-threaded build: a growing list's realloc moves it; transient size is "
    "the allocator's, not the read's",
)


def transient_bytes(
    queue_class: type[AsyncQueue[int]] | type[SyncQueue[int]], maxsize: int, count: int
) -> tuple[int, int]:
    """:return: (the peak allocated during one ``read(count, False)`` above what the read
    keeps, the size of the list it returned), for a queue of ``ITEMS`` items."""
    for warm_up in (True, False):
        queue = queue_class(maxsize)
        for item in range(1000, 1000 + ITEMS):  # ints outside the small-int cache
            queue.put(item)
        gc.collect()
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            out = queue.read(count, False)
            kept, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(out) == (count or ITEMS)
        if not warm_up:
            return peak - kept, sys.getsizeof(out)
    raise AssertionError("unreachable")


class CopyingTakeQueue(AsyncQueue[int]):
    """Planted defect: every take also builds a temporary list of the items it took."""

    def _take_locked(self, out: list[int], count: int) -> int:
        taken = super()._take_locked(out, count)
        copy = list(out)
        del copy
        return taken


@pytest.mark.parametrize(
    "queue_class, maxsize", [(AsyncQueue, 0), (AsyncQueue, ITEMS), (SyncQueue, 0)]
)
@pytest.mark.parametrize("count", [COUNT, ALL])
def test_a_bulk_read_allocates_no_second_list_of_its_items(
    queue_class: type[AsyncQueue[int]] | type[SyncQueue[int]], maxsize: int, count: int
) -> None:
    transient, result = transient_bytes(queue_class, maxsize, count)
    # What else a read allocates for a moment (a range, bound methods) is a few small
    # objects, whatever the count; a copy of the items would be as large as the result.
    assert transient < result // 2, (transient, result)


def test_the_check_catches_a_take_that_copies_the_items() -> None:
    transient, result = transient_bytes(CopyingTakeQueue, 0, COUNT)
    assert transient >= result // 2, (transient, result)
