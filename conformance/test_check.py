"""The history format and ``python -m conformance.check``: round trips, malformed input,
verdicts and exit codes, the failing window, several channels, the timeout, and the
histories of broken implementations (rejected). The stress harness's histories are checked
in ``stress/test_histories.py`` (stress imports conformance, never the reverse)."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.defects import applied
from models.linearizability import Op, check_channel_history
from refasync import Channel, ChannelReader, ChannelWriter, Full, ReadOnly
from refasync.util import AsyncQueue

from .check import main, prefix
from .history import ChannelHistory, HistoryError, read_history, write_history, write_history_file


def run(path: Path | str, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main([str(path), *args], out=out)
    return code, out.getvalue()


def jsonl(tmp_path: Path, events: list[dict[str, object]], name: str = "h.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def ev(
    process: object, type_: str, f: str, value: object, time: int, **extra: object
) -> dict[str, object]:
    return {"process": process, "type": type_, "f": f, "value": value, "time": time, **extra}


READ1 = {"count": 1, "block": False, "timeout": None}

#: write 1, write 2, then two reads that both return 1: item 1 read twice.
DUPLICATE = [
    ev("a", "invoke", "write", 1, 0),
    ev("a", "ok", "write", None, 10),
    ev("a", "invoke", "write", 2, 20),
    ev("a", "ok", "write", None, 30),
    ev("b", "invoke", "read", READ1, 40),
    ev("b", "ok", "read", [1], 50),
    ev("b", "invoke", "read", READ1, 60),
    ev("b", "ok", "read", [1], 70),
]


# --- the format --------------------------------------------------------------------------


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    ops = [
        Op("w", "write", 1, None, 0, 10),
        Op("w", "write", "x", "Full", 11, 12),
        Op("r", "read", (2, True), [1], 5, 20),
        Op("r", "read", (0, True, 0.5), [], 21, 30),
        Op("c", "close", None, None, 25, 26),
        Op("w", "write", 2.5, "ReadOnly", 27, 28),
        Op("p", "write", True, None, 29, None),  # pending: written as info
    ]
    path = tmp_path / "h.jsonl"
    write_history_file(str(path), [ChannelHistory(None, 3, ops)])
    [channel] = read_history(path.read_text().splitlines())
    assert channel.maxsize == 3
    assert sorted(channel.ops, key=lambda op: op.call) == sorted(ops, key=lambda op: op.call)


def test_several_channels_get_keys(tmp_path: Path) -> None:
    a = ChannelHistory("a", 0, [Op("t", "write", 1, None, 0, 2)])
    b = ChannelHistory("b", 1, [Op("u", "read", (1, False), [], 1, 3)])
    out = io.StringIO()
    write_history(out, [a, b])
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["key"] for e in events] == ["a", "b", "a", "b"]
    channels = read_history(out.getvalue().splitlines())
    assert [(c.key, c.maxsize, len(c.ops)) for c in channels] == [("a", 0, 1), ("b", 1, 1)]


def test_extra_fields_are_ignored_and_info_is_pending() -> None:
    lines = [
        json.dumps(ev("p", "invoke", "write", 1, 0, extra={"x": 1}, node="n1")),
        json.dumps(ev("p", "info", "write", None, 5, error="timeout")),
    ]
    [channel] = read_history(lines)
    assert channel.ops == [Op("p", "write", 1, None, 0, None)]
    assert channel.lines == [(1, 2)]


@pytest.mark.parametrize(
    "events,message",
    [
        ([{"process": "a", "type": "invoke", "f": "write", "value": 1}], 'missing field "time"'),
        ([ev("a", "begin", "write", 1, 0)], "type must be one of"),
        ([ev("a", "invoke", "peek", 1, 0)], "f must be one of"),
        ([ev("a", "invoke", "write", [1], 0)], "JSON scalar"),
        ([ev("a", "invoke", "read", {"count": "1", "block": True}, 0)], "count must be an integer"),
        ([ev("a", "invoke", "read", {"count": 1, "block": 1}, 0)], "block must be true or false"),
        ([ev("a", "invoke", "write", 1, 0), ev("a", "invoke", "write", 2, 1)], "in flight"),
        ([ev("a", "ok", "write", None, 0)], "without an invoke"),
        ([ev("a", "invoke", "write", 1, 5), ev("a", "ok", "write", None, 4)], "before its invoke"),
        (
            [ev("a", "invoke", "write", 1, 0), ev("a", "fail", "write", {"error": "Boom"}, 1)],
            "ReadOnly",
        ),
        ([ev("a", "invoke", "read", READ1, 0), ev("a", "fail", "read", None, 1)], "never fails"),
        (
            [ev("a", "invoke", "read", READ1, 0), ev("a", "ok", "read", 1, 1)],
            "list of JSON scalars",
        ),
        (
            [ev("a", "invoke", "write", 1, 0), ev("a", "ok", "close", None, 1)],
            "completes an invoke of write",
        ),
        (
            [ev("a", "invoke", "write", 1, 0, key="k"), ev("a", "ok", "write", None, 1, key="j")],
            "key",
        ),
        (
            [
                ev("a", "invoke", "write", 1, 0, maxsize=1),
                ev("b", "invoke", "write", 1, 0, maxsize=2),
            ],
            "contradicts",
        ),
    ],
)
def test_malformed_events_name_their_line(events: list[dict[str, object]], message: str) -> None:
    with pytest.raises(HistoryError, match=f"line {len(events)}: .*{message}"):
        read_history([json.dumps(e) for e in events])


def test_not_json_names_its_line() -> None:
    with pytest.raises(HistoryError, match="line 2: not JSON"):
        read_history([json.dumps(DUPLICATE[0]), "{oops"])


# --- the checker -------------------------------------------------------------------------


def test_accepts_a_linearizable_history(tmp_path: Path) -> None:
    code, out = run(jsonl(tmp_path, DUPLICATE[:6]))
    assert (code, out) == (0, "linearizable\n")


def test_rejects_with_the_smallest_failing_window(tmp_path: Path) -> None:
    code, out = run(jsonl(tmp_path, DUPLICATE))
    assert code == 1
    assert out.startswith("not linearizable\n")
    assert "smallest failing window: 60 .. 70 ns (1 operation)" in out
    assert (
        "lines 7-8: process b read(1, block=false) -> [1] [60, 70]  <- could not be placed" in out
    )
    assert out.count("[60, 70]") == 1, "the culprit is shown once"
    assert "could not place: lines 7-8" in out and "the channel then: [2], open" in out


def test_window_is_the_shortest_failing_prefix() -> None:
    ops = [
        Op("a", "write", 1, None, 0, 10),
        Op("b", "read", (1, False), [2], 20, 30),
        Op("a", "write", 2, None, 40, 50),
    ]
    # read [2] before 2 was written: failing from the read's return on, not before
    from .check import failing_window

    window = failing_window(ops, 0, None)
    assert (window.end, window.culprit) == (30, 1)
    assert [op.ret for op in prefix(ops, 25)[1]] == [10, None]


def test_unknown_when_the_timeout_expires(tmp_path: Path) -> None:
    # 16 concurrent writes (one item twice, so no read-order pruning) and a final read
    # that misses one: refuting it means trying the writes' orders.
    events = [ev(f"w{i}", "invoke", "write", i % 15, i) for i in range(16)]
    events += [ev(f"w{i}", "ok", "write", None, 100 + i) for i in range(16)]
    events += [
        ev("r", "invoke", "read", {"count": 0, "block": False, "timeout": None}, 200),
        ev("r", "ok", "read", list(range(14)), 201),
    ]
    code, out = run(jsonl(tmp_path, events), "--timeout", "0.3")
    assert code == 2
    assert out.startswith("unknown\n")
    assert "timeout" in out


def test_channels_are_checked_apart(tmp_path: Path) -> None:
    good = [dict(e, key="good") for e in DUPLICATE[:6]]
    bad = [dict(e, key="bad", process=f"{e['process']}2") for e in DUPLICATE]
    code, out = run(jsonl(tmp_path, good + bad))
    assert code == 1
    assert 'key "good": linearizable' in out
    assert 'key "bad": not linearizable' in out


def test_maxsize_decides_full(tmp_path: Path) -> None:
    events = [
        ev("a", "invoke", "write", 1, 0),
        ev("a", "ok", "write", None, 1),
        ev("a", "invoke", "write", 2, 2),
        ev("a", "fail", "write", {"error": "Full"}, 3),
    ]
    assert run(jsonl(tmp_path, events))[0] == 1
    assert run(jsonl(tmp_path, events), "--maxsize", "1")[0] == 0
    assert run(jsonl(tmp_path, [dict(e, maxsize=1) for e in events]))[0] == 0


@pytest.mark.parametrize("args", [["--timeout", "0"], ["--maxsize", "-1"], ["--nope"]])
def test_bad_arguments_exit_3(tmp_path: Path, args: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run(jsonl(tmp_path, DUPLICATE), *args)
    assert exc.value.code == 3


def test_unreadable_history_exits_3(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n")
    assert run(path)[0] == 3
    assert run(tmp_path / "missing.jsonl")[0] == 3


def test_html_is_written_for_a_failure(tmp_path: Path) -> None:
    page = tmp_path / "f.html"
    code, out = run(jsonl(tmp_path, DUPLICATE), "--html", str(page))
    assert code == 1 and f"timeline written to {page}" in out
    assert '"windows":[[' in page.read_text()


def test_html_is_written_for_a_linearizable_history(tmp_path: Path) -> None:
    page = tmp_path / "ok.html"
    code, out = run(jsonl(tmp_path, DUPLICATE[:6]), "--html", str(page))
    assert code == 0 and f"timeline written to {page}" in out
    text = page.read_text()
    assert text.count('"label":') == 3 and '"windows":[]' in text


# --- real histories: broken implementations' (rejected) --------------------------------


def record_sequence(queue_cls: type[AsyncQueue[int]], maxsize: int) -> list[Op]:
    """A fixed sequence of calls on a channel whose queue is ``queue_cls``, recorded."""

    class Broken(Channel[int]):
        QueueCls = queue_cls

    channel = Broken(maxsize)
    writer, reader = ChannelWriter(channel), ChannelReader(channel)
    ops: list[Op] = []
    clock = iter(range(0, 1000, 2))

    def call(kind: str, arg: object, fn: Callable[[], object]) -> None:
        start = next(clock)
        try:
            result = fn()
        except ReadOnly:
            result = "ReadOnly"
        except Full:
            result = "Full"
        ops.append(Op("t", kind, arg, result, start, start + 1))

    for item in (1, 2, 3):
        call("write", item, functools.partial(writer.write, item, block=False))
    call("read", (2, True), lambda: reader.read(2, True))
    call("read", (0, False), lambda: reader.read(0, False))
    call("write", 4, lambda: writer.write(4, block=False))
    call("close", None, writer.close)
    call("write", 5, lambda: writer.write(5, block=False))
    call("read", (0, True), lambda: reader.read(0, True))
    return ops


@pytest.mark.parametrize(
    "defect,maxsize",
    [
        ("bulk_read_drops_last_item", 0),
        ("read_all_returns_an_item_twice", 0),
        ("write_ignores_capacity", 2),
        ("writable_after_close", 0),
    ],
)
def test_histories_of_broken_queues_are_rejected(tmp_path: Path, defect: str, maxsize: int) -> None:
    path = tmp_path / "h.jsonl"
    with applied(defect):
        ops = record_sequence(AsyncQueue, maxsize)
    write_history_file(str(path), [ChannelHistory(None, maxsize, ops)])
    code, out = run(path)
    assert code == 1, out
    assert "smallest failing window" in out and "<- could not be placed" in out


def test_the_recorded_sequence_is_accepted_on_refasync(tmp_path: Path) -> None:
    for maxsize in (0, 2):
        path = tmp_path / f"h{maxsize}.jsonl"
        write_history_file(
            str(path), [ChannelHistory(None, maxsize, record_sequence(AsyncQueue, maxsize))]
        )
        assert run(path) == (0, "linearizable\n")


def test_the_example_of_history_md_is_linearizable(tmp_path: Path) -> None:
    text = (Path(__file__).with_name("HISTORY.md")).read_text()
    example = text.split("```json\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.jsonl"
    path.write_text(example)
    assert run(path) == (0, "linearizable\n")


def test_history_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(json.dumps(e) + "\n" for e in DUPLICATE)))
    code, out = run("-")
    assert code == 1 and out.startswith("not linearizable\n")


@pytest.mark.timeout(300)
def test_window_search_finds_the_first_failing_prefix_of_a_real_history() -> None:
    """Galloping back from the culprit and bisecting find the same cutoff as trying every
    prefix in order, on a real stress history with one read result tampered with."""
    from .bench_check import record
    from .check import failing_window

    ops = record(160, 2, "light", 5).ops
    reads = [i for i, op in enumerate(ops) if op.kind == "read" and op.result]
    for i in reads[len(reads) // 3 :: max(1, len(reads) // 4)][:3]:
        op = ops[i]
        assert isinstance(op.result, list)
        bad = list(ops)
        bad[i] = Op(
            op.thread, op.kind, op.arg, op.result[1:] + op.result[:1] + ["x"], op.call, op.ret
        )
        cutoffs = sorted({o.ret for o in bad if o.ret is not None})
        first = next(c for c in cutoffs if not check_channel_history(prefix(bad, c)[1], 2).ok)
        assert failing_window(bad, 2, None).end == first
        assert failing_window(bad, 2, None, hint=0).end == first


# --- hostile input: types kept, bad values refused on one line, bounded time and memory --


def write_event_lines(tmp_path: Path, lines: list[str] | bytes, name: str = "h.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(
        lines if isinstance(lines, bytes) else "".join(line + "\n" for line in lines).encode()
    )
    return path


def run_capturing(
    path: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    code, out = run(path, *args)
    return code, out, capsys.readouterr().err


READ_ALL = {"count": 0, "block": False, "timeout": None}


@pytest.mark.parametrize(
    "written,returned,code",
    [
        (True, 1, 1),
        (1, True, 1),
        (False, 0, 1),
        (0, False, 1),
        (None, False, 1),
        ("1", 1, 1),
        (1, 1.0, 0),
        (-0.0, 0, 0),
        (2**60, 2**60, 0),
        (2**53 + 1, float(2**53), 1),
    ],
)
def test_items_keep_their_json_type(
    tmp_path: Path, written: object, returned: object, code: int
) -> None:
    """``true`` is not ``1``; numbers compare by value (``1`` and ``1.0`` are one item)."""
    events = [
        ev("a", "invoke", "write", written, 0),
        ev("a", "ok", "write", None, 1),
        ev("b", "invoke", "read", READ_ALL, 2),
        ev("b", "ok", "read", [returned], 3),
    ]
    assert run(jsonl(tmp_path, events))[0] == code


def test_keys_and_processes_keep_their_json_type(tmp_path: Path) -> None:
    """Keys ``1`` and ``true`` are two channels; processes ``1``, ``true`` and ``"1"``
    are three processes (each may have an operation in flight)."""
    events = []
    for i, who in enumerate([1, True, "1"]):
        events.append(ev(who, "invoke", "write", i, i, key=1 if i < 2 else True))
    for i, who in enumerate([1, True, "1"]):
        events.append(ev(who, "ok", "write", None, 10 + i, key=1 if i < 2 else True))
    channels = read_history([json.dumps(e) for e in events])
    assert [(c.key, len(c.ops)) for c in channels] == [(1, 2), (True, 1)]
    assert isinstance(channels[1].key, bool)
    assert len({op.thread for c in channels for op in c.ops}) == 3
    code, out = run(jsonl(tmp_path, events))
    assert code == 0 and "key 1: linearizable" in out and "key true: linearizable" in out


HOSTILE_LINES: list[tuple[str, bytes]] = [
    ("NaN", b'{"process": "h", "type": "invoke", "f": "write", "value": NaN, "time": 0}'),
    ("Infinity", b'{"process": "h", "type": "invoke", "f": "write", "value": 1, "time": Infinity}'),
    (
        "-Infinity",
        b'{"process": "h", "type": "invoke", "f": "write", "value": -Infinity, "time": 0}',
    ),
    (
        "a float beyond range",
        b'{"process": "h", "type": "invoke", "f": "write", "value": 1e400, "time": 0}',
    ),
    (
        "a huge integer item",
        b'{"process": "h", "type": "invoke", "f": "write", "value": 100000000000000000000000, "time": 0}',
    ),
    (
        "5000 digits",
        b'{"process": "h", "type": "invoke", "f": "write", "value": 1'
        + b"0" * 5000
        + b', "time": 0}',
    ),
    (
        "a time past int64",
        b'{"process": "h", "type": "invoke", "f": "write", "value": 1, "time": 9223372036854775808}',
    ),
    (
        "a time before int64",
        b'{"process": "h", "type": "invoke", "f": "write", "value": 1, "time": -9223372036854775809}',
    ),
    ("a float time", b'{"process": "h", "type": "invoke", "f": "write", "value": 1, "time": 1.5}'),
    (
        "a huge count",
        b'{"process": "h", "type": "invoke", "f": "read", "value": {"count": 99999999999999999999, "block": true, "timeout": null}, "time": 0}',
    ),
    (
        "a huge maxsize",
        b'{"process": "h", "type": "invoke", "f": "write", "value": 1, "time": 0, "maxsize": 9223372036854775808}',
    ),
    (
        "deep nesting",
        b'{"process": "h", "type": "invoke", "f": "write", "value": 1, "time": 0, "x": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}",
    ),
    ("deep nesting, unclosed", b"[" * 1_000_000),
    (
        "a field twice",
        b'{"process": "h", "type": "invoke", "f": "write", "value": 1, "time": 0, "time": 5}',
    ),
    (
        "non-UTF-8 bytes",
        b'{"process": "\xff\xfe", "type": "invoke", "f": "write", "value": 1, "time": 0}',
    ),
    ("a NUL byte", b'{"process": "h", "type": "invoke", "f": "write", "value": 1, "time": 0}\x00'),
    (
        "a lone CR",
        b'{"process": "h", "type": "invoke", "f": "write", "value": 1, "time": 0}\r{"x": 1}',
    ),
]


@pytest.mark.parametrize("name", [name for name, _ in HOSTILE_LINES])
def test_hostile_values_are_refused_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    line = dict(HOSTILE_LINES)[name]
    good = json.dumps(DUPLICATE[0]).encode()
    path = tmp_path / "h.jsonl"
    path.write_bytes(good + b"\n" + line + b"\n")
    code, out, err = run_capturing(path, capsys)
    assert code == 3, (out, err)
    assert err.count("\n") == 1 and "line 2: " in err, err
    assert len(err) < 400, err


def test_hostile_values_are_refused_by_the_command(tmp_path: Path) -> None:
    """The real command: a one-line message, exit 3, never a traceback."""
    for name, line in HOSTILE_LINES:
        path = tmp_path / "h.jsonl"
        path.write_bytes(line + b"\n")
        done = subprocess.run(
            [sys.executable, "-m", "conformance.check", str(path)],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
        )
        err = done.stderr.decode("utf-8", "replace")
        assert (done.returncode, err.count("\n")) == (3, 1), (name, err)
        assert "Traceback" not in err and "line 1: " in err, (name, err)


@pytest.mark.parametrize(
    "args",
    [
        ["--timeout", "nan"],
        ["--timeout", "inf"],
        ["--timeout", "-1"],
        ["--maxsize", "99999999999999999999"],
        ["--html", "/nonexistent/dir/page.html"],
    ],
)
def test_meaningless_arguments_exit_3_before_reading(
    tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        run(jsonl(tmp_path, DUPLICATE), *args)
    assert exc.value.code == 3
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .startswith("python -m conformance.check: error: ")
    )


def test_a_hostile_file_name_stays_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_event_lines(tmp_path, b"oops\n", name="bad\nname\x1b[2J.jsonl")
    code, _, err = run_capturing(path, capsys)
    assert code == 3 and err.count("\n") == 1 and "\x1b" not in err, err


ROOT = Path(__file__).resolve().parent.parent
MEMORY_LIMIT_KB = 200 * 1024


def run_measured(args: list[str], timeout: float) -> tuple[int, str, float, int]:
    """Runs the checker in a child of a child, so that the peak RSS is the checker's own.
    :return: exit status, stdout, seconds, peak RSS in KB."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "start = time.monotonic()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "seconds = time.monotonic() - start\n"
        "print(done.returncode, seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(done.stdout, end='')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "conformance.check", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    first, _, stdout = done.stdout.partition("\n")
    code, seconds, rss = first.split()
    return int(code), stdout, float(seconds), int(rss)


