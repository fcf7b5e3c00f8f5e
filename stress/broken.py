"""The broken variants the stress harness and the explorer must catch: the view of the
defect registry (models/defects.py) for ``python -m stress --broken NAME``,
``stress/test_broken.py`` and the explorer's campaigns. Each is one line of today's
source replaced; one that no longer applies raises ``DefectSiteError`` naming its site.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from models.defects import DEFECTS, Defect, applied

__all__ = ("BROKEN", "MODEL_CLASSES", "Variant", "broken")

#: A broken variant is a defect of the registry.
Variant = Defect

BROKEN: dict[str, Variant] = {name: d for name, d in DEFECTS.items() if d.harness}

#: Every defect a state-machine model must catch (models/broken.py): the variant of the
#: stress view with the same defect (the explorer or a dedicated test must catch it too),
#: or why none applies. A sequential defect shows in one thread without any
#: interleaving: scheduling adds nothing, and the models and unit tests catch it.
SEQUENTIAL = "sequential: one thread shows it, no schedule matters (models/test_teeth.py)"
PURE = "does not apply: Graph is pure and used only under Pool.lock (models/test_graph_model.py)"


def _mapped(defect: Defect) -> str:
    if defect.harness:
        return defect.name
    return PURE if defect.site.startswith("refasync.graph:") else SEQUENTIAL


MODEL_CLASSES: dict[str, str] = {name: _mapped(d) for name, d in DEFECTS.items() if d.models}


@contextlib.contextmanager
def broken(name: str) -> Iterator[Variant]:
    """Install the broken variant ``name`` for the block; the original is restored after.

    :raise KeyError: if ``name`` is not in ``BROKEN``
    """
    if name not in BROKEN:
        raise KeyError(f"no broken variant {name!r} (stress.broken.BROKEN)")
    with applied(name) as defect:
        yield defect
