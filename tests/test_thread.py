"""Unit tests for refasync.thread: TerminatableThread, WorkerThread, do_terminate_threads
and the terminate_threads decorator.

Each test checks one rule and is named after it. Every thread a test starts is ended by
the test; every wait for a thread is bounded. Every test runs with no hook and under a
recording hook (``sync_hook``, tests/conftest.py) with the same assertions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from refasync.testing import run_bounded, wait_or_fail
from refasync.thread import (
    StopProcessing,
    TerminatableThread,
    WorkerThread,
    WorkItem,
    do_terminate_threads,
    terminate_threads,
)
from refasync.util import AsyncQueue

BOUND_S = 10.0  # generous bound for anything another thread must do

pytestmark = pytest.mark.usefixtures("sync_hook")


# --- helpers ------------------------------------------------------------------------------


class LoopingThread(TerminatableThread):
    """Runs until asked to terminate, checking every few milliseconds (polling is the
    TerminatableThread contract); records that it ran and that _terminated was called."""

    def __init__(self, name: str = "looping") -> None:
        super().__init__(name=name)
        self.running = threading.Event()
        self.terminated_hook_called = threading.Event()
        self._idle = threading.Event()  # never set: a sleep that is not a sleep call

    def run(self) -> None:
        self.running.set()
        while not self._should_terminate():
            self._idle.wait(0.005)

    def _terminated(self) -> None:
        self.terminated_hook_called.set()


def fast_worker(inq: AsyncQueue[WorkItem] | None = None) -> WorkerThread:
    """A started WorkerThread that notices a termination request within 50 ms."""
    worker = WorkerThread(inq, name="worker")
    worker.shutdown_check_time_s = 0.05
    return worker


def join_or_fail(thread: threading.Thread, what: str) -> None:
    thread.join(BOUND_S)
    assert not thread.is_alive(), f"{what}: {thread.name} still running after {BOUND_S} s"


def started_looper(name: str = "looping") -> LoopingThread:
    thread = LoopingThread(name)
    thread.start()
    wait_or_fail(thread.running, BOUND_S, f"{name} start")
    return thread


@pytest.fixture
def loopers() -> Iterator[list[LoopingThread]]:
    """A list for the test's LoopingThreads; each is ended after the test."""
    threads: list[LoopingThread] = []
    yield threads
    for thread in threads:
        thread.schedule_termination()
        join_or_fail(thread, "cleanup")


# --- TerminatableThread ---------------------------------------------------------------------


def test_start_returns_the_thread_itself(loopers: list[LoopingThread]) -> None:
    thread = LoopingThread()
    loopers.append(thread)
    assert thread.start() is thread
    wait_or_fail(thread.running, BOUND_S, "start")


def test_terminatable_thread_is_a_daemon_by_default() -> None:
    assert LoopingThread().daemon


def test_should_terminate_is_false_until_termination_is_scheduled() -> None:
    thread = LoopingThread()
    assert not thread._should_terminate()
    thread.schedule_termination()
    assert thread._should_terminate()
    thread.schedule_termination()  # scheduling twice is fine
    assert thread._should_terminate()


def test_schedule_termination_does_not_block_and_the_thread_ends() -> None:
    thread = started_looper()
    run_bounded(thread.schedule_termination, BOUND_S, "schedule_termination")
    join_or_fail(thread, "scheduled termination")


def test_stop_and_join_returns_once_the_thread_ended() -> None:
    thread = started_looper()
    run_bounded(thread.stop_and_join, BOUND_S, "stop_and_join")
    assert not thread.is_alive()
    assert thread.terminated_hook_called.is_set()


# --- WorkerThread ---------------------------------------------------------------------------


def test_worker_creates_its_own_async_queue_when_given_none() -> None:
    worker = WorkerThread()
    assert isinstance(worker.inq, AsyncQueue)
    inq: AsyncQueue[WorkItem] = AsyncQueue()
    assert WorkerThread(inq).inq is inq


def test_worker_runs_a_callable() -> None:
    worker = fast_worker()
    worker.start()
    done = threading.Event()
    worker.inq.put(done.set)
    wait_or_fail(done, BOUND_S, "callable work item")
    worker.stop_and_join()
    join_or_fail(worker, "worker")


def test_worker_runs_routine_args_kwargs_tuples() -> None:
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    done = threading.Event()

    def record(*args: object, **kwargs: object) -> None:
        calls.append((args, kwargs))

    inq: AsyncQueue[WorkItem] = AsyncQueue()
    worker = fast_worker(inq)
    worker.start()
    inq.put((record,))
    inq.put((record, (1, 2)))
    inq.put((record, [3], {"key": "value"}))
    inq.put((done.set,))
    wait_or_fail(done, BOUND_S, "tuple work items")
    assert calls == [((), {}), ((1, 2), {}), ((3,), {"key": "value"})]
    worker.stop_and_join()
    join_or_fail(worker, "worker")


def test_worker_survives_a_raising_work_item_and_reports_it(
    worker_reports: list[threading.ExceptHookArgs],
) -> None:
    def explode() -> None:
        raise RuntimeError("work item exploded")

    worker = fast_worker()
    worker.start()
    done = threading.Event()
    worker.inq.put(explode)
    worker.inq.put(done.set)  # runs after explode (one worker, FIFO)
    wait_or_fail(done, BOUND_S, "item after a raising item")
    assert worker.is_alive()
    [report] = worker_reports  # through threading.excepthook, as a thread's own error
    assert isinstance(report.exc_value, RuntimeError)
    assert str(report.exc_value) == "work item exploded" and report.thread is worker
    worker.stop_and_join()
    join_or_fail(worker, "worker")


