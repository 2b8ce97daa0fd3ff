//! DAG Tracker: workflow graphs, validation, per-node state machines, readiness, critical path
//! and run history.
//!
//! Node states: Pending → Ready → Running → Succeeded / Failed / Skipped / Cancelled. A Running
//! node that fails with retries left goes back to Ready (a retry). When a node fails for good
//! (or is skipped or cancelled), everything downstream of it is Skipped. The tracker only records
//! and schedules; executing nodes is the caller's job.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use parking_lot::{MappedMutexGuard, Mutex, MutexGuard};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::core::ids::ArtifactId;
use crate::core::names::check_name;
pub use crate::core::states::{NodeState, RunStatus};
use crate::error::{PitError, Result};
use crate::events::{Component, EventBatch, EventLog, Field, NamesSlot, RunNames, Subject};
use crate::flat_lists::FlatLists;
use crate::known;
use crate::persist::{NodeRow, Op, Persister, RunRecord};
use crate::value::Value;

/// Most retries one node may ask for.
pub const MAX_RETRIES: u32 = 1000;

/// Finished runs keep their node detail (states, outputs, durations) while the finished runs so
/// kept hold at most this many nodes in all (the newest always does); older ones keep a summary.
/// Without a bound a process running workflows in a loop would grow by ~150 bytes per node.
pub const HISTORY_NODES: usize = 100_000;

/// Dependencies (or inputs) past which a node's repeats are found with a set rather than a
/// scan, so building a graph (or compiling a manifest) stays linear in a node's fan-in.
pub const WIDE_NODE: usize = 16;

/// Summaries kept of runs whose node detail was let go (the oldest go first).
pub const HISTORY_SUMMARIES: usize = 10_000;

/// One dependency: a node, or one named output of it (`node.output`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dep {
    pub node: String,
    pub output: Option<String>,
}

/// One node of a workflow as the user wrote it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeSpec {
    pub name: String,
    pub kind: String,
    pub deps: Vec<String>,
    pub outputs: Vec<String>,
    pub retries: u32,
    /// Expected cost, used by the critical path before measured durations exist.
    pub weight: f64,
    pub config: Value,
}

/// A workflow as the user wrote it: a name and its nodes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GraphSpec {
    pub name: String,
    pub nodes: Vec<NodeSpec>,
}

fn field_error(path: &str, why: impl fmt::Display) -> PitError {
    PitError::validation(format!("workflow spec: {path} {why}"))
}

fn expect_str(v: &Value, path: &str) -> Result<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| field_error(path, format!("must be a str, got {}", v.type_name())))
}

fn expect_str_list(v: &Value, path: &str) -> Result<Vec<String>> {
    match v {
        Value::List(items) | Value::Tuple(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| expect_str(item, &format!("{path}[{i}]")))
            .collect(),
        other => Err(field_error(
            path,
            format!("must be a list of str, got {}", other.type_name()),
        )),
    }
}

fn dict_pairs<'a>(v: &'a Value, path: &str, allowed: &[&str]) -> Result<&'a [(Value, Value)]> {
    let Value::Dict(pairs) = v else {
        return Err(field_error(
            path,
            format!("must be a dict, got {}", v.type_name()),
        ));
    };
    for (k, _) in pairs {
        match k.as_str() {
            Some(key) if allowed.contains(&key) || key.starts_with("x-") => {}
            Some(key) => {
                return Err(field_error(
                    path,
                    format!(
                        "has unknown key {} (allowed: {})",
                        crate::error::shown(key),
                        allowed.join(", ")
                    ),
                ))
            }
            None => {
                return Err(field_error(
                    path,
                    format!("has a non-str key of type {}", k.type_name()),
                ))
            }
        }
    }
    Ok(pairs)
}

