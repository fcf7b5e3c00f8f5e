"""Close-semantics model: blocked readers and blocked writers in background threads.

Rules start blocking reads and blocking writes in background threads (kept in Bundles as
pending operations) and write, read or close in the foreground. After every step the
model waits, bounded, until the system is *quiescent*: every unfinished background
operation is really blocked in the channel (its waiter is queued on one of the channel's
conditions). Then it checks:

* a reader waits only on an open, empty channel; a writer only on an open, full one;
* a reader that returned before the close has all ``count`` items; one woken by the close
  has at most ``count`` (exactly what it was owed: what it had taken); read-all readers
  return only at the close;
* a blocked writer woken by the close raises ReadOnly; after close no write succeeds;
* ``size()`` is the number of items written minus those delivered (no reader waiting);
* at teardown (close, drain): the multiset of delivered items equals the multiset of
  written items - nothing lost, nothing twice - and the whole recorded history is
  linearizable (models/linearizability.py);
* a blocked operation interrupted as it wakes (rule ``interrupt_a_blocked_operation``,
  a BaseException raised by the hook, as Ctrl-C would be) has no effect: a read puts what
  it took back at the front, a write wrote nothing, and no other operation is stranded.
  The sequential specification has no put-back (the items were out of sight while the
  read waited), so a history with an interrupted read is checked by the multisets and
  the size invariant only, not for linearizability.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from refasync import Channel, ChannelReader, ChannelWriter, Full, ReadOnly
from refasync.testing import Hang, dump_stacks
from refasync.util import AsyncQueue, SyncPoint, SyncPrimitive, set_sync_hook

from ._settings import model_timeout
from .linearizability import History, check_channel_history

QUIESCENCE_TIMEOUT_S = 10.0


class ModelInterrupt(BaseException):
    """Raised by the model's hook in the thread it interrupts."""


#: Background operations a run starts, at most. Counted over the run, not as those still
#: unfinished: which blocked reader gets an item depends on thread timing (a wake-all, an
#: interrupted read's put-back), so what is unfinished after a step is not a function of
#: Hypothesis's choices, and a precondition or a draw that depended on it would make
#: Hypothesis replay one prefix differently (FlakyStrategyDefinition).
MAX_BACKGROUND = 8


@dataclass
class Background:
    """One blocking operation running in its own thread."""

    kind: str  # "read" | "write"
    count: int  # read: its count
    item: int  # write: its item
    done: threading.Event = field(default_factory=threading.Event)
    items: list[int] = field(default_factory=list)  # read: what it returned
    outcome: str = ""  # write: "ok" | "ReadOnly" | "Full"; read: "ok"; "interrupted"
    name: str = ""  # its thread's name
    error: BaseException | None = None  # anything unexpected it raised
    checked: bool = False  # its result was checked once it finished


def real_channel(maxsize: int) -> tuple[Channel[int], ChannelWriter[int], ChannelReader[int]]:
    channel: Channel[int] = Channel(maxsize)
    return channel, ChannelWriter(channel), ChannelReader(channel)


