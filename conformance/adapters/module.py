"""Conformance adapter for any Python implementation of the seed's API.

``python -m conformance.adapters.module --module NAME`` runs one case against the package
``NAME`` (its submodules ``channel``, ``graph``, ``task``, ``pool``, ``util`` and
``thread``, as in the seed; the operations are in ``operations.py``). It speaks both forms
of ``conformance/PROTOCOL.md``: stepwise (the first line on stdin says so; the runner
times the steps) and batch (the whole case on stdin, one report on stdout; ``--window``
chooses how long it waits after a step). ``--mutation NAME`` breaks one rule of refasync
first (``conformance/mutations.py``), ``--broken NAME`` installs one of the stress
harness's broken variants (the registry ``models/defects.py``).
It uses nothing but the seed's API, so it grades refasync (``--module refasync``, the
runner's default) and the original library copied under another name alike.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from conformance import mutations
from conformance.adapters.operations import JSON, Adapter, Step


class Outcome:
    """One issued operation: done once its thread has run it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: dict[str, JSON] = {}


class LogicalThread:
    """A thread that runs the operations issued to it, one at a time."""

    def __init__(
        self, adapter: Adapter, name: str, say: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self.adapter = adapter
        self.say = say  # stepwise: how to report each returned operation
        self.inbox: queue.SimpleQueue[tuple[Step, Outcome]] = queue.SimpleQueue()
        self.current: Outcome | None = None
        threading.Thread(target=self._serve, name=f"conformance-{name}", daemon=True).start()

    def issue(self, step: Step) -> Outcome:
        outcome = Outcome()
        self.current = outcome
        self.inbox.put((step, outcome))
        return outcome

    def busy(self) -> bool:
        return self.current is not None and not self.current.done.is_set()

    def _serve(self) -> None:
        while True:
            step, outcome = self.inbox.get()
            outcome.result = perform(self.adapter, step)
            if self.say is not None:
                self.say({"done": step["id"], **outcome.result})
            del step
            outcome.done.set()
            del outcome


def perform(adapter: Adapter, step: Step) -> dict[str, JSON]:
    """Run one operation; its value or its error kind, never the objects themselves."""
    try:
        return {"value": adapter.to_json(adapter.run(step), step)}
    except Exception as exc:  # every error is an outcome; the case says which one is right
        return {"error": adapter.error_kind(exc)}


def run_setup(adapter: Adapter, case: dict[str, Any]) -> str | None:
    """Run the case's setup: None, or "op: Kind" of the operation that raised."""
    for step in case.get("setup", []):
        result = perform(adapter, step)
        if "error" in result:
            return f"{step['op']}: {result['error']}"
    return None


def run_case(adapter: Adapter, case: dict[str, Any], window: str = "full") -> dict[str, Any]:
    quiescence = float(case.get("quiescence_s", 0.5))
    final_wait = float(case.get("final_s", 5.0))
    error = run_setup(adapter, case)
    if error:
        return {"id": case["id"], "setup_error": error, "results": {}}
    threads: dict[str, LogicalThread] = {}
    outcomes: dict[str, tuple[bool, Outcome]] = {}
    for step in case["script"]:
        if "thread" not in step:  # a control operation, run inline
            outcome = Outcome()
            outcome.result = perform(adapter, step)
            outcome.done.set()
            outcomes[step["id"]] = (False, outcome)
            continue
        thread = threads.get(step["thread"])
        if thread is None:
            thread = threads[step["thread"]] = LogicalThread(adapter, step["thread"])
        if thread.busy():
            outcome = Outcome()
            outcome.result = {"error": "Protocol:thread busy"}
            outcome.done.set()
            outcomes[step["id"]] = (False, outcome)
            continue
        outcome = thread.issue(step)
        deadline = time.monotonic() + quiescence
        issued_done = outcome.done.wait(quiescence)
        # Let operations this one unblocked finish before the next is issued ("issued":
        # the other reading of the batch protocol, which waits for this step alone).
        for _, other in list(outcomes.values()) if window == "full" else []:
            other.done.wait(max(0.0, deadline - time.monotonic()))
        outcomes[step["id"]] = (not issued_done, outcome)
    deadline = time.monotonic() + final_wait
    for _, outcome in outcomes.values():
        outcome.done.wait(max(0.0, deadline - time.monotonic()))
    results: dict[str, Any] = {}
    for step_id, (blocked, outcome) in outcomes.items():
        if outcome.done.is_set():
            results[step_id] = {"blocked": blocked, **outcome.result}
        else:
            results[step_id] = {"blocked": True, "pending": True}
    return {"id": case["id"], "results": results}


def run_stepwise(adapter: Adapter, header: dict[str, Any]) -> None:
    """The adapter's side of the stepwise protocol: run the setup, then each step as it
    comes, printing a line as each operation returns; stop at the end of the input."""
    out = threading.Lock()

    def say(message: dict[str, Any]) -> None:
        with out:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

    error = run_setup(adapter, header)
    say({"setup_error": error} if error else {"setup": "ok"})
    if error:
        return
    threads: dict[str, LogicalThread] = {}
    for line in sys.stdin:
        step = json.loads(line)["step"]
        if "thread" not in step:
            say({"done": step["id"], **perform(adapter, step)})
            continue
        thread = threads.get(step["thread"])
        if thread is None:
            thread = threads[step["thread"]] = LogicalThread(adapter, step["thread"], say)
        thread.issue(step)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", required=True, help="the package implementing the API")
    parser.add_argument(
        "--mutation",
        metavar="NAME",
        help="break one rule of the package first (conformance/mutations.py)",
    )
    parser.add_argument(
        "--broken",
        metavar="NAME",
        help="install a broken variant of refasync (models/defects.py, harness defects) first",
    )
    parser.add_argument(
        "--window",
        choices=("full", "issued"),
        default="full",
        help="batch mode: after a step, wait for every running operation (full) or, "
        "as the other reading of the protocol, for that step alone (issued)",
    )
    args = parser.parse_args(argv)
    if args.mutation:
        try:
            mutations.install(args.mutation)
        except mutations.MutationError as exc:
            print(f"--mutation: {exc}", file=sys.stderr)
            os._exit(2)
    if args.broken:
        from models.defects import DEFECTS, applied  # test-only variants of refasync itself

        if args.broken not in DEFECTS or not DEFECTS[args.broken].harness:
            print(
                f"--broken: no variant named {args.broken!r} (see models/defects.py, harness=True)",
                file=sys.stderr,
            )
            os._exit(2)
        installed = applied(args.broken)  # kept: collecting it would uninstall the variant
        installed.__enter__()
    first = sys.stdin.readline()
    header: Any = json.loads(first) if first.strip() else None
    stepwise = isinstance(header, dict) and header.get("stepwise") is True
    case: dict[str, Any] = header if stepwise else json.loads(first + sys.stdin.read())
    try:
        adapter = Adapter(args.module)
    except ImportError as exc:
        print(f"cannot import {args.module}: {exc}", file=sys.stderr)
        os._exit(3)
    except mutations.MutationError as exc:
        print(f"--mutation: {exc}", file=sys.stderr)
        os._exit(2)
    if stepwise:
        run_stepwise(adapter, case)
    else:
        report = run_case(adapter, case, args.window)
        sys.stdout.write(json.dumps(report) + "\n")
        sys.stdout.flush()
    # Blocked operations may still hold threads: leave without waiting for them.
    os._exit(0)


if __name__ == "__main__":
    main()
