"""The registry of deliberate defects: every broken variant of refasync, each one line
of today's source replaced.

A :class:`Defect` names its site (``"refasync.queues:AsyncQueue.put"``: a module and the
qualified name of a function or method in it), the exact text it replaces there (one
line or expression; a moved statement spans the lines it moves over), and the text put
in its place. :func:`applied` compiles the site's current source with that one change,
in the site's own module namespace, and installs it for the duration of a ``with``
block. A defect whose site is gone, or whose text is not found exactly once in it, raises
:class:`DefectSiteError` naming the site: a defect never tests stale code.

The views: ``stress/broken.py`` (``BROKEN``, the variants the stress harness and the
explorer must catch), ``models/broken.py`` (the defects each state-machine model must
catch) and ``HOOK_FREE`` below (defects that the unit tests of ``make test`` must catch,
models/test_defects.py). Nothing in the library imports this module.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import textwrap
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union

__all__ = (
    "DEFECTS",
    "HOOK_FREE",
    "Defect",
    "DefectSiteError",
    "applied",
    "build",
    "mutated_module_source",
    "site_of",
)

#: What a site holds in its owner's namespace: a function, or one wrapped as a class holds it.
Member = Union[
    types.FunctionType, "staticmethod[..., object]", "classmethod[object, ..., object]", property
]


class DefectSiteError(AssertionError):
    """A defect no longer applies to today's source: its site is gone, or the text it
    replaces is not found exactly once there (re-point the defect)."""


@dataclass(frozen=True)
class Defect:
    name: str
    description: str
    site: str  # "module:Qualified.name" of a function or method
    old: str  # the exact text replaced, found once in the site's source
    new: str  # what replaces it (it says BUG)
    #: In the stress view (``stress.broken.BROKEN``): the harness or the explorer catches it.
    harness: bool = True
    faults: bool = False  # only the fault scenarios (stress/faults.py) can reveal it
    delays: bool = True  # the delay harness is expected to catch it (else: the explorer)
    #: The state-machine models that must catch it (models/test_teeth.py).
    models: tuple[str, ...] = ()
    #: The unit tests (pytest node ids) that catch it in ``make test``'s normal run.
    tests: tuple[str, ...] = ()
    #: CrossHair refutes the site's contract with the defect made (tests/test_crosshair.py).
    crosshair: bool = False


def site_of(defect: Defect) -> tuple[object, str, Member]:
    """:return: (the owner: a module or class, the attribute name, what the owner holds
    there) for ``defect``'s site. :raise DefectSiteError: if the site does not exist."""
    module_name, _, qualname = defect.site.partition(":")
    try:
        owner: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise DefectSiteError(
            f"defect {defect.name}: site {defect.site}: no module {module_name} ({exc})"
        ) from None
    *path, attr = qualname.split(".")
    for part in path:
        owner = vars(owner).get(part) if hasattr(owner, "__dict__") else None
        if not isinstance(owner, type):
            raise DefectSiteError(
                f"defect {defect.name}: site {defect.site}: no class {part} there"
            )
    member = vars(owner).get(attr)
    if not isinstance(member, (types.FunctionType, staticmethod, classmethod, property)):
        raise DefectSiteError(
            f"defect {defect.name}: site {defect.site}: no function "
            f"{attr} there (found {type(member).__name__})"
        )
    return owner, attr, member


def _function_of(member: Member) -> types.FunctionType:
    inner = (
        member.fget
        if isinstance(member, property)
        else (member.__func__ if isinstance(member, (staticmethod, classmethod)) else member)
    )
    if not isinstance(inner, types.FunctionType):
        raise DefectSiteError(f"{member!r} is not a plain function")
    return inner


def build(defect: Defect) -> Member:
    """:return: what the site's owner holds, compiled from the site's current source with
    ``defect.old`` replaced by ``defect.new`` (decorators re-applied).

    :raise DefectSiteError: if the site is gone or ``defect.old`` is not there exactly once
    """
    _, _, member = site_of(defect)
    function = _function_of(member)
    source = _replaced(defect, textwrap.dedent(inspect.getsource(function)))
    freevars = function.__code__.co_freevars
    if freevars not in ((), ("__class__",)):
        raise DefectSiteError(
            f"defect {defect.name}: site {defect.site} is a closure over {freevars}: not supported"
        )
    # Zero-argument super() needs a __class__ cell: the function is compiled inside a
    # factory whose parameter provides it.
    body = textwrap.indent(source, "    ")
    factory = f"def _defect_factory(__class__):\n{body}    return {function.__name__}\n"
    namespace: dict[str, object] = {}
    exec(
        compile(factory, f"<defect {defect.name} in {defect.site}>", "exec"),
        function.__globals__,
        namespace,
    )
    make = namespace["_defect_factory"]
    assert isinstance(make, types.FunctionType)
    owner_cell = function.__closure__[0].cell_contents if function.__closure__ else None
    made = make(owner_cell)
    if isinstance(made, types.FunctionType):
        made.__qualname__ = function.__qualname__
    if not isinstance(made, (types.FunctionType, staticmethod, classmethod, property)):
        raise DefectSiteError(
            f"defect {defect.name}: site {defect.site}: its decorators make a {type(made).__name__}"
        )
    return made


