"""State-machine models of refasync: pure sequential specifications (``*_spec.py``), the
Hypothesis state machines that drive the real objects against them (``test_*_model.py``),
a linearizability checker for concurrent channel histories (``linearizability.py``), and
deliberately broken variants proving the models can fail (``broken.py``, ``test_teeth.py``).
"""
