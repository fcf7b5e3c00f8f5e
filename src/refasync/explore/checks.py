"""Checking the explorer's arguments: every error names the argument and what it got."""

from __future__ import annotations

import inspect
import math

from .strategies import NAMES

__all__ = (
    "check_body",
    "check_flag",
    "check_int",
    "check_seconds",
    "check_shard",
    "check_strategy",
)


def check_body(function: str, body: object) -> None:
    """A body is a plain callable taking the session (not a coroutine function: nothing
    would run its awaits)."""
    if not callable(body):
        raise TypeError(f"{function}: body must be a callable taking the session, got {body!r}")
    if (
        inspect.iscoroutinefunction(body)
        or inspect.isasyncgenfunction(body)
        or inspect.iscoroutinefunction(getattr(body, "__call__", None))  # noqa: B004 (an async __call__)
    ):
        raise TypeError(
            f"{function}: body must be a plain callable, not a coroutine "
            f"function ({body!r}): explore runs threads, not an event loop"
        )


def check_strategy(function: str, strategy: object) -> str:
    if not isinstance(strategy, str) or strategy not in NAMES:
        raise ValueError(
            f"{function}: strategy must be one of {', '.join(map(repr, NAMES))}, got {strategy!r}"
        )
    return strategy


def check_int(function: str, name: str, value: object, minimum: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{function}: {name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{function}: {name} must be >= {minimum}, got {value}")
    return value


def check_seconds(
    function: str, name: str, value: object, allow_zero: bool = False, allow_none: bool = False
) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{function}: {name} must be a number of seconds, got {value!r}")
    if math.isnan(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(
            f"{function}: {name} must be {'>= 0' if allow_zero else 'positive'}, got {value}"
        )
    return float(value)


def check_flag(function: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{function}: {name} must be True or False, got {value!r}")
    return value


def check_shard(function: str, shard: object) -> tuple[int, int]:
    if not (
        isinstance(shard, tuple)
        and len(shard) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in shard)
        and 0 <= shard[0] < shard[1]
    ):
        raise ValueError(f"{function}: shard must be (k, n) with 0 <= k < n, got {shard!r}")
    return shard[0], shard[1]
