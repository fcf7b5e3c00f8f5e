"""The controlled scheduler (refasync.explore): control, virtual time, deadlock reports,
replay, strategies, and the deterministic teeth the explorer gives unit tests."""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable

import pytest

from refasync import explore as ex
from refasync import util
from refasync.channel import Channel, ChannelReader, ChannelWriter, IteratorReader
from refasync.explore import (
    Choice,
    ExploreFailure,
    Session,
    explore,
    format_schedule,
    parse_schedule,
    replay,
)
from refasync.util import AsyncQueue, HSCondition, Lock
from stress.broken import broken


def test_schedule_strings_round_trip() -> None:
    choices = [Choice(0)] * 3 + [
        Choice(1),
        Choice(2, "timeout"),
        Choice(2, "timeout"),
        Choice(0, "spurious"),
        Choice(1, "fault"),
    ]
    text = format_schedule(choices)
    assert text == "0*3,1,2t*2,0s,1f"
    assert parse_schedule(text) == choices
    with pytest.raises(ValueError, match="bad schedule part"):
        parse_schedule("0,x1")


def _counter_body(locked: bool) -> Callable[[Session], None]:
    def body(s: Session) -> None:
        lock = Lock("counter")
        box = [0]

        def bump() -> None:
            for _ in range(2):
                if locked:
                    with lock:
                        box[0] += 1
                else:
                    seen = box[0]
                    with lock:  # a sync point between the read and the write
                        pass
                    box[0] = seen + 1

        threads = [s.spawn(f"b{i}", bump) for i in range(2)]
        for t in threads:
            t.join()
        assert box[0] == 4, f"lost update: {box[0]}"

    return body


@pytest.mark.parametrize("strategy", ["random", "pct", "dfs"])
def test_strategies_find_a_lost_update_and_pass_the_correct_code(strategy: str) -> None:
    good = explore(_counter_body(True), strategy=strategy, runs=300, seed=1)
    assert not good.failed
    if strategy == "dfs":
        assert good.exhausted
    with pytest.raises(ExploreFailure, match="lost update") as info:
        explore(_counter_body(False), strategy=strategy, runs=300, seed=1)
    report = info.value.report
    assert report.schedule and "--replay" not in report.replay_line
    assert not report.nondeterministic
    assert "trace" in str(info.value)


def test_replay_reproduces_a_failure_every_time() -> None:
    body = _counter_body(False)
    with pytest.raises(ExploreFailure) as info:
        explore(body, strategy="pct", runs=300, seed=2)
    schedule = info.value.report.schedule
    traces = set()
    for _ in range(100):
        result = replay(body, schedule)
        assert result.failure is not None and "lost update" in result.failure
        traces.add(tuple((e.thread, e.point, e.primitive) for e in result.events))
    assert len(traces) == 1


def _preemptions_and_steps(report: ex.Report) -> tuple[int, int]:
    found = re.search(r"schedule \((\d+) preemption\(s\), (\d+) steps\)", report.message)
    assert found is not None, report.message
    return int(found.group(1)), int(found.group(2))


def test_shrinking_gives_the_fewest_preemptions_then_the_fewest_steps() -> None:
    body = _counter_body(False)
    # No schedule without a preemption loses an update: the fewest is 1.
    assert explore(body, strategy="dfs", preemptions=0, runs=100).exhausted
    for seed in range(1, 11):
        raw = explore(
            body, strategy="random", runs=300, seed=seed, shrink_s=0.0, raise_on_failure=False
        )
        shrunk = explore(body, strategy="random", runs=300, seed=seed, raise_on_failure=False)
        assert shrunk.failed and not shrunk.nondeterministic
        assert _preemptions_and_steps(shrunk)[0] == 1, (seed, shrunk.schedule)
        assert _preemptions_and_steps(shrunk) <= _preemptions_and_steps(raw)


