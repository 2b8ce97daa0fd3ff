//! The workflow engine with a pure-Rust host: scheduling, retries, fallback, timeouts,
//! cancellation, memoisation, sub-workflows, concurrency.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use symphony_pit::dag::{NodeState, RunStatus};
use symphony_pit::workflow::{
    execute, CancelToken, CompiledWorkflow, Host, NodeError, NodeErrorKind, Output, RunOptions,
};
use symphony_pit::{Pit, PitConfig, Value};

type Callable = Box<dyn Fn(&[Value]) -> Result<Value, NodeError> + Send + Sync>;

struct Fns(Vec<Callable>);

impl Host for Fns {
    type Data = ();
    fn call(&self, slot: usize, inputs: &[Output<()>]) -> Result<((), Value), NodeError> {
        let values: Vec<Value> = inputs.iter().map(|o| (*o.value).clone()).collect();
        (self.0[slot])(&values).map(|v| ((), v))
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("not an int: {other:?}"),
    }
}

fn wf(nodes: &str, inputs: &str) -> CompiledWorkflow {
    CompiledWorkflow::from_json(&format!(
        r#"{{"format": "symphony.workflow", "version": 1, "name": "t", "inputs": {inputs}, "nodes": {nodes}}}"#
    ))
    .unwrap()
}

/// A workflow of `n` independent nodes, node `i` written by `node(i)`, no inputs.
fn independent(n: usize, node: impl Fn(usize) -> String) -> CompiledWorkflow {
    let nodes: Vec<String> = (0..n).map(node).collect();
    wf(&format!("[{}]", nodes.join(",")), "[]")
}

fn pit() -> Pit {
    Pit::open(PitConfig::in_memory()).unwrap()
}

fn output(report: &symphony_pit::workflow::RunReport<()>, name: &str) -> Value {
    let node = report.node(name).unwrap();
    (*node.output.as_ref().unwrap().value).clone()
}

#[test]
fn a_diamond_with_builtins_and_host_nodes_computes_exactly() {
    let pit = pit();
    let w = wf(
        r#"[{"name": "a", "kind": "python", "inputs": ["x"], "code_hash": "a1"},
            {"name": "b", "kind": "calculator", "inputs": ["a"], "config": {"operation": "mul", "operand": 3}},
            {"name": "c", "kind": "python", "inputs": ["a"], "code_hash": "c1"},
            {"name": "d", "kind": "calculator", "inputs": ["b", "c"], "config": {"operation": "add"}}]"#,
        r#"["x"]"#,
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let (c1, c2) = (calls.clone(), calls.clone());
    let host = Arc::new(Fns(vec![
        Box::new(move |v| {
            c1.fetch_add(1, Ordering::SeqCst);
            Ok(Value::Int(int(&v[0]) + 1))
        }),
        Box::new(move |v| {
            c2.fetch_add(1, Ordering::SeqCst);
            Ok(Value::Int(int(&v[0]) * int(&v[0])))
        }),
    ]));
    let report = execute(
        &pit,
        &w,
        &host,
        vec![(Value::Int(4), None)],
        &RunOptions::default(),
    )
    .unwrap();
    assert_eq!(report.status, RunStatus::Completed);
    // a = 5, b = 15, c = 25, d = 40
    assert_eq!(output(&report, "d"), Value::Int(40));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Lineage: d was computed from b and c.
    let d = report.nodes[3].output.as_ref().unwrap().id;
    let meta = pit.artifacts.metadata(&d).unwrap();
    assert_eq!(
        meta.inputs,
        vec![
            report.nodes[1].output.as_ref().unwrap().id,
            report.nodes[2].output.as_ref().unwrap().id
        ]
    );
    // The same inputs again: everything is served from the memo table.
    let again = execute(
        &pit,
        &w,
        &host,
        vec![(Value::Int(4), None)],
        &RunOptions::default(),
    )
    .unwrap();
    assert_eq!(output(&again, "d"), Value::Int(40));
    assert!(again.nodes.iter().all(|n| n.cached), "every node cached");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // A different input recomputes.
    let other = execute(
        &pit,
        &w,
        &host,
        vec![(Value::Int(1), None)],
        &RunOptions::default(),
    )
    .unwrap();
    assert_eq!(output(&other, "d"), Value::Int(2 * 3 + 4));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[test]
fn retries_back_off_then_succeed_and_final_failures_skip_downstream() {
    let pit = pit();
    let w = wf(
        r#"[{"name": "flaky", "kind": "python", "retries": 2, "backoff": {"strategy": "exponential", "delay": 0.02}},
            {"name": "after", "kind": "passthrough", "inputs": ["flaky"]},
            {"name": "broken", "kind": "python", "retries": 1},
            {"name": "downstream", "kind": "passthrough", "inputs": ["broken"]}]"#,
        "[]",
    );
    let tries = Arc::new(AtomicUsize::new(0));
    let t = tries.clone();
    let host = Arc::new(Fns(vec![
        Box::new(move |_| {
            if t.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(NodeError::host("ValueError", "not yet"))
            } else {
                Ok(Value::from("ok"))
            }
        }),
        Box::new(|_| Err(NodeError::host("KeyError", "'missing'"))),
    ]));
    let started = Instant::now();
    let report = execute(&pit, &w, &host, vec![], &RunOptions::default()).unwrap();
    // Backoff 0.02 then 0.04 seconds.
    assert!(
        started.elapsed() >= Duration::from_millis(55),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report.status, RunStatus::Failed);
    let state = |name: &str| report.node(name).unwrap();
    let final_state = |name: &str| report.states[report.graph.index_of(name).unwrap()];
    assert_eq!(final_state("flaky"), NodeState::Succeeded);
    assert_eq!(state("flaky").attempts, 3);
    assert_eq!(output(&report, "after"), Value::from("ok"));
    assert_eq!(final_state("broken"), NodeState::Failed);
    assert_eq!(state("broken").attempts, 2);
    assert_eq!(
        state("broken").error.as_ref().unwrap().kind,
        NodeErrorKind::Host("KeyError".into())
    );
    assert_eq!(final_state("downstream"), NodeState::Skipped);
    assert_eq!(report.failed_node, Some(2));
}

