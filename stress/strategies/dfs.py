"""``--strategy dfs``: the explorer enumerates every schedule of an instance within a
preemption bound (``--preemptions``), at the dfs sizes (one thread per role), until the
bound is exhausted or the instance's share of the budget ends. Its instances record no
history (a recorder's lock would make every operation dependent), so ``--history`` and
``--html`` are refused with it."""

from __future__ import annotations

from .explored import LIMITS_DFS, Explored

__all__ = ("Dfs",)


class Dfs(Explored):
    name = "dfs"
    default_runs = None  # until the bound is exhausted
    limits = LIMITS_DFS
    records_histories = False

    def settings(self) -> dict[str, object]:
        return {"preemptions": self.preemptions}
