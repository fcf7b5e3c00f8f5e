"""The operations of the conformance protocol (``conformance/PROTOCOL.md``, section 4) on
any Python package with the seed's module layout: the objects a case names, its logs and
gates, and one method per operation. ``conformance/adapters/module.py`` runs them.
"""

from __future__ import annotations

import gc
import importlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

JSON = Any
Step = dict[str, Any]

GATE_LIMIT_S = 30.0  # a gated function never waits longer than this for its gate
WAIT_LOG_LIMIT_S = 10.0  # wait_log gives up after this


class CallbackError(Exception):
    """What the case's test functions raise (specs "raise" and "raise_if")."""


class RaisingIterator:
    """Yields ``items``; raises ``CallbackError`` once, after ``raise_after`` of them."""

    def __init__(self, items: list[JSON], raise_after: int | None) -> None:
        self._items = list(items)
        self._raise_after = raise_after
        self._given = 0

    def __iter__(self) -> Iterator[JSON]:
        return self

    def __next__(self) -> JSON:
        if self._raise_after is not None and self._given == self._raise_after:
            self._raise_after = None
            raise CallbackError("iterator raised")
        if not self._items:
            raise StopIteration
        self._given += 1
        return self._items.pop(0)

    next = __next__  # what a Python 2 era implementation looks for


def given(step: Step, key: str) -> bool:
    """Whether an optional argument is given: absent and null both mean "the default"
    (PROTOCOL.md, "Defaults")."""
    return step.get(key) is not None


def timeout_value(value: JSON) -> Any:
    """A timeout as the case gives it: a number, or "inf", "-inf", "nan" (not JSON numbers)."""
    return float(value) if isinstance(value, str) else value