impl GraphSpec {
    /// Parse `{"name": str, "nodes": [{"name", "kind", "deps", "outputs", "retries", "weight",
    /// "config"}, ...]}`; errors name the field (`nodes[2].deps[0]`) and the reason.
    pub fn from_value(v: &Value) -> Result<GraphSpec> {
        dict_pairs(v, "the workflow", &["name", "nodes"])?;
        let name = expect_str(
            v.get("name")
                .ok_or_else(|| field_error("'name'", "is missing"))?,
            "'name'",
        )?;
        let nodes = match v.get("nodes") {
            Some(Value::List(items)) | Some(Value::Tuple(items)) => items,
            Some(other) => {
                return Err(field_error(
                    "'nodes'",
                    format!("must be a list, got {}", other.type_name()),
                ))
            }
            None => return Err(field_error("'nodes'", "is missing")),
        };
        let nodes = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| NodeSpec::from_value(node, &format!("nodes[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        Ok(GraphSpec { name, nodes })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

impl NodeSpec {
    /// A plain task node with default settings.
    pub fn task(name: &str, deps: &[&str]) -> NodeSpec {
        NodeSpec {
            name: name.to_owned(),
            kind: "task".into(),
            deps: deps.iter().map(|d| (*d).to_owned()).collect(),
            outputs: Vec::new(),
            retries: 0,
            weight: 1.0,
            config: Value::None,
        }
    }

    fn from_value(v: &Value, path: &str) -> Result<NodeSpec> {
        dict_pairs(
            v,
            path,
            &[
                "name", "kind", "deps", "outputs", "retries", "weight", "config",
            ],
        )?;
        let name_path = format!("{path}.name");
        let name = expect_str(
            v.get("name")
                .ok_or_else(|| field_error(&name_path, "is missing"))?,
            &name_path,
        )?;
        let kind = match v.get("kind") {
            Some(k) => expect_str(k, &format!("{path}.kind"))?,
            None => "task".into(),
        };
        let deps = match v.get("deps") {
            Some(d) => expect_str_list(d, &format!("{path}.deps"))?,
            None => Vec::new(),
        };
        let outputs = match v.get("outputs") {
            Some(o) => expect_str_list(o, &format!("{path}.outputs"))?,
            None => Vec::new(),
        };
        let retries = match v.get("retries") {
            None => 0,
            Some(Value::Int(r)) if (0..=MAX_RETRIES as i64).contains(r) => *r as u32,
            Some(other) => {
                return Err(field_error(
                    &format!("{path}.retries"),
                    format!("must be an int between 0 and {MAX_RETRIES}, got {other:?}"),
                ))
            }
        };
        let weight = match v.get("weight") {
            None => 1.0,
            Some(Value::Int(w)) if *w >= 0 => *w as f64,
            Some(Value::Float(w)) if w.is_finite() && *w >= 0.0 => *w,
            Some(other) => {
                return Err(field_error(
                    &format!("{path}.weight"),
                    format!("must be a finite non-negative number, got {other:?}"),
                ))
            }
        };
        let config = v.get("config").cloned().unwrap_or(Value::None);
        Ok(NodeSpec {
            name,
            kind,
            deps,
            outputs,
            retries,
            weight,
            config,
        })
    }
}

/// A validated workflow graph: nodes, edges, a topological order.
#[derive(Debug)]
pub struct WorkflowGraph {
    spec: GraphSpec,
    index: FxHashMap<String, usize>,
    preds: FlatLists<usize>,
    succs: FlatLists<usize>,
    /// Node indices in topological order (ties broken by declaration order).
    topo: Vec<usize>,
    /// Position of each node in `topo`.
    rank: Vec<usize>,
    /// Named-output dependencies, (node, dep) resolved.
    deps: Vec<Vec<Dep>>,
    /// Node names, shared with the event log (one reference per run).
    names: Arc<[Arc<str>]>,
    /// Each node's number of predecessors (a run's starting count of unfinished ones).
    in_degree: Vec<u32>,
    /// Nodes without predecessors, in topological order (those a run starts with).
    roots: Vec<usize>,
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
fn find_cycle(preds: &[Vec<usize>], waiting: &[u32]) -> Vec<usize> {
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

/// Per-node detail of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeRecord {
    pub name: String,
    pub state: NodeState,
    pub attempts: u32,
    pub error: Option<String>,
    pub duration: Option<f64>,
    /// The artifact holding the node's result, once it succeeded.
    pub output: Option<ArtifactId>,
}

/// A run at a glance.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    pub run_id: String,
    pub workflow: String,
    pub status: String,
    pub created_at: f64,
    pub finished_at: Option<f64>,
    pub nodes: usize,
    pub succeeded: usize,
    pub failed: usize,
}

/// Ready nodes by topological rank, a bit per rank: O(1) to add and remove, listed in order.
#[derive(Default)]
struct RankSet(Vec<u64>);

impl RankSet {
    fn insert(&mut self, rank: usize) {
        let word = rank / 64;
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (rank % 64);
    }

    fn remove(&mut self, rank: usize) {
        if let Some(word) = self.0.get_mut(rank / 64) {
            *word &= !(1 << (rank % 64));
        }
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64)
                .filter(move |b| bits & (1 << b) != 0)
                .map(move |b| w * 64 + b)
        })
    }
}

struct Run {
    id: Arc<str>,
    graph: Arc<WorkflowGraph>,
    /// The run's names, registered with the event log for its node events (renewed when the
    /// graph grows; let go when the run finishes).
    names: NamesSlot,
    states: Vec<NodeState>,
    attempts: Vec<u32>,
    /// The last error of each node that has one (few do: kept apart, not per node).
    errors: HashMap<usize, String>,
    /// Duration of each node's last finished attempt — while it runs, the attempt's start
    /// (one array, not two: written on every node); NaN until there is one (plain floats:
    /// half the bytes of options). Read through [`Run::duration`].
    durations: Vec<f64>,
    outputs: Vec<Option<ArtifactId>>,
    /// Unfinished predecessors of each node.
    waiting: Vec<u32>,
    /// Ready nodes by topological rank.
    ready: RankSet,
    counts: [usize; 7],
    paused: bool,
    cancelled: bool,
    /// Whether any node has started (the run is then Running, not Pending).
    started_any: bool,
    /// An executor is still reading the run: its detail stays even once it has finished.
    held: bool,
    status: RunStatus,
    created_at: f64,
    finished_at: Option<f64>,
}

impl Run {
    /// How long node `i`'s last attempt took, once it is over.
    fn duration(&self, i: usize) -> Option<f64> {
        if self.states[i] == NodeState::Running {
            None
        } else {
            known(self.durations[i])
        }
    }

    /// Nodes in a terminal state.
    #[inline]
    fn terminal(&self) -> usize {
        let c = &self.counts;
        c[NodeState::Succeeded.slot()]
            + c[NodeState::Failed.slot()]
            + c[NodeState::Skipped.slot()]
            + c[NodeState::Cancelled.slot()]
    }

    #[inline]
    fn compute_status(&self) -> RunStatus {
        let n = self.states.len();
        let c = &self.counts;
        let terminal = self.terminal();
        if self.cancelled {
            RunStatus::Cancelled
        } else if terminal == n {
            if c[NodeState::Failed.slot()] > 0 {
                RunStatus::Failed
            } else {
                RunStatus::Completed
            }
        } else if self.paused {
            RunStatus::Paused
        } else if terminal > 0 || c[NodeState::Running.slot()] > 0 || self.started_any {
            RunStatus::Running
        } else {
            RunStatus::Pending
        }
    }

