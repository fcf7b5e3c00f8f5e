"""The defects each state-machine model must catch (models/test_teeth.py): the view of
the defect registry (models/defects.py) by model. A model that cannot fail is
worthless."""

from __future__ import annotations

from .defects import DEFECTS

__all__ = ("AIMED_AT", "MODELS")

#: The models, by the name a defect's ``models`` field uses.
MODELS = ("channel", "close", "orphan", "graph")

#: model -> the defects it must catch, sorted.
AIMED_AT: dict[str, tuple[str, ...]] = {
    model: tuple(sorted(n for n, d in DEFECTS.items() if model in d.models)) for model in MODELS
}
