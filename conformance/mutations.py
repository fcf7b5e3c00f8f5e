"""Rule-breaking mutations of refasync, applied inside the module adapter's process.

Each mutation names the rule of ``docs/semantics.md`` it breaks and edits the source of
one or more refasync modules as they are imported (the files on disk do not change):
``python -m conformance.adapters.module --module refasync --mutation NAME``. An edit
applies to the module it names or, if its text moved, to the one module of refasync that
now holds it; an edit whose text is in no module (or in several) is refused
(``MutationError``), so a mutation never silently stops breaking anything. ``python -m conformance.teeth`` runs the vectors
against every mutation and writes which vectors detect it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType


class MutationError(Exception):
    """A mutation that cannot be applied (unknown name, or an edit that no longer matches)."""


@dataclass(frozen=True)
class Mutation:
    name: str
    rule: str
    what: str  # the broken behaviour, in one line
    edits: tuple[tuple[str, str, str], ...]  # (module, old text, new text): every occurrence


def _m(name: str, rule: str, what: str, *edits: tuple[str, str, str]) -> Mutation:
    return Mutation(name, rule, what, edits)


Q, CH, T, P, G, TH = (
    "refasync.queues",
    "refasync.channel",
    "refasync.task",
    "refasync.pool",
    "refasync.graph",
    "refasync.thread",
)
TB, SC, RD = "refasync.task_base", "refasync.scheduler", "refasync.reader"

MUTATIONS: tuple[Mutation, ...] = (
    _m(
        "timeout_not_restarted",
        "C8",
        "a read's timeout runs from its first wait, not from the last item",
        (Q, "deadline = monotonic() + timeout  # per item: restart", "pass"),
    ),
    _m(
        "close_drops_newest_item",
        "C10",
        "closing a channel drops its newest item",
        (
            Q,
            "                self._writable = False\n                self._generation += 1\n",
            "                self._writable = False\n                self._generation += 1\n"
            "                if self._items:\n                    self._items.pop()\n",
        ),
    ),
    _m(
        "close_wakes_no_reader",
        "C10",
        "close wakes no blocked reader",
        (
            Q,
            "                try:\n                    self.not_empty.notify_all_locked()\n"
            "                finally:\n                    self.not_full.notify_all_locked()",
            "                self.not_full.notify_all_locked()",
        ),
    ),
    _m(
        "close_wakes_no_writer",
        "B3",
        "close wakes no blocked writer",
        (
            Q,
            "                try:\n                    self.not_empty.notify_all_locked()\n"
            "                finally:\n                    self.not_full.notify_all_locked()",
            "                self.not_empty.notify_all_locked()",
        ),
    ),
    _m(
        "read_duplicates_an_item",
        "C11",
        "a read of several items delivers its first one twice",
        (
            Q,
            "            out.extend(items)\n            items.clear()",
            "            out.extend(items)\n            items.clear()\n"
            "            if len(out) > 1:\n                items.append(out[0])",
        ),
    ),
    _m(
        "write_after_close_succeeds",
        "C2",
        "a write to a closed channel adds its item",
        (
            Q,
            '            if not self._writable:\n                raise ReadOnly("write to a closed channel")\n'
            "            if self.maxsize",
            "            if self.maxsize",
        ),
    ),
    _m(
        "second_close_raises",
        "C3",
        "closing a closed channel raises",
        (
            Q,
            "            elif state and not previous:",
            "            elif not state and not previous:\n"
            '                raise ValueError("closed twice")\n            elif state and not previous:',
        ),
    ),
    _m(
        "closed_queue_reopens",
        "C4",
        "set_writable(True) reopens a closed queue",
        (
            Q,
            '                raise ValueError("a closed queue cannot be reopened")',
            "                self._writable = True",
        ),
    ),
    _m(
        "closed_drained_read_blocks",
        "C5",
        "a read of a closed, drained channel waits for its timeout",
        (
            Q,
            "            if (count and len(out) >= count) or not self._writable or not block:",
            "            if (count and len(out) >= count) or (not self._writable and out) or not block:",
        ),
    ),
    _m(
        "read_all_stops_at_first_item",
        "C6",
        "a blocking read(0) returns once it has an item",
        (
            Q,
            "            if (count and len(out) >= count) or not self._writable or not block:",
            "            if (count and len(out) >= count) or (not count and out) or not self._writable or not block:",
        ),
    ),
    _m(
        "read_returns_count_plus_one",
        "C7",
        "a read may return one item more than its count",
        (
            Q,
            "        if count == ALL or count - len(out) >= len(items):",
            "        if count == ALL or count + 1 - len(out) >= len(items):",
        ),
    ),
    _m(
        "bulk_read_takes_one_at_a_time",
        "C9",
        "a blocking read takes one available item, then waits",
        (
            Q,
            "                taken = self._take_locked(out, count)",
            "                taken = self._take_locked(out, min(count, len(out) + 1) if count else count)",
        ),
    ),
    _m(
        "negative_timeout_accepted",
        "C13",
        "a negative timeout means 'do not wait'",
        (
            "refasync.queues",
            "    if not timeout >= 0:\n        raise ValueError",
            "    if timeout < 0:\n        timeout = 0\n    if timeout != timeout:\n        raise ValueError",
        ),
    ),
    _m(
        "full_write_blocks_anyway",
        "B2",
        "a write with block=False to a full channel waits",
        (
            Q,
            '        if not block:\n            raise Full(f"channel is full ({self.maxsize} items) and block is False")',
            "        block = True",
        ),
    ),
    _m(
        "bound_ignored",
        "B4",
        "a bounded channel takes any number of items",
        (
            Q,
            "            if self.maxsize and len(self._items) >= self.maxsize:\n"
            "                self._wait_for_space(block, timeout)",
            "            pass",
        ),
    ),
    _m(
        "pre_write_callback_ignored",
        "K1",
        "the pre-write callback's result is not what is written",
        (
            CH,
            "        if pre_cb is not None:\n            item = pre_cb(item)",
            "        if pre_cb is not None:\n            pre_cb(item)",
        ),
    ),
    _m(
        "pre_read_callback_after_read",
        "K2",
        "the pre-read callback runs after the items were taken",
        (
            CH,
            "        if pre_cb is not None:\n            pre_cb(count)\n        items = read(count, block, timeout)",
            "        items = read(count, block, timeout)\n        if pre_cb is not None:\n            pre_cb(count)",
        ),
    ),
    _m(
        "post_read_failure_loses_items",
        "K3",
        "a failing post-read callback loses the items",
        (
            CH,
            "        except BaseException:\n            self._put_back(items)\n            raise",
            "        except BaseException:\n            raise",
        ),
    ),
    _m(
        "callback_setter_returns_none",
        "K4",
        "set_*_cb returns None instead of the previous callback",
        (
            CH,
            "            previous = self._post_cb\n            self._post_cb = fun\n        return previous",
            "            previous = self._post_cb\n            self._post_cb = fun\n        return None",
        ),
    ),
    _m(
        "iterator_reader_loses_taken_items",
        "K6",
        "an iterator that raises loses the items that read took",
        (
            CH,
            "        except BaseException:\n            self._held = out\n            raise",
            "        except BaseException:\n            raise",
        ),
    ),
    _m(
        "iterator_reader_accepts_iterables",
        "K5",
        "IteratorReader takes any iterable",
        (
            CH,
            "        if not isinstance(iterator, collections.abc.Iterator):",
            "        if not isinstance(iterator, collections.abc.Iterable):\n"
            '            raise ValueError("not iterable")\n        if not isinstance(iterator, collections.abc.Iterator):\n'
            "            iterator = iter(iterator)\n        if False:",
        ),
    ),
    _m(
        "iteration_reads_everything_at_once",
        "C15",
        "iterating a reader stops after the first read(1)",
        (
            CH,
            "        items = self.read(1)\n        if items:\n            return items[0]\n        raise StopIteration",
            "        items = self.read(1)\n        if items and not getattr(self, '_iterated', False):\n"
            "            setattr(self, '_iterated', True)\n            return items[0]\n        raise StopIteration",
        ),
    ),
    _m(
        "mkchannel_reader_first",
        "C1",
        "mkchannel returns (reader, writer)",
        (
            CH,
            "    return wtype(channel), rtype(channel)",
            "    return rtype(channel), wtype(channel)  # type: ignore[return-value]",
        ),
    ),
    _m(
        "write_many_writes_a_prefix",
        "F5",
        "write_many of an iterable that raises writes the items before the error",
        (
            CH,
            "        if not isinstance(items, list):\n            items = list(items)\n        queue = self.channel.queue",
            "        if not isinstance(items, list):\n            done = []\n            try:\n"
            "                for item in items:\n                    done.append(item)\n"
            "            except BaseException:\n                self.channel.queue.put_many(done)\n                raise\n"
            "            items = done\n        queue = self.channel.queue",
        ),
        (
            Q,
            "        if not isinstance(items, list):\n            items = list(items)  # an iterable that raises adds nothing",
            "        if not isinstance(items, list):\n            done = []\n            try:\n"
            "                for item in items:\n                    done.append(item)\n"
            "            except BaseException:\n                if done:\n                    self._extend(done)\n"
            "                raise\n"
            "            items = done",
        ),
    ),
    _m(
        "reverse_edge_added",
        "G1",
        "re-adding an edge in the other direction adds it again",
        (
            G,
            "        if v in u.out_nodes or u in v.out_nodes:\n            return self",
            "        if v in u.out_nodes:\n            return self",
        ),
    ),
    _m(
        "no_cycle_check",
        "G2",
        "an edge that closes a cycle is added",
        (G, "        if creates_cycle(self._output_index(v), id(u), id(v)):", "        if False:"),
    ),
    _m(
        "remove_node_keeps_edges",
        "G3",
        "remove_node leaves its edges in its neighbours",
        (
            G,
            "        for input_node in node.in_nodes:\n            input_node.out_nodes.remove(node)\n",
            "",
        ),
    ),
    _m(
        "inputs_first_unordered",
        "G4",
        "input_inclusive_dfirst_reversed lists the node first",
        (
            G,
            "        return [by_id[i] for i in inputs_first_order(inputs, id(node))]",
            "        return [by_id[i] for i in reversed(inputs_first_order(inputs, id(node)))]",
        ),
    ),
    _m(
        "non_callable_fun_accepted",
        "T1",
        "a task takes a non-callable function",
        (
            TB,
            "        if not callable(fun):\n            raise TypeError",
            "        if False:\n            raise TypeError",
        ),
    ),
    _m(
        "apply_single_ignored",
        "T2",
        "a task calls its function with each item even when apply_single is False",
        (TB, "                if self.apply_single:\n", "                if True:\n"),
    ),
    _m(
        "exact_count_is_exhaustion",
        "T3",
        "a read that returns exactly its count marks the task done",
        (
            TB,
            "                exhausted = count == 0 or len(items) < count",
            "                exhausted = count == 0 or len(items) <= count",
        ),
    ),
    _m(
        "failure_not_kept",
        "T4",
        "a failing task keeps no error",
        (
            TB,
            "                if self._exc is None:\n                    self._exc = exc",
            "                if False:\n                    self._exc = exc",
        ),
    ),
    _m(
        "task_added_twice",
        "T6",
        "a task may be added to a pool twice",
        (
            TB,
            '                raise ValueError(f"task {self.id!r} was already added to {where}")',
            "                pass",
        ),
    ),
    _m(
        "min_count_ignored",
        "P1",
        "a read processes only what it asks for, whatever min_count",
        (
            SC,
            "        total = max(need - outstanding, min_count)  # == sum(plan_chunks(need - outstanding, ...))",
            "        total = need - outstanding",
        ),
        (
            SC,
            "                total = max(need - state.inflight_items, limits[0])",
            "                total = need - state.inflight_items",
        ),
    ),
    _m(
        "unbounded_read_ignores_max_chunksize",
        "P2",
        "a read of everything is one chunk whatever max_chunksize",
        (
            SC,
            "            self._queue_locked(state, plan_unbounded(max_chunksize, workers + 1))",
            "            self._queue_locked(state, [0])",
        ),
    ),
    _m(
        "eager_tasks",
        "P3",
        "adding a task processes all of it at once",
        (
            P,
            "        return PoolReader(channel, task, self)",
            "        task.process(0)\n        return PoolReader(channel, task, self)",
        ),
    ),
    _m(
        "no_helping",
        "P4",
        "a thread inside a chunk never runs a queued upstream chunk itself",
        (
            SC,
            "        if workers == 0 or (block and inside_chunk()):",
            "        if workers == 0:",
        ),
    ),
    _m(
        "pool_read_loses_per_item_restart",
        "P8",
        "a timed pool read's timeout runs from its first wait",
        (
            RD,
            "                    deadline = None  # the timeout is per item: it restarts",
            "                    pass",
        ),
    ),
    _m(
        "pool_read_ignores_timeout",
        "P8",
        "a timed pool read waits as long as it takes",
        (
            RD,
            "                queue.wait_for_change(generation, remaining)",
            "                queue.wait_for_change(generation, None)",
        ),
    ),
    _m(
        "non_blocking_pool_read_runs_chunks",
        "P7",
        "a block=False pool read runs a queued chunk itself",
        (
            SC,
            "        if workers == 0 or (block and inside_chunk()):",
            "        if workers == 0 or not block or inside_chunk():",
        ),
    ),
    _m(
        "outside_reader_runs_chunks",
        "P11",
        "a thread outside every chunk runs queued chunks of a pool with workers",
        (SC, "        if workers == 0 or (block and inside_chunk()):", "        if True:"),
    ),
    _m(
        "failure_drops_produced_items",
        "P9",
        "a failing chunk drops the results it computed before the failure",
        (
            TB,
            "            try:\n                writer.write_many(results, True)\n            except BaseException:\n"
            "                pass  # closed under us",
            "            try:\n                pass\n            except BaseException:\n"
            "                pass  # closed under us",
        ),
    ),
    _m(
        "add_task_takes_bounded_writer",
        "P10",
        "add_task takes a task writing to a bounded channel",
        (P, "            if channel.queue.maxsize:\n", "            if False:\n"),
    ),
    _m(
        "serial_read_leaves_chunks_unrun",
        "P13",
        "a non-blocking read on a pool of size 0 runs no chunk",
        (
            SC,
            "            if workers == 0 and need != ALL and nothing_planned:",
            "            if workers == 0 and need != ALL and nothing_planned and block:",
        ),
        (
            SC,
            "        if workers == 0 or (block and inside_chunk()):",
            "        if (workers == 0 and block) or (block and inside_chunk()):",
        ),
    ),
    _m(
        "nan_timeout_accepted_by_pool_reads",
        "P15",
        "a pool read takes a NaN timeout as no limit",
        (
            CH,
            "        elif timeout is not None:\n            timeout = normalize_timeout(timeout)\n"
            "        with self._cb_lock.held:\n            pre_cb, post_cb",
            "        elif timeout is not None and timeout == timeout:\n            timeout = normalize_timeout(timeout)\n"
            "        elif timeout is not None:\n            timeout = None\n"
            "        with self._cb_lock.held:\n            pre_cb, post_cb",
        ),
    ),
    _m(
        "tasks_share_a_channel",
        "P17",
        "add_task takes a second task writing to another task's channel",
        (
            P,
            "            if other is not None and self._states.get(other.task) is other:",
            "            if False:",
        ),
    ),
    _m(
        "set_size_ignored",
        "W1",
        "set_size starts no worker",
        (
            P,
            "                for _ in range(current, size):",
            "                for _ in range(current, current):",
        ),
    ),
    _m(
        "close_keeps_workers",
        "W3",
        "close ends no worker",
        (
            P,
            "        self.set_size(0)\n        me = threading.current_thread()",
            "        me = threading.current_thread()",
        ),
    ),
    _m(
        "worker_dies_on_error",
        "W5",
        "a WorkerThread stops at the first raising work item",
        (
            TH,
            "            except BaseException:\n                report_to_excepthook()\n",
            "            except BaseException:\n                break\n",
        ),
    ),
    _m(
        "terminate_threads_only_on_return",
        "W6",
        "terminate_threads ends the threads only when the function returns",
        (
            TH,
            "        try:\n            return func(*args, **kwargs)\n        finally:\n",
            "        if True:\n            return_value = func(*args, **kwargs)\n        if True:\n",
        ),
        (
            TH,
            "                do_terminate_threads(started)\n",
            "                do_terminate_threads(started)\n        return return_value\n",
        ),
    ),
    _m(
        "orphans_never_removed",
        "O2",
        "a task whose last handle is released stays in its pool",
        (
            P,
            "                if state.handles == 0 and self._states.get(state.task) is state:",
            "                if False:",
        ),
    ),
    _m(
        "dependent_uses_callers_handle",
        "O1",
        "a dependent task reads through the caller's reader, not a handle of its own",
        (P, "                    task.use_input(source.duplicate())", "                    pass"),
    ),
    _m(
        "removed_task_stays_open",
        "O4",
        "a removed task's channel never closes",
        (
            P,
            "        self._queue.discard_locked(state)\n        task.set_done()",
            "        self._queue.discard_locked(state)",
        ),
    ),
    _m(
        "remove_task_does_not_wait",
        "O5",
        "remove_task returns while the task's chunk is in flight",
        (
            P,
            "            while any(ident != me for s in removed for ident in s.running):",
            "            while False:",
        ),
    ),
    _m(
        "remove_unknown_task_ignored",
        "O8",
        "remove_task of a task never added does nothing",
        (
            P,
            '                raise ValueError(f"task {task.id!r} is not a task of this pool")\n            removed',
            "                return self\n            removed",
        ),
    ),
    _m(
        "block_any_truthy",
        "F4",
        "block takes any value, read as true or false",
        (
            "refasync.sync.condition",
            '    raise TypeError(\n        f"block must be a bool (or 0 or 1), got',
            '    return bool(block)\n    raise TypeError(\n        f"block must be a bool (or 0 or 1), got',
        ),
    ),
    _m(
        "failing_input_drops_its_items",
        "F7",
        "the items an input produced before it raised are lost",
        (
            TB,
            "                input_failure = exc\n                items = self._take_unread()",
            "                input_failure = exc\n                self._take_unread()\n                items = []",
        ),
    ),
    _m(
        "fun_none_delivers_nothing",
        "F9",
        "a task without a function delivers nothing",
        (
            TB,
            '            fun = cast("Callable[[In], Out]", _identity)',
            '            fun = cast("Callable[[In], Out]", lambda item: [] if False else None)',
        ),
    ),
    _m(
        "read_makes_no_room",
        "B1",
        "a read of a full bounded channel does not wake a blocked writer",
        (Q, "        if taken and self.maxsize and self.not_full._waiters:", "        if False:"),
    ),
    _m(
        "serial_full_write_drops_the_item",
        "C14",
        "a write to a full SerialChannel drops its item",
        (
            Q,
            '            raise Full(f"serial channel is full ({self.maxsize} items); it cannot wait")',
            "            return",
        ),
    ),
    _m(
        "set_size_zero_keeps_workers",
        "W2",
        "set_size(0) asks no worker to leave",
        (
            SC,
            "        for worker in (idle + busy)[:count]:",
            "        for worker in (idle + busy)[:0]:",
        ),
    ),
    _m(
        "pool_base_class_works",
        "W4",
        "the Pool base class works as a ThreadPool",
        (
            P,
            '            raise TypeError(\n                f"{cls.__name__} needs LockCls',
            '            cls = ThreadPool\n        if False:\n            raise TypeError(\n                f"{cls.__name__} needs LockCls',
        ),
    ),
    _m(
        "reader_holds_its_pool_weakly",
        "O6",
        "a PoolReader does not keep its pool alive",
        (
            RD,
            "        self._pool = pool  # a handle keeps its pool alive",
            "        self._pool = weakref.proxy(pool)",
        ),
    ),
    _m(
        "read_all_on_workers_demands_nothing",
        "P5",
        "a read of everything on a pool with workers waits for chunks nobody queued",
        (
            SC,
            "            self.ensure_production_locked(state, need, limits)",
            "            if workers == 0 or need != ALL:\n"
            "                self.ensure_production_locked(state, need, limits)",
        ),
    ),
    _m(
        "pool_read_duplicates_an_item",
        "P6",
        "a pool read that takes several items leaves its first one behind",
        (
            Q,
            "                    out = self._get_many_locked(count, False, None)\n",
            "                    out = self._get_many_locked(count, False, None)\n"
            "                    if len(out) > 1:\n                        items.appendleft(out[0])\n",
        ),
    ),
    _m(
        "empty_chunk_calls_fun",
        "T8",
        "a chunk whose read returns nothing calls fun with an empty list",
        (
            TB,
            "            if items:\n                # Results go out in batches",
            "            if True:\n                # Results go out in batches",
        ),
    ),
    _m(
        "release_waits_for_chunks",
        "O3",
        "release() waits for the chunks of its task in flight",
        (
            RD,
            "        self._release()\n",
            "        self._release()\n        pool, task = self._pool, self._task_ref()\n        with pool._lock:\n"
            "            state = pool._states.get(task) if task is not None else None\n"
            "            while state is not None and state.running:\n                pool._queue.chunk_done.wait()\n",
        ),
    ),
    _m(
        "bulk_read_reverses_its_items",
        "C12",
        "a read that takes several items at once returns them newest first",
        (
            Q,
            "            out.extend(items)\n            items.clear()",
            "            out.extend(reversed(items))\n            items.clear()",
        ),
    ),
    _m(
        "timed_pool_read_overruns",
        "P12",
        "a timed pool read returns a second after its timeout expired",
        (
            RD,
            "                    if remaining <= 0:\n                        break",
            '                    if remaining <= 0:\n                        __import__("time").sleep(1.0)\n                        break',
        ),
    ),
    _m(
        "close_is_final",
        "W9",
        "after close(), set_size starts no worker",
        (
            P,
            "        for thread in ending:\n            thread.join()",
            "        for thread in ending:\n            thread.join()\n"
            "        self._closed_for_good = True",
        ),
        (
            P,
            "        size = _check_size(size)\n        stranded",
            "        size = _check_size(size)\n"
            '        if getattr(self, "_closed_for_good", False):\n            size = 0\n        stranded',
        ),
    ),
    _m(
        "demand_recurses",
        "P20",
        "a chunk's upstream chunks are not run first: demand nests one chunk per task of a chain",
        (SC, "            fill_inputs(task, chunk.count)\n", ""),
    ),
    _m(
        "self_read_not_refused",
        "P22",
        "a task function reading its own task's reader is served like any reader",
        (
            SC,
            "        if state.running and threading.get_ident() in state.running:",
            "        if False:",
        ),
    ),
    _m(
        "failed_worker_start_counted",
        "W8",
        "a worker thread that failed to start stays one of the pool's workers",
        (P, "                        queue.worker_start_failed_locked(worker)\n", ""),
    ),
    _m(
        "shrinking_wakes_no_reader",
        "W12",
        "set_size shrinking (close() too) wakes no reader waiting for the pool's tasks",
        (
            P,
            "        finally:\n            poke_readers(stranded)\n        return self",
            "        finally:\n            pass\n        return self",
        ),
    ),
)


def by_name(name: str) -> Mutation:
    for mutation in MUTATIONS:
        if mutation.name == name:
            return mutation
    raise MutationError(f"no mutation named {name!r} (see conformance/mutations.py)")


def package_sources(package: str = "refasync") -> dict[str, Path]:
    """Module name -> source file, for every module of ``package`` (found, not imported)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MutationError(f"cannot find the package {package}")
    sources: dict[str, Path] = {}
    for location in spec.submodule_search_locations:
        root = Path(location)
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            sources[".".join((package, *parts))] = path
    return sources