def test_deadlock_reports_the_wait_for_graph() -> None:
    def body(s: Session) -> None:
        a, b = Lock("A"), Lock("B")

        def one(first: Lock, second: Lock) -> None:
            with first:
                with second:
                    pass

        t1 = s.spawn("ab", lambda: one(a, b))
        t2 = s.spawn("ba", lambda: one(b, a))
        t1.join()
        t2.join()

    with pytest.raises(ExploreFailure) as info:
        explore(body, strategy="dfs", runs=200)
    text = str(info.value)
    assert "deadlock" in text and "holds lock A" in text and "waits for lock B" in text
    assert "--- thread" in text  # every thread's stack


def test_virtual_time_timeouts_fire_in_deadline_order_without_sleeping() -> None:
    def body(s: Session) -> None:
        cond = HSCondition(Lock("c"), "never")
        woke: dict[str, float] = {}

        def sleeper(name: str, seconds: float) -> None:
            with cond:
                while util.monotonic() < seconds:
                    cond.wait(seconds - util.monotonic())
                woke[name] = util.monotonic()

        threads = [
            s.spawn("late", lambda: sleeper("late", 3600.0)),
            s.spawn("early", lambda: sleeper("early", 60.0)),
        ]
        for t in threads:
            t.join()
        assert woke["early"] >= 60.0 and woke["late"] >= 3600.0, woke
        assert s.now() >= 3600.0

    report = explore(body, strategy="random", runs=50, seed=3, spurious=False)
    assert not report.failed and report.seconds < 30


class _TimeoutsFirst(ex.StrategyBase):
    """A strategy that fires a timeout whenever one is offered, else runs the newest
    thread (so the idle worker starts waiting first)."""

    def __init__(self) -> None:
        self.fired = 0

    def choose(self, run: ex.Run, options: list[Choice]) -> Choice:
        timeouts = [c for c in options if c.kind == "timeout"]
        if timeouts:
            self.fired += 1
            return timeouts[0]
        return max(options, key=lambda c: c.tid)


def _idle_worker_while_others_work(s: Session) -> None:
    """An idle worker's periodic check (a timed wait in a loop) while another thread
    takes a lock 50 times, then tells it to stop."""
    work_ready = HSCondition(Lock("idle"), "idle.work_ready")
    stop = [False]

    def idle() -> None:
        with work_ready:
            while not stop[0]:
                work_ready.wait(0.5)

    worker = s.spawn("idle", idle)
    other = Lock("busy")
    for _ in range(50):
        with other:
            pass
    with work_ready:
        stop[0] = True
        work_ready.notify_all_locked()
    worker.join()


def test_timeouts_fire_early_at_most_three_times_per_run() -> None:
    """X15: a strategy that always fires a timeout gets EARLY_TIMEOUTS of them while
    another thread could run; after that a timeout fires only when no thread can run."""
    strategy = _TimeoutsFirst()
    result = ex.run_once(_idle_worker_while_others_work, strategy)
    assert result.failure is None, result.failure
    assert strategy.fired == ex.EARLY_TIMEOUTS == 3
    unbounded = _TimeoutsFirst()
    result = ex.run_once(
        _idle_worker_while_others_work, unbounded, ex.Settings(early_timeouts=10**6)
    )
    # Without the bound the idle worker's timeout fires at every step: the run never
    # gets to its work and ends at the step bound.
    assert result.kind == "livelock" and unbounded.fired > 500, (result.kind, unbounded.fired)


def test_livelock_hits_the_step_bound() -> None:
    def body(s: Session) -> None:
        lock = Lock("spin")
        while True:
            with lock:
                pass

    with pytest.raises(ExploreFailure, match="livelock"):
        explore(body, strategy="random", runs=1, max_steps=200)


def test_faults_are_injected_only_inside_interruptible_blocks() -> None:
    from refasync.explore import InjectedFault

    def body(s: Session) -> None:
        channel: Channel[int] = Channel(1)
        writer, reader = ChannelWriter(channel), ChannelReader(channel)
        writer.write(0, True)  # never interrupted: outside every interruptible block
        t = s.spawn("reader", lambda: reader.read(1))
        interrupted = False
        try:
            with s.interruptible():
                writer.write(1, True)  # may be interrupted before or while blocked
        except InjectedFault:
            interrupted = True
        t.join()
        left = reader.read(0, False)
        # No effect, or a complete one: an interrupted write added nothing.
        assert left == ([] if interrupted else [1]), (interrupted, left)
        assert not interrupted, "interrupted"  # make the fault visible as a failure

    with pytest.raises(ExploreFailure, match="interrupted"):
        explore(body, strategy="random", runs=500, seed=4, faults=True)
    report = explore(body, strategy="random", runs=100, seed=4, faults=False)
    assert not report.failed


