"""The seed's usage-guide examples, serial (pool size 0) and threaded (size 4), and the
runnable copy in examples/usage_guide.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from refasync import ChannelThreadTask, IteratorThreadTask
from tests.pool_support import running_pool

USAGE_GUIDE = Path(__file__).resolve().parent.parent / "examples" / "usage_guide.py"


@pytest.mark.parametrize("size", [0, 4])
def test_power(size: int) -> None:
    with running_pool(size) as pool:
        assert pool.size() == size
        task: IteratorThreadTask[int, int] = IteratorThreadTask(
            iter(range(10)), "power", lambda i: i * i
        )
        reader = pool.add_task(task)
        items = reader.read()  # read all items
        assert len(items) == 10 and items[0] == 0 and items[-1] == 81
        assert sorted(items) == [i * i for i in range(10)]


@pytest.mark.parametrize("size", [0, 4])
def test_power_then_mult(size: int) -> None:
    with running_pool(size) as pool:
        task: IteratorThreadTask[int, int] = IteratorThreadTask(
            iter(range(10)), "power", lambda i: i * i
        )
        reader = pool.add_task(task)
        # chain both by linking their readers
        tmult: ChannelThreadTask[int, int] = ChannelThreadTask(reader, "mult", lambda i: i * 2)
        result_reader = pool.add_task(tmult)
        items = result_reader.read()  # read all
        # The seed checks first and last: without max_chunksize each task runs one chunk,
        # so the order is kept at any pool size.
        assert len(items) == 10 and items[0] == 0 and items[-1] == 162
        assert sorted(items) == [2 * i * i for i in range(10)]
        assert pool.num_tasks() == 2


@pytest.mark.timeout(90)
def test_usage_guide_script_runs() -> None:
    dev_mode = ["-X", "dev"] if sys.flags.dev_mode else []
    done = subprocess.run(
        [sys.executable, *dev_mode, str(USAGE_GUIDE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    powers = str([i * i for i in range(10)])
    assert f"pool size 0 (serial): power -> {powers}" in lines
    assert f"pool size 4 (threaded): power -> {powers}" in lines
    assert len([line for line in lines if "power -> mult ->" in line]) == 2
    assert done.stderr == ""