    /// Move node `i` to `to` at `now`, counting and recording the change. Inlined: most
    /// callers name `to`, and the moves a node makes on its way are its main cost here.
    #[inline(always)]
    fn move_node(&mut self, i: usize, to: NodeState, now: f64, ev: &mut EventBatch) {
        let from = self.states[i];
        self.counts[from.slot()] -= 1;
        self.counts[to.slot()] += 1;
        self.states[i] = to;
        let rank = self.graph.rank[i];
        if from == NodeState::Ready {
            self.ready.remove(rank);
        }
        if to == NodeState::Ready {
            self.ready.insert(rank);
        }
        if to == NodeState::Running {
            self.started_any = true;
            self.attempts[i] += 1;
            self.durations[i] = now;
        } else if from == NodeState::Running {
            self.durations[i] = now - self.durations[i];
        }
        ev.node_state(now, self.names, i, from, to, self.attempts[i]);
    }

    /// Mark every non-terminal descendant of `i` with `to` (Skipped or Cancelled).
    fn close_downstream(&mut self, i: usize, to: NodeState, now: f64, ev: &mut EventBatch) {
        let mut stack: Vec<usize> = self.graph.successors(i).to_vec();
        while let Some(j) = stack.pop() {
            if !self.states[j].is_terminal() {
                self.move_node(j, to, now, ev);
                stack.extend_from_slice(self.graph.successors(j));
            }
        }
    }

    /// Node `i` succeeded with `output`: its successors whose inputs are now all there become
    /// Ready (and are appended to `newly_ready`).
    fn succeed(
        &mut self,
        i: usize,
        output: Option<&ArtifactId>,
        now: f64,
        ev: &mut EventBatch,
        newly_ready: &mut Vec<usize>,
    ) {
        if !self.errors.is_empty() {
            self.errors.remove(&i);
        }
        // Copied from where the caller keeps it (an id passed by value is rebuilt on the
        // stack with narrower stores than the copy reads: a store-forwarding stall per node).
        self.outputs[i] = output.copied();
        self.move_node(i, NodeState::Succeeded, now, ev);
        let first = newly_ready.len();
        for &s in self.graph.successors(i) {
            self.waiting[s] -= 1;
            if self.waiting[s] == 0 && self.states[s] == NodeState::Pending {
                newly_ready.push(s);
            }
        }
        for &s in &newly_ready[first..] {
            self.move_node(s, NodeState::Ready, now, ev);
        }
    }

    /// Recompute the run's status; returns whether this change finished the run.
    fn update_status(&mut self, ev: &mut EventBatch) -> bool {
        let status = self.compute_status();
        if status == self.status {
            return false;
        }
        let from = self.status;
        self.status = status;
        if status.is_finished() {
            self.finished_at = Some(crate::now());
        }
        ev.emit(
            Component::Dag,
            "run.status",
            Subject::Name(self.id.clone()),
            &[
                ("from", Field::Word(from.as_str())),
                ("to", Field::Word(status.as_str())),
            ],
        );
        status.is_finished()
    }

    /// Whether node `i` may start now: Ready, in a run neither paused nor over.
    fn can_start(&self, i: usize) -> bool {
        !self.status.is_finished() && !self.paused && self.states[i] == NodeState::Ready
    }

    fn record(&self) -> RunRecord {
        RunRecord {
            run_id: self.id.to_string(),
            workflow: self.graph.name().to_owned(),
            status: self.status.as_str().to_owned(),
            created_at: self.created_at,
            finished_at: self.finished_at,
            graph_json: self.graph.spec().to_json(),
            nodes: (0..self.states.len())
                .map(|i| NodeRow {
                    name: self.graph.node(i).name.clone(),
                    state: self.states[i].as_str().to_owned(),
                    attempts: self.attempts[i],
                    error: self.errors.get(&i).cloned(),
                    output: self.outputs[i],
                })
                .collect(),
        }
    }

    fn summary(&self) -> RunSummary {
        RunSummary {
            run_id: self.id.to_string(),
            workflow: self.graph.name().to_owned(),
            status: self.status.as_str().to_owned(),
            created_at: self.created_at,
            finished_at: self.finished_at,
            nodes: self.states.len(),
            succeeded: self.counts[NodeState::Succeeded.slot()],
            failed: self.counts[NodeState::Failed.slot()],
        }
    }
}

#[derive(Default)]
struct State {
    runs: HashMap<Arc<str>, Run>,
    /// Runs found in the store when it was opened (read-only history).
    past: Vec<RunSummary>,
    /// Node outputs of the runs found in the store, for resuming them.
    past_outputs: HashMap<String, Vec<(String, ArtifactId)>>,
    next_run: u64,
    /// Events of the operation in progress, appended before the lock is released.
    pending: EventBatch,
    /// Finished runs still in `runs`, oldest first, and their nodes in all.
    finished: VecDeque<Arc<str>>,
    finished_nodes: usize,
    /// Runs of this process whose node detail was let go: summary and status, oldest first.
    summaries: HashMap<Arc<str>, (RunSummary, RunStatus)>,
    summary_order: VecDeque<Arc<str>>,
}

impl State {
    /// Run `id` has just finished: it joins the finished runs, and the oldest of them give up
    /// their node detail while they hold more than [`HISTORY_NODES`] nodes (the newest and any
    /// run an executor still reads keep it).
    /// Its names are let go by the event log once the log no longer holds its events.
    fn finished(&mut self, events: &EventLog, id: &Arc<str>) {
        let Some(run) = self.runs.get(id) else {
            return;
        };
        events.close_names(run.names);
        self.finished_nodes += run.states.len();
        self.finished.push_back(id.clone());
        while self.finished_nodes > HISTORY_NODES && self.finished.len() > 1 {
            let oldest = self.finished.front().expect("more than one");
            if self.runs.get(oldest).is_some_and(|run| run.held) {
                break; // let go once its executor is done
            }
            let oldest = self.finished.pop_front().expect("more than one");
            let Some(run) = self.runs.remove(&oldest) else {
                continue;
            };
            self.finished_nodes -= run.states.len();
            self.summaries
                .insert(oldest.clone(), (run.summary(), run.status));
            self.summary_order.push_back(oldest);
            while self.summary_order.len() > HISTORY_SUMMARIES {
                if let Some(gone) = self.summary_order.pop_front() {
                    self.summaries.remove(&gone);
                }
            }
        }
    }