# -- deterministic teeth for unit tests -------------------------------------------------


def _two_writers_one_bulk_read(s: Session) -> None:
    channel: Channel[int] = Channel(2)
    writer, reader = ChannelWriter(channel), ChannelReader(channel)
    writer.write(0, True)
    writer.write(1, True)
    writers = [s.spawn(f"w{i}", functools.partial(writer.write, 10 + i, True)) for i in range(2)]
    # Let both writers block on the full channel, then free both slots at once.
    queue = channel.queue
    assert isinstance(queue, AsyncQueue)
    while s.waiting_on(queue.not_full) < 2:
        s.pause()
    assert reader.read(2) == [0, 1]
    for t in writers:
        t.join()
    assert sorted(reader.read(2)) == [10, 11]


def test_two_writers_blocked_on_a_full_channel_when_one_read_frees_both_slots() -> None:
    report = explore(_two_writers_one_bulk_read, strategy="dfs", runs=2000)
    assert report.exhausted and not report.failed
    with broken("bulk_read_wakes_one"):
        with pytest.raises(ExploreFailure, match="deadlock"):
            explore(_two_writers_one_bulk_read, strategy="dfs", runs=2000)


#: A failing schedule of ``_two_writers_one_bulk_read`` under ``bulk_read_wakes_one``,
#: recorded once (dfs's shrunk schedule). Choices are taken at library points, not
#: bytecodes, so it must replay the same failure on every interpreter the suite runs on
#: (make test, test-versions, test-ft).
RECORDED_DEADLOCK = "0*5,1*2,2*2,0*2,1*2,0"


def test_a_recorded_schedule_replays_its_failure_100_times_out_of_100() -> None:
    traces = set()
    with broken("bulk_read_wakes_one"):
        for _ in range(100):
            result = replay(_two_writers_one_bulk_read, RECORDED_DEADLOCK, strategy="dfs")
            assert result.kind == "deadlock", result.failure
            traces.add(tuple((e.thread, e.point, e.primitive, e.choice) for e in result.events))
    assert len(traces) == 1
    assert replay(_two_writers_one_bulk_read, RECORDED_DEADLOCK, strategy="dfs").failure is None


class _GilYieldingIterator:
    """An iterator whose every step gives other threads a chance (a sync point between
    reading its position and advancing it), unlike iter(range(n)), which advances in one
    C call so that a missing lock cannot show."""

    def __init__(self, n: int) -> None:
        self.i = 0
        self.n = n
        self._point = Lock("iterator-step")

    def __iter__(self) -> _GilYieldingIterator:
        return self

    def __next__(self) -> int:
        i = self.i
        with self._point:  # a scheduling point: another reader may run here
            pass
        if i >= self.n:
            raise StopIteration
        self.i = i + 1
        return i


def _iterator_readers(s: Session) -> None:
    reader = IteratorReader(_GilYieldingIterator(3))
    got: list[int] = []

    def take() -> None:
        got.extend(reader.read(1))
        got.extend(reader.read(1))

    threads = [s.spawn(f"r{i}", take) for i in range(2)]
    for t in threads:
        t.join()
    assert sorted(got) == [0, 1, 2], f"items not exactly once: {got}"


def test_iterator_reader_lock_with_an_iterator_that_yields_between_steps() -> None:
    assert not explore(_iterator_readers, strategy="dfs", runs=5000).failed

    with broken("iterator_read_unlocked"):
        with pytest.raises(ExploreFailure, match="exactly once"):
            explore(_iterator_readers, strategy="pct", runs=1000, seed=5)


