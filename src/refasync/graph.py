"""Simplistic implementation of a directed acyclic graph.

Not thread-safe: its owner (the pool) guards it with its own lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ("Graph", "Node", "creates_cycle", "inputs_first_order")


class Node:
    """A node in the graph. Nodes know their neighbours and have an id which should
    resolve into a string. Edges point from an input (``in_nodes``) to the node that
    consumes it (``out_nodes``)."""

    __slots__ = ("id", "in_nodes", "out_nodes", "__weakref__")

    def __init__(self, id: object = None) -> None:
        self.id = id
        self.in_nodes: list[Self] = []
        self.out_nodes: list[Self] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r})"


N = TypeVar("N", bound=Node)


def creates_cycle(edges: dict[int, list[int]], u: int, v: int) -> bool:
    """:return: True if adding the edge u->v to the DAG ``edges`` (node -> its outputs)
    closes a cycle, that is if u == v or u is reachable from v.

    post: __return__ == (u == v or _reachable(edges, v, u, len(edges)))
    """
    if u == v:
        return True
    seen = {v}
    stack = [v]
    while stack:
        node = stack.pop()
        for out in edges.get(node, ()):
            if out == u:
                return True
            if out not in seen:
                seen.add(out)
                stack.append(out)
    return False


def _reachable(edges: dict[int, list[int]], start: int, goal: int, steps: int) -> bool:
    """Reference reachability for the contracts: is ``goal`` at most ``steps`` edges from
    ``start``? A shortest path only leaves nodes that have outputs, so ``len(edges)``
    steps suffice. Recursive: CrossHair explores this far better than a frontier set."""
    return start == goal or (
        steps > 0 and any(_reachable(edges, o, goal, steps - 1) for o in edges.get(start, []))
    )


def inputs_first_order(inputs: dict[int, list[int]], node: int) -> list[int]:
    """:return: ``node`` and every node it depends on through ``inputs`` (node -> its
    input nodes, acyclic), each exactly once, every node after all of its inputs, and
    ``node`` last. Inputs are visited depth-first in list order.

    The precondition states acyclicity in a form CrossHair handles well: inputs have
    smaller ids (any DAG can be so renumbered; the function only compares ids).

    pre: all(i < n for n in inputs for i in inputs[n])
    post: __return__[-1] == node
    post: len(set(__return__)) == len(__return__)
    post: all(i in __return__[:k] for k, n in enumerate(__return__) for i in inputs.get(n, []))
    post: all(any(n in inputs.get(m, []) for m in __return__[k + 1:]) for k, n in enumerate(__return__[:-1]))
    """
    order: list[int] = []
    placed: set[int] = set()
    # Iterative post-order DFS: (node, index of the next input to visit).
    stack: list[tuple[int, int]] = [(node, 0)]
    on_path = {node}
    while stack:
        current, index = stack[-1]
        current_inputs = inputs.get(current, [])
        if index < len(current_inputs):
            stack[-1] = (current, index + 1)
            child = current_inputs[index]
            if child not in placed and child not in on_path:
                stack.append((child, 0))
                on_path.add(child)
        else:
            stack.pop()
            on_path.discard(current)
            if current not in placed:
                placed.add(current)
                order.append(current)
    return order


class Graph(Generic[N]):
    """A simple graph implementation, keeping nodes and providing basic access and
    editing functions. Meant for small graphs (tens of nodes)."""

    __slots__ = ("nodes", "_members")

    def __init__(self) -> None:
        self.nodes: list[N] = []
        self._members: set[int] = set()  # id() of every node in ``nodes``

    def add_node(self, node: N) -> N:
        """Add a new node to the graph (adding it again is a no-op).

        :return: the newly added node
        """
        if id(node) not in self._members:
            self._members.add(id(node))
            self.nodes.append(node)
        return node

    def remove_node(self, node: N) -> Graph[N]:
        """Delete a node and every edge touching it from the graph (no-op if absent).

        :return: self
        """
        if id(node) not in self._members:
            return self
        self._members.discard(id(node))
        self.nodes.remove(node)
        for input_node in node.in_nodes:
            input_node.out_nodes.remove(node)
        for output_node in node.out_nodes:
            output_node.in_nodes.remove(node)
        node.in_nodes.clear()
        node.out_nodes.clear()
        return self

    def add_edge(self, u: N, v: N) -> Graph[N]:
        """Add the directed edge u -> v: v takes u as an input.

        Re-adding an existing edge, in either direction, is a no-op.

        :return: self
        :raise ValueError: if u or v is not in the graph, if u is v, or if the new edge
            would create a cycle
        """
        for name, node in (("u", u), ("v", v)):
            if id(node) not in self._members:
                raise ValueError(f"add_edge: {name}={node!r} is not a node of this graph")
        if u is v:
            raise ValueError(f"add_edge: a self-edge on {u!r} would create a cycle")
        if v in u.out_nodes or u in v.out_nodes:
            return self
        if creates_cycle(self._output_index(v), id(u), id(v)):
            raise ValueError(f"add_edge: {u!r} -> {v!r} would create a cycle")
        u.out_nodes.append(v)
        v.in_nodes.append(u)
        return self

    def input_inclusive_dfirst_reversed(self, node: N) -> list[N]:
        """Return all input nodes of ``node``, depth first, each exactly once and each
        after all of its own inputs, with ``node`` itself last."""
        by_id: dict[int, N] = {}
        inputs: dict[int, list[int]] = {}
        stack = [node]
        while stack:
            current = stack.pop()
            if id(current) in by_id:
                continue
            by_id[id(current)] = current
            inputs[id(current)] = [id(i) for i in current.in_nodes]
            stack.extend(current.in_nodes)
        return [by_id[i] for i in inputs_first_order(inputs, id(node))]

    def _output_index(self, start: N) -> dict[int, list[int]]:
        """:return: node -> its outputs, for ``start`` and every node reachable from it
        (all that ``creates_cycle`` visits), so adding an edge costs what lies
        downstream of it, not the size of the graph."""
        index: dict[int, list[int]] = {}
        stack = [start]
        while stack:
            node = stack.pop()
            if id(node) not in index:
                index[id(node)] = [id(o) for o in node.out_nodes]
                stack.extend(node.out_nodes)
        return index
