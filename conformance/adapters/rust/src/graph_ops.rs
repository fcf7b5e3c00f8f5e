//! The graph operations of PROTOCOL.md section 4 (lists of nodes are reported as sorted
//! ids, except the inputs-first order).

use std::sync::{Arc, Mutex};

use channels::{Graph, Node, NodeRef};

use crate::json::Value;
use crate::ops::{locked, optional, text, Failure, Obj, Outcome, World};

/// Node ids, in the given order or sorted.
fn ids(nodes: &[NodeRef], sorted: bool) -> Value {
    let mut ids: Vec<String> = nodes.iter().map(|n| n.id.clone()).collect();
    if sorted {
        ids.sort();
    }
    Value::Array(ids.into_iter().map(Value::Str).collect())
}

impl World {
    fn graph(&self, step: &Value) -> Result<Arc<Mutex<Graph>>, Failure> {
        match self.obj(step, "target")? {
            Obj::Graph(g) => Ok(g),
            _ => Err(Failure::Unsupported(format!(
                "{} of a non-graph",
                text(step, "op")?
            ))),
        }
    }

    fn node(&self, step: &Value, key: &str) -> Result<NodeRef, Failure> {
        match self.obj(step, key)? {
            Obj::Node(n) => Ok(n),
            _ => Err(Failure::BadStep(format!("{key:?} must name a node"))),
        }
    }

    /// The graph holding `node` (a node asked for its edges is asked of its graph). Like
    /// every operation here, it never holds the name map's lock and a graph's at once.
    fn graph_of(&self, node: &NodeRef) -> Option<Arc<Mutex<Graph>>> {
        let graphs: Vec<Arc<Mutex<Graph>>> = locked(&self.objects)
            .values()
            .filter_map(|obj| match obj {
                Obj::Graph(g) => Some(Arc::clone(g)),
                _ => None,
            })
            .collect();
        graphs.into_iter().find(|g| locked(g).contains(node))
    }

    /// The graph operations; None for any other operation.
    pub(crate) fn perform_graph(&self, op: &str, step: &Value) -> Option<Outcome> {
        let this = || Value::Str("self".to_string());
        let result = match op {
            "graph" => text(step, "as").map(|name| {
                self.bind(name, Obj::Graph(Arc::new(Mutex::new(Graph::new()))));
                Value::Null
            }),
            "node" => text(step, "as").and_then(|name| {
                let id = match optional(step, "id") {
                    None => name,
                    Some(Value::Str(id)) => id,
                    Some(other) => {
                        return Err(Failure::Type(format!("a node id must be a string, got {other}")))
                    }
                };
                self.bind(name, Obj::Node(Node::new(id)));
                Ok(Value::Null)
            }),
            "add_node" => self.graph(step).and_then(|g| {
                let node = self.node(step, "node")?;
                locked(&g).add_node(&node);
                Ok(Value::Null)
            }),
            "add_edge" => self.graph(step).and_then(|g| {
                let (u, v) = (self.node(step, "u")?, self.node(step, "v")?);
                locked(&g).add_edge(&u, &v)?;
                Ok(this())
            }),
            "remove_node" => self.graph(step).and_then(|g| {
                let node = self.node(step, "node")?;
                locked(&g).remove_node(&node);
                Ok(this())
            }),
            "inputs_first" => self.graph(step).and_then(|g| {
                let node = self.node(step, "node")?;
                let order = locked(&g).input_inclusive_dfirst_reversed(&node);
                Ok(ids(&order, false))
            }),
            "in_nodes" | "out_nodes" => self.node(step, "node").map(|node| {
                let Some(g) = self.graph_of(&node) else {
                    return Value::Array(Vec::new());
                };
                let g = locked(&g);
                ids(
                    &if op == "in_nodes" {
                        g.in_nodes(&node)
                    } else {
                        g.out_nodes(&node)
                    },
                    true,
                )
            }),
            "nodes" => self.graph(step).map(|g| ids(locked(&g).nodes(), true)),
            _ => return None,
        };
        Some(result)
    }
}