def _replaced(defect: Defect, source: str) -> str:
    found = source.count(defect.old)
    if found != 1:
        raise DefectSiteError(
            f"defect {defect.name}: site {defect.site}: {defect.old!r} "
            f"found {found} times, not once: re-point it at today's source"
        )
    return source.replace(defect.old, defect.new)


def mutated_module_source(defect: Defect) -> str:
    """:return: the source of the site's whole module with the defect made in the site
    (for tools that read a module file: CrossHair, tests/test_crosshair.py).

    :raise DefectSiteError: if the site is gone or ``defect.old`` is not there exactly once
    """
    _, _, member = site_of(defect)
    function = _function_of(member)
    module = inspect.getmodule(function)
    if module is None:
        raise DefectSiteError(f"defect {defect.name}: site {defect.site}: no module source")
    lines = inspect.getsource(module).splitlines(keepends=True)
    site_lines, start = inspect.getsourcelines(function)
    raw = "".join(site_lines)
    margin = raw[: len(raw) - len(raw.lstrip(" "))]
    mutated = textwrap.indent(_replaced(defect, textwrap.dedent(raw)), margin)
    return "".join(lines[: start - 1]) + mutated + "".join(lines[start - 1 + len(site_lines) :])


_install_guard = threading.Lock()  # one defect at a time: its install and its removal
_installed: list[str] = []  # guarded by _install_guard


@contextlib.contextmanager
def applied(name: str) -> Iterator[Defect]:
    """Install the defect ``name`` for the block; the original is restored afterwards.
    One defect at a time: installing a second inside the block raises RuntimeError.

    :raise KeyError: for an unknown name
    :raise DefectSiteError: if the defect no longer applies to today's source
    """
    defect = DEFECTS[name]
    replacement = build(defect)
    owner, attr, original = site_of(defect)
    with _install_guard:
        if _installed:
            raise RuntimeError(f"defect {_installed[0]} is installed: one at a time")
        _installed.append(name)
        setattr(owner, attr, replacement)
    try:
        yield defect
    finally:
        with _install_guard:
            setattr(owner, attr, original)
            _installed.clear()


# --- the registry ------------------------------------------------------------------------

_Q = "refasync.queues:AsyncQueue."
_S = "refasync.sync.condition:HSCondition."
_POOL = "refasync.pool:Pool."
_TASK = "refasync.task:Task.process"
_G = "refasync.graph:Graph."