    fn unknown(&self, run_id: &str) -> PitError {
        if self.summaries.contains_key(run_id) {
            PitError::not_found(format!(
                "run '{run_id}' finished and only its summary is kept (the tracker keeps node \
                 detail of the newest finished runs, {HISTORY_NODES} nodes in all)"
            ))
        } else {
            unknown_run(run_id)
        }
    }
}

/// A tag unique to this opening of a store with high probability: a hash of the process id, the
/// time and a per-process counter.
fn session_tag() -> String {
    static OPENED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = blake3::Hasher::new();
    h.update(&std::process::id().to_le_bytes());
    h.update(&crate::now().to_bits().to_le_bytes());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.update(&nanos.to_le_bytes());
    h.update(
        &OPENED
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes(),
    );
    hex::encode(&h.finalize().as_bytes()[..3])
}

/// Tracks workflow runs. Thread-safe.
pub struct DagTracker {
    state: Mutex<State>,
    events: Arc<EventLog>,
    persister: Arc<Persister>,
    /// In a store on disk, a tag of this opening of the store (6 hex digits) in every run id,
    /// so that processes sharing one store never choose the same id: `etl-3-4f1c2a`.
    session: Option<String>,
}

impl fmt::Debug for DagTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DagTracker")
            .field("runs", &self.state.lock().runs.len())
            .finish()
    }
}

impl DagTracker {
    pub fn new(events: Arc<EventLog>, persister: Arc<Persister>, loaded: Vec<RunRecord>) -> Self {
        let past: Vec<RunSummary> = loaded
            .iter()
            .map(|r| RunSummary {
                run_id: r.run_id.clone(),
                workflow: r.workflow.clone(),
                status: r.status.clone(),
                created_at: r.created_at,
                finished_at: r.finished_at,
                nodes: r.nodes.len(),
                succeeded: r.nodes.iter().filter(|n| n.state == "succeeded").count(),
                failed: r.nodes.iter().filter(|n| n.state == "failed").count(),
            })
            .collect();
        let next_run = past.len() as u64;
        let past_outputs = loaded
            .iter()
            .map(|r| {
                let outputs = r
                    .nodes
                    .iter()
                    .filter(|n| n.state == "succeeded")
                    .filter_map(|n| n.output.map(|id| (n.name.clone(), id)))
                    .collect();
                (r.run_id.clone(), outputs)
            })
            .collect();
        DagTracker {
            state: Mutex::new(State {
                runs: HashMap::new(),
                past,
                past_outputs,
                next_run,
                pending: EventBatch::new(),
                finished: VecDeque::new(),
                finished_nodes: 0,
                summaries: HashMap::new(),
                summary_order: VecDeque::new(),
            }),
            events,
            session: persister.dir().map(|_| session_tag()),
            persister,
        }
    }

    /// Whether run records go anywhere (an in-memory Pit keeps none, so none are built).
    fn persists(&self) -> bool {
        self.persister.dir().is_some()
    }

    /// Start tracking a run of `graph`; nodes without dependencies become Ready. Returns the run id.
    pub fn start(&self, graph: Arc<WorkflowGraph>) -> Result<String> {
        let n = graph.len();
        let mut guard = self.state.lock();
        let st = &mut *guard;
        st.next_run += 1;
        let id: Arc<str> = Arc::from(match &self.session {
            Some(session) => format!("{}-{}-{session}", graph.name(), st.next_run),
            None => format!("{}-{}", graph.name(), st.next_run),
        });
        let now = crate::now();
        let mut run = Run {
            id: id.clone(),
            graph: graph.clone(),
            names: self.events.open_names(Arc::new(RunNames {
                run: id.clone(),
                nodes: graph.names.clone(),
            })),
            states: vec![NodeState::Pending; n],
            attempts: vec![0; n],
            errors: HashMap::new(),
            durations: vec![f64::NAN; n],
            outputs: vec![None; n],
            waiting: graph.in_degree.clone(),
            ready: RankSet::default(),
            counts: [0; 7],
            paused: false,
            cancelled: false,
            started_any: false,
            held: false,
            status: RunStatus::Pending,
            created_at: now,
            finished_at: None,
        };
        run.counts[NodeState::Pending.slot()] = n;
        let ev = &mut st.pending;
        ev.emit(
            Component::Dag,
            "run.started",
            Subject::Name(id.clone()),
            &[
                ("workflow", Field::Text(Arc::from(graph.name()))),
                ("nodes", Field::UInt(n as u64)),
            ],
        );
        for &i in graph.roots() {
            run.move_node(i, NodeState::Ready, now, ev);
        }
        let finished = run.update_status(ev); // a graph without nodes is done at once
        self.events.append(ev);
        let record = self.persists().then(|| run.record());
        st.runs.insert(id.clone(), run);
        if finished {
            st.finished(&self.events, &id);
        }
        drop(guard);
        if let Some(record) = record {
            self.persister.send(Op::PutRun(Box::new(record)))?;
        }
        Ok(id.to_string())
    }

