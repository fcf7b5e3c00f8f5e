"""The recorded channel histories of a scenario instance, after it ran: written as JSON
Lines (``python -m stress --history DIR``, format conformance/HISTORY.md) and, for a
failed instance, pictured as one HTML page (``--html FILE``).

Each :class:`Recorded` is one channel: ``what`` names it in the instance (it becomes the
history's key), ``ops`` are :class:`models.linearizability.Op`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ("Recorded", "failure_page", "history_path", "write_instance_history")

#: The longest a failure page may spend looking for the smallest failing window.
WINDOW_BUDGET_S = 30.0


@dataclass(frozen=True)
class Recorded:
    what: str  # e.g. "channel(maxsize=2, drained)"
    maxsize: int
    ops: list[object]  # models.linearizability.Op


def history_path(directory: str, scenario: str, seed: int) -> str:
    return os.path.join(directory, f"{scenario}-{seed}.jsonl")


def _channels(recorded: Sequence[Recorded]) -> list[object]:
    from conformance.history import ChannelHistory
    from models.linearizability import Op

    return [
        ChannelHistory(r.what, r.maxsize, [op for op in r.ops if isinstance(op, Op)])
        for r in recorded
        if r.ops
    ]


def write_instance_history(
    directory: str, scenario: str, seed: int, recorded: Sequence[Recorded]
) -> str | None:
    """Write the instance's channels (one key each) to ``DIR/<scenario>-<seed>.jsonl``.
    :return: the path, or None when nothing was recorded."""
    from conformance.history import ChannelHistory, write_history_file

    channels = [c for c in _channels(recorded) if isinstance(c, ChannelHistory)]
    if not channels:
        return None
    os.makedirs(directory, exist_ok=True)
    path = history_path(directory, scenario, seed)
    write_history_file(path, channels)
    return path


def failure_page(title: str, message: str, recorded: Sequence[Recorded]) -> str | None:
    """:return: the HTML page of a failed instance: its first non-linearizable channel with
    the smallest failing window, else (the failure was elsewhere, e.g. a hang) its first
    recorded channel; None when nothing was recorded."""
    from conformance.check import check_channel, format_verdict
    from conformance.history import ChannelHistory
    from conformance.html import render_history, render_verdicts

    channels = [c for c in _channels(recorded) if isinstance(c, ChannelHistory)]
    if not channels:
        return None
    deadline = time.monotonic() + WINDOW_BUDGET_S
    for channel in channels:
        verdict = check_channel(channel, deadline)
        if verdict.window is not None:
            return render_verdicts(
                [verdict],
                [_short(message), format_verdict(verdict, False)],
                f"{title}: {channel.key} not linearizable",
            )
    first = channels[0]
    return render_history(first.ops, f"{title}: {first.key}", notes=_short(message))


def _short(message: str, limit: int = 6000) -> str:
    message = re.sub(r"\n{3,}", "\n\n", message)
    return message if len(message) <= limit else message[:limit] + "\n..."
