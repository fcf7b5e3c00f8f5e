"""``python -m conformance.check`` meets hostile input: values keep their JSON type, bad
values are refused on one line naming the line (exit 3), and time and memory stay bounded
(the timeout covers reading; any bytes give a verdict or a one-line refusal)."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .check_support import DUPLICATE, READ_ALL, ev, jsonl, run
from .history import read_history

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
