//! A directed acyclic graph of nodes (rules G1-G4): an edge u → v makes v consume u.
//! Nodes are shared handles compared by identity, as the seed's node objects are; the
//! graph owns the edges, so a node's inputs and consumers are asked of its graph.

use std::sync::Arc;

use crate::queue::Error;

pub struct Node {
    pub id: String,
}

pub type NodeRef = Arc<Node>;

impl Node {
    pub fn new(id: &str) -> NodeRef {
        Arc::new(Node { id: id.to_string() })
    }
}

#[derive(Default)]
pub struct Graph {
    nodes: Vec<NodeRef>,
    /// (input, consumer)
    edges: Vec<(NodeRef, NodeRef)>,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    pub fn contains(&self, node: &NodeRef) -> bool {
        self.nodes.iter().any(|n| Arc::ptr_eq(n, node))
    }

    /// Adds `node`; adding a node already there changes nothing.
    pub fn add_node(&mut self, node: &NodeRef) {
        if !self.contains(node) {
            self.nodes.push(Arc::clone(node));
        }
    }

    fn has_edge(&self, u: &NodeRef, v: &NodeRef) -> bool {
        self.edges
            .iter()
            .any(|(a, b)| Arc::ptr_eq(a, u) && Arc::ptr_eq(b, v))
    }

    /// Whether `to` is `from` or a consumer of it, directly or not.
    fn reaches(&self, from: &NodeRef, to: &NodeRef) -> bool {
        let mut seen: Vec<NodeRef> = Vec::new();
        let mut todo = vec![Arc::clone(from)];
        while let Some(node) = todo.pop() {
            if Arc::ptr_eq(&node, to) {
                return true;
            }
            if !seen.iter().any(|s| Arc::ptr_eq(s, &node)) {
                todo.extend(self.out_nodes(&node));
                seen.push(node);
            }
        }
        false
    }

    /// Adds the edge u → v (G1); the edge again, or its reverse, changes nothing. A node
    /// not in the graph, a self-edge or an edge closing a cycle raises `Value` (G2).
    pub fn add_edge(&mut self, u: &NodeRef, v: &NodeRef) -> Result<&mut Graph, Error> {
        if !self.contains(u) || !self.contains(v) {
            return Err(Error::Value(
                "both nodes of an edge must be in the graph".to_string(),
            ));
        }
        if Arc::ptr_eq(u, v) {
            return Err(Error::Value(format!("a self-edge on {:?}", u.id)));
        }
        if self.has_edge(u, v) || self.has_edge(v, u) {
            return Ok(self);
        }
        if self.reaches(v, u) {
            return Err(Error::Value(format!(
                "the edge {:?} -> {:?} would close a cycle",
                u.id, v.id
            )));
        }
        self.edges.push((Arc::clone(u), Arc::clone(v)));
        Ok(self)
    }

    /// Removes `node` and its edges on both sides (G3).
    pub fn remove_node(&mut self, node: &NodeRef) -> &mut Graph {
        self.nodes.retain(|n| !Arc::ptr_eq(n, node));
        self.edges
            .retain(|(u, v)| !Arc::ptr_eq(u, node) && !Arc::ptr_eq(v, node));
        self
    }

    pub fn nodes(&self) -> &[NodeRef] {
        &self.nodes
    }

    /// The nodes `node` consumes.
    pub fn in_nodes(&self, node: &NodeRef) -> Vec<NodeRef> {
        let ins = self.edges.iter().filter(|(_, v)| Arc::ptr_eq(v, node));
        ins.map(|(u, _)| Arc::clone(u)).collect()
    }

    /// The nodes that consume `node`.
    pub fn out_nodes(&self, node: &NodeRef) -> Vec<NodeRef> {
        let outs = self.edges.iter().filter(|(u, _)| Arc::ptr_eq(u, node));
        outs.map(|(_, v)| Arc::clone(v)).collect()
    }

    /// Every ancestor of `node` once, each after all its inputs, `node` last (G4): a
    /// depth-first visit of the inputs, listing a node once its inputs are listed.
    pub fn input_inclusive_dfirst_reversed(&self, node: &NodeRef) -> Vec<NodeRef> {
        let mut order: Vec<NodeRef> = Vec::new();
        // (node, whether its inputs are listed already)
        let mut todo = vec![(Arc::clone(node), false)];
        while let Some((next, inputs_listed)) = todo.pop() {
            if order.iter().any(|n| Arc::ptr_eq(n, &next)) {
                continue;
            }
            if inputs_listed {
                order.push(next);
                continue;
            }
            let inputs = self.in_nodes(&next);
            todo.push((next, true));
            todo.extend(inputs.into_iter().rev().map(|input| (input, false)));
        }
        order
    }
}
