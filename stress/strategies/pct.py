"""``--strategy pct``: the explorer's probabilistic concurrency testing, which finds a bug
of depth ``d`` (``--depth``) with a probability it bounds per run."""

from __future__ import annotations

from .explored import Explored

__all__ = ("Pct",)


class Pct(Explored):
    name = "pct"

    def settings(self) -> dict[str, object]:
        return {"depth": self.depth}
