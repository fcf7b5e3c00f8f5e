"""The explorer's API: arguments checked with errors that name them, and a printed replay
line that replays its failure exactly for every strategy and option, and never passes
silently."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

import refasync.explore
from refasync.channel import Channel, ChannelReader, ChannelWriter
from refasync.explore import (
    ExploreFailure,
    InjectedFault,
    ReplayDidNotFail,
    Session,
    explore,
    replay,
    reproduce,
)
from refasync.util import Lock


def _lost_update(s: Session) -> None:
    lock = Lock("counter")
    box = [0]

    def bump() -> None:
        seen = box[0]
        with lock:  # a point between the read and the write
            pass
        box[0] = seen + 1

    threads = [s.spawn(f"b{i}", bump) for i in range(2)]
    for t in threads:
        t.join()
    assert box[0] == 2, f"lost update: {box[0]}"


def _interrupted_write(s: Session) -> None:
    channel: Channel[int] = Channel(1)
    writer, reader = ChannelWriter(channel), ChannelReader(channel)
    writer.write(0, True)
    t = s.spawn("reader", lambda: reader.read(1))
    try:
        with s.interruptible():
            writer.write(1, True)
    except InjectedFault:
        raise AssertionError("interrupted") from None
    t.join()


@pytest.mark.parametrize(
    "body, options",
    [
        (_lost_update, {"strategy": "random"}),
        (_lost_update, {"strategy": "pct", "max_steps": 500}),
        (_lost_update, {"strategy": "dfs"}),
        (_lost_update, {"strategy": "pct", "stdlib": False, "early_timeouts": 1}),
        (_interrupted_write, {"strategy": "random", "faults": True}),
        (_interrupted_write, {"strategy": "dfs", "faults": True}),
        (_interrupted_write, {"strategy": "pct", "faults": True, "spurious": False}),
    ],
)
def test_the_printed_replay_line_replays_the_failure_exactly(
    body: Callable[[Session], None], options: dict[str, object]
) -> None:
    with pytest.raises(ExploreFailure) as info:
        _explore(body, runs=1000, seed=3, **options)
    report = info.value.report
    line = report.replay_line
    for name, value in options.items():
        assert f"{name}={value!r}" in line, line
    for _ in range(3):
        with pytest.raises(ExploreFailure) as again:
            eval(line, {"refasync": refasync, "body": body})
        replayed = again.value.report
        assert replayed.kind == report.kind and replayed.schedule == report.schedule
        assert [(e.thread, e.point, e.primitive, e.choice) for e in replayed.trace] == [
            (e.thread, e.point, e.primitive, e.choice) for e in report.trace
        ]


def test_a_replay_that_does_not_fail_raises() -> None:
    def fine(s: Session) -> None:
        s.spawn("t", lambda: None).join()

    with pytest.raises(
        ReplayDidNotFail,
        match=r"reproduce\(body, '0', strategy='pct'\) did "
        r"not fail",
    ):
        reproduce(fine, "0")
    assert replay(fine, "0").failure is None  # replay() itself returns the run


def _body(s: Session) -> None:
    pass


# Untyped handles: the calls below pass wrong types on purpose.
_explore: Callable[..., object] = explore
_replay: Callable[..., object] = replay


async def _coroutine_body(s: Session) -> None:
    pass


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: _explore(_body, seed=1.5),
            TypeError,
            r"explore\(\): seed must be an int, got 1\.5",
        ),
        (lambda: _explore(_body, seed=True), TypeError, r"seed must be an int, got True"),
        (lambda: _explore(_body, runs=0), ValueError, r"explore\(\): runs must be >= 1, got 0"),
        (lambda: _explore(_body, runs=2.0), TypeError, r"runs must be an int, got 2\.0"),
        (lambda: _explore(_body, seconds=0), ValueError, r"seconds must be positive, got 0"),
        (lambda: _explore(_body, seconds=-1.0), ValueError, r"seconds must be positive"),
        (lambda: _explore(_body, seconds=float("nan")), ValueError, r"seconds must be positive"),
        (lambda: _explore(_body, seconds="5"), TypeError, r"seconds must be a number of seconds"),
        (lambda: _explore(_body, depth=0), ValueError, r"depth must be >= 1, got 0"),
        (lambda: _explore(_body, preemptions=-1), ValueError, r"preemptions must be >= 0"),
        (lambda: _explore(_body, max_steps=0), ValueError, r"max_steps must be >= 1"),
        (
            lambda: _explore(_body, strategy="bfs"),
            ValueError,
            r"strategy must be one of 'random', 'pct', 'dfs', got 'bfs'",
        ),
        (lambda: _explore(_body, shard=(2, 2)), ValueError, r"shard must be \(k, n\)"),
        (lambda: _explore(_body, faults=1), TypeError, r"faults must be True or False, got 1"),
        (lambda: _explore(_body, stall_s=0), ValueError, r"stall_s must be positive"),
        (lambda: _explore(_body, shrink_steps=-1), ValueError, r"shrink_steps must be >= 0"),
        (
            lambda: _explore(42),
            TypeError,
            r"explore\(\): body must be a callable taking the "
            r"session, got 42",
        ),
        (
            lambda: _explore(_coroutine_body),
            TypeError,
            r"explore\(\): body must be a plain callable, not a coroutine function",
        ),
        (
            lambda: _replay(_body, "0", max_steps=-5),
            ValueError,
            r"replay\(\): max_steps must be >= 1, got -5",
        ),
        (lambda: _replay(_body, 7), TypeError, r"schedule must be a string"),
        (lambda: _replay(_body, "0,x"), ValueError, r"bad schedule part 'x'"),
    ],
)
def test_arguments_are_checked_and_errors_name_them(
    call: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call()


def test_one_exploration_at_a_time() -> None:
    errors: list[str] = []

    def body(s: Session) -> None:
        try:
            explore(_body, runs=1)
        except RuntimeError as exc:
            errors.append(str(exc))

    explore(body, runs=1)
    assert errors and re.search(r"one exploration at a time", errors[0]), errors
