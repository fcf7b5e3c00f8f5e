"""The exceptions of the explorer."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api import Report

__all__ = ("Abandoned", "Divergence", "ExploreFailure", "InjectedFault")


class InjectedFault(BaseException):
    """The interrupt the explorer raises into a thread (``--faults``): a BaseException,
    like KeyboardInterrupt, arriving before a lock acquisition or while blocked."""


class Abandoned(BaseException):
    """Raised into the threads of a run that is given up (after a failure), so that they
    end; the explorer's thread wrappers swallow it."""


class Divergence(Exception):
    """A replayed or recorded choice was not available, or the run ended before its
    recorded schedule did: the body is not deterministic under its schedule."""


class ExploreFailure(AssertionError):
    """An explored run failed; the message holds the shrunk schedule, the replay line
    and the trace."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report
