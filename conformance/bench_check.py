"""``python -m conformance.bench_check``: the checker's speed on long histories.

Two shapes of history, each of about ``--ops`` operations (default 10,000) on one channel:

* ``readall`` (the default): what a port's run with long blocking reads looks like. Two
  writers, two readers that each make one blocking read-all (``read(0, block=True)``)
  spanning the whole run until the close, and two readers of mixed counts (blocking,
  non-blocking and timed reads) until the channel is closed and drained. Made by running
  these programs against the specification one atomic step at a time in a seeded random
  order (:mod:`models.spec_runs`), so the same ``--seed`` gives the same history and the
  same counts on every machine.
* ``stress``: recorded on a real refasync channel under the stress harness's delay
  injector (``--profile``): 2 writers, 2 readers with mixed counts (no read-all).

``--tamper swap|duplicate|drop`` then corrupts one read result in the middle third of
the history (two items swapped, one item returned twice, the last item dropped), so the
history is rejected and the smallest failing window is searched too.

It prints how long the history took to make, and how long checking it took: the verdict
(the search over the whole history) and, for a rejected history, the smallest failing
window, in wall and CPU seconds and in steps tried (the same on every machine). The
figures are in conformance/HISTORY.md.

Example::

    python -m conformance.bench_check --ops 10000 --seed 1 --out /tmp/h10k.jsonl
    python -m conformance.bench_check --ops 10000 --seed 1 --tamper swap
    python -m conformance.bench_check --shape stress --ops 10000 --profile heavy
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from typing import TextIO

from models.linearizability import Op, check_channel_history
from models.spec_runs import Program, run_programs

from .check import failing_window
from .history import ChannelHistory, read_history_file, write_history_file
from .inject import PROFILES, injected
from .recording import HistoryRecorder, RecordedChannel

__all__ = ("main", "read_all_history", "record", "tamper")

#: The short readers' reads: (count, block) or (count, block, timeout).
SHORT_READS: list[tuple[object, ...]] = [
    (1, False),
    (2, False),
    (1, True),
    (3, True),
    (1, True, 0.001),
    (2, True, 0.001),
]


def read_all_history(ops: int, maxsize: int, seed: int) -> ChannelHistory:
    """:return: a history of about ``ops`` operations with two read-alls spanning it
    (the ``readall`` shape)."""
    rng = random.Random(seed)
    per_writer = ops * 35 // 100
    programs = [
        Program(f"w{w}", [("write", (f"w{w}:{i}", rng.random() < 0.9)) for i in range(per_writer)])
        for w in range(2)
    ]
    programs += [Program(f"all{a}", [("read", (0, True))]) for a in range(2)]
    programs += [Program(f"r{r}", reads=SHORT_READS) for r in range(2)]
    programs.append(Program("closer", [("close", None)], after=("w0", "w1")))
    return ChannelHistory(None, maxsize, run_programs(programs, maxsize, rng.randrange))


def record(ops: int, maxsize: int, profile: str, seed: int) -> ChannelHistory:
    """:return: the recorded history of about ``ops`` operations (4 threads, one channel,
    the ``stress`` shape)."""
    recorder = HistoryRecorder()
    chan = RecordedChannel(maxsize, recorder)
    per_writer = ops * 3 // 10  # reads take 1.5 items on average: ~10 ops per 6 items
    writers_done = threading.Barrier(3)

    def write_loop(wid: int) -> None:
        rng = random.Random(seed * 7 + wid)
        for seq in range(per_writer):
            if maxsize and rng.random() < 0.2:
                chan.write(f"w{wid}", (wid, seq), True, rng.uniform(0.0005, 0.002))
            else:
                chan.write(f"w{wid}", (wid, seq), True, None)
        writers_done.wait()

    def read_loop(rid: int) -> None:
        rng = random.Random(seed * 11 + rid)
        while True:
            count = rng.choice([1, 1, 2, 3])
            draw = rng.random()
            if draw < 0.3:
                chan.read(f"r{rid}", count, False, None)
            elif draw < 0.6:
                chan.read(f"r{rid}", count, True, rng.uniform(0.0005, 0.002))
            else:
                got = chan.read(f"r{rid}", count, True, None)
                if len(got) < count:
                    return  # closed and drained

    threads = [threading.Thread(target=write_loop, args=(w,)) for w in range(2)]
    threads += [threading.Thread(target=read_loop, args=(r,)) for r in range(2)]
    with injected(PROFILES[profile], seed):
        for thread in threads:
            thread.start()
        writers_done.wait()
        chan.close("w0")  # the closer is a writer thread's last act, in effect
        for thread in threads:
            thread.join()
    return ChannelHistory(None, maxsize, [op for op in recorder.ops() if isinstance(op, Op)])


def tamper(history: ChannelHistory, how: str, seed: int) -> ChannelHistory:
    """:return: ``history`` with one read result of its middle third corrupted."""
    ops = list(history.ops)
    reads = [
        i
        for i, op in enumerate(ops)
        if op.kind == "read" and isinstance(op.result, list) and len(op.result) >= 2
    ]
    if not reads:
        raise ValueError("no read returned two items: nothing to tamper with")
    i = random.Random(seed).choice(reads[len(reads) // 3 : 2 * len(reads) // 3] or reads)
    op = ops[i]
    assert isinstance(op.result, list)
    result = list(op.result)
    if how == "swap":
        result[0], result[1] = result[1], result[0]
    elif how == "duplicate":
        result.append(result[0])
    else:
        result.pop()
    ops[i] = Op(op.thread, op.kind, op.arg, result, op.call, op.ret)
    return ChannelHistory(history.key, history.maxsize, ops)


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    p = argparse.ArgumentParser(
        prog="python -m conformance.bench_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--shape", choices=["readall", "stress"], default="readall")
    p.add_argument("--ops", type=int, default=10_000, help="about this many operations")
    p.add_argument("--maxsize", type=int, default=4, help="channel capacity (0: unbounded)")
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default=None,
        help="the delay injector's profile (--shape stress; default light)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tamper", choices=["swap", "duplicate", "drop"], default=None)
    p.add_argument("--out", default=None, help="also write the history there (JSONL)")
    args = p.parse_args(argv)
    if args.profile is not None and args.shape != "stress":
        p.error("--profile is the delay injector's: it applies to --shape stress only")
    start = time.monotonic()
    if args.shape == "readall":
        history = read_all_history(args.ops, args.maxsize, args.seed)
    else:
        history = record(args.ops, args.maxsize, args.profile or "light", args.seed)
    if args.tamper:
        history = tamper(history, args.tamper, args.seed)
    made_s = time.monotonic() - start
    if args.out:  # and read it back: the figure includes nothing the file does not say
        write_history_file(args.out, [history])
        history = read_history_file(args.out)[0]
    wall, cpu = time.monotonic(), time.process_time()
    result = check_channel_history(history.ops, history.maxsize)
    decided = time.monotonic() - wall, time.process_time() - cpu
    out.write(
        f"{len(history.ops)} operations ({args.shape}, maxsize {args.maxsize}, seed {args.seed}"
        f"{', ' + args.tamper if args.tamper else ''}) made in {made_s:.1f} s\n"
        f"verdict in {decided[0]:.2f} s ({decided[1]:.2f} s of CPU, {result.steps} steps): "
        f"{'linearizable' if result.ok else 'not linearizable'}\n"
    )
    if result.ok:
        return 0
    wall, cpu = time.monotonic(), time.process_time()
    window = failing_window(history.ops, history.maxsize, None, result.culprit)
    found = time.monotonic() - wall, time.process_time() - cpu
    out.write(
        f"smallest failing window ({len(window.ops)} operations) in {found[0]:.2f} s more "
        f"({found[1]:.2f} s of CPU, {window.steps} steps in {window.searches} prefixes)\n"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
