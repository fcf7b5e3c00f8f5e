"""Unit tests for refasync.util's own helpers: the finalizer mailbox, cpu_count and the
seed's names (the synchronization layer is tests/test_sync.py, the queues
tests/test_queues.py).
"""

from __future__ import annotations

import functools
import gc
import weakref

from refasync import util
from refasync.util import Mailbox, cpu_count
from tests.sync_support import join_or_fail, start_thread


def test_mailbox_take_all_returns_posts_oldest_first_then_nothing() -> None:
    box: Mailbox[int] = Mailbox()
    assert box.take_all() == []
    for i in range(3):
        box.post(i)
    assert box.take_all() == [0, 1, 2]
    assert box.take_all() == []


def test_mailbox_receives_every_post_from_many_threads() -> None:
    box: Mailbox[tuple[int, int]] = Mailbox()
    n_threads, n_posts = 4, 500

    def poster(k: int) -> None:
        for i in range(n_posts):
            box.post((k, i))

    threads = [start_thread(functools.partial(poster, k), f"poster{k}") for k in range(n_threads)]
    for thread in threads:
        join_or_fail(thread, "poster")
    messages = box.take_all()
    assert sorted(messages) == [(k, i) for k in range(n_threads) for i in range(n_posts)]
    for k in range(n_threads):  # each poster's messages stay in its order
        assert [i for kk, i in messages if kk == k] == list(range(n_posts))


class _Collectable:
    pass


def test_mailbox_post_works_from_a_finalizer() -> None:
    box: Mailbox[str] = Mailbox()
    obj = _Collectable()
    weakref.finalize(obj, box.post, "collected")
    del obj
    gc.collect()
    assert box.take_all() == ["collected"]


def test_cpu_count_is_a_positive_int() -> None:
    count = cpu_count()
    assert type(count) is int and count >= 1


def test_util_exports_the_seed_names() -> None:
    for name in ("AsyncQueue", "DummyLock", "HSCondition", "ReadOnly", "SyncQueue", "cpu_count"):
        assert name in util.__all__ and hasattr(util, name)
