"""The GIL stays off: checks for runs on free-threaded CPython (``make test-ft``).

A free-threaded build turns the GIL back on, for the rest of the process, when it imports
an extension module that has not declared it can run without it (CrossHair's tracer is
one). ``PYTHON_GIL=0`` would hide that, so the runs check ``sys._is_gil_enabled()``
instead: the root ``conftest.py`` after collection and after every test, and
``python -m stress`` by sampling it in a :class:`GilSampler` thread while it runs.

The checks are active on a free-threaded build, or anywhere when the environment variable
``REFASYNC_REQUIRE_NO_GIL`` is ``1`` (then an interpreter with a GIL fails at once).
"""

from __future__ import annotations

import os
import sys
import sysconfig
import threading
import time
from types import TracebackType

__all__ = ("GilSampler", "REQUIRE_ENV", "free_threaded_build", "gil_check_active", "gil_enabled")

REQUIRE_ENV = "REFASYNC_REQUIRE_NO_GIL"


def free_threaded_build() -> bool:
    """:return: whether this interpreter was configured with ``--disable-gil``."""
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def gil_check_active() -> bool:
    """:return: whether the GIL-off checks run in this process."""
    return free_threaded_build() or os.environ.get(REQUIRE_ENV) == "1"


def gil_enabled() -> bool:
    """:return: whether the GIL is on now (always True before 3.13, which has no switch)."""
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return True if is_enabled is None else bool(is_enabled())


class GilSampler:
    """Samples :func:`gil_enabled` every ``interval_s`` from its own daemon thread.

    Not a refasync sync point on purpose: it must not be seen (or delayed) by the
    stress harness's hook. ``first_seen_s`` is the time since start at which the GIL was
    first seen on, or None; a final sample is taken on exit.
    """

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.samples = 0
        self.first_seen_s: float | None = None
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gil-sampler", daemon=True)

    def _sample(self) -> None:
        self.samples += 1
        if self.first_seen_s is None and gil_enabled():
            self.first_seen_s = time.monotonic() - self._start

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> GilSampler:
        self._start = time.monotonic()
        self._sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