@pytest.mark.timeout(120)
def test_an_impossible_read_after_2000_concurrent_writes_ends_unknown_in_bounds(
    tmp_path: Path,
) -> None:
    """2,000 concurrent writes (one item twice, so nothing prunes) and one read that
    cannot be explained: the search cannot decide it, so --timeout ends it, with the
    memory it holds bounded."""
    events = [ev(f"w{i}", "invoke", "write", i % 1999, i) for i in range(2000)]
    events += [ev(f"w{i}", "ok", "write", None, 10_000 + i) for i in range(2000)]
    events += [
        ev("r", "invoke", "read", READ_ALL, 20_000),
        ev("r", "ok", "read", list(range(1998)) + [1998, 1998], 20_001),
    ]
    path = jsonl(tmp_path, events)
    code, out, seconds, rss = run_measured([str(path), "--timeout", "3"], timeout=60)
    assert (code, out.splitlines()[0]) == (2, "unknown"), out
    assert seconds < 3 + 1 + STARTUP_S, seconds
    assert rss < MEMORY_LIMIT_KB, f"peak RSS {rss} KB"


#: The interpreter's start and imports, which the timeout does not bound (measured: ~0.3 s).
STARTUP_S = 1.0


@pytest.mark.timeout(120)
def test_the_timeout_bounds_reading_too(tmp_path: Path) -> None:
    line = (
        json.dumps(ev("w", "invoke", "write", 1, 0))
        + "\n"
        + json.dumps(ev("w", "ok", "write", None, 1))
        + "\n"
    )
    path = tmp_path / "long.jsonl"
    path.write_text(line * 400_000)
    code, out, seconds, _ = run_measured([str(path), "--timeout", "0.5"], timeout=60)
    assert (code, out.splitlines()[0]) == (2, "unknown"), out
    assert "reading" in out
    assert seconds < 0.5 + 1 + STARTUP_S, seconds


