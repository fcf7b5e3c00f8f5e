"""Deliberately wrong code carrying refasync's real contracts: CrossHair must reject it."""
