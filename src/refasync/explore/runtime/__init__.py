"""The runtime of an explored run: the hook and the director (:mod:`.run`), the threads
entering and leaving it (:mod:`.lifecycle`), the model of locks, waits and joins
(:mod:`.model`), the thread records (:mod:`.threads`), what tells a running thread from
a stuck one (:mod:`.watch`) and what a body gets (:mod:`.session`)."""

from .model import EVERYTHING, Model, StdlibCondition, StdlibLock, step_object, touched_object
from .run import Run, RunResult
from .session import Session
from .threads import ThreadRecord, current_record

__all__ = (
    "EVERYTHING",
    "Model",
    "StdlibCondition",
    "StdlibLock",
    "Run",
    "RunResult",
    "Session",
    "ThreadRecord",
    "current_record",
    "step_object",
    "touched_object",
)
