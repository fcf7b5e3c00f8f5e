"""The library's condition variable, :class:`HSCondition`, the :class:`Blocked` record it
reports when a waiter is about to block, and the argument checks of waiting calls."""

from __future__ import annotations

import _thread
from collections import deque

from refasync.sync import hooks
from refasync.sync.hooks import SyncPoint
from refasync.sync.locks import HeldAtFork, Lock

__all__ = ("Blocked", "HSCondition", "check_block", "check_notify_count")


class Blocked:
    """The primitive reported at ``SyncPoint.BLOCK``: a thread that registered as a waiter
    of ``condition`` and released its lock. ``token`` is unlocked once a notify reached
    the waiter; ``timeout`` is the wait's timeout in seconds (None: no timeout)."""

    __slots__ = ("condition", "token", "timeout")

    def __init__(
        self, condition: HSCondition, token: _thread.LockType, timeout: float | None
    ) -> None:
        self.condition = condition
        self.token = token
        self.timeout = timeout

    @property
    def name(self) -> str:
        return self.condition.name

    def notified(self) -> bool:
        """:return: True once a notify reached the waiter."""
        return not self.token.locked()


class HSCondition:
    """The library's condition variable.

    ``wait`` and ``notify_locked`` are called with the lock held, as with
    ``threading.Condition``. ``notify`` and ``notify_all`` take the lock themselves (the
    seed's contract): call them with the lock *not* held. Waits block on a per-waiter
    lock, never by polling; a timed wait is one timed lock acquisition.

    :param lock: a :class:`Lock`; a standard ``threading.Lock()``, which becomes the raw
        lock of a :class:`Lock` made for the condition (``self.lock``; a ``with`` on the
        standard lock itself works too, unreported); or None for a new lock. Anything
        else raises ``TypeError`` here: an ``RLock`` (``wait`` would have to release
        every level of it), a ``threading.Condition``, a ``DummyLock``.
    """

    __slots__ = ("_lock", "_waiters", "name")

    def __init__(
        self, lock: Lock | _thread.LockType | None = None, name: str = "condition"
    ) -> None:
        if lock is None:
            lock = Lock(name + ".lock")
        elif isinstance(lock, _thread.LockType):
            lock = Lock(name + ".lock", raw=lock)
        elif not isinstance(lock, Lock):
            raise TypeError(
                "lock must be a refasync.util.Lock, a threading.Lock() or None, "
                f"got {type(lock).__name__}: {lock!r}"
            )
        self._lock = lock
        self.name = name
        # One locked waiter lock per thread in wait(); guarded by self._lock.
        self._waiters: deque[_thread.LockType] = deque()
        lock.waiter_queues.append(self._waiters)

    @property
    def lock(self) -> Lock:
        """The lock this condition waits with."""
        return self._lock

    def acquire(self, block: bool | None = None) -> bool:
        if block is None:
            return self._lock.acquire()
        return self._lock.acquire(check_block(block))

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self._lock.__enter__()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.__exit__()

    def wait(self, timeout: float | None = None) -> bool:
        """Release the lock, wait for a notify or ``timeout`` seconds, re-take the lock.

        Callers hold the lock and call this inside ``while predicate:``. It returns or
        raises with the lock held again, whatever interrupts it (``KeyboardInterrupt``, a
        raising hook); a waiter that is interrupted after a notify chose it passes that
        notify on, so no other waiter is stranded.

        :return: True if woken by a notify, False on timeout or a spurious wake-up.
        :raise RuntimeError: if the lock is not held (nothing changes then)
        :raise ForkedLockError: in a forked child, if the lock was held at the fork
            (nobody could ever notify the wait)
        """
        raw = self._lock.raw
        if not raw.locked():
            raise RuntimeError(f"{self.name}: wait() needs the condition's lock held")
        if isinstance(raw, HeldAtFork):
            raw.acquire()  # raises ForkedLockError
        hook = hooks.installed
        if hook is not None and hook(SyncPoint.WAIT, self):
            # An injected spurious wake-up: let other threads run, then return.
            raw.release()
            try:
                hook(SyncPoint.RELEASE, self._lock)
                hook(SyncPoint.ACQUIRE, self._lock)
            finally:
                raw.acquire()
            hook(SyncPoint.WAKE, self)
            return False
        waiter = _thread.allocate_lock()
        waiter.acquire()
        self._waiters.append(waiter)
        raw.release()
        notified = False
        try:
            if hook is not None:
                hook(SyncPoint.RELEASE, self._lock)
            hook = hooks.installed
            if (
                hook is not None
                and (timeout is None or timeout > 0)
                and hook(SyncPoint.BLOCK, Blocked(self, waiter, timeout))
            ):
                # The hook decided the outcome (notified, timed out or spurious).
                notified = waiter.acquire(False)
            elif timeout is None:
                notified = waiter.acquire()
            elif timeout > 0:
                notified = waiter.acquire(True, timeout)
            else:
                notified = waiter.acquire(False)
        except BaseException:
            self._reacquire_after_wait(waiter, interrupted=True)
            raise
        if not self._reacquire_after_wait(waiter, interrupted=False, acquired=notified):
            notified = True
        hook = hooks.installed
        if hook is not None:
            try:
                hook(SyncPoint.WAKE, self)
            except BaseException:
                if notified:
                    self._pass_notify_on()
                raise
        return notified

    def _reacquire_after_wait(
        self, waiter: _thread.LockType, interrupted: bool, acquired: bool = False
    ) -> bool:
        """Re-take the lock (always, even if the hook raises) and withdraw ``waiter``.

        ``acquired``: the wait took ``waiter``. Every release of a waiter lock follows its
        ``popleft`` from ``_waiters`` (under the lock), so it is registered no more, and
        the search (a ``ValueError`` on this, the common path) is skipped.

        :return: True if the waiter was still registered (nobody notified it). An
            interrupted waiter that a notify already chose passes the notify on.
        """
        hook = hooks.installed
        registered = True
        try:
            if hook is not None:
                hook(SyncPoint.ACQUIRE, self._lock)
        except BaseException:
            interrupted = True
            raise
        finally:
            self._lock.raw.acquire()
            if acquired:
                registered = False
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    registered = False
            if interrupted and not registered:
                self._pass_notify_on()
        return registered

    def _pass_notify_on(self) -> None:
        # A waiter chosen by a notify leaves with an exception: wake the next one instead
        # (at worst a spurious wake-up, which every wait loop survives).
        if self._waiters:
            self._waiters.popleft().release()

    def has_waiters(self) -> bool:
        """:return: True if a thread waits on this condition. Call with the lock held."""
        return bool(self._waiters)

    def notify_locked(self, n: int = 1) -> None:
        """Wake up to ``n`` waiters. Call with the lock held. The waiters are woken even
        if the hook raises at ``NOTIFY`` (the exception then propagates)."""
        hook = hooks.installed
        try:
            if hook is not None:
                hook(SyncPoint.NOTIFY, self)
        finally:
            waiters = self._waiters
            while waiters and n > 0:
                waiters.popleft().release()
                n -= 1

    def notify_all_locked(self) -> None:
        """Wake every waiter. Call with the lock held."""
        self.notify_locked(len(self._waiters))

    def notify(self, n: int = 1) -> None:
        """Take the lock and wake up to ``n`` waiters.

        Taking the lock first is vital: a waiter appends itself under the lock, so a
        notifier that looked without it could miss a waiter about to block forever.
        """
        n = check_notify_count(n)
        with self._lock:
            self.notify_locked(n)

    def notify_all(self) -> None:
        """Take the lock and wake every waiter."""
        with self._lock:
            self.notify_locked(len(self._waiters))


def check_notify_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int (the number of waiters to wake), got {n!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return n


def check_block(block: object) -> bool:
    """:return: ``block`` as a bool. A flag is a bool, or the int 0 or 1 as
    ``queue.Queue`` takes them. :raise TypeError: for anything else (a float there is
    almost always a timeout passed positionally: ``read(5, 0.5)``)."""
    if block is True or block is False:
        return block
    if type(block) is int and (block == 0 or block == 1):
        return block == 1
    raise TypeError(
        f"block must be a bool (or 0 or 1), got {type(block).__name__}: "
        f"{block!r} (pass a timeout as timeout=...)"
    )
