//! Arbitration under contention: strategies order the queue, grants are all-or-nothing, nothing
//! starves and nothing deadlocks; workflow nodes of concurrent runs share a pool through it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use symphony_pit::arbitration::{Grant, Lease, Request, Strategy};
use symphony_pit::dag::RunStatus;
use symphony_pit::workflow::{
    execute, CompiledWorkflow, Host, NodeError, NodeErrorKind, Output, RunOptions,
};
use symphony_pit::{Capacity, Pit, PitConfig, PitError, Resources, Value};

fn pit_with(pools: &[(&str, u64)]) -> Pit {
    let pit = Pit::open(PitConfig::in_memory()).unwrap();
    for (name, slots) in pools {
        pit.pools
            .add_pool(name, Capacity([None, None, None, Some(slots * 1000)]))
            .unwrap();
    }
    pit
}

fn slots(n: u64) -> Resources {
    Resources([0, 0, 0, n * 1000])
}

fn req(tenant: &str, priority: i32, needs: &[(&str, u64)]) -> Request {
    Request {
        tenant: Arc::from(tenant),
        label: Arc::from(format!("{tenant}:{priority}")),
        priority,
        needs: needs
            .iter()
            .map(|(p, n)| (Arc::from(*p), slots(*n)))
            .collect(),
    }
}

fn used_slots(pit: &Pit, pool: &str) -> u64 {
    pit.pools.pool(pool).unwrap().used.0[3] / 1000
}

/// Queue `request`; granted leases are pushed, with a label, onto `log`.
fn queue(pit: &Pit, request: Request, log: &Arc<Mutex<Vec<(String, Lease)>>>) -> Option<Lease> {
    let label = request.label.to_string();
    let log = log.clone();
    match pit
        .arbiter
        .request(
            request,
            Box::new(move |outcome| log.lock().unwrap().push((label, outcome.unwrap()))),
        )
        .unwrap()
    {
        Grant::Now(lease) => Some(lease),
        Grant::Queued(_) => None,
    }
}

/// Release leases one at a time, in grant order, until `n` grants were seen; their labels.
fn drain_in_order(
    log: &Arc<Mutex<Vec<(String, Lease)>>>,
    mut holder: Lease,
    n: usize,
) -> Vec<String> {
    let mut order = Vec::new();
    holder.release().unwrap();
    while order.len() < n {
        let next = log.lock().unwrap().pop();
        let Some((label, mut lease)) = next else {
            panic!("only {} of {n} grants arrived: {order:?}", order.len());
        };
        order.push(label);
        lease.release().unwrap();
    }
    order
}

#[test]
fn priority_grants_highest_first_and_reports_why() {
    let pit = pit_with(&[("gpu", 1)]);
    pit.arbiter.set_strategy(Strategy::Priority {
        aging_per_second: 0.0,
    });
    let log = Arc::new(Mutex::new(Vec::new()));
    let holder = queue(&pit, req("h", 0, &[("gpu", 1)]), &log).expect("free pool grants at once");
    for (tenant, p) in [("low", -1000), ("high", 1000), ("mid", 0)] {
        assert!(queue(&pit, req(tenant, p, &[("gpu", 1)]), &log).is_none());
    }
    assert_eq!(pit.arbiter.waiting(), 3);
    let order = drain_in_order(&log, holder, 3);
    assert_eq!(order, ["high:1000", "mid:0", "low:-1000"]);
    let events = pit.events.poll(10_000);
    let granted: Vec<String> = events
        .iter()
        .filter(|e| e.kind == "arbitration.decision")
        .filter(|e| {
            e.data
                .iter()
                .any(|(k, v)| *k == "decision" && v.as_str() == Some("granted"))
        })
        .map(|e| {
            let why = e.data.iter().find(|(k, _)| *k == "rationale").unwrap();
            why.1.to_string()
        })
        .collect();
    assert_eq!(granted.len(), 4);
    assert!(
        granted[1].starts_with("priority 1000.0 = 1000"),
        "{}",
        granted[1]
    );
    assert_eq!(used_slots(&pit, "gpu"), 0);
    pit.pools.check_invariants().unwrap();
}

