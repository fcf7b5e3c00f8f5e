"""What the sync-point hook costs when it is not installed.

Channel write+read(1) on refasync's real classes (hook unset) against the very same code
with every hook test removed (``nohook.build_nohook_baseline``), interleaved A B A B.
"""

from __future__ import annotations

from refasync import util
from refasync.channel import Channel

from .channel_bench import write_read1
from .harness import Goal, Row, interleave, median
from .nohook import build_nohook_baseline
from .scale import Scale

__all__ = ("hook_rows",)


def hook_rows(scale: Scale) -> list[Row]:
    if util.get_sync_hook() is not None:
        raise RuntimeError("a sync hook is installed; the 'hook unset' row needs none")
    baseline = build_nohook_baseline()
    n = scale.hook_items
    real, stripped = interleave(
        (write_read1(Channel, n), write_read1(baseline.channel_cls, n)),
        scale.hook_reps,
        scale.run_timeout_s,
        "hook overhead",
    )
    # Pairwise ratios are robust to the machine drifting during the run.
    pair_ratios = sorted(r / s for r, s in zip(real, stripped, strict=False))
    real_s, stripped_s = median(real), median(stripped)
    overhead = (median(pair_ratios) - 1.0) * 100.0
    return [
        Row(
            f"channel write+read(1), hook unset vs no hook at all, {n // 1000}k items",
            f"same code, {baseline.removed_tests} hook tests stripped",
            overhead,
            "%",
            Goal.BELOW,
            5.0,
            refasync_s=real_s,
            baseline_s=stripped_s,
            note=f"median of {len(pair_ratios)} paired ratios; ratio of medians "
            f"{(real_s / stripped_s - 1) * 100:+.1f}%, of minimums "
            f"{(min(real) / min(stripped) - 1) * 100:+.1f}%",
        ).judge()
    ]