def test_a_thread_the_body_starts_is_controlled_and_nothing_is_left_installed() -> None:
    done = threading.Event()  # created outside the body: set, never waited on, inside
    lock = Lock("shared")
    started: list[str] = []

    def worker() -> None:
        with lock:
            started.append(threading.current_thread().name)
        done.set()

    def body(s: Session) -> None:
        threading.Thread(target=worker, name="plain", daemon=True).start()  # never joined

    report = explore(body, strategy="dfs", runs=100)
    # The run ends only once the thread it adopted ended, though the body never joins it.
    assert report.exhausted and report.runs == 1 and done.is_set()
    assert started == ["plain"]
    assert util.get_sync_hook() is None
    assert threading.Thread.start is ex.runtime.lifecycle.real_start


def _pool_read_per_item_timeout(s: Session) -> None:
    """Items reach a pool task's channel 0.6 virtual seconds apart; a read of all three
    with a 1.0 s per-item timeout returns early only if 1.0 s passed since the last item
    it got (the timeout restarts whenever an item arrives)."""
    from refasync.pool import ThreadPool
    from refasync.task import ChannelThreadTask

    source: Channel[int] = Channel()
    feed, upstream = ChannelWriter(source), ChannelReader(source)
    written: dict[int, float] = {}
    pause = HSCondition(Lock("ticker"), "ticker.pause")

    def ticker() -> None:
        for i in range(3):
            until = util.monotonic() + 0.6
            with pause:
                while util.monotonic() < until:
                    pause.wait(until - util.monotonic())
            written[i] = util.monotonic()
            feed.write(i, True)
        feed.close()

    with ThreadPool(2) as pool:
        task: ChannelThreadTask[int, int] = ChannelThreadTask(
            upstream, "relay", lambda x: x, max_chunksize=1
        )
        reader = pool.add_task(task)
        t = s.spawn("ticker", ticker)
        got = reader.read(3, True, 1.0)
        returned = util.monotonic()
        if len(got) < 3:
            last = max(written[i] for i in got) if got else 0.0
            assert returned - last >= 1.0, (
                f"read returned {got} at t={returned:.2f}, {returned - last:.2f} s after "
                f"its last item was written: the per-item timeout did not restart"
            )
        t.join()
        reader.read(0)


def test_pool_read_timeout_restarts_when_items_arrive() -> None:
    assert not explore(
        _pool_read_per_item_timeout, strategy="pct", runs=300, seed=8, spurious=False
    ).failed
    with broken("pool_timeout_not_restarted"):
        with pytest.raises(ExploreFailure, match="did not restart"):
            explore(_pool_read_per_item_timeout, strategy="pct", runs=1000, seed=8, spurious=False)


def test_uncontrolled_nondeterminism_is_reported() -> None:
    calls = [0]

    def body(s: Session) -> None:
        calls[0] += 1
        lock = Lock("varies")
        for _ in range(1 + calls[0] % 3):  # differs from run to run: not a schedule
            with lock:
                pass
        raise AssertionError("always fails")

    report = explore(body, strategy="random", runs=1, raise_on_failure=False, shrink_s=0.0)
    assert report.failed and report.nondeterministic
    assert "NOT DETERMINISTIC" in report.message


def test_threads_alive_before_a_run_are_never_adopted() -> None:
    from refasync.pool import ThreadPool

    idle = ThreadPool(2)  # its workers wait on a 0.5 s timeout, outside every run
    try:

        def body(s: Session) -> None:
            lock = Lock("mine")

            def take() -> None:
                with lock:
                    pass

            t = s.spawn("t", take)
            t.join()

        for _ in range(3):
            report = explore(body, strategy="random", runs=20, seed=9)
            assert not report.failed
    finally:
        idle.close()


# -- soundness on every run -------------------------------------------------------------


@pytest.fixture
def slow_thread_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Widen the window in which a new thread has an ident but ``is_alive()`` is still
    False (between ``_set_ident`` and ``_started.set()`` in ``Thread._bootstrap_inner``),
    and delay the thread's first step after it, so that its parent joins it first."""
    set_native_id = threading.Thread._set_native_id  # type: ignore[attr-defined]
    run = threading.Thread.run

    def slow_ident(self: threading.Thread) -> None:
        set_native_id(self)
        threading.Event().wait(0.02)

    def slow_run(self: threading.Thread) -> None:
        threading.Event().wait(0.02)
        run(self)

    monkeypatch.setattr(threading.Thread, "_set_native_id", slow_ident)
    monkeypatch.setattr(threading.Thread, "run", slow_run)


