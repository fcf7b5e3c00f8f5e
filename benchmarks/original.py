"""The original library, PyPI ``async`` 0.6.2, as one more side of a workload's run.

``python tools/original_async.py --prepare`` copies the original, with mechanical Python 3
fixes only, into a cache directory as the package ``async_orig`` (downloading it on first
use, which needs the network) and prints that directory. :func:`library` runs it once per
process, with a time limit, imports the copy and gives the workloads its seed API as a
:class:`~benchmarks.libraries.Library`. A row whose workload the original can run times
it interleaved with refasync and the baseline (A B C A B C ... in this process) and
shows refasync's time divided by the original's in the column ``÷ async 0.6.2``
(:class:`OriginalSide`); when the original cannot be prepared or imported, the column
says "not available" and why.

What the original cannot do is said in the rows: its ``Pool.set_size`` forces size 0
(threaded mode deadlocked on Python 3), so its pools never have threads; its channels
ignore ``maxsize`` (``Channel()`` takes none), so it has no bounded channel.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import ModuleType

from .harness import Timed, Versus, interleave, median
from .libraries import Library, PoolHandle, ReadEnd, WriteEnd
from .report import seconds_text

__all__ = (
    "AT_MOST_ORIGINAL",
    "FORCES_SIZE_0",
    "NO_BOUNDED_CHANNEL",
    "OriginalSide",
    "READ1_LOOP_LIMIT",
    "describe",
    "disable",
    "library",
    "not_available",
)

VERSION = "0.6.2"
PACKAGE = "async_orig"
TOOL = Path(__file__).resolve().parent.parent / "tools" / "original_async.py"
PREPARE_TIMEOUT_S = 180.0  # a pip download of one small sdist, with one retry

#: The targets against the original: refasync's serial chain ``read(1)`` loop a fifth
#: faster than the original's, every other workload it can run no slower.
READ1_LOOP_LIMIT = 0.8
AT_MOST_ORIGINAL = 1.0

FORCES_SIZE_0 = "serially: its Pool.set_size forces size 0"
NO_BOUNDED_CHANNEL = (
    f"not comparable: async {VERSION} has no bounded channel (its Channel "
    "takes no maxsize and its AsyncQueue ignores one)"
)

_disabled: str | None = None  # why the original is not to be used in this process
_loaded: Library | str | None = None  # the library, or why it is not available
_source = ""  # where the library was imported from


def disable(reason: str) -> None:
    """Do not prepare or use the original in this process; the rows say ``reason``."""
    global _disabled
    _disabled = reason


def library() -> Library | str:
    """:return: the original's seed API, or why it is not available (one line)."""
    global _loaded, _source
    if _disabled is not None:
        return _disabled
    if _loaded is None:
        try:
            directory = _prepare()
            _loaded = _as_library(_import(directory))
            _source = str(directory)
        except _Unavailable as exc:
            _loaded = str(exc)
    return _loaded


def describe() -> str:
    """:return: one line: the original's name and where it came from, why it is not
    available, or that nothing asked for it (it is prepared when a row first needs it)."""
    found = _disabled if _disabled is not None else _loaded
    if found is None:
        return "not needed by these groups"
    if isinstance(found, str):
        return f"not available: {found}"
    return f"{found.name}, {PACKAGE} from {_source}"


class _Unavailable(Exception):
    """The original could not be prepared or imported (the message says why)."""


