"""How big each workload is: ``QUICK`` (under 60 s in all) and ``FULL`` (``make bench``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("FULL", "QUICK", "Scale")


@dataclass(frozen=True)
class Scale:
    name: str
    reps: int  # A/B repetitions of the one-channel rows
    items: int  # items per one-channel run (200k in the full run)
    pool_items: int  # items through the serial pool chain (1000 in the full run)
    pool_reps: int
    growth_items: int  # items per run of the read(1) growth table (depth x pool size)
    growth_reps: int
    sha_blocks: int  # 1 MiB blocks hashed (64 in the full run)
    sha_reps: int
    sleep_calls: int  # 2 ms sleeps (200 in the full run)
    sleep_reps: int
    latency_samples: int  # wake-ups measured per side
    memory_items: int  # items through the bounded channel (400k in the full run)
    hook_items: int  # write+read(1) pairs per hook-overhead run (short: less noise per run)
    hook_reps: int
    run_timeout_s: float  # limit for any single timed run


QUICK = Scale(
    name="quick",
    reps=5,
    items=200_000,
    pool_items=1000,
    pool_reps=9,
    growth_items=200,
    growth_reps=3,
    sha_blocks=64,
    sha_reps=3,
    sleep_calls=200,
    sleep_reps=3,
    latency_samples=400,
    memory_items=200_000,
    hook_items=20_000,
    hook_reps=81,
    run_timeout_s=30.0,
)

FULL = Scale(
    name="full",
    reps=9,
    items=200_000,
    pool_items=1000,
    pool_reps=31,
    growth_items=1000,
    growth_reps=5,
    sha_blocks=64,
    sha_reps=9,
    sleep_calls=200,
    sleep_reps=7,
    latency_samples=2000,
    memory_items=400_000,
    hook_items=20_000,
    hook_reps=201,
    run_timeout_s=120.0,
)