    /// Add a node to a run that is still going (a graph that grows as work is decided, like a
    /// Function Quest episode). Its dependencies must be nodes of the run; it becomes Ready when
    /// they have all succeeded, Skipped if one has failed, been skipped or cancelled. Returns
    /// the state it starts in.
    pub fn append(&self, run_id: &str, node: NodeSpec) -> Result<NodeState> {
        let mut guard = self.state.lock();
        let State { runs, pending, .. } = &mut *guard;
        let run = runs.get_mut(run_id).ok_or_else(|| unknown_run(run_id))?;
        if run.status.is_finished() {
            return Err(PitError::validation(format!(
                "run '{run_id}' is {}; nodes can only be added while it runs",
                run.status.as_str()
            )));
        }
        let mut spec = run.graph.spec().clone();
        spec.nodes.push(node);
        let graph = Arc::new(WorkflowGraph::build(spec)?);
        let i = graph.len() - 1;
        let old_names = std::mem::replace(
            &mut run.names,
            self.events.open_names(Arc::new(RunNames {
                run: run.id.clone(),
                nodes: graph.names.clone(),
            })),
        );
        run.graph = graph;
        run.states.push(NodeState::Pending);
        run.attempts.push(0);
        run.durations.push(f64::NAN);
        run.outputs.push(None);
        run.counts[NodeState::Pending.slot()] += 1;
        let preds = run.graph.predecessors(i);
        let blocked = preds.iter().any(|&p| {
            matches!(
                run.states[p],
                NodeState::Failed | NodeState::Skipped | NodeState::Cancelled
            )
        });
        let waiting = preds
            .iter()
            .filter(|&&p| run.states[p] != NodeState::Succeeded)
            .count();
        run.waiting.push(waiting as u32);
        // Ranks may have shifted: the ready set is keyed by rank.
        let mut ready = RankSet::default();
        for k in (0..i).filter(|&k| run.states[k] == NodeState::Ready) {
            ready.insert(run.graph.rank[k]);
        }
        run.ready = ready;
        pending.emit(
            Component::Dag,
            "node.added",
            Subject::Pair(run.id.clone(), run.graph.names[i].clone()),
            &[("deps", Field::UInt(preds.len() as u64))],
        );
        let now = crate::now();
        if blocked {
            run.move_node(i, NodeState::Skipped, now, pending);
        } else if waiting == 0 {
            run.move_node(i, NodeState::Ready, now, pending);
        }
        let state = run.states[i];
        run.update_status(pending);
        self.events.append(pending);
        self.events.close_names(old_names);
        let record = self.persists().then(|| run.record());
        drop(guard);
        if let Some(record) = record {
            self.persister.send(Op::PutRun(Box::new(record)))?;
        }
        Ok(state)
    }

    /// Move `node` of `run` to `to`. Failing a Running node with retries left sends it back to
    /// Ready; finishing a node readies its successors; a final failure, skip or cancel closes
    /// everything downstream. Returns the state the node ended in.
    pub fn set_state(
        &self,
        run_id: &str,
        node: &str,
        to: NodeState,
        error: Option<String>,
    ) -> Result<NodeState> {
        let i = self
            .with_run(run_id, |run| run.graph.index_of(node))?
            .ok_or_else(|| PitError::not_found(format!("run '{run_id}' has no node '{node}'")))?;
        self.transition(run_id, i, to, error, None, &mut Vec::new())
    }

    /// [`set_state`](Self::set_state) by node index, for executors: `output` is recorded when the
    /// node succeeds, and the indices of nodes this made Ready are appended to `newly_ready`.
    pub fn transition(
        &self,
        run_id: &str,
        i: usize,
        to: NodeState,
        error: Option<String>,
        output: Option<ArtifactId>,
        newly_ready: &mut Vec<usize>,
    ) -> Result<NodeState> {
        let mut guard = self.state.lock();
        let State { runs, pending, .. } = &mut *guard;
        let run = runs.get_mut(run_id).ok_or_else(|| unknown_run(run_id))?;
        if i >= run.states.len() {
            return Err(PitError::not_found(format!(
                "run '{run_id}' has no node #{i}"
            )));
        }
        if run.status.is_finished() {
            return Err(PitError::validation(format!(
                "run '{run_id}' is {}; node '{}' can no longer change",
                run.status.as_str(),
                run.graph.names[i]
            )));
        }
        let from = run.states[i];
        if from == to {
            return Ok(to);
        }
        if !from.can_become(to) {
            return Err(PitError::validation(format!(
                "node '{}' of run '{run_id}' cannot go from {} to {}",
                run.graph.names[i],
                from.as_str(),
                to.as_str()
            )));
        }
        if to == NodeState::Running && run.paused {
            return Err(PitError::validation(format!(
                "run '{run_id}' is paused; node '{}' cannot start until it is resumed",
                run.graph.names[i]
            )));
        }
        let retries_left = run.attempts[i] <= run.graph.node(i).retries;
        let end = match to {
            NodeState::Failed if retries_left => NodeState::Ready,
            NodeState::Ready if !retries_left => {
                return Err(PitError::validation(format!(
                    "node '{}' of run '{run_id}' has used all {} retries",
                    run.graph.names[i],
                    run.graph.node(i).retries
                )))
            }
            other => other,
        };
        let now = crate::now();
        if end == NodeState::Succeeded {
            run.succeed(i, output.as_ref(), now, pending, newly_ready);
        } else {
            if let Some(error) = error {
                run.errors.insert(i, error);
            }
            if end == NodeState::Ready && from == NodeState::Running {
                pending.emit(
                    Component::Dag,
                    "node.retry",
                    Subject::Pair(run.id.clone(), run.graph.names[i].clone()),
                    &[("attempt", Field::UInt(u64::from(run.attempts[i])))],
                );
                newly_ready.push(i);
            }
            run.move_node(i, end, now, pending);
            match end {
                NodeState::Failed | NodeState::Skipped => {
                    run.close_downstream(i, NodeState::Skipped, now, pending)
                }
                NodeState::Cancelled => run.close_downstream(i, NodeState::Cancelled, now, pending),
                _ => {}
            }
        }
        let finished = run.update_status(pending);
        self.events.append(pending);
        if finished {
            let record = self.persists().then(|| run.record());
            let id = run.id.clone();
            guard.finished(&self.events, &id);
            drop(guard);
            if let Some(record) = record {
                self.persister.send(Op::PutRun(Box::new(record)))?;
            }
        }
        Ok(end)
    }

