"""Conformance adapters: programs that run one case (JSON on stdin) and print its outcomes."""