#[test]
fn queue_is_first_come_first_served() {
    let pit = pit_with(&[("gpu", 1)]);
    pit.arbiter.set_strategy(Strategy::Queue);
    let log = Arc::new(Mutex::new(Vec::new()));
    let holder = queue(&pit, req("h", 0, &[("gpu", 1)]), &log).unwrap();
    for (tenant, p) in [("a", -5), ("b", 900), ("c", 0)] {
        queue(&pit, req(tenant, p, &[("gpu", 1)]), &log);
    }
    assert_eq!(drain_in_order(&log, holder, 3), ["a:-5", "b:900", "c:0"]);
}

#[test]
fn round_robin_alternates_tenants() {
    let pit = pit_with(&[("gpu", 1)]);
    pit.arbiter.set_strategy(Strategy::RoundRobin);
    let log = Arc::new(Mutex::new(Vec::new()));
    let holder = queue(&pit, req("a", 0, &[("gpu", 1)]), &log).unwrap();
    for k in 0..3 {
        queue(&pit, req("a", k, &[("gpu", 1)]), &log);
    }
    queue(&pit, req("b", 0, &[("gpu", 1)]), &log);
    queue(&pit, req("b", 1, &[("gpu", 1)]), &log);
    // a was served last (the holder), so b goes first, then they alternate.
    assert_eq!(
        drain_in_order(&log, holder, 5),
        ["b:0", "a:0", "b:1", "a:1", "a:2"]
    );
}

#[test]
fn weighted_fair_shares_follow_weights() {
    let pit = pit_with(&[("gpu", 1)]);
    pit.arbiter.set_strategy(Strategy::WeightedFair);
    pit.arbiter.set_weight("heavy", 3.0).unwrap();
    pit.arbiter.set_weight("light", 1.0).unwrap();
    // Both tenants always have demand: after each grant the granted tenant asks again.
    let log = Arc::new(Mutex::new(Vec::new()));
    let holder = queue(&pit, req("heavy", 0, &[("gpu", 1)]), &log).unwrap();
    queue(&pit, req("heavy", 0, &[("gpu", 1)]), &log);
    queue(&pit, req("light", 0, &[("gpu", 1)]), &log);
    drop(holder);
    let mut counts = std::collections::HashMap::new();
    for _ in 0..400 {
        let (label, mut lease) = log.lock().unwrap().pop().expect("always one granted");
        let tenant = label.split(':').next().unwrap().to_owned();
        *counts.entry(tenant.clone()).or_insert(0) += 1;
        queue(&pit, req(&tenant, 0, &[("gpu", 1)]), &log);
        lease.release().unwrap();
    }
    assert!((299..=301).contains(&counts["heavy"]), "{counts:?}");
    assert!((99..=101).contains(&counts["light"]), "{counts:?}");
    let fairness = pit.arbiter.fairness();
    let heavy = fairness
        .tenants
        .iter()
        .find(|t| t.tenant == "heavy")
        .unwrap();
    assert!((heavy.fair_share - 0.75).abs() < 1e-9);
    assert!(fairness.max_deviation < 0.02, "{fairness:?}");
    assert!(fairness.gini < 0.01, "{fairness:?}");
}

#[test]
fn multi_pool_requests_are_all_or_nothing() {
    let pit = pit_with(&[("cpu", 1), ("gpu", 1)]);
    let log = Arc::new(Mutex::new(Vec::new()));
    let gpu_holder = queue(&pit, req("x", 0, &[("gpu", 1)]), &log).unwrap();
    assert!(queue(&pit, req("both", 0, &[("cpu", 1), ("gpu", 1)]), &log).is_none());
    // Waiting, it holds nothing: cpu is untouched.
    assert_eq!(used_slots(&pit, "cpu"), 0);
    drop(gpu_holder);
    let (label, lease) = log.lock().unwrap().pop().unwrap();
    assert_eq!(label, "both:0");
    assert_eq!((used_slots(&pit, "cpu"), used_slots(&pit, "gpu")), (1, 1));
    drop(lease);
    assert_eq!((used_slots(&pit, "cpu"), used_slots(&pit, "gpu")), (0, 0));
}