    /// Hold run `run_id` for a series of inline node attempts recorded together (a wave of
    /// built-in workflow nodes): one lock for all of them; their events go to the caller's batch.
    /// Call [`RunGuard::finish`] to append the events and persist a run that finished.
    pub fn lock_run(&self, run_id: &str) -> Result<RunGuard<'_>> {
        let guard = self.state.lock();
        let run = MutexGuard::try_map(guard, |st| st.runs.get_mut(run_id))
            .map_err(|_| unknown_run(run_id))?;
        Ok(RunGuard {
            run,
            tracker: self,
            finished: false,
        })
    }

    /// Outputs of the nodes that succeeded in `run_id` (this process's runs and the store's).
    pub fn succeeded_outputs(&self, run_id: &str) -> Result<Vec<(String, ArtifactId)>> {
        let st = self.state.lock();
        if let Some(run) = st.runs.get(run_id) {
            return Ok((0..run.states.len())
                .filter(|&i| run.states[i] == NodeState::Succeeded)
                .filter_map(|i| run.outputs[i].map(|id| (run.graph.node(i).name.clone(), id)))
                .collect());
        }
        st.past_outputs
            .get(run_id)
            .cloned()
            .ok_or_else(|| st.unknown(run_id))
    }

    fn with_run<T>(&self, run_id: &str, f: impl FnOnce(&Run) -> T) -> Result<T> {
        let st = self.state.lock();
        match st.runs.get(run_id) {
            Some(run) => Ok(f(run)),
            None => Err(st.unknown(run_id)),
        }
    }

    /// Ready nodes, in topological order.
    pub fn ready(&self, run_id: &str) -> Result<Vec<String>> {
        self.with_run(run_id, |run| {
            run.ready
                .iter()
                .map(|r| run.graph.node(run.graph.topo[r]).name.clone())
                .collect()
        })
    }

    pub fn node_state(&self, run_id: &str, node: &str) -> Result<NodeState> {
        self.with_run(run_id, |run| {
            run.graph
                .index_of(node)
                .map(|i| run.states[i])
                .ok_or_else(|| PitError::not_found(format!("run '{run_id}' has no node '{node}'")))
        })?
    }

    /// Every node's record, in topological order.
    pub fn nodes(&self, run_id: &str) -> Result<Vec<NodeRecord>> {
        self.with_run(run_id, |run| {
            run.graph
                .topological_order()
                .iter()
                .map(|&i| NodeRecord {
                    name: run.graph.node(i).name.clone(),
                    state: run.states[i],
                    attempts: run.attempts[i],
                    error: run.errors.get(&i).cloned(),
                    duration: run.duration(i),
                    output: run.outputs[i],
                })
                .collect()
        })
    }

    pub fn status(&self, run_id: &str) -> Result<RunStatus> {
        let st = self.state.lock();
        match (st.runs.get(run_id), st.summaries.get(run_id)) {
            (Some(run), _) => Ok(run.status),
            (None, Some((_, status))) => Ok(*status),
            (None, None) => Err(unknown_run(run_id)),
        }
    }

    /// Mark run `run_id` as read by an executor: its node detail then stays after it finishes,
    /// until [`release`](Self::release).
    pub fn hold(&self, run_id: &str) -> Result<()> {
        let mut st = self.state.lock();
        let run = st.runs.get_mut(run_id).ok_or_else(|| unknown_run(run_id))?;
        run.held = true;
        Ok(())
    }

    /// The executor of run `run_id` is done with it: returns every node's state (by node
    /// index) and the run's status, and lets its detail go with the history.
    pub fn release(&self, run_id: &str) -> Result<(Vec<NodeState>, RunStatus)> {
        let mut st = self.state.lock();
        let run = st.runs.get_mut(run_id).ok_or_else(|| unknown_run(run_id))?;
        run.held = false;
        Ok((run.states.clone(), run.status))
    }

    pub fn graph(&self, run_id: &str) -> Result<Arc<WorkflowGraph>> {
        self.with_run(run_id, |run| run.graph.clone())
    }

    /// Critical path of a run: measured durations where nodes have finished, weights elsewhere.
    pub fn critical_path(&self, run_id: &str) -> Result<(Vec<String>, f64)> {
        self.with_run(run_id, |run| {
            let cost: Vec<f64> = (0..run.states.len())
                .map(|i| run.duration(i).unwrap_or(run.graph.node(i).weight))
                .collect();
            let (path, total) = run.graph.critical_path(&cost);
            (
                path.into_iter()
                    .map(|i| run.graph.node(i).name.clone())
                    .collect(),
                total,
            )
        })
    }

    pub fn pause(&self, run_id: &str) -> Result<()> {
        self.set_paused(run_id, true)
    }

    pub fn resume(&self, run_id: &str) -> Result<()> {
        self.set_paused(run_id, false)
    }

    fn set_paused(&self, run_id: &str, paused: bool) -> Result<()> {
        let mut guard = self.state.lock();
        let State { runs, pending, .. } = &mut *guard;
        let run = runs.get_mut(run_id).ok_or_else(|| unknown_run(run_id))?;
        if run.status.is_finished() {
            return Err(PitError::validation(format!(
                "run '{run_id}' is {} and cannot be {}",
                run.status.as_str(),
                if paused { "paused" } else { "resumed" }
            )));
        }
        run.paused = paused;
        run.update_status(pending);
        self.events.append(pending);
        Ok(())
    }

    /// Cancel a run: every unfinished node becomes Cancelled.
    pub fn cancel(&self, run_id: &str) -> Result<()> {
        let mut guard = self.state.lock();
        let State { runs, pending, .. } = &mut *guard;
        let run = runs.get_mut(run_id).ok_or_else(|| unknown_run(run_id))?;
        if run.status.is_finished() {
            return Err(PitError::validation(format!(
                "run '{run_id}' is already {}",
                run.status.as_str()
            )));
        }
        let order = run.graph.clone();
        let now = crate::now();
        for &i in order.topological_order() {
            if !run.states[i].is_terminal() {
                run.move_node(i, NodeState::Cancelled, now, pending);
            }
        }
        run.cancelled = true;
        run.update_status(pending);
        self.events.append(pending);
        let record = run.record();
        let id = run.id.clone();
        guard.finished(&self.events, &id);
        drop(guard);
        self.persister.send(Op::PutRun(Box::new(record)))
    }

    /// Write the run's current node states to the history tables.
    pub fn checkpoint(&self, run_id: &str) -> Result<()> {
        let record = self.with_run(run_id, Run::record)?;
        self.persister.send(Op::PutRun(Box::new(record)))
    }

    /// Runs tracked in this process, oldest first.
    pub fn runs(&self) -> Vec<RunSummary> {
        let st = self.state.lock();
        let mut runs: Vec<RunSummary> = st.runs.values().map(Run::summary).collect();
        runs.extend(st.summaries.values().map(|(summary, _)| summary.clone()));
        runs.sort_by(|a, b| {
            a.created_at
                .total_cmp(&b.created_at)
                .then(a.run_id.cmp(&b.run_id))
        });
        runs
    }

    /// Every run: those found in the store when it opened, then those of this process.
    pub fn history(&self) -> Vec<RunSummary> {
        let mut all = self.state.lock().past.clone();
        all.extend(self.runs());
        all
    }
}

