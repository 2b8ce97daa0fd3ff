//! DAG Tracker: workflow graphs, validation, per-node state machines, readiness, critical path
//! and run history.
//!
//! Node states: Pending → Ready → Running → Succeeded / Failed / Skipped / Cancelled. A Running
//! node that fails with retries left goes back to Ready (a retry). When a node fails for good
//! (or is skipped or cancelled), everything downstream of it is Skipped. The tracker only records
//! and schedules; executing nodes is the caller's job.
//!
//! Files, one job each: `spec` (what a graph is built from), `graph` (the validated graph: order,
//! cycles, critical path), `run` (one run's node states and readiness), `history` (live runs
//! and what is kept of finished ones), `tracker` (the API), `guard` (a run held for a series
//! of inline attempts). Items private to the tracker are `pub(super)`: visible in this folder
//! only, as they were in the single file this was.

pub use crate::core::states::{NodeState, RunStatus};
use crate::error::PitError;

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

mod graph;
mod guard;
mod history;
mod run;
mod spec;
mod tracker;

pub use graph::*;
pub use guard::*;
pub use run::*;
pub use spec::*;
pub use tracker::*;

fn unknown_run(run_id: &str) -> PitError {
    PitError::not_found(format!("run '{run_id}' does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::events::EventLog;
    use crate::persist::Persister;
    use crate::value::Value;

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