def _spawn_and_join(s: Session) -> None:
    lock = Lock("shared")
    box = [0]

    def bump() -> None:
        with lock:
            box[0] += 1

    for i in range(2):
        s.spawn(f"t{i}", bump).join()
    assert box[0] == 2


@pytest.mark.parametrize("strategy", ["random", "pct", "dfs"])
def test_a_thread_is_not_finished_until_the_director_saw_it_finish(
    slow_thread_start: None, strategy: str
) -> None:
    report = explore(
        _spawn_and_join, strategy=strategy, runs=5, stall_s=2.0, raise_on_failure=False
    )
    assert not report.failed, report.message
    first = ex.run_once(_spawn_and_join, ex.RandomStrategy(7), ex.Settings(stall_s=2.0))
    assert first.failure is None, first.failure
    again = replay(_spawn_and_join, format_schedule(first.choices), strategy="random")
    assert again.failure is None and again.choices == first.choices, again.failure


def _varying_body() -> Callable[[Session], None]:
    """A body whose threads take a lock a different number of times in every run: its
    runs are not a function of their schedule."""
    calls = [0]

    def body(s: Session) -> None:
        calls[0] += 1
        times = 1 + calls[0] % 2
        lock = Lock("varies")

        def take() -> None:
            for _ in range(times):
                with lock:
                    pass

        threads = [s.spawn(f"t{i}", take) for i in range(2)]
        for t in threads:
            t.join()

    return body


def test_a_nondeterministic_body_stops_dfs_with_an_error_naming_the_step() -> None:
    report = explore(_varying_body(), strategy="dfs", runs=10_000, raise_on_failure=False)
    assert report.failed and not report.exhausted
    assert report.kind == "nondeterminism" and report.nondeterministic
    assert re.search(r"nondeterminism: step \d+: ", report.message), report.message


def test_a_strict_replay_that_ends_early_is_a_divergence() -> None:
    body = _varying_body()
    first = ex.run_once(body, ex.RandomStrategy(3))
    assert first.failure is None
    again = replay(body, format_schedule(first.choices), strategy="random")
    assert again.kind == "nondeterminism", again.failure
    assert again.failure is not None and re.search(r"step \d+", again.failure)


def test_check_determinism_runs_every_schedule_twice() -> None:
    import random

    def body(s: Session) -> None:
        # Passes every time, but which lock it takes is not a function of the schedule.
        with Lock(random.choice(["left", "right"])):
            pass

    assert not explore(body, strategy="random", runs=20, seed=1).failed
    report = explore(
        body, strategy="random", runs=20, seed=1, check_determinism=True, raise_on_failure=False
    )
    assert report.failed and report.kind == "nondeterminism" and report.nondeterministic
    assert re.search(r"step \d+: the replay's trace differs", report.message), report.message
    correct = explore(_spawn_and_join, strategy="dfs", runs=100, check_determinism=True)
    assert correct.exhausted and not correct.failed


# -- reproducible output ------------------------------------------------------------------


def test_the_same_failure_shrinks_to_the_same_schedule_every_time() -> None:
    body = _counter_body(False)
    reports = [
        explore(body, strategy="random", runs=300, seed=seed, raise_on_failure=False)
        for seed in (4, 4, 5)
    ]
    assert reports[0].message == reports[1].message  # trace and search included
    assert reports[0].shrinking.startswith("minimal within bound 1 ")
    assert (
        "shrinking: minimal within bound 1 (no schedule with fewer preemptions fails "
        "so; " in reports[0].message
    )
    assert _preemptions_and_steps(reports[2]) == _preemptions_and_steps(reports[0])
    cut = explore(
        body, strategy="random", runs=300, seed=4, shrink_steps=10, raise_on_failure=False
    )
    assert re.search(r"shrinking: search cut short after \d+ steps", cut.message), cut.message
