//! Property tests for graph validation and the node state machine.

use std::sync::Arc;

use proptest::prelude::*;
use symphony_pit::dag::NodeSpec;
use symphony_pit::{GraphSpec, NodeState, Pit, PitConfig, PitError, RunStatus, WorkflowGraph};

/// A random DAG: node i may depend only on nodes before it.
fn dag() -> impl Strategy<Value = GraphSpec> {
    (1..30usize).prop_flat_map(|n| {
        proptest::collection::vec(
            proptest::collection::vec(any::<prop::sample::Index>(), 0..3),
            n,
        )
        .prop_map(move |deps| {
            let nodes = deps
                .iter()
                .enumerate()
                .map(|(i, picks)| {
                    let mut node = NodeSpec::task(&format!("n{i}"), &[]);
                    if i > 0 {
                        node.deps = picks.iter().map(|p| format!("n{}", p.index(i))).collect();
                    }
                    node.retries = (i % 3) as u32;
                    node
                })
                .collect();
            GraphSpec {
                name: "random".into(),
                nodes,
            }
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn topological_order_respects_every_edge(spec in dag()) {
        let graph = WorkflowGraph::build(spec).unwrap();
        let order = graph.topological_order();
        let mut pos = vec![0; graph.len()];
        for (p, &i) in order.iter().enumerate() { pos[i] = p; }
        for (from, to) in graph.edges() {
            prop_assert!(pos[from] < pos[to]);
        }
    }

    #[test]
    fn a_back_edge_is_reported_as_a_cycle_naming_its_nodes(spec in dag(), pick in any::<prop::sample::Index>()) {
        let graph = WorkflowGraph::build(spec.clone()).unwrap();
        let edges = graph.edges();
        prop_assume!(!edges.is_empty());
        let (from, to) = edges[pick.index(edges.len())];
        let mut spec = spec;
        spec.nodes[from].deps.push(format!("n{to}"));
        match WorkflowGraph::build(spec) {
            Err(PitError::Validation(msg)) => {
                prop_assert!(msg.contains("cycle"), "{}", msg);
                prop_assert!(msg.contains(&format!("n{from}")) && msg.contains(&format!("n{to}")), "{}", msg);
            }
            other => prop_assert!(false, "expected a cycle error, got {:?}", other.map(|g| g.len())),
        }
    }

    /// Drive a run with random outcomes: no node runs before its dependencies succeeded, every
    /// run ends, and its status matches its nodes.
    #[test]
    fn random_runs_keep_the_state_machine_consistent(spec in dag(), outcomes in proptest::collection::vec(0..4u8, 200)) {
        let pit = Pit::open(PitConfig::in_memory()).unwrap();
        let graph = Arc::new(WorkflowGraph::build(spec).unwrap());
        let run = pit.dags.start(graph.clone()).unwrap();
        let mut outcomes = outcomes.into_iter().cycle();
        let mut steps = 0;
        while !pit.dags.status(&run).unwrap().is_finished() {
            steps += 1;
            prop_assert!(steps < 10_000, "run never finished");
            let ready = pit.dags.ready(&run).unwrap();
            prop_assert!(!ready.is_empty(), "unfinished run with nothing ready");
            let node = &ready[0];
            let i = graph.index_of(node).unwrap();
            for &p in graph.predecessors(i) {
                prop_assert_eq!(pit.dags.node_state(&run, &graph.node(p).name).unwrap(), NodeState::Succeeded);
            }
            pit.dags.set_state(&run, node, NodeState::Running, None).unwrap();
            let to = match outcomes.next().unwrap() { 0 => NodeState::Failed, 1 => NodeState::Skipped, _ => NodeState::Succeeded };
            let to = if to == NodeState::Skipped { NodeState::Succeeded } else { to };
            pit.dags.set_state(&run, node, to, Some("boom".into()).filter(|_| to == NodeState::Failed)).unwrap();
        }
        let nodes = pit.dags.nodes(&run).unwrap();
        prop_assert!(nodes.iter().all(|n| n.state.is_terminal()));
        let failed = nodes.iter().any(|n| n.state == NodeState::Failed);
        let status = pit.dags.status(&run).unwrap();
        prop_assert_eq!(status, if failed { RunStatus::Failed } else { RunStatus::Completed });
        for n in &nodes {
            let i = graph.index_of(&n.name).unwrap();
            prop_assert!(n.attempts <= graph.node(i).retries + 1);
            if n.state == NodeState::Failed { prop_assert_eq!(n.attempts, graph.node(i).retries + 1); }
        }
    }
}

#[test]
fn validation_names_duplicates_unknown_deps_and_outputs_together() {
    let mut a = NodeSpec::task("a", &[]);
    a.outputs = vec!["x".into()];
    let spec = GraphSpec {
        name: "bad".into(),
        nodes: vec![
            a,
            NodeSpec::task("b", &["ghost", "a.y"]),
            NodeSpec::task("b", &[]),
        ],
    };
    let Err(PitError::Validation(msg)) = WorkflowGraph::build(spec) else {
        panic!("should fail")
    };
    assert!(msg.contains("duplicate node names: 'b'"), "{msg}");
    assert!(msg.contains("depends on unknown node 'ghost'"), "{msg}");
    assert!(msg.contains("output 'y' of node 'a'"), "{msg}");
}

#[test]
fn failure_skips_downstream_and_history_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let spec = GraphSpec {
        name: "diamond".into(),
        nodes: vec![
            NodeSpec::task("a", &[]),
            NodeSpec::task("b", &["a"]),
            NodeSpec::task("c", &["a"]),
            NodeSpec::task("d", &["b", "c"]),
        ],
    };
    let run;
    {
        let pit = Pit::open(PitConfig::on_disk(dir.path())).unwrap();
        let graph = Arc::new(WorkflowGraph::build(spec).unwrap());
        run = pit.dags.start(graph).unwrap();
        assert_eq!(pit.dags.ready(&run).unwrap(), vec!["a"]);
        pit.dags
            .set_state(&run, "a", NodeState::Running, None)
            .unwrap();
        pit.dags
            .set_state(&run, "a", NodeState::Succeeded, None)
            .unwrap();
        assert_eq!(pit.dags.ready(&run).unwrap(), vec!["b", "c"]);
        let (path, len) = pit.dags.critical_path(&run).unwrap();
        assert_eq!(path.len(), 3);
        assert!(len > 0.0);
        pit.dags
            .set_state(&run, "b", NodeState::Running, None)
            .unwrap();
        pit.dags
            .set_state(&run, "b", NodeState::Failed, Some("no".into()))
            .unwrap();
        assert_eq!(pit.dags.node_state(&run, "d").unwrap(), NodeState::Skipped);
        assert_eq!(pit.dags.status(&run).unwrap(), RunStatus::Running);
        pit.dags
            .set_state(&run, "c", NodeState::Running, None)
            .unwrap();
        pit.dags
            .set_state(&run, "c", NodeState::Succeeded, None)
            .unwrap();
        assert_eq!(pit.dags.status(&run).unwrap(), RunStatus::Failed);
        let err = pit
            .dags
            .set_state(&run, "c", NodeState::Running, None)
            .unwrap_err();
        assert!(matches!(err, PitError::Validation(m) if m.contains("failed")));
    }
    let pit = Pit::open(PitConfig::on_disk(dir.path())).unwrap();
    let history = pit.dags.history();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].run_id, run);
    assert_eq!(history[0].status, "failed");
    assert_eq!((history[0].succeeded, history[0].failed), (2, 1));
}

#[test]
fn pause_blocks_starts_and_cancel_closes_everything() {
    let pit = Pit::open(PitConfig::in_memory()).unwrap();
    let spec = GraphSpec {
        name: "w".into(),
        nodes: vec![NodeSpec::task("a", &[]), NodeSpec::task("b", &["a"])],
    };
    let run = pit
        .dags
        .start(Arc::new(WorkflowGraph::build(spec).unwrap()))
        .unwrap();
    pit.dags.pause(&run).unwrap();
    assert_eq!(pit.dags.status(&run).unwrap(), RunStatus::Paused);
    assert!(pit
        .dags
        .set_state(&run, "a", NodeState::Running, None)
        .is_err());
    pit.dags.resume(&run).unwrap();
    pit.dags
        .set_state(&run, "a", NodeState::Running, None)
        .unwrap();
    pit.dags.cancel(&run).unwrap();
    assert_eq!(pit.dags.status(&run).unwrap(), RunStatus::Cancelled);
    assert!(pit
        .dags
        .nodes(&run)
        .unwrap()
        .iter()
        .all(|n| n.state == NodeState::Cancelled));
}