#[test]
fn a_fallback_stands_in_after_every_attempt_failed() {
    let pit = pit();
    let w = wf(
        r#"[{"name": "n", "kind": "python", "retries": 1, "fallback": {"kind": "constant", "config": {"value": [0]}}}]"#,
        "[]",
    );
    let host = Arc::new(Fns(vec![Box::new(|_| {
        Err(NodeError::host("RuntimeError", "down"))
    })]));
    let report = execute(&pit, &w, &host, vec![], &RunOptions::default()).unwrap();
    assert_eq!(report.status, RunStatus::Completed);
    assert!(report.nodes[0].fallback);
    assert_eq!(report.nodes[0].attempts, 2);
    assert_eq!(output(&report, "n"), Value::List(vec![Value::Int(0)]));
}

#[test]
fn a_node_past_its_timeout_fails_without_waiting_for_it() {
    let pit = pit();
    let w = wf(
        r#"[{"name": "slow", "kind": "python", "timeout": 0.05}]"#,
        "[]",
    );
    let host = Arc::new(Fns(vec![Box::new(|_| {
        std::thread::sleep(Duration::from_millis(400));
        Ok(Value::None)
    })]));
    let started = Instant::now();
    let report = execute(&pit, &w, &host, vec![], &RunOptions::default()).unwrap();
    assert!(started.elapsed() < Duration::from_millis(300));
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(
        report.nodes[0].error.as_ref().unwrap().kind,
        NodeErrorKind::Timeout
    );
}

#[test]
fn pools_with_more_slots_run_nodes_in_parallel() {
    let pit = pit();
    let w = independent(4, |i| {
        format!(r#"{{"name": "n{i}", "kind": "python", "pool": "io"}}"#)
    });
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let host = Arc::new(Fns((0..4)
        .map(|_| {
            let (live, peak) = (live.clone(), peak.clone());
            Box::new(move |_: &[Value]| {
                let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(60));
                live.fetch_sub(1, Ordering::SeqCst);
                Ok(Value::None)
            }) as Callable
        })
        .collect()));
    let opts = RunOptions {
        concurrency: HashMap::from([("io".to_string(), 2)]),
        ..RunOptions::default()
    };
    let started = Instant::now();
    let report = execute(&pit, &w, &host, vec![], &opts).unwrap();
    assert_eq!(report.status, RunStatus::Completed);
    assert_eq!(
        peak.load(Ordering::SeqCst),
        2,
        "never more than the pool's two slots"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(200),
        "two waves of 60 ms, took {elapsed:?}"
    );
}

