"""The sequential specification of the task graph (refasync.graph.Graph), as pure code.

Nodes are ints; an edge (u, v) means "v takes u as an input". Every function is pure and
small, with PEP 316 contracts for CrossHair.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = (
    "GraphState",
    "add_edge",
    "add_node",
    "ancestors",
    "inputs_of",
    "is_inputs_first_order",
    "outputs_of",
    "reachable",
    "remove_node",
)


@dataclass(frozen=True)
class GraphState:
    """Invariant: every edge joins two distinct nodes of ``nodes`` and there is no cycle.
    ``nodes`` is in insertion order, without duplicates."""

    nodes: tuple[int, ...] = ()
    edges: frozenset[tuple[int, int]] = frozenset()


def add_node(g: GraphState, node: int) -> GraphState:
    """Add ``node``; adding it again is a no-op.

    post: node in __return__.nodes
    post: __return__.edges == g.edges
    post: len(__return__.nodes) == len(g.nodes) + (0 if node in g.nodes else 1)
    """
    if node in g.nodes:
        return g
    return GraphState(g.nodes + (node,), g.edges)


def remove_node(g: GraphState, node: int) -> GraphState:
    """Remove ``node`` and every edge touching it; a no-op if absent.

    post: node not in __return__.nodes
    post: all(node not in edge for edge in __return__.edges)
    """
    return GraphState(
        tuple(n for n in g.nodes if n != node),
        frozenset(e for e in g.edges if node not in e),
    )


def reachable(edges: frozenset[tuple[int, int]], start: int, goal: int) -> bool:
    """Is there a path of one or more edges from ``start`` to ``goal``?

    post: not ((start, goal) in edges) or __return__
    """
    seen: set[int] = set()
    frontier = {v for (u, v) in edges if u == start}
    while frontier:
        if goal in frontier:
            return True
        seen |= frontier
        frontier = {v for (u, v) in edges if u in frontier} - seen
    return False


def add_edge(g: GraphState, u: int, v: int) -> tuple[GraphState, str | None]:
    """Add u -> v. :return: (new graph, None), or (g, why) when Graph.add_edge must raise
    ValueError: a node is missing, a self-edge, or a cycle. An edge already there, in
    either direction, is a no-op.

    post: (__return__[1] is None) or __return__[0] == g
    post: __return__[1] is not None or (u, v) in __return__[0].edges or (v, u) in g.edges
    """
    if u not in g.nodes or v not in g.nodes:
        return g, "missing node"
    if u == v:
        return g, "self-edge"
    if (u, v) in g.edges or (v, u) in g.edges:
        return g, None
    if reachable(g.edges, v, u):
        return g, "cycle"
    return GraphState(g.nodes, g.edges | {(u, v)}), None


def inputs_of(g: GraphState, node: int) -> frozenset[int]:
    """post: all((i, node) in g.edges for i in __return__)"""
    return frozenset(u for (u, v) in g.edges if v == node)


def outputs_of(g: GraphState, node: int) -> frozenset[int]:
    """post: all((node, o) in g.edges for o in __return__)"""
    return frozenset(v for (u, v) in g.edges if u == node)


def ancestors(g: GraphState, node: int) -> frozenset[int]:
    """Every node ``node`` depends on, directly or not (not itself).

    pre: all(u in g.nodes and v in g.nodes and u != v for (u, v) in g.edges)
    post: inputs_of(g, node) <= __return__
    """
    return frozenset(n for n in g.nodes if n != node and reachable(g.edges, n, node))


def is_inputs_first_order(g: GraphState, node: int, order: tuple[int, ...]) -> bool:
    """What input_inclusive_dfirst_reversed(node) must return: ``node`` and each of its
    ancestors exactly once, ``node`` last, every node after all of its inputs."""
    if not order or order[-1] != node or len(set(order)) != len(order):
        return False
    if set(order) != ancestors(g, node) | {node}:
        return False
    position = {n: k for k, n in enumerate(order)}
    return all(position[i] < position[n] for n in order for i in inputs_of(g, n))