_ALL: tuple[Defect, ...] = (
    # -- lost wake-ups and wrong waits (the stress harness and the explorer) --
    Defect(
        "notify_before_append",
        "AsyncQueue.put notifies a reader, then appends the item in a second critical section",
        _Q + "put",
        "self._items.append(item)\n",
        "self.not_empty.notify_locked(); self.mutex.release(); self.mutex.acquire(); "
        "self._items.append(item); self._generation += 1; return  # BUG: notified "
        "before the item is there, and not after\n",
    ),
    Defect(
        "wait_without_while",
        "a writer waiting for space re-checks with `if`, not `while`",
        _Q + "_wait_for_space",
        "while len(self._items) >= self.maxsize and self._writable:",
        "if len(self._items) >= self.maxsize and self._writable:  # BUG: `if`",
    ),
    Defect(
        "close_wakes_one",
        "close() wakes one blocked reader, not all",
        _Q + "set_writable",
        "self.not_empty.notify_all_locked()",
        "self.not_empty.notify_locked()  # BUG: one reader woken, not all",
        models=("close",),
    ),
    Defect(
        "unlocked_writer_counter",
        "Task.process counts a chunk in with a read and a "
        "write of its writer counter split by a release of its lock",
        _TASK,
        "self._num_writers += 1\n",
        "seen = self._num_writers; self._wlock.release(); self._wlock.acquire(); "
        "self._num_writers = seen + 1  # BUG: read-modify-write across a release\n",
    ),
    Defect(
        "orphan_removal_races_chunk",
        "remove_task returns while chunks of the removed tasks are in flight",
        _POOL + "remove_task",
        "if self._queue.runs_chunk_here():",
        "if True:  # BUG: returns while chunks of the removed tasks are in flight",
    ),
    Defect(
        "lost_wakeup",
        "HSCondition.notify misses a waiter that released the lock but is not registered yet",
        _S + "wait",
        "self._waiters.append(waiter)\n    raw.release()\n    notified = False\n"
        "    try:\n        if hook is not None:\n"
        "            hook(SyncPoint.RELEASE, self._lock)\n",
        "raw.release()\n    notified = False\n    try:\n"
        "        if hook is not None:\n            hook(SyncPoint.RELEASE, self._lock)\n"
        "        self._waiters.append(waiter)  # BUG: registered after the release\n",
    ),
    Defect(
        "no_helping",
        "a thread inside a chunk waits for queued upstream chunks instead of running them",
        "refasync.pool:ChunkQueue.start_locked",
        "if workers == 0 or (block and inside_chunk()):",
        "if workers == 0:  # BUG: a thread inside a chunk only waits, it never helps",
    ),
    Defect(
        "outside_reader_runs_chunks",
        "a blocking reader outside every chunk runs its task's chunks on a pool with workers",
        "refasync.pool:ChunkQueue.start_locked",
        "if workers == 0 or (block and inside_chunk()):",
        "if workers == 0 or block:  # BUG: any blocking reader runs chunks",
    ),
    Defect(
        "chunk_end_pokes_nobody",
        "a chunk's end does not wake the readers counted as waiting for its task",
        "refasync.pool:ChunkQueue.finish",
        "poke = state.waiting > 0",
        "poke = False  # BUG: readers waiting for the task are not told the chunk ended",
    ),
    # -- the fault dimension --
    Defect(
        "chunk_catches_exception_only",
        "H1: a chunk interrupted by a BaseException drops its results and the task goes on",
        _TASK,
        "    except BaseException as exc:\n        # Items produced",
        "    except Exception as exc:  # BUG: not BaseException\n        # Items produced",
        faults=True,
    ),
    Defect(
        "read_loses_items_on_interrupt",
        "H2: a blocking read interrupted in its wait loses the items it took",
        _Q + "_get_many_locked",
        "self._put_back_locked(out)",
        "pass  # BUG: the items taken are not put back",
        faults=True,
        models=("close",),
    ),
    Defect(
        "failing_input_drops_its_items",
        "M6: the items an input produced before raising are not delivered",
        _TASK,
        "items = self._take_unread()",
        "items = []  # BUG: the unread items are dropped",
        faults=True,
    ),
    Defect(
        "wait_leaves_stale_waiter",
        "L2: a wait without the lock registers its waiter, then fails, leaving it behind",
        _S + "wait",
        "if not raw.locked():",
        "if False:  # BUG: the lock is not checked first",
        faults=True,
    ),
    # -- the explorer's and the dedicated unit tests' --
    Defect(
        "bulk_read_wakes_one",
        "a read taking several items of a bounded channel wakes one blocked writer",
        _Q + "_take_locked",
        "self.not_full.notify_locked(taken)",
        "self.not_full.notify_locked(1)  # BUG: `taken` slots freed, one writer woken",
        delays=False,
    ),
    Defect(
        "put_many_same_generation",
        "put_many does not advance the change generation",
        _Q + "_extend",
        "self._generation += 1\n",
        "pass  # BUG: no generation bump: a reader waiting for a change sleeps on\n",
        delays=False,
        tests=(
            "tests/test_queues.py::test_every_change_advances_the_generation_and_wakes_"
            "the_readers_waiting_for_one[no-hook-put_many]",
        ),
    ),
    Defect(
        "pool_timeout_not_restarted",
        "a pool read's per-item timeout does not restart when items arrive",
        "refasync.pool:PoolReader._demand_read",
        "deadline = None  # the timeout is per item: it restarts",
        "pass  # BUG: one timeout for the whole read",
        delays=False,
    ),
    Defect(
        "close_forgets_readers",
        "closing does not wake blocked readers",
        _Q + "set_writable",
        "self.not_empty.notify_all_locked()",
        "pass  # BUG: closing does not wake blocked readers",
        delays=False,
        models=("close",),
    ),
    Defect(
        "close_forgets_writers",
        "closing does not wake writers blocked on a full channel",
        _Q + "set_writable",
        "self.not_full.notify_all_locked()",
        "pass  # BUG: closing does not wake writers blocked on a full channel",
        delays=False,
        models=("close",),
    ),
    Defect(
        "write_wakes_nobody",
        "a write does not wake a blocked reader",
        _Q + "put",
        "self.not_empty.notify_locked()",
        "pass  # BUG: a write wakes nobody",
        delays=False,
        models=("close",),
    ),
    Defect(
        "put_back_at_the_end",
        "items a failed read puts back go to the back, not the front",
        _Q + "_put_back_locked",
        "self._items.extendleft(reversed(items))",
        "self._items.extend(items)  # BUG: put back at the end",
        faults=True,
        delays=False,
        models=("channel",),
    ),
    Defect(
        "orphans_never_removed",
        "a dropped handle is never counted, so orphans are never removed",
        _POOL + "_collect_orphans_locked",
        "state.handles -= 1",
        "continue  # BUG: a dropped handle is never counted",
        delays=False,
        models=("orphan",),
    ),
    Defect(
        "removal_forgets_inputs",
        "removing a task keeps its handle on its input, so orphaned inputs are not removed",
        _POOL + "_remove_locked",
        "source.release()",
        "pass  # BUG: the input's handle is kept",
        delays=False,
        models=("orphan",),
    ),
    Defect(
        "iterator_read_unlocked",
        "IteratorReader.read does not take its lock",
        "refasync.channel:IteratorReader.read",
        "with self._lock.completing:\n            out = self._read_locked",
        "if True:  # BUG: the lock is not taken\n            out = self._read_locked",
        delays=False,
    ),
    # -- sequential: one thread shows them; the models catch them --
    Defect(
        "bulk_read_drops_last_item",
        "a read of more than one item loses its last item",
        _Q + "read",
        "return out\n",
        "return out[:-1] if len(out) > 1 else out  # BUG: the last item is lost\n",
        harness=False,
        models=("channel", "close"),
    ),
    Defect(
        "read_all_returns_an_item_twice",
        "a read-all returns its first item twice",
        _Q + "read",
        "return out\n",
        "return out + out[:1] if count == ALL else out  # BUG: an item twice\n",
        harness=False,
        models=("channel", "close"),
    ),
    Defect(
        "write_ignores_capacity",
        "a write to a full bounded channel succeeds at once",
        _Q + "put",
        "self._wait_for_space(block, timeout)",
        "pass  # BUG: capacity ignored",
        harness=False,
        models=("channel",),
    ),
    Defect(
        "writable_after_close",
        "a write to a closed channel succeeds",
        _Q + "put",
        "if not self._writable:",
        "if False:  # BUG: closed is not checked",
        harness=False,
        models=("channel",),
    ),
    Defect(
        "removal_removes_dependents",
        "removing a task also removes the tasks reading from it, though they are held",
        _POOL + "_remove_locked",
        "self._tasks.remove_node(task)",
        "[self._remove_locked(self._states[d]) for d in list(task.out_nodes) "
        "if d in self._states]; self._tasks.remove_node(task)  # BUG: dependents too",
        harness=False,
        models=("orphan",),
    ),
    Defect(
        "removed_task_stays_in_graph",
        "a removed task is done but stays in the graph",
        _POOL + "_remove_locked",
        "self._tasks.remove_node(task)",
        "pass  # BUG: the node stays",
        harness=False,
        models=("orphan",),
    ),
    Defect(
        "no_cycle_check",
        "add_edge never checks for a cycle",
        _G + "add_edge",
        "if creates_cycle(self._output_index(v), id(u), id(v)):",
        "if False:  # BUG: no cycle check",
        harness=False,
        models=("graph",),
    ),
    Defect(
        "reverse_edge_is_a_cycle",
        "re-adding an edge in the reverse direction raises instead of being a no-op",
        _G + "add_edge",
        "if v in u.out_nodes or u in v.out_nodes:",
        "if v in u.out_nodes:  # BUG: a reverse edge goes on to the cycle check",
        harness=False,
        models=("graph",),
    ),
    Defect(
        "removal_keeps_edges",
        "remove_node leaves the edges to its neighbours",
        _G + "remove_node",
        "self.nodes.remove(node)\n",
        "self.nodes.remove(node); return self  # BUG: the edges stay\n",
        harness=False,
        models=("graph",),
    ),
    Defect(
        "duplicate_ancestors",
        "input_inclusive_dfirst_reversed lists an ancestor shared by two inputs twice",
        _G + "input_inclusive_dfirst_reversed",
        "return [by_id[i] for i in inputs_first_order(inputs, id(node))]",
        "return [by_id[i] for n in node.in_nodes for i in inputs_first_order(inputs, "
        "id(n))] + [node]  # BUG: an ancestor once per input",
        harness=False,
        models=("graph",),
    ),
    # -- hook-free teeth: fast paths and notifies that every program runs; the unit tests
    #    of make test catch each (models/test_defects.py runs them with the defect) --
    Defect(
        "shortcut_on_bounded_queue",
        "the one-item read's shortcut is taken on a "
        "bounded queue too, so a writer waiting for space is not woken",
        _Q + "read",
        "if count == 1 and items and not self.maxsize:",
        "if count == 1 and items:  # BUG: the shortcut skips the not_full notify",
        harness=False,
        tests=(
            "tests/test_queues.py::test_bounded_put_blocks_until_a_get_makes_room[no-hook]",
            "tests/test_queues.py::test_the_read_shortcut_does_what_the_general_read_does[no-hook]",
        ),
    ),
    Defect(
        "poke_wakes_one",
        "poke wakes one reader waiting for a change, not all",
        _Q + "poke",
        "self.not_empty.notify_all_locked()",
        "self.not_empty.notify_locked()  # BUG: one reader woken, not all",
        harness=False,
        tests=(
            "tests/test_queues.py::test_every_change_advances_the_generation_and_wakes_"
            "the_readers_waiting_for_one[no-hook-poke]",
        ),
    ),
)