/// A run held for inline node attempts (see [`DagTracker::lock_run`]). While it is held no other
/// thread reads or changes any run, so hold it only to record work already done.
pub struct RunGuard<'a> {
    run: MappedMutexGuard<'a, Run>,
    tracker: &'a DagTracker,
    finished: bool,
}

impl RunGuard<'_> {
    /// Whether node `i` may start now (Ready, and the run neither paused nor over).
    pub fn can_start(&self, i: usize) -> bool {
        self.run.can_start(i)
    }

    /// Node `i` (see [`can_start`](Self::can_start)) started at `started`.
    #[inline]
    pub fn record_start(&mut self, i: usize, started: f64, ev: &mut EventBatch) {
        let run = &mut *self.run;
        run.move_node(i, NodeState::Running, started, ev);
        // A node starting changes only a Pending run's status (to Running).
        if run.status != RunStatus::Running {
            self.finished |= run.update_status(ev);
        }
    }

    /// Node `i` (Running) succeeded with `output` at `finished`; its successors that became
    /// Ready are appended to `newly_ready`.
    pub fn record_success(
        &mut self,
        i: usize,
        finished: f64,
        output: &ArtifactId,
        ev: &mut EventBatch,
        newly_ready: &mut Vec<usize>,
    ) {
        let run = &mut *self.run;
        run.succeed(i, Some(output), finished, ev, newly_ready);
        // A success moves a Running run (pausing or cancelling it changed its status already)
        // only when it finishes the last node.
        if run.status != RunStatus::Running || run.terminal() == run.states.len() {
            self.finished |= run.update_status(ev);
        }
    }

    /// Append `ev` to the event log (before anything else of this run can happen), release the
    /// run, and persist it if it finished.
    pub fn finish(self, ev: &mut EventBatch) -> Result<()> {
        self.tracker.events.append(ev);
        let record = (self.finished && self.tracker.persists()).then(|| self.run.record());
        let finished = self.finished.then(|| self.run.id.clone());
        let tracker = self.tracker;
        drop(self.run);
        if let Some(id) = finished {
            tracker.state.lock().finished(&tracker.events, &id);
        }
        if let Some(record) = record {
            tracker.persister.send(Op::PutRun(Box::new(record)))?;
        }
        Ok(())
    }
}

