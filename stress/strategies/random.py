"""``--strategy random``: the explorer picks the next thread uniformly at every point."""

from __future__ import annotations

from .explored import Explored

__all__ = ("Random",)


class Random(Explored):
    name = "random"
