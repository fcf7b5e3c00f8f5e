"""The runtime of an explored run: the hook and the director (:mod:`.run`), the model of
locks, waits and joins (:mod:`.model`), the thread records (:mod:`.threads`) and what a
body gets (:mod:`.session`)."""

from .model import Model, independent
from .run import Run, RunResult, run_once
from .session import Session
from .threads import ControlledThread, ThreadRecord

__all__ = ("ControlledThread", "Model", "Run", "RunResult", "Session", "ThreadRecord",
           "independent", "run_once")
