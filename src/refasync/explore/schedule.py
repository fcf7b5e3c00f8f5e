"""Schedules: the choices of one run, their string form, and what counts as a preemption.

A schedule prints as a short string (``0*4,1,0,2t``: thread 0 four times, then 1, then 0,
then thread 2's timeout fires) that replays the run exactly, because choices are taken at
library points, not bytecodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ("KINDS", "Choice", "Event", "format_schedule", "is_preemption", "parse_schedule")

#: The kinds of choice and their suffix in a schedule string.
KINDS = {"run": "", "timeout": "t", "spurious": "s", "fault": "f"}
_KIND_OF_SUFFIX = {suffix: kind for kind, suffix in KINDS.items() if suffix}


@dataclass(frozen=True, order=True)
class Choice:
    """One scheduling decision: run thread ``tid`` (kind "run"), or resume it from a wait
    by firing its timeout, as a spurious wake-up, or with an injected fault."""

    tid: int
    kind: str = "run"

    def __str__(self) -> str:
        return f"{self.tid}{KINDS[self.kind]}"


def format_schedule(choices: Sequence[Choice]) -> str:
    """:return: ``choices`` as a schedule string (runs of one choice as ``c*n``)."""
    parts: list[str] = []
    i = 0
    while i < len(choices):
        j = i
        while j < len(choices) and choices[j] == choices[i]:
            j += 1
        n = j - i
        parts.append(str(choices[i]) + (f"*{n}" if n > 1 else ""))
        i = j
    return ",".join(parts)


def parse_schedule(text: str) -> list[Choice]:
    """:return: the choices of a schedule string written by :func:`format_schedule`.

    :raise TypeError: if ``text`` is not a string
    :raise ValueError: naming the bad part
    """
    if not isinstance(text, str):
        raise TypeError(f"schedule must be a string such as '0*3,1,2t', got {text!r}")
    choices: list[Choice] = []
    for part in text.strip().split(","):
        if not part:
            continue
        token, _, times = part.strip().partition("*")
        kind = "run"
        if token and token[-1] in _KIND_OF_SUFFIX:
            kind = _KIND_OF_SUFFIX[token[-1]]
            token = token[:-1]
        if not token.isdigit() or (times and not times.isdigit()):
            raise ValueError(f"bad schedule part {part!r} in {text!r}")
        choices.extend([Choice(int(token), kind)] * (int(times) if times else 1))
    return choices


def is_preemption(last: int | None, choice: Choice, options: Sequence[Choice]) -> bool:
    """:return: whether taking ``choice`` among ``options`` is a preemption: the thread
    that ran last (``last``) could go on and another one is chosen, or a timeout, a
    spurious wake-up or a fault is chosen while some thread could run."""
    if last is not None and choice.tid != last and Choice(last) in options:
        return True
    return choice.kind != "run" and any(c.kind == "run" for c in options)


@dataclass(frozen=True)
class Event:
    """One step of a run's trace."""

    step: int
    thread: str
    point: str
    primitive: str
    time: float  # virtual seconds since the run began
    choice: str  # the choice that let the thread continue ("" for recorded-only points)

    def line(self) -> str:
        return (
            f"{self.step:5d}  t={self.time:<8.4g} {self.thread:<24} {self.point:<13} "
            f"{self.primitive}" + (f"  [{self.choice}]" if self.choice else "")
        )