#[test]
fn a_large_request_is_not_starved_by_small_ones() {
    let pit = pit_with(&[("gpu", 2)]);
    pit.arbiter.set_strategy(Strategy::Queue);
    let log = Arc::new(Mutex::new(Vec::new()));
    let a = queue(&pit, req("a", 0, &[("gpu", 1)]), &log).unwrap();
    let b = queue(&pit, req("b", 0, &[("gpu", 1)]), &log).unwrap();
    assert!(queue(&pit, req("big", 0, &[("gpu", 2)]), &log).is_none());
    assert!(queue(&pit, req("small", 0, &[("gpu", 1)]), &log).is_none());
    drop(a);
    // One slot is free, but it is held for "big" (ahead in line): "small" may not slip past.
    assert!(log.lock().unwrap().is_empty());
    drop(b);
    let (label, lease) = log.lock().unwrap().pop().unwrap();
    assert_eq!(label, "big:0");
    drop(lease);
    assert_eq!(log.lock().unwrap().pop().unwrap().0, "small:0");
}

#[test]
fn impossible_requests_are_denied_with_a_reason() {
    let pit = pit_with(&[("gpu", 1)]);
    let err = pit
        .arbiter
        .request(req("t", 0, &[("gpu", 2)]), Box::new(|_| {}))
        .unwrap_err();
    assert!(matches!(err, PitError::ResourceExhausted(_)), "{err:?}");
    assert!(err.to_string().contains("can never grant"), "{err}");
    let err = pit
        .arbiter
        .request(req("t", 0, &[("nowhere", 1)]), Box::new(|_| {}))
        .unwrap_err();
    assert!(matches!(err, PitError::NotFound(_)), "{err:?}");
    assert_eq!(pit.arbiter.stats().denials, 2);
}

#[test]
fn aging_lets_a_background_request_through_a_stream_of_critical_ones() {
    let pit = Arc::new(pit_with(&[("gpu", 1)]));
    pit.arbiter.set_strategy(Strategy::Priority {
        aging_per_second: 4000.0, // -1000 outranks a fresh 1000 after 0.5 s
    });
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut threads = Vec::new();
    for k in 0..3 {
        let (pit, stop) = (pit.clone(), stop.clone());
        threads.push(thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let lease = pit
                    .arbiter
                    .acquire(
                        req(&format!("critical{k}"), 1000, &[("gpu", 1)]),
                        None,
                        &|| false,
                    )
                    .unwrap();
                thread::sleep(Duration::from_micros(300));
                drop(lease);
                n += 1;
            }
            n
        }));
    }
    thread::sleep(Duration::from_millis(50));
    let began = Instant::now();
    let lease = pit
        .arbiter
        .acquire(
            req("background", -1000, &[("gpu", 1)]),
            Some(Duration::from_secs(20)),
            &|| false,
        )
        .expect("the background request is granted");
    let waited = began.elapsed();
    drop(lease);
    stop.store(true, Ordering::Relaxed);
    let served: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(served > 10, "the critical stream ran ({served} grants)");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    pit.pools.check_invariants().unwrap();
}