def test_worker_survives_an_item_that_is_no_work_item(
    worker_reports: list[threading.ExceptHookArgs],
) -> None:
    worker = fast_worker()
    worker.start()
    done = threading.Event()
    worker.inq.put(42)  # type: ignore[arg-type]  # the wrong type is the point
    worker.inq.put(("not callable", ()))  # type: ignore[arg-type]  # the wrong type is the point
    worker.inq.put(done.set)
    wait_or_fail(done, BOUND_S, "item after bad items")
    assert [str(r.exc_value).startswith("not a work item") for r in worker_reports] == [True] * 2
    worker.stop_and_join()
    join_or_fail(worker, "worker")


def test_worker_stops_on_the_stop_item_and_runs_nothing_after_it() -> None:
    worker = fast_worker()
    worker.shutdown_check_time_s = BOUND_S  # only the stop item can end it in time
    ran_after_stop = threading.Event()
    worker.start()
    worker.inq.put((WorkerThread.stop,))
    worker.inq.put(ran_after_stop.set)
    join_or_fail(worker, "worker given the stop item")
    assert not ran_after_stop.is_set()


def test_worker_stops_when_a_work_item_raises_stop_processing() -> None:
    def stop() -> None:
        raise StopProcessing

    worker = fast_worker()
    worker.shutdown_check_time_s = BOUND_S
    worker.start()
    worker.inq.put(stop)
    join_or_fail(worker, "worker after StopProcessing")


def test_worker_stop_and_join_does_not_block_and_queued_items_still_run() -> None:
    worker = fast_worker()
    worker.shutdown_check_time_s = BOUND_S
    gate = threading.Event()
    busy = threading.Event()
    queued_item_ran = threading.Event()

    def hold() -> None:
        busy.set()
        wait_or_fail(gate, BOUND_S, "gate")

    worker.start()
    worker.inq.put(hold)
    worker.inq.put(queued_item_ran.set)
    wait_or_fail(busy, BOUND_S, "worker busy")
    run_bounded(worker.stop_and_join, BOUND_S, "stop_and_join while busy")
    assert worker.is_alive()  # it returned although the worker is still busy
    gate.set()
    join_or_fail(worker, "worker")
    assert queued_item_ran.is_set()  # items queued before the stop item ran


def test_idle_worker_ends_after_schedule_termination() -> None:
    worker = fast_worker()
    worker.start()
    worker.schedule_termination()
    join_or_fail(worker, "idle worker")


# --- do_terminate_threads -------------------------------------------------------------------


@pytest.fixture
def only_new_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide threads that existed before the test (other tests' pools, say) from
    do_terminate_threads, which would otherwise end them too."""
    real_enumerate = threading.enumerate
    before = set(real_enumerate())
    monkeypatch.setattr(
        threading, "enumerate", lambda: [t for t in real_enumerate() if t not in before]
    )


@pytest.mark.usefixtures("only_new_threads")
def test_do_terminate_threads_ends_every_terminatable_thread_and_no_other() -> None:
    bystander_release = threading.Event()
    bystander = threading.Thread(
        target=bystander_release.wait, args=(BOUND_S,), name="bystander", daemon=True
    )
    bystander.start()
    loopers = [started_looper("a"), started_looper("b")]
    worker = fast_worker()
    worker.shutdown_check_time_s = BOUND_S  # its stop item, not the timeout, must end it
    worker.start()
    run_bounded(do_terminate_threads, BOUND_S, "do_terminate_threads")
    for looper in loopers:
        assert not looper.is_alive()  # joined before it returned
    join_or_fail(worker, "worker")
    assert bystander.is_alive()
    bystander_release.set()
    join_or_fail(bystander, "bystander")


def test_do_terminate_threads_ends_only_the_whitelisted_threads(
    loopers: list[LoopingThread],
) -> None:
    chosen, spared = started_looper("chosen"), started_looper("spared")
    loopers.append(spared)
    run_bounded(lambda: do_terminate_threads([chosen]), BOUND_S, "do_terminate_threads")
    assert not chosen.is_alive()
    assert spared.is_alive() and not spared._should_terminate()


# --- terminate_threads ----------------------------------------------------------------------


def test_terminate_threads_ends_threads_started_inside_on_return() -> None:
    @terminate_threads
    def start_some() -> tuple[LoopingThread, WorkerThread]:
        worker = fast_worker()
        worker.shutdown_check_time_s = BOUND_S
        worker.start()
        return started_looper("inner"), worker

    looper, worker = run_bounded(start_some, BOUND_S, "decorated function")
    assert not looper.is_alive()
    join_or_fail(worker, "worker started inside")


def test_terminate_threads_ends_threads_started_inside_when_it_raises() -> None:
    started: list[LoopingThread] = []

    @terminate_threads
    def start_and_fail() -> None:
        started.append(started_looper("inner"))
        raise KeyError("failed after starting a thread")

    with pytest.raises(KeyError):
        run_bounded(start_and_fail, BOUND_S, "decorated function")
    assert len(started) == 1 and not started[0].is_alive()


def test_terminate_threads_spares_threads_started_before(loopers: list[LoopingThread]) -> None:
    before = started_looper("before")
    loopers.append(before)

    @terminate_threads
    def noop() -> str:
        return "result"

    assert run_bounded(noop, BOUND_S, "decorated function") == "result"
    assert noop.__name__ == "noop"
    assert before.is_alive() and not before._should_terminate()
