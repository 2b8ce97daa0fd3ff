//! A validated workflow graph: nodes, edges, topological order, critical path, cycle finding.

use super::spec::{Dep, GraphSpec, NodeSpec};
use super::WIDE_NODE;
use crate::core::names::check_name;
use crate::error::{PitError, Result};
use crate::flat_lists::FlatLists;
use rustc_hash::FxHashMap;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// A validated workflow graph: nodes, edges, a topological order.
#[derive(Debug)]
pub struct WorkflowGraph {
    pub(super) spec: GraphSpec,
    pub(super) index: FxHashMap<String, usize>,
    pub(super) preds: FlatLists<usize>,
    pub(super) succs: FlatLists<usize>,
    /// Node indices in topological order (ties broken by declaration order).
    pub(super) topo: Vec<usize>,
    /// Position of each node in `topo`.
    pub(super) rank: Vec<usize>,
    /// Named-output dependencies, (node, dep) resolved.
    pub(super) deps: Vec<Vec<Dep>>,
    /// Node names, shared with the event log (one reference per run).
    pub(super) names: Arc<[Arc<str>]>,
    /// Each node's number of predecessors (a run's starting count of unfinished ones).
    pub(super) in_degree: Vec<u32>,
    /// Nodes without predecessors, in topological order (those a run starts with).
    pub(super) roots: Vec<usize>,
}

impl WorkflowGraph {
    /// Validate `spec`: names, duplicates, unknown dependencies and outputs, cycles. Every problem
    /// found is reported, each naming the offending nodes.
    pub fn build(spec: GraphSpec) -> Result<WorkflowGraph> {
        check_name("workflow", &spec.name)?;
        let mut problems = Vec::new();
        let mut index: FxHashMap<String, usize> =
            FxHashMap::with_capacity_and_hasher(spec.nodes.len(), Default::default());
        let mut duplicates: Vec<&str> = Vec::new();
        for (i, node) in spec.nodes.iter().enumerate() {
            if let Err(e) = check_name("node", &node.name) {
                problems.push(format!("nodes[{i}]: {e}"));
            }
            if index.insert(node.name.clone(), i).is_some()
                && !duplicates.contains(&node.name.as_str())
            {
                duplicates.push(&node.name);
            }
            let mut seen_outputs = Vec::new();
            for out in &node.outputs {
                if out.is_empty() || seen_outputs.contains(&out) {
                    problems.push(format!(
                        "node '{}' declares output {out:?} twice or empty",
                        node.name
                    ));
                }
                seen_outputs.push(out);
            }
        }
        if !duplicates.is_empty() {
            let names: Vec<String> = duplicates.iter().map(|d| format!("'{d}'")).collect();
            problems.push(format!("duplicate node names: {}", names.join(", ")));
        }
        let n = spec.nodes.len();
        // Sized up front: a vector grown from empty reallocates on its first push.
        let mut preds: Vec<Vec<usize>> = (spec.nodes.iter())
            .map(|node| Vec::with_capacity(node.deps.len()))
            .collect();
        let mut succs = vec![Vec::new(); n];
        let mut deps: Vec<Vec<Dep>> = (spec.nodes.iter())
            .map(|node| Vec::with_capacity(node.deps.len()))
            .collect();
        for (i, node) in spec.nodes.iter().enumerate() {
            // Repeated predecessors of a node with many dependencies are found with a set (a
            // scan per dependency would make building quadratic in their count).
            let mut seen = rustc_hash::FxHashSet::default();
            let wide = node.deps.len() > WIDE_NODE;
            for raw in &node.deps {
                let dep = if index.contains_key(raw) {
                    Dep {
                        node: raw.clone(),
                        output: None,
                    }
                } else if let Some((head, tail)) = raw.rsplit_once('.') {
                    Dep {
                        node: head.to_owned(),
                        output: Some(tail.to_owned()),
                    }
                } else {
                    Dep {
                        node: raw.clone(),
                        output: None,
                    }
                };
                let Some(&j) = index.get(&dep.node) else {
                    problems.push(format!(
                        "node '{}' depends on unknown node '{}'",
                        node.name, dep.node
                    ));
                    continue;
                };
                if let Some(out) = &dep.output {
                    if !spec.nodes[j].outputs.contains(out) {
                        problems.push(format!(
                            "node '{}' depends on output '{out}' of node '{}', which declares outputs [{}]",
                            node.name,
                            dep.node,
                            spec.nodes[j].outputs.join(", ")
                        ));
                        continue;
                    }
                }
                let first = if wide {
                    seen.insert(j)
                } else {
                    !preds[i].contains(&j)
                };
                if first {
                    preds[i].push(j);
                    succs[j].push(i);
                }
                deps[i].push(dep);
            }
        }
        if !problems.is_empty() {
            return Err(PitError::validation(format!(
                "workflow '{}' is invalid: {}",
                spec.name,
                problems.join("; ")
            )));
        }
        // Kahn's algorithm, smallest declaration index first for a stable order.
        let in_degree: Vec<u32> = preds.iter().map(|p| p.len() as u32).collect();
        let mut waiting = in_degree.clone();
        let mut frontier: BTreeSet<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
        let mut topo = Vec::with_capacity(n);
        while let Some(i) = frontier.pop_first() {
            topo.push(i);
            for &s in &succs[i] {
                waiting[s] -= 1;
                if waiting[s] == 0 {
                    frontier.insert(s);
                }
            }
        }
        if topo.len() != n {
            let cycle = find_cycle(&preds, &waiting);
            let names: Vec<&str> = cycle.iter().map(|&i| spec.nodes[i].name.as_str()).collect();
            return Err(PitError::validation(format!(
                "workflow '{}' has a cycle: {}",
                spec.name,
                names.join(" -> ")
            )));
        }
        let mut rank = vec![0; n];
        for (pos, &i) in topo.iter().enumerate() {
            rank[i] = pos;
        }
        let names = spec
            .nodes
            .iter()
            .map(|n| Arc::from(n.name.as_str()))
            .collect();
        let roots = topo
            .iter()
            .copied()
            .filter(|&i| in_degree[i] == 0)
            .collect();
        Ok(WorkflowGraph {
            spec,
            index,
            preds: FlatLists::from_lists(&preds),
            succs: FlatLists::from_lists(&succs),
            topo,
            rank,
            deps,
            names,
            in_degree,
            roots,
        })
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }
    pub fn spec(&self) -> &GraphSpec {
        &self.spec
    }
    pub fn len(&self) -> usize {
        self.spec.nodes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.spec.nodes.is_empty()
    }
    pub fn node(&self, i: usize) -> &NodeSpec {
        &self.spec.nodes[i]
    }
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
    pub fn predecessors(&self, i: usize) -> &[usize] {
        self.preds.of(i)
    }
    pub fn successors(&self, i: usize) -> &[usize] {
        self.succs.of(i)
    }
    pub fn dependencies(&self, i: usize) -> &[Dep] {
        &self.deps[i]
    }
    pub fn topological_order(&self) -> &[usize] {
        &self.topo
    }
    /// Each node's number of predecessors.
    pub fn in_degrees(&self) -> &[u32] {
        &self.in_degree
    }
    /// Nodes without predecessors, in topological order.
    pub fn roots(&self) -> &[usize] {
        &self.roots
    }
    /// Position of node `i` in the topological order.
    pub fn rank_of(&self, i: usize) -> usize {
        self.rank[i]
    }
    /// Name of node `i`, shared (events hold it without copying).
    pub fn name_of(&self, i: usize) -> &Arc<str> {
        &self.names[i]
    }
    /// Edges as (from, to) node indices, in topological order of `to`.
    pub fn edges(&self) -> Vec<(usize, usize)> {
        self.topo
            .iter()
            .flat_map(|&i| self.preds.of(i).iter().map(move |&p| (p, i)))
            .collect()
    }

