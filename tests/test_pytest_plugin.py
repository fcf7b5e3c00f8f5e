"""refasync.pytest_plugin: the explore fixture, and hang guards on every test phase (a
deadlocked fixture teardown fails the run with stacks instead of hanging it)."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from refasync.channel import Channel, ChannelReader, ChannelWriter
from refasync.explore import ExploreFailure, Session
from refasync.pytest_plugin import Explorer

#: The child pytest loads only the plugins its command line names.
ONLY_NAMED_PLUGINS = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def run_child_pytest(
    tmp_path: Path, test_file: str, *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """:return: pytest's run of ``tmp_path / test_file`` in a child process (its own
    rootdir, no cache, no random order, ``options`` first; ``env`` added to ours)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            *options,
            "--rootdir",
            str(tmp_path),
            str(tmp_path / test_file),
        ],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
    )


def test_the_explore_fixture_passes_correct_code_and_fails_a_race(explore: Explorer) -> None:
    def body(s: Session) -> None:
        channel: Channel[int] = Channel(1)
        writer, reader = ChannelWriter(channel), ChannelReader(channel)

        def write() -> None:
            for i in range(3):
                writer.write(i, True)

        t = s.spawn("writer", write)
        assert reader.read(3) == [0, 1, 2]
        t.join()

    assert not explore(body, strategy="pct", runs=100).failed

    box = [0]

    def racy(s: Session) -> None:
        box[0] = 0

        def bump() -> None:
            seen = box[0]
            ChannelWriter(Channel[int]()).write(0)  # sync points between read and write
            box[0] = seen + 1

        threads = [s.spawn(f"b{i}", bump) for i in range(2)]
        for t in threads:
            t.join()
        assert box[0] == 2, "lost update"

    with pytest.raises(ExploreFailure, match="lost update"):
        explore(racy, strategy="random", runs=200)


def test_the_explore_fixture_reports_uncontrolled_blocking_within_seconds(
    explore: Explorer,
) -> None:
    """A plain threading.Lock, Event or queue.Queue created outside the body and blocked
    on inside it: reported, naming it, long before any test limit."""
    lock, event, work = threading.Lock(), threading.Event(), queue.Queue[int]()
    lock.acquire()
    waits: dict[str, Callable[[], object]] = {
        "lock": lock.acquire,
        "event": event.wait,
        "queue": work.get,
    }
    try:
        for name, wait in waits.items():

            def body(s: Session, wait: Callable[[], object] = wait) -> None:
                wait()

            started = time.monotonic()
            with pytest.raises(ExploreFailure, match="uncontrolled blocking") as info:
                explore(body, strategy="random", runs=1)
            assert time.monotonic() - started < 5.0, name
            assert info.value.report.kind == "uncontrolled"
    finally:
        lock.release()


DEADLOCKED_TEARDOWN = """
import threading
import pytest

pytest_plugins = ["refasync.pytest_plugin"]

@pytest.fixture
def stuck():
    lock = threading.Lock()
    lock.acquire()
    yield
    lock.acquire()  # a teardown that waits forever (a deadlocked worker's close())

@pytest.mark.timeout(1)
def test_stuck_teardown(stuck):
    pass

@pytest.mark.timeout(1)
def test_stuck_call():
    threading.Event().wait()

def test_after():
    pass
"""


@pytest.mark.timeout(120)
def test_a_deadlocked_fixture_teardown_fails_the_run_instead_of_hanging(tmp_path: Path) -> None:
    (tmp_path / "test_stuck.py").write_text(textwrap.dedent(DEADLOCKED_TEARDOWN))
    started = time.monotonic()
    result = run_child_pytest(tmp_path, "test_stuck.py", "-p", "no:timeout")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert time.monotonic() - started < 90
    assert "test_stuck_teardown (teardown): still running after 1.0 s" in out, out
    assert "test_stuck_call (call): still running after 1.0 s" in out, out
    assert "--- thread" in out  # the stacks
    assert "1 failed, 2 passed" in out and "1 error" in out, out  # test_after still ran


LOST_POKE = '''
import threading

import pytest

from models.defects import applied
from refasync import IteratorThreadTask, ThreadPool
from tests.sync_support import wait_for_waiters

pytest_plugins = ["refasync.pytest_plugin"]


@pytest.mark.timeout(3)
def test_a_reader_waits_for_a_poke_that_never_comes():
    """Two readers of one chunk in flight: its item wakes one, the other needs the poke
    at the chunk's end, which the defect drops: the main thread joins it forever."""
    release = threading.Event()

    def gate(x):
        release.wait()
        return x

    with applied("chunk_end_pokes_nobody"), ThreadPool(1) as pool:
        reader = pool.add_task(IteratorThreadTask(iter(range(10)), "src", gate,
                                                  max_chunksize=1))
        readers = [threading.Thread(target=reader.read, args=(1,), daemon=True)
                   for _ in range(2)]
        readers[0].start()
        wait_for_waiters(reader.channel.queue.not_empty, 1, "the first reader")
        readers[1].start()
        wait_for_waiters(reader.channel.queue.not_empty, 2, "the second reader")
        release.set()
        for thread in readers:
            thread.join()


@pytest.mark.timeout(2)
def test_a_hang_whose_cleanup_hangs_too():
    """A worker stuck in a chunk: the read hangs, then close() on leaving the pool waits
    for that worker; the cleanup gets its own bounded time."""
    stuck = threading.Event()
    with ThreadPool(1) as pool:
        reader = pool.add_task(IteratorThreadTask(iter(range(3)), "stuck",
                                                  lambda x: stuck.wait() and x))
        reader.read(1)


def test_after():
    pass
'''


