"""Proof that the models have teeth: each model catches every defect of the registry
aimed at it (models/broken.py, models/defects.py) in the ``ci`` profile, deterministically:
generation is derandomized, and a model whose defects need a rare sequence of steps
also runs that sequence as an explicit example (``CLOSE_EXPLICIT``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import HypothesisException
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from models.defects import applied

from ._settings import model_timeout
from .broken import AIMED_AT
from .test_channel_model import ChannelModel
from .test_close_model import CloseModel
from .test_graph_model import GraphModel
from .test_orphan_model import OrphanModel

# Detection only: no shrinking, no example database (a stored failure must not help),
# and derandomized so that a pass or a miss is reproducible (the profile's example count).
TEETH = settings(
    settings(),
    database=None,
    phases=[Phase.explicit, Phase.generate],
    derandomize=True,
    print_blob=False,
    suppress_health_check=list(HealthCheck),
)


class AsyncChannelModel(ChannelModel):
    """The channel model on thread-safe channels only: the defects are in AsyncQueue."""

    serial_choices = (False,)


MACHINES: dict[str, type[RuleBasedStateMachine]] = {
    "channel": AsyncChannelModel,
    "close": CloseModel,
    "orphan": OrphanModel,
    "graph": GraphModel,
}


#: Explicit examples: step sequences run before generation, each a plain function of a
#: fresh machine. The close model's defects each need a thread blocked at the right
#: moment, which 40 generated examples may not reach, or reach only with some timings
#: (a writer blocked on a full channel when it closes: close_forgets_writers; a read-all
#: interrupted after it took an item: read_loses_items_on_interrupt).
Steps = Callable[[CloseModel], object]
CLOSE_EXPLICIT: list[list[Steps]] = [
    # a writer blocked on a full channel, then the close
    [lambda m: m.create(1), lambda m: m.start_blocking_write(True), lambda m: m.close(0)],
    # two readers blocked on an empty channel, then the close
    [
        lambda m: m.create(0),
        lambda m: m.start_blocking_read(1),
        lambda m: m.start_blocking_read(1),
        lambda m: m.close(0),
    ],
    # a reader blocked on an empty channel, then a write
    [lambda m: m.create(0), lambda m: m.start_blocking_read(1), lambda m: m.write()],
    # two items, read at once
    [lambda m: m.create(0), lambda m: m.write(), lambda m: m.write(), lambda m: m.read_now(0)],
    # a blocked read-all that took an item, interrupted as it wakes
    [
        lambda m: m.create(0),
        lambda m: m.start_blocking_read(0),
        lambda m: m.write(),
        lambda m: m.interrupt_a_blocked_operation(0),
    ],
]


def run_explicit(steps: list[Steps]) -> None:
    """Run ``steps`` on a fresh close model, checking its invariants after each, then its
    teardown (as Hypothesis would run them)."""
    machine = CloseModel()
    try:
        for step in steps:
            step(machine)
            machine.closed_channel_has_no_blocked_operation()
            machine.size_is_written_minus_delivered()
    finally:
        machine.teardown()


def caught(model: str) -> list[BaseException]:
    """Run ``model``'s explicit examples, then its generated ones; :return: the failures
    reported (empty: the defect went unseen)."""
    for steps in CLOSE_EXPLICIT if model == "close" else []:
        try:
            run_explicit(steps)
        except BaseException as failure:  # what a model reports: assertion, Hang, ...
            return leaves(failure)
    try:
        run_state_machine_as_test(MACHINES[model], settings=TEETH)
    except BaseException as failure:
        return leaves(failure)
    return []


def leaves(failure: BaseException) -> list[BaseException]:
    """The failures in ``failure`` (Hypothesis groups distinct failures)."""
    group: list[BaseException] | None = getattr(failure, "exceptions", None)
    if group is None:
        return [failure]
    return [leaf for sub in group for leaf in leaves(sub)]


@model_timeout
@pytest.mark.parametrize(
    ("model", "defect"),
    [(m, d) for m, names in AIMED_AT.items() for d in names],
    ids=lambda value: str(value),
)
def test_the_model_catches_the_defect(model: str, defect: str) -> None:
    with applied(defect):
        failures = caught(model)
    assert failures, f"the {model} model did not notice {defect}"
    for failure in failures:
        # A model failure: an assert, a pytest.raises that did not raise, a Hang, or an
        # exception where the specification says none (never Hypothesis' own errors).
        assert isinstance(failure, (Exception, pytest.fail.Exception)), repr(failure)
        assert not isinstance(failure, HypothesisException), repr(failure)


@model_timeout
@pytest.mark.parametrize("model", sorted(MACHINES))
def test_the_real_implementation_passes(model: str) -> None:
    """The teeth settings and the explicit examples let the correct code through."""
    assert caught(model) == [], model