EVENT_LINES = [json.dumps(e) for e in DUPLICATE] + [
    json.dumps(ev("c", "invoke", "close", None, 80)),
    json.dumps(ev("c", "info", "close", None, 90)),
]


def _inserted(text: bytes, at: int, extra: bytes) -> bytes:
    at %= len(text) + 1
    return text[:at] + extra + text[at:]


#: Any bytes, valid events, valid events with bytes inserted, and any JSON values.
FUZZ_INPUTS: st.SearchStrategy[bytes] = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from(EVENT_LINES), max_size=8).map(lambda ls: "\n".join(ls).encode()),
    st.builds(
        lambda lines, at, extra: _inserted("\n".join(lines).encode(), at, extra),
        st.lists(st.sampled_from(EVENT_LINES), min_size=1, max_size=6),
        st.integers(0, 400),
        st.binary(min_size=1, max_size=8),
    ),
    st.lists(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "process",
                            "type",
                            "f",
                            "value",
                            "time",
                            "key",
                            "maxsize",
                            "count",
                            "block",
                            "timeout",
                        ]
                    ),
                    inner,
                    max_size=6,
                )
            ),
            max_leaves=12,
        ),
        max_size=5,
    ).map(lambda values: "\n".join(json.dumps(v) for v in values).encode()),
)


