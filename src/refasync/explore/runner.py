"""Running a body once: the hook, the clock and the standard library's controlled
versions in place for the run's threads, the director, and the clean-up."""

from __future__ import annotations

from collections.abc import Callable

from .. import util
from .runtime import Run, RunResult, Session
from .settings import Settings
from .stdlib import installed, monotonic
from .strategies.base import Strategy

__all__ = ("run_once",)


def run_once(
    body: Callable[[Session], object], strategy: Strategy, settings: Settings = Settings()
) -> RunResult:
    """Run ``body`` once under ``strategy`` (its current run: the caller called
    ``new_run``); never raises for a failure of the run.

    :raise RuntimeError: if another run is on in this process
    """
    run = Run(strategy, settings)
    with installed(settings.stdlib):
        previous_hook = util.set_sync_hook(run.hook)
        previous_clock = util.set_clock(monotonic)  # virtual in the run's threads only
        try:
            run.direct(body)
        finally:
            if run.failure is not None or any(t.state != "done" for t in run.threads):
                run.abandon()
            with run.cv:
                run.live = False
            util.set_sync_hook(previous_hook)
            util.set_clock(previous_clock)
    return run.result()