#[test]
fn cancelling_ends_the_run_cancelled() {
    let pit = pit();
    let w = wf(
        r#"[{"name": "a", "kind": "python", "pool": "p"}, {"name": "b", "kind": "passthrough", "inputs": ["a"]}]"#,
        "[]",
    );
    let token = CancelToken::new();
    let t = token.clone();
    let host = Arc::new(Fns(vec![Box::new(move |_| {
        t.cancel();
        std::thread::sleep(Duration::from_millis(30));
        Ok(Value::None)
    })]));
    let opts = RunOptions {
        cancel: token,
        concurrency: HashMap::from([("p".to_string(), 2)]),
        ..RunOptions::default()
    };
    let report = execute(&pit, &w, &host, vec![], &opts).unwrap();
    assert_eq!(report.status, RunStatus::Cancelled);
    assert!(report.states.iter().all(|&s| s == NodeState::Cancelled));
    assert!(report.nodes.iter().all(|n| n.output.is_none()));
}

#[test]
fn sub_workflows_run_as_their_own_tracked_runs() {
    let pit = pit();
    let sub = r#"{"format": "symphony.workflow", "version": 1, "name": "inner", "inputs": ["v"],
                  "nodes": [{"name": "twice", "kind": "calculator", "inputs": ["v"], "config": {"operation": "mul", "operand": 2}}]}"#;
    let w = wf(
        &format!(
            r#"[{{"name": "s", "kind": "workflow", "inputs": ["x"], "workflow": {sub}}},
                     {{"name": "plus", "kind": "calculator", "inputs": ["s"], "config": {{"operation": "add", "operand": 1}}}}]"#
        ),
        r#"["x"]"#,
    );
    let host = Arc::new(Fns(vec![]));
    let report = execute(
        &pit,
        &w,
        &host,
        vec![(Value::Int(20), None)],
        &RunOptions::default(),
    )
    .unwrap();
    assert_eq!(output(&report, "plus"), Value::Int(41));
    let sub_run = report.sub_run_of(0).unwrap().to_owned();
    assert_eq!(pit.dags.status(&sub_run).unwrap(), RunStatus::Completed);
}

#[test]
fn resuming_reuses_what_succeeded() {
    let pit = pit();
    let w = wf(
        r#"[{"name": "a", "kind": "python", "cache": false}, {"name": "b", "kind": "python", "inputs": ["a"], "cache": false}]"#,
        "[]",
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let fail_b = Arc::new(AtomicUsize::new(1));
    let (c, f) = (calls.clone(), fail_b.clone());
    let host = Arc::new(Fns(vec![
        Box::new(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(Value::Int(7))
        }),
        Box::new(move |v| {
            if f.load(Ordering::SeqCst) == 1 {
                Err(NodeError::host("ValueError", "b broke"))
            } else {
                Ok(Value::Int(int(&v[0]) + 1))
            }
        }),
    ]));
    let first = execute(&pit, &w, &host, vec![], &RunOptions::default()).unwrap();
    assert_eq!(first.status, RunStatus::Failed);
    fail_b.store(0, Ordering::SeqCst);
    let reuse: HashMap<String, _> = pit
        .dags
        .succeeded_outputs(&first.run_id)
        .unwrap()
        .into_iter()
        .collect();
    let opts = RunOptions {
        reuse,
        ..RunOptions::default()
    };
    let second = execute(&pit, &w, &host, vec![], &opts).unwrap();
    assert_eq!(second.status, RunStatus::Completed);
    assert!(second.nodes[0].reused);
    assert_eq!(output(&second, "b"), Value::Int(8));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a ran once");
}

