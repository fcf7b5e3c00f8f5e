"""Proof that the models have teeth: each model must catch every deliberately broken
variant of models/broken.py aimed at it, in the ``ci`` profile."""

from __future__ import annotations

from typing import Callable

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import HypothesisException
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from refasync import (
    CallbackChannelReader,
    CallbackChannelWriter,
    Channel,
    ChannelReader,
    ChannelWriter,
    ThreadPool,
)
from refasync.graph import Graph, Node
from refasync.util import AsyncQueue

from . import broken
from ._settings import model_timeout
from .test_channel_model import ChannelEnds, ChannelModel
from .test_close_model import CloseModel
from .test_graph_model import GraphModel
from .test_orphan_model import OrphanModel

# Detection only: no shrinking, no example database (a stored failure must not help),
# and derandomized so that a pass or a miss is reproducible (the profile's example count).
TEETH = settings(settings(), database=None, phases=[Phase.explicit, Phase.generate],
                 derandomize=True, print_blob=False, suppress_health_check=list(HealthCheck))


def caught(machine: type[RuleBasedStateMachine]) -> list[BaseException]:
    """Run ``machine``; :return: the failures it reported (empty: the bug went unseen)."""
    try:
        run_state_machine_as_test(machine, settings=TEETH)
    except BaseException as failure:  # what a model reports: assertion or pytest.raises
        return leaves(failure)
    return []


def leaves(failure: BaseException) -> list[BaseException]:
    """The failures in ``failure`` (Hypothesis groups distinct failures)."""
    group: list[BaseException] | None = getattr(failure, "exceptions", None)
    if group is None:
        return [failure]
    return [leaf for sub in group for leaf in leaves(sub)]


def assert_caught(machine: type[RuleBasedStateMachine]) -> None:
    failures = caught(machine)
    assert failures, f"{machine.__name__}: the model did not notice the bug"
    for failure in failures:
        # A model failure: an assert, a pytest.raises that did not raise, a Hang, or an
        # exception where the specification says none (never Hypothesis' own errors).
        assert isinstance(failure, (Exception, pytest.fail.Exception)), repr(failure)
        assert not isinstance(failure, HypothesisException), repr(failure)


# --- channel model -----------------------------------------------------------------------


def channel_model_with(queue_cls: type[AsyncQueue[int]]) -> type[ChannelModel]:
    channel_cls = type(f"ChannelWith{queue_cls.__name__}", (Channel,), {"QueueCls": queue_cls})

    def make(serial: bool, maxsize: int) -> ChannelEnds:
        channel: Channel[int] = channel_cls(maxsize)
        return (CallbackChannelWriter(channel), CallbackChannelReader(channel),
                ChannelWriter(channel), ChannelReader(channel))

    return type(f"ChannelModelWith{queue_cls.__name__}", (ChannelModel,),
                {"make_channel": staticmethod(make), "serial_choices": (False,)})


@model_timeout
@pytest.mark.parametrize("queue_cls", [
    broken.DropsLastItemQueue,
    broken.ReturnsAnItemTwiceQueue,
    broken.PutBackAtTheEndQueue,
    broken.IgnoresCapacityQueue,
    broken.WritableAfterCloseQueue,
], ids=lambda cls: cls.__name__)
def test_channel_model_catches(queue_cls: type[AsyncQueue[int]]) -> None:
    assert_caught(channel_model_with(queue_cls))


# --- close model -------------------------------------------------------------------------


def close_model_with(queue_cls: type[AsyncQueue[int]]) -> type[CloseModel]:
    channel_cls = type(f"ChannelWith{queue_cls.__name__}", (Channel,), {"QueueCls": queue_cls})

    def make(maxsize: int) -> tuple[Channel[int], ChannelWriter[int], ChannelReader[int]]:
        channel: Channel[int] = channel_cls(maxsize)
        return channel, ChannelWriter(channel), ChannelReader(channel)

    return type(f"CloseModelWith{queue_cls.__name__}", (CloseModel,),
                {"make_channel": staticmethod(make)})


@model_timeout
@pytest.mark.parametrize("queue_cls", [
    broken.CloseForgetsReadersQueue,
    broken.CloseForgetsWritersQueue,
    broken.CloseWakesOneReaderQueue,
    broken.InterruptedReadLosesItemsQueue,
    broken.WriteWakesNobodyQueue,
    broken.DropsLastItemQueue,
    broken.ReturnsAnItemTwiceQueue,
], ids=lambda cls: cls.__name__)
def test_close_model_catches(queue_cls: type[AsyncQueue[int]]) -> None:
    assert_caught(close_model_with(queue_cls))


# --- orphan model ------------------------------------------------------------------------


@model_timeout
@pytest.mark.parametrize("pool_cls", [
    broken.NeverRemovesOrphansPool,
    broken.ForgetsInputsPool,
    broken.RemovesDependentsPool,
    broken.CountsRemovedTasksPool,
], ids=lambda cls: cls.__name__)
def test_orphan_model_catches(pool_cls: Callable[[int], ThreadPool]) -> None:
    machine = type(f"OrphanModelWith{getattr(pool_cls, '__name__')}", (OrphanModel,),
                   {"pool_class": pool_cls})
    assert_caught(machine)


# --- graph model -------------------------------------------------------------------------


@model_timeout
@pytest.mark.parametrize("graph_cls", [
    broken.NoCycleCheckGraph,
    broken.ReverseEdgeIsACycleGraph,
    broken.RemoveKeepsEdgesGraph,
    broken.DuplicateAncestorsGraph,
], ids=lambda cls: cls.__name__)
def test_graph_model_catches(graph_cls: Callable[[], Graph[Node]]) -> None:
    machine = type(f"GraphModelWith{getattr(graph_cls, '__name__')}", (GraphModel,),
                   {"make_graph": staticmethod(graph_cls)})
    assert_caught(machine)


@model_timeout
def test_the_real_implementations_pass() -> None:
    """The teeth settings themselves let the correct implementations through."""
    for machine in (ChannelModel, CloseModel, GraphModel, OrphanModel):
        assert caught(machine) == [], machine.__name__
