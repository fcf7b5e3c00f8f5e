"""The table, the machine it ran on, and the JSON report."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict

from refasync.util import cpu_count

from .harness import Row, Status

__all__ = ("COLUMN", "format_table", "machine_info", "seconds_text", "write_json")

#: The column of refasync's time divided by the original library's (benchmarks/original.py).
COLUMN = "÷ async 0.6.2"


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
        f"original library: {machine.get('original', '-')}",
        "",
        f"| workload | baseline | refasync | baseline time | value | target | status | {COLUMN} "
        "| note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        versus = "-" if row.original is None else row.original.text()
        lines.append(
            f"| {row.workload} | {row.baseline} | {seconds_text(row.refasync_s)} | "
            f"{seconds_text(row.baseline_s)} | {row.value_text()} | {row.target_text()} | "
            f"{row.status.value} | {versus} | {row.note} |"
        )
    counts = {status: sum(1 for r in rows if r.status is status) for status in Status}
    versus_rows = [r.original for r in rows if r.original is not None]
    met = sum(1 for v in versus_rows if v.status is Status.MET)
    missed = sum(1 for v in versus_rows if v.status is Status.MISSED)
    absent = sum(1 for v in versus_rows if v.ratio is None)
    lines.append("")
    lines.append(
        f"{counts[Status.MET]} met, {counts[Status.MISSED]} missed, {counts[Status.HANG]} hung, "
        f"{counts[Status.ERROR]} failed, {counts[Status.INFO]} for information; "
        f"{COLUMN}: {met} met, {missed} missed, {absent} not available. "
        "value: refasync time / baseline time (lower is better), or speedup over the serial "
        "loop (higher is better), or as labelled. "
        f"{COLUMN}: refasync time / the original library's time in the same run."
    )
    return "\n".join(lines)


def seconds_text(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e6:.1f} us"


def write_json(
    path: str, rows: Sequence[Row], machine: dict[str, str], scale: str, seconds: float
) -> None:
    report = {
        "scale": scale,
        "machine": machine,
        "argv": sys.argv,
        "total_seconds": seconds,
        "rows": [
            {
                **asdict(row),
                "goal": row.goal.value,
                "status": row.status.value,
                "target": row.target_text(),
                "original": None
                if row.original is None
                else {**asdict(row.original), "status": row.original.status.value},
            }
            for row in rows
        ],
    }
    with open(path, "w", encoding="utf-8") as out:
        json.dump(report, out, indent=2)
        out.write("\n")