def resolve(mutation: Mutation) -> list[tuple[str, str, str]]:
    """The mutation's edits, each with the module that holds its text: the module it
    names, or else the one module of the package that has the text (code moves between
    modules when a module is split)."""
    sources = package_sources()
    resolved = []
    for module, old, new in mutation.edits:
        path = sources.get(module)
        if path is None or old not in path.read_text():
            holders = [name for name, source in sources.items() if old in source.read_text()]
            if len(holders) != 1:
                where = (
                    f"in {len(holders)} modules of refasync"
                    if holders
                    else "in no module of refasync"
                )
                raise MutationError(
                    f"{mutation.name}: the text to replace is {where}: {old[:60]!r}"
                )
            module = holders[0]
        resolved.append((module, old, new))
    return resolved


def mutated_source(source: str, module: str, edits: Sequence[tuple[str, str, str]]) -> str:
    for target, old, new in edits:
        if target != module:
            continue
        if old not in source:
            raise MutationError(f"{module}: the text to replace is not there: {old[:60]!r}")
        source = source.replace(old, new)
    return source


class _Loader(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname: str, path: str, edits: Sequence[tuple[str, str, str]]) -> None:
        super().__init__(fullname, path)
        self.edits = edits

    def get_code(self, fullname: str) -> CodeType:
        source = Path(self.path).read_text()
        return compile(
            mutated_source(source, fullname, self.edits), self.path, "exec", dont_inherit=True
        )


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, edits: Sequence[tuple[str, str, str]]) -> None:
        self.edits = edits
        self.modules = {module for module, _, _ in edits}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None:
            raise MutationError(f"cannot find the source of {fullname}")
        spec.loader = _Loader(fullname, spec.origin, self.edits)
        return spec


def install(name: str) -> Mutation:
    """Make the next imports of the mutated modules load their mutated source; call it
    before anything imports refasync."""
    mutation = by_name(name)
    edits = resolve(mutation)
    already = sorted(module for module, _, _ in edits if module in sys.modules)
    if already:
        raise MutationError(f"{', '.join(already)} already imported: install the mutation first")
    sys.meta_path.insert(0, _Finder(edits))
    return mutation


def check_all() -> list[str]:
    """Every mutation whose edits no longer apply to the sources on disk, with why."""
    problems = []
    sources = package_sources()
    for mutation in MUTATIONS:
        try:
            edits = resolve(mutation)
            for module in sorted({module for module, _, _ in edits}):
                path = sources[module]
                compile(
                    mutated_source(path.read_text(), module, edits),
                    str(path),
                    "exec",
                    dont_inherit=True,
                )
        except (MutationError, SyntaxError) as exc:
            problems.append(f"{mutation.name}: {exc}")
    return problems
