//! The DAG Tracker's API: start, append, transitions, queries, history.

use super::graph::WorkflowGraph;
use super::guard::RunGuard;
use super::history::{session_tag, State};
use super::run::{NodeRecord, RankSet, Run, RunSummary};
use super::spec::NodeSpec;
use super::unknown_run;
use crate::core::ids::ArtifactId;
use crate::core::states::{NodeState, RunStatus};
use crate::error::{PitError, Result};
use crate::events::{Component, EventBatch, EventLog, Field, RunNames, Subject};
use crate::persist::{Op, Persister, RunRecord};
use parking_lot::{Mutex, MutexGuard};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

/// Tracks workflow runs. Thread-safe.
pub struct DagTracker {
    pub(super) state: Mutex<State>,
    pub(super) events: Arc<EventLog>,
    pub(super) persister: Arc<Persister>,
    /// In a store on disk, a tag of this opening of the store (6 hex digits) in every run id,
    /// so that processes sharing one store never choose the same id: `etl-3-4f1c2a`.
    pub(super) session: Option<String>,
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
    pub(super) fn persists(&self) -> bool {
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
            run.succeed(i, output, now, pending, newly_ready);
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

    pub(super) fn with_run<T>(&self, run_id: &str, f: impl FnOnce(&Run) -> T) -> Result<T> {
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

    pub(super) fn set_paused(&self, run_id: &str, paused: bool) -> Result<()> {
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
