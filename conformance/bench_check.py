"""``python -m conformance.bench_check``: the checker's speed on a long stress history.

Records one history of about ``--ops`` operations (default 10,000): 4 threads (2 writers,
2 readers with mixed counts, blocking, non-blocking and timed reads) on one channel, under
the stress harness's delay injector and through its recorder (stress/scenarios_channel.py),
then times ``python -m conformance.check`` on it. The figure is in conformance/HISTORY.md.

Example::

    python -m conformance.bench_check --ops 10000 --profile heavy --out /tmp/h10k.jsonl
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from typing import TextIO

from models.linearizability import Op
from stress.inject import PROFILES, injected
from stress.scenarios_channel import RecordedChannel, _HistoryRecorder

from .check import check_channels
from .history import ChannelHistory, read_history_file, write_history_file

__all__ = ("main", "record")


def record(ops: int, maxsize: int, profile: str, seed: int) -> ChannelHistory:
    """:return: the recorded history of about ``ops`` operations (4 threads, one channel)."""
    recorder = _HistoryRecorder()
    chan = RecordedChannel(None, maxsize, recorder)
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


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    p = argparse.ArgumentParser(prog="python -m conformance.bench_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ops", type=int, default=10_000, help="about this many operations")
    p.add_argument("--maxsize", type=int, default=4, help="channel capacity (0: unbounded)")
    p.add_argument("--profile", choices=sorted(PROFILES), default="light")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=None, help="also write the history there (JSONL)")
    args = p.parse_args(argv)
    start = time.monotonic()
    history = record(args.ops, args.maxsize, args.profile, args.seed)
    recorded_s = time.monotonic() - start
    if args.out:  # and read it back: the figure includes nothing the file does not say
        write_history_file(args.out, [history])
        history = read_history_file(args.out)[0]
    start = time.monotonic()
    verdict = check_channels([history])[0]
    checked_s = time.monotonic() - start
    out.write(f"{len(history.ops)} operations (4 threads, maxsize {args.maxsize}, profile "
              f"{args.profile}, seed {args.seed}) recorded in {recorded_s:.1f} s; "
              f"checked in {checked_s:.2f} s: {verdict.status}\n")
    return 0 if verdict.status == "linearizable" else 1


if __name__ == "__main__":
    sys.exit(main())