_PLAN = "refasync.plan:plan_chunks"
_PLAN_RETURN = "return [max_chunksize] * full + ([rest] if rest else [])"


def _contract(name: str, description: str, site: str, old: str, new: str) -> Defect:
    return Defect(name, description, site, old, new, harness=False, crosshair=True)


#: The pure decision functions' defects: CrossHair must refute each against the real
#: contract, which the mutated function keeps (tests/test_crosshair.py).
_CONTRACTS = (
    _contract(
        "plan_zero_tail",
        "a demand that is a multiple of max_chunksize gets an empty last chunk",
        _PLAN,
        _PLAN_RETURN,
        "return [max_chunksize] * full + [rest]  # BUG: [rest] even when rest == 0",
    ),
    _contract(
        "plan_ignores_min_count",
        "the split forgets min_count once the total is over a chunk",
        _PLAN,
        "full, rest = divmod(total, max_chunksize)",
        "full, rest = divmod(demand, max_chunksize)  # BUG: demand instead of total",
    ),
    _contract(
        "plan_oversized_chunk",
        "a chunk may exceed max_chunksize by one item",
        _PLAN,
        "if max_chunksize == 0 or total <= max_chunksize:",
        "if max_chunksize == 0 or total <= max_chunksize + 1:  # BUG: + 1",
    ),
    _contract(
        "plan_half_chunks",
        "valid chunks, but each split in two: not the fewest",
        _PLAN,
        _PLAN_RETURN,
        "return [h for c in [max_chunksize] * full + ([rest] if rest else []) "
        "for h in (c // 2, c - c // 2) if h]  # BUG: every chunk halved",
    ),
    _contract(
        "cycle_check_one_edge_deep",
        "creates_cycle looks one edge deep",
        "refasync.graph:creates_cycle",
        "                stack.append(out)\n",
        "                pass  # BUG: one edge deep\n",
    ),
    _contract(
        "order_without_transitive_inputs",
        "inputs_first_order places a node's inputs without theirs",
        "refasync.graph:inputs_first_order",
        "                stack.append((child, 0))\n",
        "                order.append(child); placed.add(child)  # BUG: not transitive\n",
    ),
    _contract(
        "count_always_1",
        "normalize_count maps every positive count to 1",
        "refasync.queues:normalize_count",
        "return count if count > 0 else ALL",
        "return 1 if count > 0 else ALL  # BUG",
    ),
    _contract(
        "timeout_always_0",
        "normalize_timeout maps every timeout to 0",
        "refasync.queues:normalize_timeout",
        "return float(timeout)",
        "return 0.0  # BUG",
    ),
)
_ALL += _CONTRACTS

DEFECTS: dict[str, Defect] = {d.name: d for d in _ALL}
assert len(DEFECTS) == len(_ALL), "two defects share a name"

#: The defects the unit tests of ``make test`` catch, each with the tests that do.
HOOK_FREE: dict[str, tuple[str, ...]] = {d.name: d.tests for d in _ALL if d.tests}
