"""Run one case through an adapter process and bring back its report.

Two ways, both in ``conformance/PROTOCOL.md``:

- **stepwise** (the runner times every operation): the runner sends the setup, then one
  step at a time, and the adapter prints a line as each operation returns. The runner
  alone decides when a step is blocked and how long the window after it lasts, so every
  adapter is timed the same way.
- **batch** (the adapter times itself): the runner sends the whole case and reads one
  report; kept so that adapters written for it go on working.

Either way the adapter process is killed once its case's time is up (``Timing``), and a
report that is not what the protocol says is named as such.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

PACKAGE_ROOT = (
    Path(__file__).resolve().parent.parent
)  # so that `-m conformance.adapters...` imports
CONTROL_LIMIT_S = (
    15.0  # beyond its own sleep, how long a control operation may take (wait_log: 10 s)
)
SETUP_LIMIT_S = 30.0  # how long the adapter may take to start and run a case's setup
STEP_FIELDS_NOT_SENT = {"expect"}

Case = dict[str, Any]
Report = dict[str, Any]


@dataclass(frozen=True)
class Timing:
    """How the runner times a case.

    ``quiescence_s``: an operation not returned this long after it was issued is blocked,
    and the window after each issued step lasts this long while earlier operations run.
    ``final_s``: after the last step, how long operations still running may take.
    ``hang_margin_s``: in batch mode, how much longer than the case's own time budget
    (``budget``) the adapter may take before it is killed; that is the cost of a hung
    adapter, once per attempt.
    """

    quiescence_s: float = 1.0
    final_s: float = 5.0
    hang_margin_s: float = 10.0

    def budget(self, case: Case) -> float:
        """The longest a correct adapter needs for the case: a window per threaded step,
        each control step's own limit, the final wait, and the setup."""
        total = SETUP_LIMIT_S + self.final_s
        for step in case["script"]:
            total += control_limit(step) if "thread" not in step else self.quiescence_s
        return total


def control_limit(step: dict[str, Any]) -> float:
    seconds = step.get("seconds")
    return CONTROL_LIMIT_S + (float(seconds) if isinstance(seconds, (int, float)) else 0.0)


def adapter_step(step: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in step.items() if k not in STEP_FIELDS_NOT_SENT}


def batch_input(case: Case, timing: Timing) -> Case:
    """What a batch adapter gets: the case without the expectations (it needs none)."""
    return {
        "id": case["id"],
        "setup": case.get("setup", []),
        "script": [adapter_step(step) for step in case["script"]],
        "quiescence_s": timing.quiescence_s,
        "final_s": timing.final_s,
    }


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(PACKAGE_ROOT)]))
    return dict(os.environ, PYTHONPATH=path)


def bad_report(case: Case, report: Any) -> str | None:
    """Why ``report`` is not a report of ``case`` as section 2 of PROTOCOL.md has it."""
    if not isinstance(report, dict):
        return f"the report is a JSON {type(report).__name__}, not an object"
    if report.get("id") != case["id"]:
        return (
            f"the report is for case {json.dumps(report.get('id'))}, not {json.dumps(case['id'])}"
        )
    if "setup_error" in report:
        return None if isinstance(report["setup_error"], str) else "its setup_error is not a string"
    results = report.get("results")
    if not isinstance(results, dict):
        return 'the report has no "results" object'
    for step_id, outcome in results.items():
        if why := bad_outcome(outcome):
            return f"the outcome of {step_id} {why}"
    return None


def bad_outcome(outcome: Any) -> str | None:
    if not isinstance(outcome, dict):
        return "is not an object"
    kinds = [key for key in ("value", "error", "pending") if key in outcome]
    if len(kinds) != 1:
        return 'needs exactly one of "value", "error" or "pending"'
    if "error" in outcome and not isinstance(outcome["error"], str):
        return "has an error kind that is not a string"
    return None


def _refused(case: Case, why: str) -> Report:
    return {"id": case["id"], "adapter_error": why, "results": {}}


