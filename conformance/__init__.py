"""Language-neutral conformance vectors for the async channel / task-graph / pool API.

``python -m conformance`` runs every vector (``conformance/vectors/*.json``) against an
adapter program; ``conformance/PROTOCOL.md`` says how to write one for another language.
"""
