"""The table, the machine it ran on, and the JSON report."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict
from typing import Sequence

from refasync.util import cpu_count

from .harness import Row, Status

__all__ = ("format_table", "machine_info", "write_json")


def _lscpu_model() -> str:
    if shutil.which("lscpu") is None:
        return platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return platform.machine()
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in out.splitlines())
    )
    parts = [fields.get("Model name", platform.machine())]
    if "Hypervisor vendor" in fields:
        parts.append(f"({fields['Hypervisor vendor']} guest)")
    return " ".join(parts)


def machine_info() -> dict[str, str]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu": _lscpu_model(),
        "usable_cpus": str(cpu_count()),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "load_average_at_start": " ".join(f"{x:.2f}" for x in load),
    }


def format_table(rows: Sequence[Row], machine: dict[str, str], scale: str) -> str:
    """:return: a Markdown table of the rows, headed by the machine."""
    lines = [
        f"refasync benchmarks ({scale} run) on {machine['cpu']}, {machine['usable_cpus']} CPUs, "
        f"{machine['python']}, {machine['platform']}, load {machine['load_average_at_start']}",
        "",
        "| workload | baseline | refasync | baseline time | value | target | status | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.workload} | {row.baseline} | {_seconds(row.refasync_s)} | "
            f"{_seconds(row.baseline_s)} | {row.value_text()} | {row.target_text()} | "
            f"{row.status.value} | {row.note} |"
        )
    counts = {status: sum(1 for r in rows if r.status is status) for status in Status}
    lines.append("")
    lines.append(
        f"{counts[Status.MET]} met, {counts[Status.MISSED]} missed, {counts[Status.HANG]} hung, "
        f"{counts[Status.ERROR]} failed, {counts[Status.INFO]} for information. "
        "value: refasync time / baseline time (lower is better), or speedup over the serial "
        "loop (higher is better), or as labelled."
    )
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e6:.1f} us"


def write_json(path: str, rows: Sequence[Row], machine: dict[str, str], scale: str,
               seconds: float) -> None:
    report = {
        "scale": scale,
        "machine": machine,
        "argv": sys.argv,
        "total_seconds": seconds,
        "rows": [
            {**asdict(row), "goal": row.goal.value, "status": row.status.value,
             "target": row.target_text()}
            for row in rows
        ],
    }
    with open(path, "w", encoding="utf-8") as out:
        json.dump(report, out, indent=2)
        out.write("\n")
