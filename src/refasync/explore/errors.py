"""The exceptions of the explorer."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api import Report

__all__ = (
    "Abandoned",
    "CheckpointError",
    "Divergence",
    "ExploreFailure",
    "InjectedFault",
    "ReplayDidNotFail",
)


class InjectedFault(BaseException):
    """The interrupt the explorer raises into a thread (``--faults``): a BaseException,
    like KeyboardInterrupt, arriving before a lock acquisition or while blocked."""


class Abandoned(BaseException):
    """Raised into the threads of a run that is given up (after a failure), so that they
    end; the explorer's thread wrappers swallow it."""


class Divergence(Exception):
    """A replayed or recorded choice was not available, or the run ended before its
    recorded schedule did: the body is not deterministic under its schedule."""


class CheckpointError(ValueError):
    """A dfs checkpoint file cannot be read, written or trusted: the message is one line
    naming the file and what is wrong with it."""


class ExploreFailure(AssertionError):
    """An explored run failed; the message holds the shrunk schedule, the replay line
    and the trace."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


class ReplayDidNotFail(AssertionError):
    """:func:`refasync.explore.reproduce` replayed a schedule that no longer fails (the
    bug was fixed, or the body or the settings changed): a pasted replay line never
    passes silently."""