class Adapter:
    """The objects a case names, its logs and gates, and the operations on them."""

    def __init__(self, module: str) -> None:
        self.channel = importlib.import_module(f"{module}.channel")
        self.graph = importlib.import_module(f"{module}.graph")
        self.task = importlib.import_module(f"{module}.task")
        self.pool = importlib.import_module(f"{module}.pool")
        self.util = importlib.import_module(f"{module}.util")
        self.thread = importlib.import_module(f"{module}.thread")
        self.objects: dict[str, Any] = {}
        self.logs: dict[str, list[JSON]] = {}
        self.gates: dict[str, threading.Event] = {}
        # id(function) -> (the function, kept so its id stays its own; the spec it was made from)
        self.labels: dict[int, tuple[Callable[[Any], Any], JSON]] = {}
        self.lock = threading.Lock()

    # -- helpers --

    def obj(self, name: str) -> Any:
        with self.lock:
            return self.objects[name]

    def bind(self, name: str, value: Any) -> None:
        with self.lock:
            self.objects[name] = value

    def log(self, name: str) -> list[JSON]:
        with self.lock:
            return self.logs.setdefault(name, [])

    def gate(self, name: str) -> threading.Event:
        with self.lock:
            return self.gates.setdefault(name, threading.Event())

    def fn(self, spec: JSON) -> Callable[[Any], Any]:
        """The function a spec describes (see PROTOCOL.md, "Functions")."""
        kind = spec["fn"]
        then = self.fn(spec["then"]) if "then" in spec else None

        def run(arg: Any) -> Any:
            result = self._apply(kind, spec, arg)
            return then(result) if then is not None else result

        with self.lock:
            self.labels[id(run)] = (run, spec)
        return run

    def _apply(self, kind: str, spec: JSON, arg: Any) -> Any:
        if kind == "identity":
            return arg
        if kind == "add":
            return arg + spec["k"]
        if kind == "mul":
            return arg * spec["k"]
        if kind == "raise":
            raise CallbackError("raised by the case's function")
        if kind == "raise_if":
            if arg == spec["equals"]:
                raise CallbackError(f"raised on {arg!r}")
            return arg
        if kind == "log":
            with self.lock:
                self.logs.setdefault(spec["log"], []).append(
                    len(arg) if spec.get("len") else (list(arg) if isinstance(arg, list) else arg)
                )
            return arg
        if kind == "gate":
            self.gate(spec["gate"]).wait(GATE_LIMIT_S)
            return arg
        if kind == "reverse":
            return list(reversed(arg))
        if kind == "read_if":
            # Reads one item of the named reader (looked up when called: a task function
            # may read its own task's reader, which exists only once the task is added).
            if arg == spec["equals"]:
                self.obj(spec["reader"]).read(1)
            return arg
        raise ValueError(f"unknown function spec {spec!r}")

    def label(self, fun: Any) -> JSON:
        if fun is None:
            return None
        with self.lock:
            known = self.labels.get(id(fun))
        return known[1] if known is not None and known[0] is fun else "<unknown callable>"

    def error_kind(self, exc: BaseException) -> str:
        if isinstance(exc, CallbackError):
            return "CallbackError"
        if isinstance(exc, self.util.ReadOnly):
            return "ReadOnly"
        if isinstance(exc, queue.Full):
            return "Full"
        if isinstance(exc, queue.Empty):
            return "Empty"
        for base in (ValueError, TypeError):
            if isinstance(exc, base):
                return base.__name__
        if type(exc) is RuntimeError:  # not its subclasses (DemandLimitError is a library limit)
            return "RuntimeError"
        return f"Error:{type(exc).__name__}"

    def to_json(self, value: Any, step: Step) -> JSON:
        target = step.get("target")
        with self.lock:
            is_target = target is not None and self.objects.get(target) is value
        if is_target and value is not None:
            return "self"
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, dict):  # a function's label: the spec it was made from
            return value
        if isinstance(value, (list, tuple)):
            return [self.to_json(item, {}) for item in value]
        return f"<{type(value).__name__}>"

    # -- operations --

    def run(self, step: Step) -> JSON:
        op = getattr(self, "op_" + step["op"], None)
        if op is None:
            raise NotImplementedError(f"operation {step['op']!r}")
        return op(step)

    @staticmethod
    def _read_args(step: Step) -> dict[str, Any]:
        return {
            key: timeout_value(step[key]) if key == "timeout" else step[key]
            for key in ("count", "block", "timeout")
            if given(step, key)
        }

    def op_mkchannel(self, step: Step) -> JSON:
        ch = self.channel
        ctype = getattr(ch, step.get("channel") or "Channel")
        if given(step, "maxsize"):
            maxsize, base = step["maxsize"], ctype

            def ctype() -> Any:
                return base(maxsize)

        pair = ch.mkchannel(
            ctype,
            getattr(ch, step.get("writer") or "ChannelWriter"),
            getattr(ch, step.get("reader") or "ChannelReader"),
        )
        self.bind(step["as"][0], pair[0])
        self.bind(step["as"][1], pair[1])
        return None

    def op_write(self, step: Step) -> JSON:
        args = {
            key: timeout_value(step[key]) if key == "timeout" else step[key]
            for key in ("block", "timeout")
            if given(step, key)
        }
        return self.obj(step["target"]).write(step["item"], **args)

    def op_write_many(self, step: Step) -> JSON:
        """write_many of a generator over ``items`` (raising after ``raise_after`` of them)."""
        source = RaisingIterator(step["items"], step.get("raise_after"))
        return self.obj(step["target"]).write_many(item for item in source)

    def op_read(self, step: Step) -> JSON:
        return self.obj(step["target"]).read(**self._read_args(step))

    def op_iterate(self, step: Step) -> JSON:
        return list(iter(self.obj(step["target"])))

    def op_close(self, step: Step) -> JSON:
        return self.obj(step["target"]).close()

    def op_closed(self, step: Step) -> JSON:
        return self.obj(step["target"]).closed()

    def op_size(self, step: Step) -> JSON:
        return self.obj(step["target"]).size()

    def _set_cb(self, step: Step, method: str) -> JSON:
        setter = getattr(self.obj(step["target"]), method)
        if step.get("fn") is None:  # absent or null: uninstall (PROTOCOL.md, "Defaults")
            return self.label(setter())
        spec = step["fn"]
        if isinstance(spec, dict):
            return self.label(setter(self.fn(spec)))
        return self.label(setter(spec))  # null uninstalls; any other value is not callable

    def op_set_pre_cb(self, step: Step) -> JSON:
        return self._set_cb(step, "set_pre_cb")

    def op_set_post_cb(self, step: Step) -> JSON:
        return self._set_cb(step, "set_post_cb")

    def _iterator(self, step: Step) -> Any:
        if "not_iterator" in step:
            return step["not_iterator"]
        return RaisingIterator(step["items"], step.get("raise_after"))

    def op_iterator_reader(self, step: Step) -> JSON:
        self.bind(step["as"], self.channel.IteratorReader(self._iterator(step)))
        return None

    def op_async_queue(self, step: Step) -> JSON:
        self.bind(step["as"], self.util.AsyncQueue(step.get("maxsize") or 0))
        return None

    def op_set_writable(self, step: Step) -> JSON:
        return self.obj(step["target"]).set_writable(step["state"])

    def op_put(self, step: Step) -> JSON:
        args = {key: step[key] for key in ("block", "timeout") if given(step, key)}
        return self.obj(step["target"]).put(step["item"], **args)

    def op_get(self, step: Step) -> JSON:
        args = {key: step[key] for key in ("block", "timeout") if given(step, key)}
        return self.obj(step["target"]).get(**args)

    # graph

    def op_graph(self, step: Step) -> JSON:
        self.bind(step["as"], self.graph.Graph())
        return None

    def op_node(self, step: Step) -> JSON:
        self.bind(step["as"], self.graph.Node(step["as"] if step.get("id") is None else step["id"]))
        return None

    def op_add_node(self, step: Step) -> JSON:
        self.obj(step["target"]).add_node(self.obj(step["node"]))
        return None

    def op_add_edge(self, step: Step) -> JSON:
        return self.obj(step["target"]).add_edge(self.obj(step["u"]), self.obj(step["v"]))

    def op_remove_node(self, step: Step) -> JSON:
        return self.obj(step["target"]).remove_node(self.obj(step["node"]))

    def op_inputs_first(self, step: Step) -> JSON:
        nodes = self.obj(step["target"]).input_inclusive_dfirst_reversed(self.obj(step["node"]))
        return [node.id for node in nodes]

    def op_in_nodes(self, step: Step) -> JSON:
        return sorted(node.id for node in self.obj(step["node"]).in_nodes)

    def op_out_nodes(self, step: Step) -> JSON:
        return sorted(node.id for node in self.obj(step["node"]).out_nodes)

    def op_nodes(self, step: Step) -> JSON:
        return sorted(node.id for node in self.obj(step["target"]).nodes)

    # tasks

    def op_task(self, step: Step) -> JSON:
        kind = step.get("kind") or "IteratorThreadTask"
        fun: Any = self.fn(step["fn"]) if isinstance(step.get("fn"), dict) else step.get("fn")
        options: dict[str, Any] = {
            key: step[key]
            for key in ("apply_single", "min_count", "max_chunksize")
            if given(step, key)
        }
        if given(step, "writer"):
            options["writer"] = self.obj(step["writer"])
        task_id = step["as"] if step.get("id") is None else step["id"]
        if kind == "IteratorThreadTask":
            source = self._iterator(step)
            task = self.task.IteratorThreadTask(source, task_id, fun, **options)
        elif kind == "ChannelThreadTask":
            task = self.task.ChannelThreadTask(self.obj(step["input"]), task_id, fun, **options)
        else:
            raise ValueError(f"unknown task kind {kind!r}")
        self.bind(step["as"], task)
        return None

    def op_get_attr(self, step: Step) -> JSON:
        return getattr(self.obj(step["target"]), step["attr"])

    def op_set_attr(self, step: Step) -> JSON:
        setattr(self.obj(step["target"]), step["attr"], step["value"])
        return None

    def op_set_writer(self, step: Step) -> JSON:
        return self.obj(step["target"]).set_writer(self.obj(step["writer"]))

    def op_process(self, step: Step) -> JSON:
        return self.obj(step["target"]).process(
            **({"count": step["count"]} if given(step, "count") else {})
        )

    def op_is_done(self, step: Step) -> JSON:
        return self.obj(step["target"]).is_done()

    def op_is_closed(self, step: Step) -> JSON:
        return self.obj(step["target"]).is_closed()

    def op_set_done(self, step: Step) -> JSON:
        return self.obj(step["target"]).set_done()

    def op_error(self, step: Step) -> JSON:
        exc = self.obj(step["target"]).error()
        return None if exc is None else self.error_kind(exc)

    # pools

    def op_pool(self, step: Step) -> JSON:
        cls = getattr(self.pool, step.get("kind") or "ThreadPool")
        if given(step, "start_fails_after"):
            cls = self._failing_pool(cls, step["start_fails_after"])
        self.bind(step["as"], cls(step["size"]) if given(step, "size") else cls())
        return None

    @staticmethod
    def _failing_pool(base: Any, allowed: int) -> Any:
        """A subclass of the pool class ``base`` whose worker class (the seed's
        ``WorkerCls``) fails to start, raising ``CallbackError``, once ``allowed`` of its
        threads have started."""
        started = [0]
        worker_base = base.WorkerCls

        def start(worker: Any) -> None:
            if started[0] >= allowed:
                raise CallbackError("the case's worker thread fails to start")
            started[0] += 1
            worker_base.start(worker)

        worker_cls = type("FailingWorker", (worker_base,), {"start": start})
        return type(f"Failing{base.__name__}", (base,), {"WorkerCls": worker_cls})

    def op_chain(self, step: Step) -> JSON:
        """Add ``length`` identity ChannelThreadTasks to the pool, each reading the reader
        before it (the first reads ``input``), with the task options given; name the last
        one's reader ``as``."""
        pool = self.obj(step["target"])
        options: dict[str, Any] = {
            key: step[key] for key in ("min_count", "max_chunksize") if given(step, key)
        }
        reader = self.obj(step["input"])
        identity = self.fn({"fn": "identity"})
        for k in range(step["length"]):
            task = self.task.ChannelThreadTask(reader, f"{step['as']}{k}", identity, **options)
            reader = pool.add_task(task)
        self.bind(step["as"], reader)
        return None

    def op_add_task(self, step: Step) -> JSON:
        reader = self.obj(step["target"]).add_task(self.obj(step["task"]))
        if "as" in step:
            self.bind(step["as"], reader)
        return None

    def op_add_object(self, step: Step) -> JSON:
        """add_task with something that is not a task (a JSON value)."""
        return self.obj(step["target"]).add_task(step["value"])

    def op_num_tasks(self, step: Step) -> JSON:
        return self.obj(step["target"]).num_tasks()

    def op_set_size(self, step: Step) -> JSON:
        return self.obj(step["target"]).set_size(step["size"])

    def op_remove_task(self, step: Step) -> JSON:
        return self.obj(step["target"]).remove_task(self.obj(step["task"]))

    def op_release(self, step: Step) -> JSON:
        return self.obj(step["target"]).release()

    def op_duplicate(self, step: Step) -> JSON:
        self.bind(step["as"], self.obj(step["target"]).duplicate())
        return None

    def op_enter(self, step: Step) -> JSON:
        return self.obj(step["target"]).__enter__()

    def op_exit(self, step: Step) -> JSON:
        return self.obj(step["target"]).__exit__(None, None, None)

    def op_worker_threads(self, step: Step) -> JSON:
        worker = self.thread.WorkerThread
        return sum(1 for t in threading.enumerate() if isinstance(t, worker) and t.is_alive())

    # threads

    def op_worker_start(self, step: Step) -> JSON:
        worker = self.thread.WorkerThread(queue.Queue())
        worker.start()
        self.bind(step["as"], worker)
        return None

    def op_worker_put(self, step: Step) -> JSON:
        """Queue a work item: ``form`` "callable" (fn(arg) as a no-argument callable),
        "tuple" ((fn, (arg,), {})) or "stop" ((WorkerThread.stop,))."""
        worker = self.obj(step["target"])
        form = step["form"]
        if form == "stop":
            item: Any = (self.thread.WorkerThread.stop,)
        else:
            fun, arg = self.fn(step["fn"]), step.get("arg")
            item = (lambda: fun(arg)) if form == "callable" else (fun, (arg,), {})
        worker.inq.put(item)
        return None

    def op_stop_and_join(self, step: Step) -> JSON:
        return self.obj(step["target"]).stop_and_join()

    def op_join(self, step: Step) -> JSON:
        """Join the thread (at most ``timeout`` seconds): whether it is still alive."""
        thread = self.obj(step["target"])
        thread.join(GATE_LIMIT_S if step.get("timeout") is None else step["timeout"])
        return bool(thread.is_alive())

    def op_terminate_threads(self, step: Step) -> JSON:
        """Call, decorated with terminate_threads, a function that starts ``threads``
        TerminatableThreads (each runs until asked to terminate) and, if ``raise``,
        raises CallbackError. Returns how many of them are still alive afterwards; the
        function's error, if any, propagates."""
        base = self.thread.TerminatableThread
        started: list[Any] = []

        class Looper(base):  # type: ignore[misc, valid-type]  # base comes from the module under test
            def run(self) -> None:
                while not self._should_terminate():
                    time.sleep(0.005)

        def body() -> None:
            for _ in range(step["threads"]):
                started.append(Looper().start())
            if step.get("raise"):
                raise CallbackError("raised inside terminate_threads")

        try:
            self.thread.terminate_threads(body)()
        finally:
            self.bind(step["as"], started)
        return sum(1 for t in started if t.is_alive())

    def op_alive(self, step: Step) -> JSON:
        """How many of the threads named ``target`` (a thread or a list) are alive."""
        threads = self.obj(step["target"])
        return sum(1 for t in (threads if isinstance(threads, list) else [threads]) if t.is_alive())

    # control

    def op_drop(self, step: Step) -> JSON:
        with self.lock:
            for name in step["names"]:
                del self.objects[name]
        for _ in range(3):
            gc.collect()
        return None

    def op_gc(self, step: Step) -> JSON:
        for _ in range(3):
            gc.collect()
        return None

    def op_open_gate(self, step: Step) -> JSON:
        self.gate(step["gate"]).set()
        return None

    def op_log(self, step: Step) -> JSON:
        with self.lock:
            return list(self.logs.get(step["log"], []))

    def op_wait_log(self, step: Step) -> JSON:
        """Wait (at most WAIT_LOG_LIMIT_S) until a log holds ``length`` entries: whether it does."""
        deadline = time.monotonic() + WAIT_LOG_LIMIT_S
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.logs.get(step["log"], [])) >= step["length"]:
                    return True
            time.sleep(0.005)
        return False

    def op_sleep(self, step: Step) -> JSON:
        time.sleep(step["seconds"])
        return None
