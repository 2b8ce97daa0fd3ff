//! What a run reports: each node's outcome, times and result, and the run's own.

use std::sync::Arc;

use super::NodeError;
use crate::artifact::ArtifactId;
use crate::dag::{NodeState, RunStatus, WorkflowGraph};
use crate::value::SharedValue;

/// A node's (or workflow input's) result: its artifact, its value, and the host's own object for
/// it when the host made it (so the host gets back the very object, not a copy).
pub struct Output<D> {
    pub id: ArtifactId,
    pub value: SharedValue,
    pub data: Option<D>,
}

impl<D: Clone> Clone for Output<D> {
    fn clone(&self) -> Self {
        Output {
            id: self.id,
            value: self.value.clone(),
            data: self.data.clone(),
        }
    }
}

/// What happened to one node (its name and pool are the workflow's: [`RunReport::name_of`]).
pub struct NodeReport<D> {
    pub attempts: u32,
    /// Served from the memo table.
    pub cached: bool,
    /// Reused from the run being resumed.
    pub reused: bool,
    /// The fallback produced the result.
    pub fallback: bool,
    /// The last error (also kept when a retry or the fallback then succeeded); boxed, as most
    /// nodes have none and a run makes one report per node.
    pub error: Option<Box<NodeError>>,
    pub output: Option<Output<D>>,
    /// Ran on a worker thread.
    pub worker: bool,
    pub ready_at: Stamp,
    pub started_at: Stamp,
    pub finished_at: Stamp,
}

// A run keeps one report per node, and the Pit keeps the reports of its recent runs: keep it small.
const _: () = assert!(std::mem::size_of::<NodeReport<Arc<()>>>() <= 112);

/// A finished run's node reports, by node index (read through `Deref` as a slice).
pub struct NodeReports<D>(Vec<NodeReport<D>>);

impl<D> NodeReports<D> {
    pub(super) fn new(reports: Vec<NodeReport<D>>) -> Self {
        NodeReports(reports)
    }
}

impl<D> std::ops::Deref for NodeReports<D> {
    type Target = [NodeReport<D>];
    fn deref(&self) -> &[NodeReport<D>] {
        &self.0
    }
}

/// When something happened to a node, if it has: a plain float, NaN until then (half the bytes
/// of an `Option<f64>`).
#[derive(Clone, Copy, Debug)]
pub struct Stamp(f64);

impl Stamp {
    pub const NOT_YET: Stamp = Stamp(f64::NAN);

    pub fn at(time: f64) -> Stamp {
        Stamp(time)
    }

    pub fn get(self) -> Option<f64> {
        crate::known(self.0)
    }

    /// The time, set to `now` if there was none.
    pub fn get_or_set(&mut self, now: f64) -> f64 {
        if self.0.is_nan() {
            self.0 = now;
        }
        self.0
    }
}

/// The outcome of a run.
pub struct RunReport<D> {
    pub run_id: String,
    pub workflow: String,
    /// The graph that ran: node names by index.
    pub graph: Arc<WorkflowGraph>,
    pub status: RunStatus,
    /// Each node's final state (apart from the reports: the tracker's own, handed over whole).
    pub states: Vec<NodeState>,
    pub nodes: NodeReports<D>,
    /// Indices of the output nodes.
    pub outputs: Vec<usize>,
    pub inputs: Vec<Output<D>>,
    /// The first node that failed for good.
    pub failed_node: Option<usize>,
    /// Set when the host interrupted the run (KeyboardInterrupt).
    pub interrupt: Option<NodeError>,
    /// The sub-workflow run each container node started (few nodes are containers).
    pub sub_runs: Vec<(usize, String)>,
    pub started_at: f64,
    pub finished_at: f64,
}

impl<D> RunReport<D> {
    /// Name of node `i`.
    pub fn name_of(&self, i: usize) -> &str {
        self.graph.name_of(i)
    }

    /// The sub-workflow run node `i` started, if it is a container that ran.
    pub fn sub_run_of(&self, i: usize) -> Option<&str> {
        self.sub_runs
            .iter()
            .find(|(k, _)| *k == i)
            .map(|(_, run)| run.as_str())
    }

    /// Node `name`'s report.
    pub fn node(&self, name: &str) -> Option<&NodeReport<D>> {
        self.graph.index_of(name).map(|i| &self.nodes[i])
    }
}
