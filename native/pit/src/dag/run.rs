//! One run's per-node state: the node state machine applied, readiness by rank, what a run records.

use super::graph::WorkflowGraph;
use crate::core::ids::ArtifactId;
use crate::core::states::{NodeState, RunStatus};
use crate::events::{Component, EventBatch, Field, NamesSlot, Subject};
use crate::known;
use crate::persist::{NodeRow, RunRecord};
use std::collections::HashMap;
use std::sync::Arc;

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
pub(super) struct RankSet(Vec<u64>);

impl RankSet {
    pub(super) fn insert(&mut self, rank: usize) {
        let word = rank / 64;
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (rank % 64);
    }

    pub(super) fn remove(&mut self, rank: usize) {
        if let Some(word) = self.0.get_mut(rank / 64) {
            *word &= !(1 << (rank % 64));
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64)
                .filter(move |b| bits & (1 << b) != 0)
                .map(move |b| w * 64 + b)
        })
    }
}

pub(super) struct Run {
    pub(super) id: Arc<str>,
    pub(super) graph: Arc<WorkflowGraph>,
    /// The run's names, registered with the event log for its node events (renewed when the
    /// graph grows; let go when the run finishes).
    pub(super) names: NamesSlot,
    pub(super) states: Vec<NodeState>,
    pub(super) attempts: Vec<u32>,
    /// The last error of each node that has one (few do: kept apart, not per node).
    pub(super) errors: HashMap<usize, String>,
    /// Duration of each node's last finished attempt — while it runs, the attempt's start
    /// (one array, not two: written on every node); NaN until there is one (plain floats:
    /// half the bytes of options). Read through [`Run::duration`].
    pub(super) durations: Vec<f64>,
    pub(super) outputs: Vec<Option<ArtifactId>>,
    /// Unfinished predecessors of each node.
    pub(super) waiting: Vec<u32>,
    /// Ready nodes by topological rank.
    pub(super) ready: RankSet,
    pub(super) counts: [usize; 7],
    pub(super) paused: bool,
    pub(super) cancelled: bool,
    /// Whether any node has started (the run is then Running, not Pending).
    pub(super) started_any: bool,
    /// An executor is still reading the run: its detail stays even once it has finished.
    pub(super) held: bool,
    pub(super) status: RunStatus,
    pub(super) created_at: f64,
    pub(super) finished_at: Option<f64>,
}

impl Run {
    /// How long node `i`'s last attempt took, once it is over.
    pub(super) fn duration(&self, i: usize) -> Option<f64> {
        if self.states[i] == NodeState::Running {
            None
        } else {
            known(self.durations[i])
        }
    }

    /// Nodes in a terminal state.
    #[inline]
    pub(super) fn terminal(&self) -> usize {
        let c = &self.counts;
        c[NodeState::Succeeded.slot()]
            + c[NodeState::Failed.slot()]
            + c[NodeState::Skipped.slot()]
            + c[NodeState::Cancelled.slot()]
    }

    #[inline]
    pub(super) fn compute_status(&self) -> RunStatus {
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
    pub(super) fn move_node(&mut self, i: usize, to: NodeState, now: f64, ev: &mut EventBatch) {
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
    pub(super) fn close_downstream(
        &mut self,
        i: usize,
        to: NodeState,
        now: f64,
        ev: &mut EventBatch,
    ) {
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
    pub(super) fn succeed(
        &mut self,
        i: usize,
        output: Option<ArtifactId>,
        now: f64,
        ev: &mut EventBatch,
        newly_ready: &mut Vec<usize>,
    ) {
        if !self.errors.is_empty() {
            self.errors.remove(&i);
        }
        self.outputs[i] = output;
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
    pub(super) fn update_status(&mut self, ev: &mut EventBatch) -> bool {
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
    pub(super) fn can_start(&self, i: usize) -> bool {
        !self.status.is_finished() && !self.paused && self.states[i] == NodeState::Ready
    }

    pub(super) fn record(&self) -> RunRecord {
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

    pub(super) fn summary(&self) -> RunSummary {
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
