"""Unit tests for refasync.graph: Node, Graph and the pure functions creates_cycle and
inputs_first_order (rule 12 and the input order the pool relies on).

Hypothesis checks the order and cycle detection over random graphs against a naive
reachability reference.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refasync.graph import Graph, Node, creates_cycle, inputs_first_order

# --- helpers ------------------------------------------------------------------------------


def graph_of(n: int) -> tuple[Graph[Node], list[Node]]:
    graph: Graph[Node] = Graph()
    nodes = [graph.add_node(Node(i)) for i in range(n)]
    return graph, nodes


def reaches(start: Node, goal: Node) -> bool:
    """Naive reference: is there a path start -> ... -> goal along out_nodes?"""
    seen: set[int] = set()
    frontier = [start]
    while frontier:
        node = frontier.pop()
        if node is goal:
            return True
        if id(node) not in seen:
            seen.add(id(node))
            frontier.extend(node.out_nodes)
    return False


def ancestors(node: Node) -> set[int]:
    """ids of every node with a path to ``node`` (node excluded)."""
    found: set[int] = set()
    frontier = list(node.in_nodes)
    while frontier:
        current = frontier.pop()
        if id(current) not in found:
            found.add(id(current))
            frontier.extend(current.in_nodes)
    return found


def check_inputs_first(order: list[Node], node: Node) -> None:
    """The order's contract: ancestors of node plus node, each once, node last, every
    node after all of its inputs."""
    ids = [id(n) for n in order]
    assert len(set(ids)) == len(ids), "a node appears twice"
    assert order[-1] is node
    assert set(ids) == ancestors(node) | {id(node)}
    position = {id(n): k for k, n in enumerate(order)}
    for n in order:
        for i in n.in_nodes:
            assert position[id(i)] < position[id(n)], f"{n} comes before its input {i}"


# --- Node ---------------------------------------------------------------------------------


def test_node_keeps_its_id_and_starts_without_edges() -> None:
    node = Node("task")
    assert node.id == "task"
    assert node.in_nodes == [] and node.out_nodes == []
    assert Node().id is None
    assert "task" in repr(node)


# --- add_node / remove_node ---------------------------------------------------------------


def test_add_node_returns_the_node_and_adds_it_once() -> None:
    graph: Graph[Node] = Graph()
    node = Node(1)
    assert graph.add_node(node) is node
    assert graph.add_node(node) is node
    assert graph.nodes == [node]


def test_remove_node_returns_the_graph_and_drops_the_node() -> None:
    graph, (a, b) = graph_of(2)
    assert graph.remove_node(a) is graph
    assert graph.nodes == [b]


def test_remove_node_removes_its_edges_on_both_sides() -> None:
    graph, (a, b, c) = graph_of(3)
    graph.add_edge(a, b).add_edge(b, c)
    graph.remove_node(b)
    assert a.out_nodes == [] and c.in_nodes == []
    assert b.in_nodes == [] and b.out_nodes == []
    assert graph.nodes == [a, c]


def test_remove_absent_node_is_a_no_op() -> None:
    graph, (a,) = graph_of(1)
    assert graph.remove_node(Node("stranger")) is graph
    assert graph.nodes == [a]


def test_removed_node_can_be_added_and_connected_again() -> None:
    graph, (a, b) = graph_of(2)
    graph.add_edge(a, b)
    graph.remove_node(b)
    graph.add_node(b)
    graph.add_edge(b, a)  # the old a -> b edge is gone, so this closes no cycle
    assert a.in_nodes == [b] and b.out_nodes == [a]


# --- add_edge -----------------------------------------------------------------------------


def test_add_edge_points_from_input_to_consumer() -> None:
    graph, (u, v) = graph_of(2)
    assert graph.add_edge(u, v) is graph
    assert u.out_nodes == [v] and v.in_nodes == [u]
    assert u.in_nodes == [] and v.out_nodes == []


def test_re_adding_an_edge_is_a_no_op() -> None:
    graph, (u, v) = graph_of(2)
    graph.add_edge(u, v)
    graph.add_edge(u, v)
    assert u.out_nodes == [v] and v.in_nodes == [u]


def test_adding_the_reverse_of_an_edge_is_a_no_op() -> None:
    graph, (u, v) = graph_of(2)
    graph.add_edge(u, v)
    assert graph.add_edge(v, u) is graph
    assert u.out_nodes == [v] and v.in_nodes == [u]
    assert u.in_nodes == [] and v.out_nodes == []


def test_self_edge_raises_value_error() -> None:
    graph, (u,) = graph_of(1)
    with pytest.raises(ValueError):
        graph.add_edge(u, u)
    assert u.in_nodes == [] and u.out_nodes == []


def test_edge_closing_a_short_cycle_raises_value_error() -> None:
    graph, (a, b, c) = graph_of(3)
    graph.add_edge(a, b).add_edge(b, c)
    with pytest.raises(ValueError):
        graph.add_edge(c, a)
    assert c.out_nodes == [] and a.in_nodes == []


@pytest.mark.parametrize("length", [4, 10, 50])
def test_edge_closing_a_long_cycle_raises_value_error(length: int) -> None:
    graph, chain = graph_of(length)
    for u, v in zip(chain, chain[1:], strict=False):
        graph.add_edge(u, v)
    with pytest.raises(ValueError):
        graph.add_edge(chain[-1], chain[0])
    with pytest.raises(ValueError):
        graph.add_edge(chain[-1], chain[1])  # not adjacent: a cycle of length - 1
    assert chain[-1].out_nodes == []
    graph.add_edge(chain[0], chain[-1])  # a forward shortcut is fine
    assert chain[-1].in_nodes == [chain[-2], chain[0]]


def test_edge_to_or_from_a_node_not_in_the_graph_raises_value_error() -> None:
    graph, (a,) = graph_of(1)
    stranger = Node("stranger")
    with pytest.raises(ValueError):
        graph.add_edge(a, stranger)
    with pytest.raises(ValueError):
        graph.add_edge(stranger, a)
    assert a.out_nodes == [] and a.in_nodes == [] and stranger.in_nodes == []


# --- input_inclusive_dfirst_reversed ------------------------------------------------------


def test_order_of_a_lone_node_is_the_node() -> None:
    graph, (a,) = graph_of(1)
    assert graph.input_inclusive_dfirst_reversed(a) == [a]


def test_order_of_a_chain_lists_inputs_first_and_the_node_last() -> None:
    graph, (a, b, c) = graph_of(3)
    graph.add_edge(a, b).add_edge(b, c)
    assert graph.input_inclusive_dfirst_reversed(c) == [a, b, c]
    assert graph.input_inclusive_dfirst_reversed(b) == [a, b]


def test_order_of_a_diamond_lists_the_shared_input_once_and_first() -> None:
    # top -> left -> bottom, top -> right -> bottom
    graph, (top, left, right, bottom) = graph_of(4)
    graph.add_edge(top, left).add_edge(top, right)
    graph.add_edge(left, bottom).add_edge(right, bottom)
    order = graph.input_inclusive_dfirst_reversed(bottom)
    assert order[0] is top and order[-1] is bottom
    assert len(order) == 4 and set(map(id, order)) == {id(top), id(left), id(right), id(bottom)}
    check_inputs_first(order, bottom)


def test_order_of_a_fan_in_holds_every_input_once_then_the_node() -> None:
    graph, nodes = graph_of(6)
    sink = nodes[-1]
    for source in nodes[:-1]:
        graph.add_edge(source, sink)
    order = graph.input_inclusive_dfirst_reversed(sink)
    assert order[-1] is sink
    assert sorted(id(n) for n in order[:-1]) == sorted(id(n) for n in nodes[:-1])


def test_order_excludes_nodes_that_are_not_inputs() -> None:
    graph, (a, b, c, d) = graph_of(4)
    graph.add_edge(a, b).add_edge(b, c).add_edge(c, d)
    assert graph.input_inclusive_dfirst_reversed(b) == [a, b]  # c and d are outputs


def test_order_of_a_fan_in_of_shared_chains_lists_each_once() -> None:
    # s -> m1 -> {x, y}, s -> m2 -> {x, y}, x -> z, y -> z
    graph, (s, m1, m2, x, y, z) = graph_of(6)
    for u, v in [(s, m1), (s, m2), (m1, x), (m1, y), (m2, x), (m2, y), (x, z), (y, z)]:
        graph.add_edge(u, v)
    check_inputs_first(graph.input_inclusive_dfirst_reversed(z), z)


@st.composite
def random_dags(draw: st.DrawFn) -> tuple[Graph[Node], list[Node]]:
    """A DAG built through add_edge: only edges from a lower to a higher index, in a
    random order, so every add_edge must succeed."""
    n = draw(st.integers(1, 12))
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] < p[1]),
            max_size=30,
        )
    )
    graph, nodes = graph_of(n)
    for u, v in pairs:
        graph.add_edge(nodes[u], nodes[v])
    return graph, nodes


@given(random_dags(), st.data())
def test_order_over_random_dags_holds_every_ancestor_once_inputs_first(
    dag: tuple[Graph[Node], list[Node]], data: st.DataObject
) -> None:
    graph, nodes = dag
    node = data.draw(st.sampled_from(nodes))
    check_inputs_first(graph.input_inclusive_dfirst_reversed(node), node)


@given(st.integers(2, 10), st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=40))
def test_add_edge_rejects_exactly_the_edges_that_would_close_a_cycle(
    n: int, pairs: list[tuple[int, int]]
) -> None:
    graph, nodes = graph_of(n)
    for i, j in pairs:
        u, v = nodes[i % n], nodes[j % n]
        existed = v in u.out_nodes or u in v.out_nodes
        closes_cycle = u is v or (not existed and reaches(v, u))
        if closes_cycle:
            with pytest.raises(ValueError):
                graph.add_edge(u, v)
        else:
            graph.add_edge(u, v)
            assert v in u.out_nodes or (existed and u in v.out_nodes)
    for node in nodes:  # the graph stays acyclic and its edge lists agree
        assert not any(reaches(out, node) for out in node.out_nodes)
        for out in node.out_nodes:
            assert node in out.in_nodes and node.out_nodes.count(out) == 1


# --- creates_cycle and inputs_first_order -------------------------------------------------


def test_creates_cycle_on_self_edge() -> None:
    assert creates_cycle({}, 1, 1)


def test_creates_cycle_when_u_is_reachable_from_v() -> None:
    edges = {1: [2], 2: [3], 3: []}
    assert creates_cycle(edges, 3, 1)
    assert creates_cycle(edges, 2, 1)
    assert not creates_cycle(edges, 1, 3)
    assert not creates_cycle(edges, 3, 4)  # 4 is unknown: it reaches nothing


def test_inputs_first_order_places_inputs_first_and_node_last() -> None:
    inputs = {4: [2, 3], 2: [1], 3: [1], 1: []}
    order = inputs_first_order(inputs, 4)
    assert order == [1, 2, 3, 4]


def test_inputs_first_order_of_a_node_without_inputs_is_the_node() -> None:
    assert inputs_first_order({}, 7) == [7]


def dag_edges(n: int, pairs: list[tuple[int, int]]) -> dict[int, list[int]]:
    """node -> its outputs, only lower -> higher edges, no duplicates (acyclic)."""
    edges: dict[int, list[int]] = {i: [] for i in range(n)}
    for u, v in pairs:
        u, v = u % n, v % n
        if u < v and v not in edges[u]:
            edges[u].append(v)
    return edges


def reachable(edges: dict[int, list[int]], start: int, goal: int) -> bool:
    seen: set[int] = set()
    frontier = [start]
    while frontier:
        node = frontier.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            frontier.extend(edges.get(node, []))
    return False


pair_lists = st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=40)


@given(st.integers(1, 12), pair_lists, st.integers(0, 11), st.integers(0, 11))
def test_creates_cycle_iff_v_reaches_u(
    n: int, pairs: list[tuple[int, int]], u: int, v: int
) -> None:
    edges = dag_edges(n, pairs)
    u, v = u % n, v % n
    assert creates_cycle(edges, u, v) == (u == v or reachable(edges, v, u))


@given(st.integers(1, 12), pair_lists, st.integers(0, 11))
def test_inputs_first_order_holds_every_ancestor_once_inputs_first(
    n: int, pairs: list[tuple[int, int]], node: int
) -> None:
    outputs = dag_edges(n, pairs)
    inputs: dict[int, list[int]] = {i: [] for i in range(n)}
    for u, outs in outputs.items():
        for v in outs:
            inputs[v].append(u)
    node %= n
    order = inputs_first_order(inputs, node)
    assert order[-1] == node
    assert len(set(order)) == len(order)
    assert set(order) == {a for a in range(n) if reachable(outputs, a, node)}
    for k, current in enumerate(order):
        assert all(i in order[:k] for i in inputs[current])
