"""dfs: exhaustive search within a preemption bound, with sleep sets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..runtime.model import independent
from ..schedule import Choice, is_preemption
from .base import StrategyBase

if TYPE_CHECKING:
    from ..runtime.run import Run

__all__ = ("SHARD_DEPTH", "DFSStrategy")

#: dfs shards split the tree at this many branching nodes from the root.
SHARD_DEPTH = 3


@dataclass
class _Node:
    options: list[Choice]
    chosen: Choice
    done: list[Choice]  # choices explored at this node, the current one last
    sleep: list[Choice]  # choices asleep on entry (already covered by a sibling)
    preemptions: int  # preemptions on the path before this node
    last: int | None  # the thread that ran before this node


class DFSStrategy(StrategyBase):
    """Bounded exhaustive search, one run per schedule: replay the path to the deepest
    node with an untried choice, take it, then go on non-preemptively. Choices that would
    exceed the preemption bound are not tried; sleep sets skip orders of independent
    steps already covered. ``shard=(k, n)``: only the subtrees whose choices at the
    first SHARD_DEPTH branching nodes have option indices summing to k modulo n."""

    def __init__(self, preemptions: int, shard: tuple[int, int] = (0, 1)) -> None:
        self.bound = preemptions
        self.stack: list[_Node] = []
        self.prefix: list[Choice] = []
        self.shard = shard
        self.started = False
        self.steps = 0  # the number of choices the last run made
        self._reset()

    def _reset(self) -> None:
        self.depth = 0
        self.preempted = 0
        self.sleep: list[Choice] = []
        self.redundant = False  # every choice asleep: the rest was covered already

    def new_run(self) -> bool:
        if self.started:
            del self.stack[self.steps:]
            if not self._next_prefix():
                return False
        self.started = True
        self._reset()
        return True

    def choose(self, run: Run, options: list[Choice]) -> Choice:
        i = self.depth
        self.depth += 1
        if i < len(self.prefix):
            node = self.stack[i]
            choice = self.prefix[i]
            asleep = node.sleep + node.done[:-1]
        elif self.redundant:
            return run.default(options)
        else:
            awake = [c for c in options if c not in self.sleep]
            if not any(c.kind == "run" for c in awake) and any(c.kind == "run" for c in options):
                awake = []  # only sleeping threads could run: this order was covered
            if not awake:
                self.redundant = True
                return run.default(options)
            choice = run.default(awake)
            self.stack.append(_Node(options, choice, [choice], list(self.sleep),
                                    self.preempted, run.last))
            asleep = self.sleep
        if run.is_preemption(choice, options):
            self.preempted += 1
        self.sleep = [c for c in asleep if c in options and independent(run, c, choice)]
        return choice

    def end_run(self, run: Run) -> bool:
        self.steps = run.steps
        return self._owns_path()

    def _branches(self) -> list[int]:
        """:return: the stack indices of the first SHARD_DEPTH branching nodes."""
        return [i for i, x in enumerate(self.stack) if len(x.options) > 1][:SHARD_DEPTH]

    def _owns_path(self) -> bool:
        """:return: whether the current path belongs to this shard: the sum of the option
        indices chosen at the first SHARD_DEPTH branching nodes, modulo n, is k (a path
        with fewer branching nodes belongs to shard 0)."""
        k, n = self.shard
        branches = self._branches()
        if len(branches) < SHARD_DEPTH:
            return k == 0 or n == 1
        total = sum(self.stack[i].options.index(self.stack[i].chosen) for i in branches)
        return total % n == k

    def _next_prefix(self) -> bool:
        """Set up the next schedule; :return: False when the bound is exhausted."""
        k, n = self.shard
        branches = self._branches()
        while self.stack:
            at = len(self.stack) - 1
            node = self.stack[at]
            before = sum(self.stack[i].options.index(self.stack[i].chosen)
                         for i in branches if i < at)
            for index, option in enumerate(node.options):
                if option in node.done or option in node.sleep:
                    continue
                if n > 1 and len(branches) == SHARD_DEPTH and at == branches[-1] \
                        and (before + index) % n != k:
                    continue  # another shard's subtree
                preempts = is_preemption(node.last, option, node.options)
                if node.preemptions + preempts > self.bound:
                    continue
                node.done.append(option)
                node.chosen = option
                self.prefix = [x.chosen for x in self.stack]
                return True
            self.stack.pop()
        return False