#[test]
fn random_multi_pool_contention_never_deadlocks() {
    let pit = Arc::new(pit_with(&[("a", 2), ("b", 1), ("c", 3)]));
    let done = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for k in 0..8u64 {
        let (pit, done) = (pit.clone(), done.clone());
        threads.push(thread::spawn(move || {
            let mut seed = k * 7919 + 1;
            for round in 0..150 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pick = (seed >> 33) % 7 + 1; // non-empty subset of {a, b, c}
                let mut needs = Vec::new();
                for (bit, pool) in ["a", "b", "c"].iter().enumerate() {
                    if pick & (1 << bit) != 0 {
                        needs.push((*pool, 1));
                    }
                }
                let strategy_tenant = format!("t{}", k % 3);
                let lease = pit
                    .arbiter
                    .acquire(
                        req(&strategy_tenant, (round % 5) * 100, &needs),
                        Some(Duration::from_secs(30)),
                        &|| false,
                    )
                    .expect("granted well within the timeout");
                for (pool, _) in &needs {
                    let info = pit.pools.pool(pool).unwrap();
                    assert!(info.used.0[3] <= info.capacity.0[3].unwrap());
                }
                thread::sleep(Duration::from_micros(50));
                drop(lease);
            }
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    let (tx, rx) = channel();
    thread::spawn(move || {
        for t in threads {
            t.join().unwrap();
        }
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("every thread finished: no deadlock");
    assert_eq!(done.load(Ordering::SeqCst), 8);
    for pool in ["a", "b", "c"] {
        assert_eq!(used_slots(&pit, pool), 0, "pool {pool} is back to empty");
    }
    assert_eq!(pit.arbiter.waiting(), 0);
    pit.pools.check_invariants().unwrap();
}

struct Sleeper {
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl Host for Sleeper {
    type Data = ();
    fn call(&self, _slot: usize, _inputs: &[Output<()>]) -> Result<((), Value), NodeError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(5));
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(((), Value::Int(1)))
    }
}

#[test]
fn nodes_of_concurrent_runs_share_a_pool_through_arbitration() {
    let pit = Arc::new(pit_with(&[("gpu", 2)]));
    let w = Arc::new(
        CompiledWorkflow::from_json(
            r#"{"format": "symphony.workflow", "version": 1, "name": "fan", "nodes": [
                {"name": "a", "kind": "python", "pool": "gpu"},
                {"name": "b", "kind": "python", "pool": "gpu"},
                {"name": "c", "kind": "python", "pool": "gpu"},
                {"name": "d", "kind": "python", "pool": "gpu"}]}"#,
        )
        .unwrap(),
    );
    let host = Arc::new(Sleeper {
        running: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let runs: Vec<_> = (0..4)
        .map(|k| {
            let (pit, w, host) = (pit.clone(), w.clone(), host.clone());
            thread::spawn(move || {
                let opts = RunOptions {
                    cache: false,
                    tenant: Some(Arc::from(format!("user{k}"))),
                    ..RunOptions::default()
                };
                execute(&pit, &w, &host, vec![], &opts).unwrap().status
            })
        })
        .collect();
    for r in runs {
        assert_eq!(r.join().unwrap(), RunStatus::Completed);
    }
    // 16 nodes ran, never more than the pool's two slots at once, across all four runs.
    assert_eq!(host.peak.load(Ordering::SeqCst), 2);
    let fairness = pit.arbiter.fairness();
    assert_eq!(fairness.tenants.len(), 4);
    assert!(fairness.tenants.iter().all(|t| t.granted == 4));
    assert_eq!(fairness.gini, 0.0);
    assert_eq!(used_slots(&pit, "gpu"), 0);
}

#[test]
fn a_node_asking_more_than_its_pool_has_fails_with_the_reason() {
    let pit = pit_with(&[("gpu", 1)]);
    let w = CompiledWorkflow::from_json(
        r#"{"format": "symphony.workflow", "version": 1, "name": "big", "nodes": [
            {"name": "a", "kind": "passthrough", "pool": "gpu", "inputs": ["x"],
             "resources": {"slots": 4}}], "inputs": ["x"]}"#,
    )
    .unwrap();
    let host = Arc::new(Sleeper {
        running: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let report = execute(
        &pit,
        &w,
        &host,
        vec![(Value::Int(1), None)],
        &RunOptions::default(),
    )
    .unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.nodes[0].error.as_ref().unwrap();
    assert_eq!(error.kind, NodeErrorKind::ResourceExhausted);
    assert!(
        error.message.contains("can never grant"),
        "{}",
        error.message
    );
}

#[test]
fn a_waiting_request_whose_pool_is_removed_is_denied_not_stranded() {
    let pit = pit_with(&[("x", 1), ("y", 1)]);
    let holder = pit
        .arbiter
        .acquire(req("h", 0, &[("x", 1)]), None, &|| false)
        .unwrap();
    let (tx, rx) = channel();
    let queued = pit
        .arbiter
        .request(
            req("a", 0, &[("x", 1), ("y", 1)]),
            Box::new(move |outcome| tx.send(outcome).unwrap()),
        )
        .unwrap();
    assert!(matches!(queued, Grant::Queued(_)));
    pit.pools.remove_pool("y").unwrap(); // nothing holds y: removable
    drop(holder);
    let outcome = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let err = outcome.unwrap_err();
    assert!(matches!(err, PitError::NotFound(_)), "{err:?}");
    assert_eq!(pit.arbiter.waiting(), 0);
    assert_eq!(pit.arbiter.stats().denials, 1);
    assert_eq!(used_slots(&pit, "x"), 0);
}