class CloseModel(RuleBasedStateMachine):
    """models/test_teeth.py runs it with each defect of models/broken.py installed."""

    make_channel: Callable[[int], tuple[Channel[int], ChannelWriter[int], ChannelReader[int]]] = (
        staticmethod(real_channel)
    )

    readers = Bundle("readers")
    writers = Bundle("writers")

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[Background] = []
        self.history = History()
        self.changed = threading.Event()  # set whenever a thread blocks or finishes
        self.previous_hook = set_sync_hook(self._hook)
        self.written: Counter[int] = Counter()  # items whose write succeeded
        self.delivered: Counter[int] = Counter()  # items returned by a read
        self.closed = False
        self.next_item = 0
        self.maxsize = 0
        self.interrupt: str | None = None  # the thread to interrupt at its next WAKE
        self.read_interrupted = False  # then the history is not checked (see above)

    def _hook(self, point: SyncPoint, primitive: SyncPrimitive) -> bool:
        if point is SyncPoint.WAIT:
            self.changed.set()
        if point is SyncPoint.WAKE and self.interrupt == threading.current_thread().name:
            self.interrupt = None
            raise ModelInterrupt(f"interrupted at {primitive.name}")
        return False

    @initialize(maxsize=st.sampled_from([0, 1, 1, 2]))
    def create(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.channel, self.writer, self.reader = self.make_channel(maxsize)

    # -- background operations --

    def _start(self, op: Background) -> Background:
        self.ops.append(op)
        name = op.name = f"{op.kind}-{len(self.ops)}"
        threading.Thread(target=self._run, args=(op, name), name=name, daemon=True).start()
        self._settle()
        return op

    def _run(self, op: Background, name: str) -> None:
        try:
            if op.kind == "read":
                token = self.history.call(name, "read", (op.count, True))
                try:
                    op.items = self.reader.read(op.count, True)
                except ModelInterrupt:
                    self.history.pending(token)
                    self.read_interrupted = True
                    op.outcome = "interrupted"
                    return
                self.history.ret(token, list(op.items))
                op.outcome = "ok"
            else:
                token = self.history.call(name, "write", op.item)
                try:
                    self.writer.write(op.item, True)
                    self.history.ret(token, None)
                    op.outcome = "ok"
                except ReadOnly:
                    self.history.ret(token, "ReadOnly")
                    op.outcome = "ReadOnly"
                except ModelInterrupt:
                    self.history.pending(token)
                    op.outcome = "interrupted"
        except BaseException as exc:  # reported by the model's checks
            op.error = exc
        finally:
            op.done.set()
            self.changed.set()

    def _unfinished(self) -> list[Background]:
        return [op for op in self.ops if not op.done.is_set()]

    @precondition(lambda self: len(self.ops) < MAX_BACKGROUND)
    @rule(target=readers, count=st.integers(0, 3))
    def start_blocking_read(self, count: int) -> Background:
        return self._start(Background("read", count, 0))

    @precondition(lambda self: len(self.ops) < MAX_BACKGROUND)
    @rule(target=writers, fill_first=st.booleans())
    def start_blocking_write(self, fill_first: bool) -> Background:
        """With fill_first, a bounded channel is first filled (non-blocking writes), so
        that the writer blocks."""
        if fill_first and self.maxsize:
            for _ in range(self.maxsize):
                self.write()
        self.next_item += 1
        return self._start(Background("write", 0, self.next_item))

    # -- foreground operations --

    @rule()
    def write(self) -> None:
        self.next_item += 1
        item = self.next_item
        token = self.history.call("main", "write", item)
        try:
            self.writer.write(item, block=False)
            self.history.ret(token, None)
            assert not self.closed, "a write succeeded after close"
            self.written[item] += 1
        except ReadOnly:
            self.history.ret(token, "ReadOnly")
            assert self.closed, "ReadOnly from an open channel"
        except Full:
            self.history.ret(token, "Full")
            assert self.maxsize > 0, "Full from an unbounded channel"
        self._settle()

    @rule(count=st.integers(0, 3))
    def read_now(self, count: int) -> None:
        token = self.history.call("main", "read", (count, False))
        items = self.reader.read(count, block=False)
        self.history.ret(token, list(items))
        assert count == 0 or len(items) <= count
        self._deliver(items)
        self._settle()

    @rule(now=st.integers(0, 3))
    def close(self, now: int) -> None:
        """Closes one time in four: most examples first build up blocked operations."""
        if now:
            return
        token = self.history.call("main", "close", None)
        self.writer.close()
        self.history.ret(token, None)
        self.closed = True
        self._settle()

    @precondition(lambda self: bool(self.ops))
    @rule(index=st.integers(0, MAX_BACKGROUND - 1))
    def interrupt_a_blocked_operation(self, index: int) -> None:
        """Interrupt one blocked operation as it wakes, the ``index``-th of the unfinished
        ones, cyclically (every waiter on its condition is woken; the others must go back
        to waiting). Nothing happens if every operation has finished."""
        unfinished = self._unfinished()
        if not unfinished:
            return
        op = unfinished[index % len(unfinished)]
        queue = self.channel.queue
        assert isinstance(queue, AsyncQueue)
        self.interrupt = op.name
        with queue.mutex:
            (queue.not_empty if op.kind == "read" else queue.not_full).notify_all_locked()
        self._settle()
        assert op.done.is_set() and op.outcome == "interrupted", (
            f"{op.name} was not interrupted: {op.outcome!r} {op.error!r}"
        )

    @rule(reader=readers, writer=writers)
    def pending_operations_wait_only_when_they_must(
        self, reader: Background, writer: Background
    ) -> None:
        """A reader waits only on an open, empty channel; a writer on an open, full one."""
        if not reader.done.is_set():
            assert not self.closed and self.writer.size() == 0
        if not writer.done.is_set():
            assert not self.closed and 0 < self.maxsize <= self.writer.size()

    # -- settling and checking --

    def _settle(self) -> None:
        """Wait until every unfinished background operation is blocked in the channel,
        then check the results of those that finished."""
        queue = self.channel.queue
        assert isinstance(queue, AsyncQueue)
        deadline = time.monotonic() + QUIESCENCE_TIMEOUT_S
        while True:
            self.changed.clear()
            with queue.mutex:  # a waiter is queued before the mutex is released
                blocked = len(queue.not_empty._waiters) + len(queue.not_full._waiters)
            if blocked == len(self._unfinished()):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.changed.wait(remaining):
                raise Hang(
                    f"background operations did not settle in {QUIESCENCE_TIMEOUT_S} s"
                    f" ({blocked} blocked, {len(self._unfinished())} unfinished)\n"
                    f"{dump_stacks()}"
                )
        finished = [op for op in self.ops if op.done.is_set() and not op.checked]
        # Writes first: a read finishing in the same step may have returned their items.
        for op in sorted(finished, key=lambda op: op.kind != "write"):
            self._check_finished(op)

    def _check_finished(self, op: Background) -> None:
        op.checked = True
        assert op.error is None, f"{op.kind} raised {op.error!r}"
        if op.outcome == "interrupted":
            return  # no effect: the size invariant and the teardown multisets check it
        if op.kind == "write":
            if op.outcome == "ok":
                self.written[op.item] += 1
            else:
                assert self.closed, "a blocked writer got ReadOnly from an open channel"
            return
        self._deliver(op.items)
        if not self.closed:
            assert op.count > 0, "a read-all returned before the close"
            assert len(op.items) == op.count, "a blocking read returned short while open"
        else:
            assert op.count == 0 or len(op.items) <= op.count

    def _deliver(self, items: list[int]) -> None:
        self.delivered.update(items)
        twice = self.delivered - self.written
        assert not twice, f"items delivered but never written, or twice: {dict(twice)}"

    @invariant()
    def closed_channel_has_no_blocked_operation(self) -> None:
        if self.closed:
            assert not self._unfinished(), "an operation is still blocked after close"

    @invariant()
    def size_is_written_minus_delivered(self) -> None:
        if not hasattr(self, "writer"):
            return
        if any(op.kind == "read" for op in self._unfinished()):
            assert self.writer.size() == 0, "a reader waits while items are there"
        else:
            outstanding = sum((self.written - self.delivered).values())
            assert self.writer.size() == outstanding
        assert self.writer.closed() == self.closed

    def teardown(self) -> None:
        try:
            if hasattr(self, "writer"):
                self.close(0)
                self.closed_channel_has_no_blocked_operation()
                token = self.history.call("main", "read", (0, False))
                rest = self.reader.read(0, block=False)
                self.history.ret(token, list(rest))
                self._deliver(rest)
                assert self.delivered == self.written, "items lost: written but not delivered"
                if not self.read_interrupted:
                    result = check_channel_history(self.history.ops(), self.maxsize)
                    assert result.ok, result.explanation
        finally:
            set_sync_hook(self.previous_hook)
            if hasattr(self, "writer"):
                self._release_blocked_threads()

    def _release_blocked_threads(self) -> None:
        """Never leave a thread blocked, whatever failed - even when a broken close (a
        defect of models/broken.py) forgot to wake it: the woken threads see it closed."""
        self.writer.close()
        queue = self.channel.queue
        if isinstance(queue, AsyncQueue):
            with queue.mutex:
                queue._writable = False
                queue.not_empty.notify_all_locked()
                queue.not_full.notify_all_locked()


TestCloseModel = model_timeout(CloseModel.TestCase)