    /// The heaviest path through the graph given per-node costs: (nodes on it, total cost).
    pub fn critical_path(&self, cost: &[f64]) -> (Vec<usize>, f64) {
        let n = self.len();
        if n == 0 {
            return (Vec::new(), 0.0);
        }
        let mut best = vec![0.0f64; n];
        let mut via: Vec<Option<usize>> = vec![None; n];
        for &i in &self.topo {
            let (from, base) = (self.preds.of(i).iter())
                .map(|&p| (Some(p), best[p]))
                .fold((None, 0.0), |acc, x| if x.1 > acc.1 { x } else { acc });
            best[i] = base + cost[i];
            via[i] = from;
        }
        let end = (0..n).fold(0, |b, i| if best[i] > best[b] { i } else { b });
        let mut path = vec![end];
        while let Some(p) = via[*path.last().expect("path is never empty")] {
            path.push(p);
        }
        path.reverse();
        (path, best[end])
    }
}

/// Find a cycle among the nodes Kahn's algorithm could not order. Every such node has an
/// unordered predecessor (else it would have been ordered), so walking predecessors must repeat
/// a node; the walk from that repeat, reversed, is a cycle in edge direction.
pub(super) fn find_cycle(preds: &[Vec<usize>], waiting: &[u32]) -> Vec<usize> {
    let start = (0..waiting.len())
        .find(|&i| waiting[i] > 0)
        .expect("a cycle leaves waiting nodes");
    let mut order = vec![start];
    let mut position: HashMap<usize, usize> = HashMap::from([(start, 0)]);
    let mut current = start;
    loop {
        let next = preds[current]
            .iter()
            .copied()
            .find(|&p| waiting[p] > 0)
            .expect("an unordered node has an unordered predecessor");
        if let Some(&p) = position.get(&next) {
            let mut cycle = order[p..].to_vec();
            cycle.reverse();
            cycle.insert(0, next);
            return cycle;
        }
        position.insert(next, order.len());
        order.push(next);
        current = next;
    }
}
