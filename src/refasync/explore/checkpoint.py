"""A dfs search's checkpoint file: written as the search goes, read to resume it.

The file is JSON: ``{"format": FORMAT, "version": VERSION, "parameters": {...},
"runs": n, "coverage": {...}, "search": {...}}``. Reading it is reading hostile input:
every field is checked, and anything wrong raises :class:`CheckpointError` with one line
naming the file and the field, never a traceback from deep inside the search.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

from .errors import CheckpointError
from .schedule import Choice, parse_schedule

__all__ = ("FORMAT", "MAX_BYTES", "VERSION", "Fields", "choice", "choices", "load", "save")

FORMAT = "refasync-dfs-checkpoint"
VERSION = 1

#: A checkpoint larger than this is refused unread (a search's is a few hundred KB).
MAX_BYTES = 64 * 1024 * 1024


_COUNTS = re.compile(r"\*(\d+)")


def save(path: str, data: Mapping[str, object]) -> None:
    """Write ``data`` to ``path`` atomically: a reader sees the old file or the new one.

    :raise CheckpointError: if the file cannot be written
    """
    temporary = f"{path}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump({"format": FORMAT, "version": VERSION, **data}, out, separators=(",", ":"))
        os.replace(temporary, path)
    except OSError as exc:
        raise CheckpointError(
            f"checkpoint {path}: cannot write it ({exc.strerror or exc})"
        ) from None


def load(path: str) -> Fields | None:
    """:return: the checkpoint's fields, or None if there is no file at ``path``.

    :raise CheckpointError: if the file cannot be read or is not a checkpoint
    """
    try:
        if os.path.getsize(path) > MAX_BYTES:
            raise CheckpointError(
                f"checkpoint {path}: larger than {MAX_BYTES} bytes, not a checkpoint"
            )
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        reason = exc.strerror if isinstance(exc, OSError) else "not valid JSON"
        raise CheckpointError(f"checkpoint {path}: cannot read it ({reason})") from None
    fields = Fields(path, data, "")
    if fields.text("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path}: not a dfs checkpoint (format is not {FORMAT!r})")
    if fields.integer("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {path}: version {fields.integer('version')} is not {VERSION}"
        )
    return fields


class Fields:
    """One JSON object of a checkpoint, with typed getters that refuse bad values."""

    def __init__(self, path: str, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise CheckpointError(f"checkpoint {path}: {where or 'the file'} is not an object")
        self.path, self.data, self.where = path, data, where

    def bad(self, name: str, what: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {self.path}: {self.where}{name} {what}")

    def _get(self, name: str) -> object:
        if name not in self.data:
            raise self.bad(name, "is missing")
        return self.data[name]

    def integer(self, name: str, minimum: int = 0, optional: bool = False) -> int:
        value = self._get(name)
        if value is None and optional:
            return -1
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.bad(name, f"must be an int >= {minimum}, got {_short(value)}")
        return value

    def flag(self, name: str) -> bool:
        value = self._get(name)
        if not isinstance(value, bool):
            raise self.bad(name, f"must be true or false, got {_short(value)}")
        return value

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str):
            raise self.bad(name, f"must be a string, got {_short(value)}")
        return value

    def obj(self, name: str) -> Fields:
        return Fields(self.path, self._get(name), f"{self.where}{name}.")

    def items(self, name: str) -> list[object]:
        value = self._get(name)
        if not isinstance(value, list):
            raise self.bad(name, f"must be a list, got {_short(value)}")
        return value

    def integers(self, name: str) -> list[int]:
        values = self.items(name)
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in values):
            raise self.bad(name, "must be a list of ints")
        return [x for x in values if isinstance(x, int)]


def choice(fields: Fields, name: str) -> Choice:
    """:return: the single choice ``fields[name]`` holds (as in a schedule string)."""
    found = choices(fields, name)
    if len(found) != 1:
        raise fields.bad(name, f"must be one choice, got {_short(fields.data[name])}")
    return found[0]


def choices(fields: Fields, name: str) -> list[Choice]:
    """:return: the choices of the schedule string ``fields[name]``."""
    text = fields.text(name)
    if any(len(count) > 6 for count in _COUNTS.findall(text)):
        raise fields.bad(name, f"repeats a choice a million times or more: {_short(text)}")
    try:
        return parse_schedule(text)
    except ValueError:
        raise fields.bad(name, f"is not a schedule string: {_short(text)}") from None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
