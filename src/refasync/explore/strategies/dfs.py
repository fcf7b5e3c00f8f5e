"""dfs: exhaustive search within a preemption bound, with source-DPOR and sleep sets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..checkpoint import Fields, choice, choices
from ..errors import Divergence
from ..runtime.model import EVERYTHING
from ..schedule import Choice, format_schedule, is_preemption
from .base import StrategyBase
from .dpor import HappensBefore, Race, dependent

if TYPE_CHECKING:
    from ..runtime.run import Run

__all__ = ("REDUCTIONS", "SHARD_DEPTH", "DFSStrategy", "Node")

#: dfs shards run the same first schedules until this many branches per shard wait to
#: be explored (or they ran this many schedules per shard alike), then deal the waiting
#: branches out and each explores its own.
SHARD_DEPTH = 16

#: How dfs reduces the tree: "dpor" (source-DPOR and sleep sets, what explore() runs),
#: "sleep" (every choice at every node, sleep sets) or "none" (every choice).
REDUCTIONS = ("dpor", "sleep", "none")

# Choices that are not a thread's scheduling but an outcome the run could have had
# (an injected fault, a spurious wake-up): no race asks for them, dpor tries them all.
_OUTCOMES = ("fault", "spurious")


@dataclass
class Node:
    """One step of the current path: what could be chosen there and what was."""

    options: list[Choice]
    chosen: Choice
    done: list[Choice]  # choices explored here, the current one last
    todo: list[Choice]  # choices still to explore here, in order
    sleep: list[Choice]  # choices asleep on entry (an equivalent order was explored)
    preemptions: int  # preemptions on the path before this node
    last: int | None  # the thread that ran before this node
    foreign: list[Choice] = field(default_factory=list)  # another shard explores these
    beyond: list[Choice] = field(default_factory=list)  # asked for, beyond the bound
    # Choices done here after which their thread could not run (it blocked or ended).
    parked: list[Choice] = field(default_factory=list)


class DFSStrategy(StrategyBase):
    """Bounded exhaustive search, one run per schedule: replay the path to the deepest
    node with a choice left to explore, take it, then go on non-preemptively. With
    ``reduction="dpor"`` a node's choices to explore are those the races of the runs
    through it ask for (source-DPOR), plus every fault and spurious wake-up; with
    "sleep" or "none" they are all its options. Sleep sets ("dpor", "sleep") skip orders
    of independent steps already covered. Choices beyond the preemption bound are not
    tried; when a race asks for one, it is also asked for where the racing thread's run
    of steps began (bounded POR, Coons, Musuvathi, McKinley 2013).
    ``shard=(k, n)``: the shards run the first schedules alike until SHARD_DEPTH * n
    branches are pending (or SHARD_DEPTH * n schedules ran), deal them out round-robin,
    and explore their own."""

    def __init__(
        self, preemptions: int, shard: tuple[int, int] = (0, 1), reduction: str = "dpor"
    ) -> None:
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.bound = preemptions
        self.shard = shard
        self.reduction = reduction
        self.stack: list[Node] = []
        self.prefix: list[Choice] = []
        self.started = False
        self.finished = False
        self.shared = shard[1] > 1  # the shards still run the same schedules
        self.shared_runs = 0  # the schedules they ran alike
        self.steps = 0  # the number of choices the last run made
        self.pruned = 0  # choices at finished nodes the reduction did not need
        self.bounded = 0  # choices asked for but beyond the preemption bound
        self._reset()

    def _reset(self) -> None:
        self.depth = 0
        self.preempted = 0
        self.asleep: list[Choice] = []  # asleep while the step being taken runs
        self.redundant = False  # every choice asleep: the rest was covered already

    def new_run(self) -> bool:
        if self.finished:
            return False
        if self.started:
            del self.stack[self.steps :]
            if self.shared:
                self._deal()
            if not self._next_prefix():
                self.finished = True
                return False
        self.started = True
        self._reset()
        return True

    def choose(self, run: Run, options: list[Choice]) -> Choice:
        i = self.depth
        self.depth += 1
        sleep = self._sleep_after(run, i, options)
        if i < len(self.prefix):
            node = self.stack[i]
            if options != node.options:
                raise Divergence(
                    f"step {i}: the options are {format_schedule(options)}, "
                    f"but were {format_schedule(node.options)} when this "
                    f"path was first run"
                )
            choice = self.prefix[i]
            self.asleep = self._asleep(node, choice) if self.reduction != "none" else []
        elif self.redundant:
            return run.default(options)
        else:
            # The choices not covered already, within the bound (a thread that could run
            # may be asleep: then a timeout, a spurious wake-up or a fault preempts it).
            awake = [
                c
                for c in options
                if c not in sleep and self.preempted + run.is_preemption(c, options) <= self.bound
            ]
            if not awake:
                self.redundant = True
                return run.default(options)
            choice = run.default(awake)
            if self.reduction == "dpor":
                todo = [c for c in options if c.kind in _OUTCOMES and c != choice]
            else:
                todo = [c for c in options if c != choice]
            self.stack.append(
                Node(options, choice, [choice], todo, sleep, self.preempted, run.last)
            )
            self.asleep = sleep
        if run.is_preemption(choice, options):
            self.preempted += 1
        return choice

    @staticmethod
    def _asleep(node: Node, choice: Choice) -> list[Choice]:
        """:return: what sleeps while ``choice`` is taken at ``node``: what slept on
        entry, and each choice done here before whose order with the steps now taken
        was covered within the preemption bound. A schedule that takes ``choice``, steps
        independent of ``d``, then ``d``, equals one that takes ``d`` first, which costs
        ``d``'s preemption here, plus one more if ``d``'s thread could go on after its
        step (the switch to ``choice``'s thread), and nothing more later: ``d`` covered
        it if that is no more than ``choice`` costs here."""
        cost = is_preemption(node.last, choice, node.options)
        return node.sleep + [
            d
            for d in node.done[:-1]
            if (d not in node.parked) + is_preemption(node.last, d, node.options) <= cost
        ]

    def _sleep_after(self, run: Run, i: int, options: list[Choice]) -> list[Choice]:
        """:return: the sleep set at step ``i``: the choices asleep during step ``i - 1``
        that are still options and whose thread's next step is independent of what step
        ``i - 1`` touched (all it may touch: :meth:`Model.may_touch`)."""
        if i == 0 or not self.asleep:
            return []
        ran = run.choices[i - 1].tid
        touched = run.touched[i - 1]
        return [
            c
            for c in self.asleep
            if c in options and c.tid != ran and not dependent(run.may_touch(c), touched)
        ]

    def end_run(self, run: Run) -> bool:
        self.steps = run.steps
        if run.failure is None and run.steps < len(self.prefix):
            raise Divergence(
                f"step {run.steps}: the run ended, but its path went on to "
                f"step {len(self.prefix)} when it was first run"
            )
        self._note_parked(run)
        if self.reduction == "dpor":
            self._add_races(run)
        return not self.shared or self.shard[0] == 0

    def _note_parked(self, run: Run) -> None:
        """Note, at each node of the run, whether the thread its choice ran could not
        run right after (it blocked, or ended as the run's last step)."""
        for i, node in enumerate(self.stack[: run.steps]):
            if node.chosen in node.parked:
                continue
            if (
                i + 1 == run.steps
                and run.failure is None
                or i + 1 < len(self.stack)
                and Choice(node.chosen.tid) not in self.stack[i + 1].options
            ):
                node.parked.append(node.chosen)

    # -- dpor --

    def _add_races(self, run: Run) -> None:
        """Ask, at the node before the first step of each new race of the run, for a
        choice that starts its reversal (unless one is asked for, explored or asleep)."""
        m = min(len(self.stack), len(run.touched))
        order = HappensBefore([self.stack[k].chosen.tid for k in range(m)], run.touched[:m])
        start = max(0, len(self.prefix) - 1)
        for race in [*order.races(start), *self._acquisitions(order, run, start)]:
            second = self.stack[race.second].chosen
            if (
                second not in self.stack[race.first].options
                or second.tid in order.tids[race.first + 1 : race.second]
            ):
                race = self._taking(order, race, run)  # the second step was not pending
            at, wanted = self._reversal(order, race)
            if wanted is None:
                continue
            node = self.stack[at]
            node.todo.append(wanted)
            if node.preemptions + is_preemption(node.last, wanted, node.options) > self.bound:
                # The bound forbids the reversal here: ask for it where the racing
                # thread's run of steps began.
                k = at
                while k > 0 and self.stack[k].last == order.tids[at]:
                    k -= 1
                if k < at:
                    covered, earlier = self._wanted(self.stack[k], [wanted])
                    if earlier is not None:
                        self.stack[k].todo.append(earlier)

    @staticmethod
    def _acquisitions(order: HappensBefore, run: Run, start: int) -> list[Race]:
        """:return: for each step from ``start`` on that begins by taking an object, the
        race with the last step of another thread that began by taking it: two critical
        sections of one lock are reordered even when other locks order them too (the
        ABBA case, where the order of the inner locks hides that of the outer ones)."""
        out = []
        for j in range(start, len(order.tids)):
            taken = run.starts[j]
            if taken == EVERYTHING:
                continue
            i = next((i for i in range(j - 1, -1, -1) if run.starts[i] == taken), None)
            if i is not None and order.tids[i] != order.tids[j]:
                out.append(Race(i, j, order.initials(i, j)))
        return out

    @staticmethod
    def _taking(order: HappensBefore, race: Race, run: Run) -> Race:
        """:return: ``race``, or, when its first step only let go of the object the
        second step takes (a release), the race with the step that took it: a lock's
        critical sections are reversed where one of them began."""
        shared = run.touched[race.first] & run.touched[race.second]
        if (
            EVERYTHING in run.touched[race.first] | run.touched[race.second]
            or run.starts[race.first] in shared
        ):
            return race
        t = order.tids[race.first]
        took = next(
            (
                a
                for a in range(race.first - 1, -1, -1)
                if order.tids[a] == t and run.starts[a] in shared
            ),
            None,
        )
        if took is None:
            return race
        return Race(took, race.second, order.initials(took, race.second))

    def _reversal(self, order: HappensBefore, race: Race) -> tuple[int, Choice | None]:
        """:return: where to ask for which choice to reverse ``race`` (None: nothing to
        ask for). When no initial can start at the race's first step, the second step's
        thread waits there for what the first step's thread holds (a lock it took
        earlier): the reversal starts where that thread took it, the last node before
        ``race.first`` at which the second step could have been taken instead."""
        initials = [self.stack[k].chosen for k in race.initials]
        covered, wanted = self._wanted(self.stack[race.first], initials)
        if covered or wanted is not None:
            return race.first, wanted
        second = self.stack[race.second].chosen
        before = max((k for k in range(race.second) if order.tids[k] == second.tid), default=-1)
        for k in range(race.first - 1, before, -1):
            covered, wanted = self._wanted(self.stack[k], [second])
            if covered or wanted is not None:
                return k, wanted
        return race.first, None

    @staticmethod
    def _wanted(node: Node, initials: list[Choice]) -> tuple[bool, Choice | None]:
        """:return: whether one of ``initials`` is asked for, explored or asleep at
        ``node`` already, else the choice to ask for there to start one of them (a thread
        whose recorded choice is not an option here, e.g. a wait not yet notified, is
        asked to resume otherwise: its timeout), or None if none can start there."""
        covered = set(node.done + node.todo + node.sleep + node.foreign + node.beyond)
        candidates: list[Choice] = []
        for c in initials:
            these = (
                [c]
                if c in node.options
                else [o for o in node.options if o.tid == c.tid and o.kind == "timeout"]
            )
            if covered.intersection(these):
                return True, None
            candidates.extend(these)
        return False, candidates[0] if candidates else None

    # -- shards --

    def _deal(self) -> None:
        """Once SHARD_DEPTH branches per shard are pending, or the shards ran SHARD_DEPTH
        schedules per shard alike, deal the pending branches out round-robin (deepest
        first): another shard's become foreign here, explored by their owner."""
        k, n = self.shard
        pending = [(node, c) for node in reversed(self.stack) for c in node.todo]
        self.shared_runs += 1
        if len(pending) < SHARD_DEPTH * n and self.shared_runs < SHARD_DEPTH * n:
            return
        for index, (node, c) in enumerate(pending):
            if index % n != k:
                node.todo.remove(c)
                node.foreign.append(c)
        self.shared = False

    # -- the next path --

    def _next_prefix(self) -> bool:
        """Set up the next schedule; :return: False when the bound is exhausted."""
        while self.stack:
            node = self.stack[-1]
            while node.todo:
                option = node.todo.pop(0)
                if option in node.done or option in node.sleep or option in node.beyond:
                    continue
                if node.preemptions + is_preemption(node.last, option, node.options) > self.bound:
                    node.beyond.append(option)
                    self.bounded += 1
                    continue
                node.done.append(option)
                node.chosen = option
                self.prefix = [x.chosen for x in self.stack]
                return True
            self.pruned += len(
                set(node.options) - set(node.done) - set(node.foreign) - set(node.beyond)
            )
            self.stack.pop()
        return False

    def skipped(self) -> tuple[int, int]:
        return self.pruned, self.bounded

    # -- checkpoints --

    def state(self) -> dict[str, object]:
        """:return: the search after its last run, as JSON data (see :meth:`restore`)."""
        return {
            "started": self.started,
            "finished": self.finished,
            "shared": self.shared,
            "shared_runs": self.shared_runs,
            "steps": self.steps,
            "pruned": self.pruned,
            "bounded": self.bounded,
            "stack": [_node_state(node) for node in self.stack],
        }

    def restore(self, fields: Fields) -> None:
        """Resume the search :meth:`state` described (after that run's ``end_run``).

        :raise CheckpointError: naming the first field that is wrong
        """
        stack = []
        for index, item in enumerate(fields.items("stack")):
            stack.append(_node_of(Fields(fields.path, item, f"{fields.where}stack[{index}].")))
        self.stack = stack
        self.started, self.finished = fields.flag("started"), fields.flag("finished")
        self.shared = fields.flag("shared") and self.shard[1] > 1
        self.shared_runs = fields.integer("shared_runs")
        self.steps = fields.integer("steps")
        self.pruned, self.bounded = fields.integer("pruned"), fields.integer("bounded")
        self.prefix = [node.chosen for node in self.stack]


def _node_state(node: Node) -> dict[str, object]:
    return {
        "options": format_schedule(node.options),
        "chosen": str(node.chosen),
        "done": format_schedule(node.done),
        "todo": format_schedule(node.todo),
        "sleep": format_schedule(node.sleep),
        "foreign": format_schedule(node.foreign),
        "beyond": format_schedule(node.beyond),
        "parked": format_schedule(node.parked),
        "preemptions": node.preemptions,
        "last": node.last,
    }


def _node_of(fields: Fields) -> Node:
    options = choices(fields, "options")
    if not options or len(set(options)) != len(options):
        raise fields.bad("options", "must be distinct choices, at least one")
    node = Node(
        options,
        choice(fields, "chosen"),
        choices(fields, "done"),
        choices(fields, "todo"),
        choices(fields, "sleep"),
        fields.integer("preemptions"),
        None,
        choices(fields, "foreign"),
        choices(fields, "beyond"),
        choices(fields, "parked"),
    )
    last = fields.integer("last", optional=True)
    node.last = None if last < 0 else last
    for name in ("done", "todo", "sleep", "foreign", "beyond", "parked"):
        if not set(getattr(node, name)) <= set(options):
            raise fields.bad(name, "holds a choice that is not an option")
    if not node.done or node.done[-1] != node.chosen:
        raise fields.bad("chosen", "must be the last choice done")
    return node
