"""Graph model: refasync.graph.Graph driven in lockstep with models/graph_spec.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from refasync.graph import Graph, Node

from . import graph_spec as spec
from ._settings import model_timeout

NODE_IDS = st.integers(0, 4)  # few nodes: dense graphs, cycles within reach


def key_of(node: Node) -> int:
    assert isinstance(node.id, int)
    return node.id


def real_graph() -> Graph[Node]:
    return Graph()


class GraphModel(RuleBasedStateMachine):
    """Nodes 0..4; node objects are created once per id and reused when re-added.
    models/test_teeth.py runs it with each defect of models/broken.py installed."""

    make_graph: Callable[[], Graph[Node]] = staticmethod(real_graph)

    def __init__(self) -> None:
        super().__init__()
        self.graph = self.make_graph()
        self.state = spec.GraphState()
        self.node_objects: dict[int, Node] = {}

    def node(self, key: int) -> Node:
        return self.node_objects.setdefault(key, Node(key))

    @rule(key=NODE_IDS)
    def add_node(self, key: int) -> None:
        assert self.graph.add_node(self.node(key)) is self.node(key)
        self.state = spec.add_node(self.state, key)

    @rule(key=NODE_IDS)
    def remove_node(self, key: int) -> None:
        assert self.graph.remove_node(self.node(key)) is self.graph
        self.state = spec.remove_node(self.state, key)
        # A removed node is fully detached, so it can be re-added as a fresh node.
        assert not self.node(key).in_nodes and not self.node(key).out_nodes

    @rule(u=NODE_IDS, v=NODE_IDS)
    def add_edge(self, u: int, v: int) -> None:
        self.state, error = spec.add_edge(self.state, u, v)
        if error is None:
            assert self.graph.add_edge(self.node(u), self.node(v)) is self.graph
        else:
            with pytest.raises(ValueError):
                self.graph.add_edge(self.node(u), self.node(v))

    @rule(u=NODE_IDS, v=NODE_IDS)
    def add_edge_back_and_forth(self, u: int, v: int) -> None:
        """Adding an edge and then its reverse: the reverse is a no-op, never a cycle."""
        self.add_edge(u, v)
        self.add_edge(v, u)

    @rule(a=NODE_IDS, b=NODE_IDS, c=NODE_IDS, d=NODE_IDS)
    def add_a_diamond(self, a: int, b: int, c: int, d: int) -> None:
        """a -> b -> d and a -> c -> d: d has a shared ancestor (when all four differ)."""
        for key in (a, b, c, d):
            self.add_node(key)
        for u, v in ((a, b), (a, c), (b, d), (c, d)):
            self.add_edge(u, v)

    @invariant()
    def same_nodes_and_edges(self) -> None:
        assert [key_of(n) for n in self.graph.nodes] == list(self.state.nodes)
        for n in self.graph.nodes:
            key = key_of(n)
            assert sorted(map(key_of, n.in_nodes)) == sorted(spec.inputs_of(self.state, key))
            assert sorted(map(key_of, n.out_nodes)) == sorted(spec.outputs_of(self.state, key))
            assert len(set(map(id, n.in_nodes))) == len(n.in_nodes), "an edge stored twice"

    @invariant()
    def inputs_first_order(self) -> None:
        for n in self.graph.nodes:
            order = tuple(map(key_of, self.graph.input_inclusive_dfirst_reversed(n)))
            assert spec.is_inputs_first_order(self.state, key_of(n), order), order


TestGraphModel = model_timeout(GraphModel.TestCase)
