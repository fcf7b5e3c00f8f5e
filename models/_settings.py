"""Per-profile limits shared by the model tests (the profiles are registered in the root
conftest.py: ``ci`` by default, ``thorough`` when HYPOTHESIS_PROFILE=thorough)."""

from __future__ import annotations

import os

import pytest

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE", "ci") == "thorough"

#: The hang guard of one whole state-machine test: generous, since it bounds many
#: examples; each background wait inside has its own, much shorter, bound.
model_timeout = pytest.mark.timeout(3600 if THOROUGH else 170)