def _tail(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def run_batch(command: list[str], case: Case, timing: Timing) -> tuple[Report, str]:
    payload = json.dumps(batch_input(case, timing))
    limit = timing.budget(case) + timing.hang_margin_s
    try:
        proc = subprocess.run(
            command, input=payload, capture_output=True, text=True, timeout=limit, env=_env()
        )
    except subprocess.TimeoutExpired as exc:
        stderr = (
            exc.stderr.decode(errors="replace")
            if isinstance(exc.stderr, bytes)
            else (exc.stderr or "")
        )
        return _refused(
            case, f"the adapter did not answer within {limit:.0f} s and was killed"
        ), stderr
    except OSError as exc:
        return _refused(case, f"the adapter could not be started: {exc}"), ""
    lines = proc.stdout.strip().splitlines()
    if not lines:
        return _refused(
            case, f"the adapter exited {proc.returncode} without printing a report"
        ), proc.stderr
    try:
        report = json.loads(lines[-1])
    except json.JSONDecodeError:
        return _refused(case, f"the report is not JSON: {_tail(lines[-1])!r}"), proc.stderr
    if why := bad_report(case, report):
        return _refused(case, f"bad report: {why}"), proc.stderr
    return report, proc.stderr


class _Lines:
    """The adapter's stdout, line by line with the time each arrived, and its stderr."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.inbox: queue.SimpleQueue[tuple[float, str | None]] = queue.SimpleQueue()
        self.stderr: list[str] = []
        assert proc.stdout is not None and proc.stderr is not None
        self.threads = [
            threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True),
            threading.Thread(target=self._drain, args=(proc.stderr,), daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.inbox.put((time.monotonic(), line))
        self.inbox.put((time.monotonic(), None))

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self.stderr.append(line)

    def next(self, until: float) -> tuple[float, str | None] | None:
        """The next line (None at end of output), or None if ``until`` passed first."""
        try:
            return self.inbox.get(timeout=max(0.0, until - time.monotonic()))
        except queue.Empty:
            return None


class _Stepwise:
    """The runner's side of the stepwise protocol for one case."""

    def __init__(self, proc: subprocess.Popen[str], case: Case, timing: Timing) -> None:
        self.proc = proc
        self.case = case
        self.timing = timing
        self.lines = _Lines(proc)
        self.returned: dict[str, tuple[float, dict[str, Any]]] = {}
        self.ended = False
        self.problem: str | None = None

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.ended = True

    def receive(self, until: float) -> dict[str, Any] | None:
        """One message from the adapter before ``until``; records a returned operation."""
        if self.ended or self.problem:
            return None
        got = self.lines.next(until)
        if got is None:
            return None
        at, line = got
        if line is None:
            self.ended = True
            return None
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            self.problem = f"the adapter printed a line that is not JSON: {_tail(line)!r}"
            return None
        if not isinstance(message, dict):
            self.problem = f"the adapter printed {_tail(line)!r}, not a JSON object"
            return None
        if "done" in message:
            outcome = {k: v for k, v in message.items() if k != "done"}
            if why := bad_outcome(outcome):
                self.problem = f"the outcome of {message['done']} {why}"
            else:
                self.returned[str(message["done"])] = (at, outcome)
        return message

    def wait_for(self, step_ids: list[str], until: float) -> None:
        while any(sid not in self.returned for sid in step_ids) and time.monotonic() < until:
            if self.ended or self.problem:
                return
            self.receive(until)

    def run(self) -> Report:
        self.send({"id": self.case["id"], "stepwise": True, "setup": self.case.get("setup", [])})
        until = time.monotonic() + SETUP_LIMIT_S
        answer = None
        while answer is None and time.monotonic() < until and not (self.ended or self.problem):
            answer = self.receive(until)
        if self.problem:
            return _refused(self.case, self.problem)
        if answer is None and self.ended:
            return _refused(self.case, "the adapter gave no answer to the setup and exited")
        if answer is None:  # the implementation hangs in the setup: a failure of the case
            return {
                "id": self.case["id"],
                "results": {},
                "setup_error": f"the setup did not finish within {SETUP_LIMIT_S:.0f} s",
            }
        if "setup_error" in answer:
            return {"id": self.case["id"], "setup_error": str(answer["setup_error"]), "results": {}}
        if answer.get("setup") != "ok":
            return _refused(
                self.case, f"the adapter answered the setup with {_tail(json.dumps(answer))!r}"
            )
        return self._script()

    def _script(self) -> Report:
        issued: list[str] = []
        blocked: dict[str, bool] = {}
        busy: dict[str, str] = {}  # logical thread -> the step it runs
        results: dict[str, Any] = {}
        for step in self.case["script"]:
            sid, thread = step["id"], step.get("thread")
            if thread is not None and thread in busy and busy[thread] not in self.returned:
                results[sid] = {"blocked": False, "error": "Protocol:thread busy"}
                continue
            self.send({"step": adapter_step(step)})
            start = time.monotonic()
            issued.append(sid)
            if thread is None:
                self.wait_for([sid], start + control_limit(step))
                blocked[sid] = False
                continue
            busy[thread] = sid
            deadline = start + self.timing.quiescence_s
            self.wait_for([sid], deadline)
            blocked[sid] = not (sid in self.returned and self.returned[sid][0] <= deadline)
            self.wait_for(issued, deadline)  # the window: earlier operations it released finish
        self.wait_for(issued, time.monotonic() + self.timing.final_s)
        if self.problem:
            return _refused(self.case, self.problem)
        if self.ended and any(sid not in self.returned for sid in issued):
            return _refused(self.case, "the adapter exited while operations were running")
        for sid in issued:
            if sid in self.returned:
                results[sid] = {"blocked": blocked[sid], **self.returned[sid][1]}
            else:
                results[sid] = {"blocked": True, "pending": True}
        return {"id": self.case["id"], "results": results}


def run_stepwise(command: list[str], case: Case, timing: Timing) -> tuple[Report, str]:
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
    except OSError as exc:
        return _refused(case, f"the adapter could not be started: {exc}"), ""
    driver = _Stepwise(proc, case, timing)
    try:
        report = driver.run()
    finally:
        try:
            assert proc.stdin is not None
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for thread in driver.lines.threads:
        thread.join(timeout=1.0)
    return report, "".join(driver.lines.stderr)