#[test]
fn a_wave_of_builtin_nodes_is_recorded_node_by_node_with_lineage_and_events() {
    let pit = pit();
    let w = wf(
        r#"[{"name": "a", "kind": "constant", "config": {"value": 2}},
            {"name": "b", "kind": "constant", "config": {"value": 3}},
            {"name": "c", "kind": "calculator", "inputs": ["a", "b"], "config": {"operation": "mul"}},
            {"name": "d", "kind": "calculator", "inputs": ["a", "c"], "config": {"operation": "add"}},
            {"name": "e", "kind": "calculator", "inputs": ["c", "c"], "config": {"operation": "sub"}}]"#,
        "[]",
    );
    let opts = RunOptions {
        cache: false, // built-in nodes then run in waves
        ..RunOptions::default()
    };
    pit.events.poll(usize::MAX);
    let report = execute(&pit, &w, &Arc::new(Fns(vec![])), vec![], &opts).unwrap();
    assert_eq!(report.status, RunStatus::Completed);
    assert_eq!(int(&output(&report, "d")), 8);
    assert_eq!(int(&output(&report, "e")), 0);
    for (node, &state) in report.nodes.iter().zip(&report.states) {
        assert_eq!((state, node.attempts), (NodeState::Succeeded, 1));
        assert!(node.started_at.get().unwrap() <= node.finished_at.get().unwrap());
    }
    // Lineage: inputs in order, each once.
    let id = |name: &str| report.node(name).unwrap().output.as_ref().unwrap().id;
    let meta = pit.artifacts.metadata(&id("d")).unwrap();
    assert_eq!(meta.inputs, [id("a"), id("c")]);
    assert_eq!(pit.artifacts.metadata(&id("e")).unwrap().inputs, [id("c")]);
    let producer = meta.producer.as_ref().unwrap();
    assert_eq!(
        (producer.run.as_str(), producer.node.as_str()),
        (&*report.run_id, "d")
    );
    // Events: per node running, stored, succeeded, in that order; never two nodes of the
    // (one-slot) default pool running at once.
    let events = pit.events.poll(usize::MAX);
    let mut running: Option<String> = None;
    let mut seen = Vec::new();
    for e in &events {
        let to = e
            .data
            .iter()
            .find(|(k, _)| *k == "to")
            .map(|(_, v)| v.to_string());
        match (e.kind, to.as_deref()) {
            ("node.state", Some("running")) => {
                assert!(running.is_none(), "two nodes running at once");
                running = Some(e.subject.to_string());
            }
            ("artifact.stored", _) => assert!(running.is_some(), "stored outside a node"),
            ("node.state", Some("succeeded")) => {
                assert_eq!(running.take(), Some(e.subject.to_string()));
                seen.push(e.subject.to_string());
            }
            _ => {}
        }
    }
    let expected: Vec<String> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| format!("{}/{n}", report.run_id))
        .collect();
    assert_eq!(seen, expected);
    assert!(events.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
}