@pytest.mark.campaign
@pytest.mark.timeout(120)
def test_a_hang_and_its_stuck_cleanup_fail_one_test_each_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_lost_poke.py").write_text(LOST_POKE)
    root = Path(__file__).resolve().parent.parent
    started = time.monotonic()
    result = run_child_pytest(
        tmp_path, "test_lost_poke.py", "-p", "no:timeout", env={"PYTHONPATH": str(root)}
    )
    out = result.stdout + result.stderr
    elapsed = time.monotonic() - started
    assert result.returncode == 1, out
    assert (
        "test_a_reader_waits_for_a_poke_that_never_comes (call): still running after 3.0 s" in out
    ), out
    assert "test_a_hang_whose_cleanup_hangs_too (call): still running after 2.0 s" in out, out
    assert "the cleanup after the hang still running after 2.0 s" in out, out
    assert "in close" in out, out  # the stack of the cleanup: the pool's close()
    assert "--- thread" in out  # the stacks
    assert "2 failed, 1 passed" in out, out  # test_after still ran
    # Each test within its limit and its cleanup's, plus the interpreter's start on a
    # loaded machine.
    assert elapsed < 75, (elapsed, out)


LEAKS = """
import threading

import pytest

pytest_plugins = ["refasync.pytest_plugin"]

stop = threading.Event()


def test_clean():
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()


def test_ends_its_thread_soon_after():
    threading.Thread(target=stop.wait, args=(0.2,), name="ending").start()


def test_leaks_three():
    for k in range(3):
        threading.Thread(target=stop.wait, name=f"leaked-{k}", daemon=True).start()


def test_after_the_leak():
    pass


def test_leaks_one_more():
    threading.Thread(target=stop.wait, name="one-more", daemon=True).start()
"""


@pytest.mark.campaign
@pytest.mark.timeout(120)
def test_the_thread_leak_check_names_the_test_that_left_threads_behind(tmp_path: Path) -> None:
    (tmp_path / "test_leaks.py").write_text(LEAKS)

    def run(*options: str) -> str:
        result = run_child_pytest(tmp_path, "test_leaks.py", "-p", "no:timeout", *options)
        return result.stdout + result.stderr

    out = run("--max-thread-growth", "2")
    assert "5 passed, 1 error" in out, out
    assert "ERROR at teardown of test_leaks_three" in out, out
    assert (
        "3 more threads alive after test_leaks.py::test_leaks_three than at the start (bound 2)"
    ) in out, out
    assert "3 from test_leaks.py::test_leaks_three: leaked-0, leaked-1, leaked-2" in out, out
    # A thread that ends within the grace is no leak.
    assert "from test_leaks.py::test_ends_its_thread_soon_after" not in out, out
    # Off by default; a bound of 0 reports each test that leaves a thread, once.
    out = run()
    assert "5 passed in" in out, out
    out = run("--max-thread-growth", "0")
    assert "5 passed, 2 errors" in out, out
    assert "1 more threads alive after test_leaks.py::test_leaks_one_more" in out, out
    out = run("--max-thread-growth", "-1")  # refused in one line, no traceback
    assert "ERROR: --max-thread-growth must be >= 0, got -1" in out and "Traceback" not in out


MARKER_FORMS = """
import threading

import pytest


@pytest.mark.timeout(timeout=1, method="signal", func_only=True)
def test_keywords_hang():
    threading.Event().wait()


@pytest.mark.timeout(1, "signal")
def test_positional_hang():
    threading.Event().wait()


@pytest.mark.timeout(0)
def test_zero_is_no_limit():
    threading.Event().wait(1.5)


@pytest.mark.timeout(None)
def test_none_is_no_limit():
    threading.Event().wait(1.5)


@pytest.mark.timeout("soon")
def test_not_a_number():
    pass
"""


def run_marker_forms(tmp_path: Path, *options: str) -> tuple[str, float]:
    (tmp_path / "test_forms.py").write_text(textwrap.dedent(MARKER_FORMS))
    started = time.monotonic()
    result = run_child_pytest(
        tmp_path, "test_forms.py", "-p", "refasync.pytest_plugin", *options, env=ONLY_NAMED_PLUGINS
    )  # only the -p plugins
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    return out, time.monotonic() - started


@pytest.mark.campaign
@pytest.mark.timeout(120)
def test_every_form_of_pytest_timeouts_marker_is_taken(tmp_path: Path) -> None:
    out, seconds = run_marker_forms(tmp_path)
    assert "test_keywords_hang (call): still running after 1.0 s" in out, out
    assert "test_positional_hang (call): still running after 1.0 s" in out, out
    assert "@pytest.mark.timeout takes a number of seconds >= 0" in out and "'soon'" in out
    assert "2 failed, 2 passed, 1 error" in out, out  # 0, None: no limit; each waits 1.5 s
    assert seconds < 60


BOTH_LIMITS = """
import threading

import pytest


def test_unmarked_hang():  # pytest-timeout's --timeout ends it, long before the guard's 60 s
    threading.Event().wait()


@pytest.mark.timeout(1)
def test_marked_hang():  # both read the marker
    threading.Event().wait()


def test_after():
    pass
"""


@pytest.mark.campaign
@pytest.mark.timeout(120)
def test_pytest_timeout_and_the_hang_guard_both_apply(tmp_path: Path) -> None:
    pytest.importorskip("pytest_timeout", reason="pytest-timeout is not installed")
    (tmp_path / "test_both.py").write_text(textwrap.dedent(BOTH_LIMITS))
    started = time.monotonic()
    result = run_child_pytest(
        tmp_path,
        "test_both.py",
        "-p",
        "refasync.pytest_plugin",
        "-p",
        "pytest_timeout",
        "--timeout",
        "3",
        env=ONLY_NAMED_PLUGINS,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "2 failed, 1 passed" in out, out
    assert time.monotonic() - started < 40, out