def _prepare() -> Path:
    if not TOOL.is_file():
        raise _Unavailable(f"{TOOL.name} not found next to benchmarks/")
    # One retry and a short socket timeout: without the network this fails in seconds.
    env = dict(os.environ, PIP_RETRIES="1", PIP_TIMEOUT="15", PIP_DISABLE_PIP_VERSION_CHECK="1")
    try:
        done = subprocess.run(
            [sys.executable, str(TOOL), "--prepare"],
            capture_output=True,
            text=True,
            timeout=PREPARE_TIMEOUT_S,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _Unavailable(f"preparing it took over {PREPARE_TIMEOUT_S:.0f} s") from None
    except OSError as exc:
        raise _Unavailable(f"{TOOL.name} --prepare could not run: {exc}") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        errors = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise _Unavailable(
            f"{TOOL.name} --prepare failed (network needed on first use): {errors[-1][:200]}"
        )
    directory = Path(lines[-1])
    if not (directory / PACKAGE / "__init__.py").is_file():
        raise _Unavailable(f"{TOOL.name} --prepare printed {directory}, which holds no {PACKAGE}")
    return directory


def _import(directory: Path) -> ModuleType:
    sys.path.insert(0, str(directory))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its Python 2 era string escapes
            return importlib.import_module(PACKAGE)
    except Exception as exc:  # any failure of a foreign package's import is a reason
        raise _Unavailable(f"import {PACKAGE} failed: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(str(directory))


def _as_library(module: ModuleType) -> Library:
    try:
        channel, pool, task = module.channel, module.pool, module.task
        thread_pool_class = pool.ThreadPool

        @contextmanager
        def thread_pool(size: int) -> Iterator[PoolHandle[ReadEnd]]:
            # The original's pools have no context manager and no close: set_size(0) is
            # what its destructor does.
            handle = thread_pool_class(size)
            try:
                yield handle
            finally:
                handle.set_size(0)

        def reader_blocked(writer: WriteEnd) -> bool:
            queue = getattr(writer, "channel").queue
            with queue.mutex:
                return len(queue.not_empty) > 0  # its condition is a deque of waiters

        pool_factory: Callable[[int], AbstractContextManager[PoolHandle[ReadEnd]]] = thread_pool
        return Library(
            name=f"async {VERSION}",
            channel=channel.Channel,
            serial_channel=channel.SerialChannel,
            mkchannel=channel.mkchannel,
            thread_pool=pool_factory,
            iterator_task=task.IteratorThreadTask,
            channel_task=task.ChannelThreadTask,
            reader_blocked=reader_blocked,
        )
    except AttributeError as exc:
        raise _Unavailable(f"{PACKAGE} lacks part of the seed API: {exc}") from None


def not_available(reason: str) -> Versus:
    """:return: the column's entry for a row the original cannot run, saying why."""
    return Versus(None, None, note=reason)


class OriginalSide:
    """The original's runs of a workload, as the last variants of its interleaved run.

    Each of ``makes`` builds one timed run on the original (``make(original)``). If the
    original is not available, none of them runs and :meth:`versus` says why; with no
    ``makes`` there is nothing to compare (the original has no such workload).
    """

    def __init__(self, *makes: Callable[[Library], Timed]) -> None:
        found = library() if makes else None
        self._timed = [make(found) for make in makes] if isinstance(found, Library) else []
        self._missing = found if isinstance(found, str) else None
        self._compared = len(makes)

    def interleave(
        self, variants: Sequence[Timed], reps: int, seconds: float, what: str
    ) -> tuple[list[list[float]], list[list[float]]]:
        """Run ``variants``, then the original's runs, A B C A B C ...

        :return: the samples of ``variants`` in order, and of the original's runs in the
            order of ``makes`` (no samples when it does not run)
        """
        samples = interleave([*variants, *self._timed], reps, seconds, what)
        mine = len(variants)
        return samples[:mine], samples[mine:] or [[] for _ in range(self._compared)]

    def versus(
        self,
        ours_s: float,
        original: Sequence[float],
        limit: float | None = AT_MOST_ORIGINAL,
        note: str = "",
    ) -> Versus | None:
        """:return: the column's entry, ``ours_s`` / the median of ``original`` against
        ``limit`` (None: information only), with ``note``; None if nothing is compared.
        """
        if not self._compared:
            return None
        if self._missing is not None:
            return not_available(f"not available: {self._missing}")
        theirs_s = median(original)
        where = f"async {VERSION} {seconds_text(theirs_s)}"
        return Versus(
            ours_s / theirs_s, limit, theirs_s, f"{where}, {note}" if note else where
        ).judge()