@settings(max_examples=300, deadline=None)
@given(FUZZ_INPUTS)
def test_any_bytes_give_a_verdict_or_a_one_line_refusal(data: bytes) -> None:
    gives_a_verdict_or_a_one_line_refusal(data)


def gives_a_verdict_or_a_one_line_refusal(data: bytes) -> None:
    """(Run it longer: ``given(FUZZ_INPUTS)(settings(max_examples=N)(this))()``.)"""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "fuzz.jsonl"
        path.write_bytes(data)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code, out = run(path, "--timeout", "2")
    assert code in (0, 1, 2, 3)
    if code == 3:
        assert err.getvalue().count("\n") == 1 and "line " in err.getvalue(), err.getvalue()
    else:
        assert err.getvalue() == "" and out.splitlines()[0] in (
            "linearizable",
            "not linearizable",
            "unknown",
        )


# --- speed, in steps (the same on every machine; the seconds are in HISTORY.md) -----------


@pytest.mark.timeout(300)
def test_long_read_alls_are_decided_in_few_steps() -> None:
    """A 10,000-operation history with two read-alls spanning it takes about 1.6 steps
    per operation to accept, and its tampered copy about as many to reject and 2 more
    prefix checks to find the window (before, the accepted one explored each node's
    every candidate, and the tampered one did not finish in 15 minutes)."""
    from .bench_check import read_all_history, tamper
    from .check import failing_window

    history = read_all_history(10_000, 4, 1)
    assert len(history.ops) > 10_000
    result = check_channel_history(history.ops, history.maxsize)
    assert result.ok and result.steps < 2 * len(history.ops), result.steps
    bad = tamper(history, "swap", 1)
    result = check_channel_history(bad.ops, bad.maxsize)
    assert not result.ok and result.steps < 2 * len(bad.ops), result.steps
    window = failing_window(bad.ops, bad.maxsize, None, result.culprit)
    assert window.searches <= 3 and window.steps < 3 * len(bad.ops), (window.searches, window.steps)
    assert len(window.ops) < 20