#[test]
fn a_wave_runs_down_a_long_chain_and_a_failing_node_goes_the_single_way() {
    // a chain of 600 built-ins (longer than one wave holds), a host node reading its middle,
    // and beside them a division by zero whose successor must be skipped, not computed.
    let mut nodes = vec![
        r#"{"name": "a", "kind": "constant", "config": {"value": 2}}"#.to_owned(),
        r#"{"name": "z", "kind": "constant", "config": {"value": 0}}"#.to_owned(),
        r#"{"name": "q", "kind": "calculator", "inputs": ["a", "z"], "config": {"operation": "div"}}"#.to_owned(),
        r#"{"name": "s", "kind": "calculator", "inputs": ["q", "a"], "config": {"operation": "mul"}}"#.to_owned(),
    ];
    for k in 0..600 {
        let prev = if k == 0 {
            "a".to_owned()
        } else {
            format!("c{}", k - 1)
        };
        nodes.push(format!(
            r#"{{"name": "c{k}", "kind": "calculator", "inputs": ["{prev}"], "config": {{"operation": "add", "operand": 1}}}}"#
        ));
    }
    nodes.push(
        r#"{"name": "h", "kind": "python", "inputs": ["c299"], "code_hash": "h"}"#.to_owned(),
    );
    nodes.push(r#"{"name": "last", "kind": "calculator", "inputs": ["c599", "h"], "config": {"operation": "add"}}"#.to_owned());
    let w = wf(&format!("[{}]", nodes.join(",")), "[]");
    let host = Arc::new(Fns(vec![Box::new(|v| Ok(Value::Int(int(&v[0]) * 10)))]));
    let opts = RunOptions {
        cache: false,
        ..RunOptions::default()
    };
    let pit = pit();
    let report = execute(&pit, &w, &host, vec![], &opts).unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(int(&output(&report, "c599")), 602);
    assert_eq!(int(&output(&report, "h")), 3020);
    assert_eq!(int(&output(&report, "last")), 3622);
    let state_of = |name: &str| report.states[report.graph.index_of(name).unwrap()];
    let q = report.node("q").unwrap();
    assert_eq!((state_of("q"), q.attempts), (NodeState::Failed, 1));
    assert_eq!(q.error.as_ref().unwrap().kind, NodeErrorKind::ZeroDivision);
    assert!(q.output.is_none());
    let s = report.node("s").unwrap();
    assert_eq!((state_of("s"), s.attempts), (NodeState::Skipped, 0));
    assert!(s.output.is_none() && s.started_at.get().is_none());
    for (i, node) in report.nodes.iter().enumerate() {
        if report.states[i] != NodeState::Succeeded {
            continue;
        }
        assert_eq!(node.attempts, 1, "{}", report.name_of(i));
        let (ready, started, finished) = (
            node.ready_at.get().unwrap(),
            node.started_at.get().unwrap(),
            node.finished_at.get().unwrap(),
        );
        assert!(
            ready <= started && started <= finished,
            "{}",
            report.name_of(i)
        );
    }
    // The tracker agrees, node by node.
    let tracked = pit.dags.nodes(&report.run_id).unwrap();
    for row in tracked {
        let i = report.graph.index_of(&row.name).unwrap();
        assert_eq!(row.state, report.states[i], "{}", row.name);
        assert_eq!(row.output, report.nodes[i].output.as_ref().map(|o| o.id));
    }
}

#[test]
fn a_wave_the_store_refuses_leaves_no_node_half_recorded() {
    // Every node is computed in one wave (b and c join it once a is computed); the closed store
    // refuses the wave, so a goes the single way and fails, and what it fed is skipped.
    let w = wf(
        r#"[{"name": "a", "kind": "constant", "config": {"value": 1}},
            {"name": "b", "kind": "calculator", "inputs": ["a"], "config": {"operation": "add", "operand": 1}},
            {"name": "c", "kind": "calculator", "inputs": ["a", "b"], "config": {"operation": "add"}},
            {"name": "d", "kind": "constant", "config": {"value": 4}}]"#,
        "[]",
    );
    let pit = pit();
    pit.close().unwrap();
    let opts = RunOptions {
        cache: false,
        ..RunOptions::default()
    };
    let report = execute(&pit, &w, &Arc::new(Fns(vec![])), vec![], &opts).unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    let states = report.states.clone();
    assert_eq!(
        states,
        [
            NodeState::Failed,
            NodeState::Skipped,
            NodeState::Skipped,
            NodeState::Failed
        ]
    );
    for (node, &state) in report.nodes.iter().zip(&report.states) {
        assert!(node.output.is_none());
        let error = node.error.as_ref().map(|e| e.kind.clone());
        let expected = (state == NodeState::Failed).then_some(NodeErrorKind::Storage);
        assert_eq!(error, expected);
    }
    for row in pit.dags.nodes(&report.run_id).unwrap() {
        let i = report.graph.index_of(&row.name).unwrap();
        assert_eq!(row.state, report.states[i], "{}", row.name);
    }
}