fn unknown_run(run_id: &str) -> PitError {
    PitError::not_found(format!("run '{run_id}' does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_states_parse_case_insensitively_and_reject_unknown_words() {
        assert_eq!(NodeState::parse("Running").unwrap(), NodeState::Running);
        assert!(NodeState::parse("done").is_err());
        for state in NodeState::ALL {
            assert_eq!(NodeState::parse(state.as_str()).unwrap(), state);
        }
    }

    #[test]
    fn a_running_run_grows_node_by_node() {
        let events = Arc::new(EventLog::new(1000));
        let (persister, _) = Persister::open(None).unwrap();
        let dags = DagTracker::new(events, Arc::new(persister), Vec::new());
        let graph = WorkflowGraph::build(GraphSpec {
            name: "live".into(),
            nodes: vec![NodeSpec::task("root", &[]), NodeSpec::task("z", &[])],
        })
        .unwrap();
        let run = dags.start(Arc::new(graph)).unwrap();
        dags.set_state(&run, "root", NodeState::Running, None)
            .unwrap();
        // A dependency still running: the new node waits.
        assert_eq!(
            dags.append(&run, NodeSpec::task("a", &["root"])).unwrap(),
            NodeState::Pending
        );
        assert_eq!(
            dags.append(&run, NodeSpec::task("b", &[])).unwrap(),
            NodeState::Ready
        );
        // Ready nodes keep their order after the ranks shift: z (declared first), then b.
        assert_eq!(dags.ready(&run).unwrap(), ["z", "b"]);
        dags.set_state(&run, "root", NodeState::Succeeded, None)
            .unwrap();
        assert_eq!(dags.node_state(&run, "a").unwrap(), NodeState::Ready);
        dags.set_state(&run, "b", NodeState::Running, None).unwrap();
        dags.set_state(&run, "b", NodeState::Failed, Some("no".into()))
            .unwrap();
        assert_eq!(
            dags.append(&run, NodeSpec::task("c", &["b"])).unwrap(),
            NodeState::Skipped
        );
        assert!(dags.append(&run, NodeSpec::task("d", &["ghost"])).is_err());
        assert!(
            dags.append(&run, NodeSpec::task("a", &[])).is_err(),
            "duplicate"
        );
        dags.cancel(&run).unwrap();
        assert!(
            dags.append(&run, NodeSpec::task("e", &[])).is_err(),
            "finished"
        );
    }

    #[test]
    fn a_node_has_a_duration_only_once_an_attempt_is_over() {
        let events = Arc::new(EventLog::new(1000));
        let (persister, _) = Persister::open(None).unwrap();
        let dags = DagTracker::new(events, Arc::new(persister), Vec::new());
        let mut spec = GraphSpec {
            name: "timed".into(),
            nodes: vec![NodeSpec::task("a", &[])],
        };
        spec.nodes[0].retries = 1;
        let run = dags
            .start(Arc::new(WorkflowGraph::build(spec).unwrap()))
            .unwrap();
        let duration = || dags.nodes(&run).unwrap()[0].duration;
        assert_eq!(duration(), None);
        dags.set_state(&run, "a", NodeState::Running, None).unwrap();
        assert_eq!(duration(), None, "running: no duration yet");
        std::thread::sleep(std::time::Duration::from_millis(20));
        dags.set_state(&run, "a", NodeState::Failed, Some("once".into()))
            .unwrap();
        let first = duration().expect("the attempt is over");
        assert!((0.015..5.0).contains(&first), "{first}");
        // The retry: no duration while it runs, its own once it is over.
        assert_eq!(dags.node_state(&run, "a").unwrap(), NodeState::Ready);
        dags.set_state(&run, "a", NodeState::Running, None).unwrap();
        assert_eq!(duration(), None);
        dags.set_state(&run, "a", NodeState::Succeeded, None)
            .unwrap();
        assert!(duration().unwrap() < first, "{:?} vs {first}", duration());
        let (path, total) = dags.critical_path(&run).unwrap();
        assert_eq!(path, ["a"]);
        assert_eq!(Some(total), duration());
    }

    #[test]
    fn terminal_states_have_no_way_out() {
        for from in NodeState::ALL.into_iter().filter(|s| s.is_terminal()) {
            assert!(
                NodeState::ALL.iter().all(|&to| !from.can_become(to)),
                "{from:?}"
            );
        }
    }

    #[test]
    fn critical_path_follows_the_heaviest_chain() {
        let mut spec = GraphSpec {
            name: "w".into(),
            nodes: vec![
                NodeSpec::task("a", &[]),
                NodeSpec::task("b", &["a"]),
                NodeSpec::task("c", &["a"]),
                NodeSpec::task("d", &["b", "c"]),
            ],
        };
        spec.nodes[2].weight = 10.0;
        let graph = WorkflowGraph::build(spec).unwrap();
        let cost: Vec<f64> = graph.spec().nodes.iter().map(|n| n.weight).collect();
        assert_eq!(graph.critical_path(&cost), (vec![0, 2, 3], 12.0));
    }

    #[test]
    fn spec_parsing_names_the_field() {
        let v = Value::Dict(vec![
            (Value::from("name"), Value::from("w")),
            (
                Value::from("nodes"),
                Value::List(vec![Value::Dict(vec![(
                    Value::from("name"),
                    Value::Int(3),
                )])]),
            ),
        ]);
        let err = GraphSpec::from_value(&v).unwrap_err();
        assert!(
            err.to_string()
                .contains("nodes[0].name must be a str, got int"),
            "{err}"
        );
    }
}
