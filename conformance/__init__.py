"""refasync's porting kit: conformance vectors and the history checker.

``python -m conformance`` runs every vector (``conformance/vectors/*.json``) against an
adapter program; ``conformance/PROTOCOL.md`` says how to write one for another language.
``python -m conformance.check HISTORY.jsonl`` checks a history for linearizability
(``conformance/HISTORY.md``).
"""
