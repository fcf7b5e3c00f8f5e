"""What every run of one exploration shares, and the explorer's default bounds."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("BLOCKED_S", "EARLY_TIMEOUTS", "MAX_STEPS", "STALL_S", "Settings")

#: How long a controlled thread may run between two points before the run fails as
#: "uncontrolled blocking" (a blocking call outside refasync.util), in wall seconds.
STALL_S = 10.0

#: How long a controlled thread may sleep in the operating system at one instruction
#: (blocked on a lock, a join or a socket the explorer does not control) before the run
#: fails as "uncontrolled blocking", in wall seconds (where the system tells: Linux).
BLOCKED_S = 1.0

#: How many timeouts may fire in one run while some thread could run instead (an "early"
#: timeout: a timed wait expiring before the work it waits for). Beyond that, a timeout
#: fires only when no thread can run. Without a bound, idle workers' periodic checks and
#: timed readers' expiries compete with progress at every step, and a run's length grows
#: with virtual time instead of with its work. Under dfs an early timeout is also a
#: preemption.
EARLY_TIMEOUTS = 3

#: The livelock bound: a run still going after this many steps fails. Explorations,
#: replays and the stress campaigns share it, so a replay sees what its campaign saw.
MAX_STEPS = 3000


@dataclass(frozen=True)
class Settings:
    """What every run of one exploration shares (a replay needs the same)."""

    faults: int = 0  # injected faults per run (0 or 1)
    spurious: bool = False  # spurious wake-ups are choices
    max_steps: int = MAX_STEPS  # the livelock bound
    switch_on_release: bool = True  # RELEASE is a switch point (not under dfs)
    early_timeouts: int = EARLY_TIMEOUTS  # timeouts that may fire while a thread could run
    stall_s: float = STALL_S  # wall seconds a thread may run between two points
    blocked_s: float = BLOCKED_S  # wall seconds a thread may sit blocked outside control
    stdlib: bool = True  # the standard library's primitives and clock are controlled

    @classmethod
    def of(
        cls,
        strategy: str,
        *,
        faults: bool = False,
        spurious: bool = True,
        max_steps: int = MAX_STEPS,
        early_timeouts: int = EARLY_TIMEOUTS,
        stall_s: float = STALL_S,
        blocked_s: float = BLOCKED_S,
        stdlib: bool = True,
    ) -> Settings:
        """:return: the settings ``explore`` runs ``strategy`` with: dfs does not switch
        at RELEASE, and makes spurious wake-ups choices only with faults."""
        return cls(
            1 if faults else 0,
            spurious and (faults or strategy != "dfs"),
            max_steps,
            strategy != "dfs",
            early_timeouts,
            stall_s,
            blocked_s,
            stdlib,
        )