#[test]
fn finished_runs_let_go_of_their_detail_beyond_the_history_budget() {
    use symphony_pit::dag::HISTORY_NODES;
    let pit = pit();
    let w = independent(1000, |i| {
        format!(r#"{{"name": "n{i}", "kind": "constant", "config": {{"value": {i}}}}}"#)
    });
    let host = Arc::new(Fns(vec![]));
    let runs: Vec<String> = (0..HISTORY_NODES / 1000 + 5)
        .map(|_| {
            execute(&pit, &w, &host, vec![], &RunOptions::default())
                .unwrap()
                .run_id
        })
        .collect();
    let newest = runs.last().unwrap();
    assert_eq!(pit.dags.nodes(newest).unwrap().len(), 1000);
    let oldest = &runs[0];
    let err = pit.dags.nodes(oldest).unwrap_err().to_string();
    assert!(err.contains("only its summary is kept"), "{err}");
    // Its status and summary stay (the Stale Manager and run listings read them).
    assert_eq!(pit.dags.status(oldest).unwrap(), RunStatus::Completed);
    assert_eq!(pit.dags.runs().len(), runs.len());
}

/// A host whose results carry an object of its own (as Python's do).
struct Objects;

impl Host for Objects {
    type Data = Arc<String>;
    fn call(&self, _: usize, _: &[Output<Arc<String>>]) -> Result<(Arc<String>, Value), NodeError> {
        Ok((Arc::new("made by the host".into()), Value::Int(1)))
    }
}

#[test]
fn a_dropped_report_lets_go_of_every_object_and_value_its_nodes_hold() {
    use symphony_pit::value::SharedValue;
    let pit = pit();
    let opts = RunOptions {
        cache: false,
        ..RunOptions::default()
    };
    let run = |nodes: &str| execute(&pit, &wf(nodes, "[]"), &Arc::new(Objects), vec![], &opts);
    // Each way a report comes to own memory, in a run of its own (the debug build also checks
    // that every report knows whether it owns any).
    let hosted = run(r#"[{"name": "host", "kind": "python", "code_hash": "h"}]"#).unwrap();
    let host = hosted.node("host").unwrap().output.as_ref().unwrap();
    let object = Arc::downgrade(host.data.as_ref().unwrap());
    drop(hosted);
    assert!(object.upgrade().is_none(), "the host's object is let go");

    let waved =
        run(r#"[{"name": "list", "kind": "constant", "config": {"value": [1, 2, 3]}}]"#).unwrap();
    let SharedValue::Shared(list) = &waved.node("list").unwrap().output.as_ref().unwrap().value
    else {
        panic!("a list is shared, not inline");
    };
    let list = Arc::downgrade(list);
    drop(waved);
    assert!(list.upgrade().is_none(), "the shared value is let go");

    let failed = run(r#"[{"name": "zero", "kind": "constant", "config": {"value": 0}},
        {"name": "broken", "kind": "calculator", "config": {"operation": "div"}, "inputs": ["zero", "zero"]}]"#)
    .unwrap();
    let error = failed.node("broken").unwrap().error.as_ref().unwrap();
    assert_eq!(error.kind, NodeErrorKind::ZeroDivision);
    drop(failed);

    // Inline results only: the report owns nothing and goes as a whole.
    let nodes: Vec<String> = (0..300)
        .map(|i| format!(r#"{{"name": "n{i}", "kind": "constant", "config": {{"value": {i}}}}}"#))
        .collect();
    let scalars = run(&format!("[{}]", nodes.join(","))).unwrap();
    let last = scalars.node("n299").unwrap().output.as_ref().unwrap();
    assert_eq!(int(&last.value), 299);
    assert!(last.data.is_none());
}

#[test]
fn a_built_in_node_after_a_host_node_and_a_wave_node_counts_both_inputs() {
    // `sum` waits on a host node (the single way) and a constant (a wave): the wave finds it
    // ready by counting what its inputs lack, which the host node's success must count down
    // too (the debug build checks the count against the inputs themselves).
    let pit = pit();
    let w = wf(
        r#"[{"name": "host", "kind": "python", "code_hash": "h"},
            {"name": "two", "kind": "constant", "config": {"value": 2}},
            {"name": "sum", "kind": "calculator", "config": {"operation": "add"}, "inputs": ["host", "two"]}]"#,
        "[]",
    );
    let opts = RunOptions {
        cache: false,
        ..RunOptions::default()
    };
    let host = Arc::new(Fns(vec![Box::new(|_| Ok(Value::Int(40)))]));
    let report = execute(&pit, &w, &host, vec![], &opts).unwrap();
    assert_eq!(report.status, RunStatus::Completed);
    assert_eq!(int(&output(&report, "sum")), 42);
}

/// A host whose node deletes the stored result `7` (as a cleanup might while a run goes on),
/// then returns a number.
struct Deleter(Arc<Pit>);

impl Host for Deleter {
    type Data = ();
    fn call(&self, _: usize, _: &[Output<()>]) -> Result<((), Value), NodeError> {
        let seven = symphony_pit::artifact::ArtifactId::of(&Value::Int(7).encode());
        self.0.artifacts.delete(&seven, true).unwrap();
        Ok(((), Value::Int(5)))
    }
}

#[test]
fn a_wave_node_whose_input_was_deleted_meanwhile_is_not_stored_with_a_missing_lineage() {
    // `x` is computed in one wave; the host node deletes its result; `y` reads `x` and the
    // host's result in a later wave, so its lineage is looked up (only inputs computed in the
    // same wave are known to be there) and the missing input fails it.
    let pit = Arc::new(pit());
    let w = wf(
        r#"[{"name": "x", "kind": "constant", "config": {"value": 7}},
            {"name": "h", "kind": "python", "code_hash": "h"},
            {"name": "y", "kind": "calculator", "config": {"operation": "add"}, "inputs": ["x", "h"]}]"#,
        "[]",
    );
    let opts = RunOptions {
        cache: false,
        ..RunOptions::default()
    };
    let report = execute(&pit, &w, &Arc::new(Deleter(pit.clone())), vec![], &opts).unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    let y = report.node("y").unwrap();
    let error = y.error.as_ref().unwrap();
    assert_eq!(error.kind, NodeErrorKind::Storage);
    assert!(
        error.message.contains("does not exist"),
        "{}",
        error.message
    );
}
