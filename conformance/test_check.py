"""The history format and ``python -m conformance.check``: round trips, malformed input,
verdicts and exit codes, the failing window, several channels, the timeout, and the
histories of broken implementations (rejected). The stress harness's histories are checked
in ``stress/test_histories.py`` (stress imports conformance, never the reverse)."""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from models.defects import applied
from models.linearizability import Op, check_channel_history
from refasync import Channel, ChannelReader, ChannelWriter, Full, ReadOnly
from refasync.util import AsyncQueue

from .check import prefix
from .check_support import DUPLICATE, READ1, ev, jsonl, run
from .history import ChannelHistory, HistoryError, read_history, write_history, write_history_file

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
