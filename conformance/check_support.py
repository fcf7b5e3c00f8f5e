"""What the tests of ``python -m conformance.check`` share: running the command in-process,
writing a history file, and a history with an item read twice."""

from __future__ import annotations

import io
import json
from pathlib import Path

from .check import main


def run(path: Path | str, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main([str(path), *args], out=out)
    return code, out.getvalue()


def jsonl(tmp_path: Path, events: list[dict[str, object]], name: str = "h.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def ev(
    process: object, type_: str, f: str, value: object, time: int, **extra: object
) -> dict[str, object]:
    return {"process": process, "type": type_, "f": f, "value": value, "time": time, **extra}


READ1 = {"count": 1, "block": False, "timeout": None}
READ_ALL = {"count": 0, "block": False, "timeout": None}

#: write 1, write 2, then two reads that both return 1: item 1 read twice.
DUPLICATE = [
    ev("a", "invoke", "write", 1, 0),
    ev("a", "ok", "write", None, 10),
    ev("a", "invoke", "write", 2, 20),
    ev("a", "ok", "write", None, 30),
    ev("b", "invoke", "read", READ1, 40),
    ev("b", "ok", "read", [1], 50),
    ev("b", "invoke", "read", READ1, 60),
    ev("b", "ok", "read", [1], 70),
]
