"""The standard library under the explorer's control: its primitives (:mod:`.primitives`)
and where they replace the real ones while a run is on (:mod:`.patches`)."""

from .patches import VIRTUAL_EPOCH, controlled_origin, installed, monotonic
from .primitives import ControlledCondition, ControlledLock, ControlledRLock, ControlledSimpleQueue

__all__ = (
    "VIRTUAL_EPOCH",
    "ControlledCondition",
    "ControlledLock",
    "ControlledRLock",
    "ControlledSimpleQueue",
    "controlled_origin",
    "installed",
    "monotonic",
)