def test_a_long_read_is_shown_once_and_abbreviated(tmp_path: Path) -> None:
    """A port's failure with a 400-item read: the text names the window once, the read
    as its first and last items and a count, and stays short."""
    events = []
    for i in range(400):
        events += [
            ev("w", "invoke", "write", f"item-{i}", 10 * i),
            ev("w", "ok", "write", None, 10 * i + 5),
        ]
    events += [
        ev("r", "invoke", "read", READ_ALL, 5000),
        ev("r", "ok", "read", [f"item-{i}" for i in range(400)] + ["ghost"], 5001),
    ]
    code, out = run(jsonl(tmp_path, events))
    assert code == 1
    assert out.count("smallest failing window") == 1
    assert out.count("process r read(") == 1
    assert (
        '["item-0", "item-1", "item-2", ... 395 more ..., "item-398", "item-399", "ghost"] (401 items)'
        in out
    )
    assert "item-200" not in out
    assert len(out) < 2500, len(out)
    assert all(line.isprintable() for line in out.splitlines())


def spec_run(seed: int, writes: int, read_all: bool) -> ChannelHistory:
    """A small history: two writers that wait for room, two readers of mixed reads (and a
    read-all), a close, on a channel of capacity 2."""
    from models.spec_runs import Program, run_programs

    from .bench_check import SHORT_READS

    rng = random.Random(seed)
    programs = [
        Program(f"w{w}", [("write", (f"w{w}:{i}", True)) for i in range(writes)]) for w in range(2)
    ]
    programs += [
        Program("r0", reads=SHORT_READS),
        Program("r1", reads=SHORT_READS),
        Program("closer", [("close", None)], after=("w0", "w1")),
    ]
    if read_all:
        programs.append(Program("all", [("read", (0, True))]))
    return ChannelHistory(None, 2, run_programs(programs, 2, rng.randrange))


@pytest.mark.timeout(300)
def test_failing_prefixes_are_those_from_some_cut_on() -> None:
    """The window search bisects over cuts, so the prefixes that fail must be those from
    some cut on. On runs of the specification, every cut is checked: none fails on the
    run itself, and on a tampered copy the failing cuts are those from one on. (A
    shortcut that loses linearizations of cut histories, whose reads in flight are
    bounded, breaks this; it found one.)"""
    from .bench_check import tamper

    for seed in range(40):
        history = spec_run(seed, 10, seed % 2 == 0)
        for tampered, ops in enumerate(
            [history.ops, tamper(history, ("swap", "duplicate", "drop")[seed % 3], seed).ops]
        ):
            cutoffs = sorted({op.ret for op in ops if op.ret is not None})
            fails = [
                not check_channel_history(prefix(ops, c)[1], history.maxsize).ok for c in cutoffs
            ]
            if not tampered:
                assert True not in fails, (seed, fails.index(True))
            elif True in fails:
                first = fails.index(True)
                assert all(fails[first:]), (seed, first, fails.index(False, first))
