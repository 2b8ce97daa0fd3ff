//! The Stale Manager: value scores, rules, protections, archive tier, memo forgetting, idle
//! models released.

use std::sync::Arc;

use symphony_pit::artifact::PutOptions;
use symphony_pit::stale::{Action, Rule, StalePolicy};
use symphony_pit::workflow::{execute, CompiledWorkflow, Host, NodeError, Output, RunOptions};
use symphony_pit::{ArtifactId, Capacity, ModelSpec, Pit, PitConfig, Resources, Value};

fn put(pit: &Pit, text: &str, tags: &[&str]) -> ArtifactId {
    pit.artifacts
        .put(
            text.as_bytes(),
            PutOptions {
                tags: tags.iter().map(|t| t.to_string()).collect(),
                ..PutOptions::default()
            },
        )
        .unwrap()
}

fn policy(rules: Vec<Rule>) -> StalePolicy {
    StalePolicy {
        rules,
        idle_model_ttl: None,
        ..StalePolicy::default()
    }
}

fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(5)); // ages become > 0
}

#[test]
fn rules_decide_and_pins_tags_and_value_protect() {
    let pit = Pit::open(PitConfig::in_memory()).unwrap();
    let plain = put(&pit, "plain", &[]);
    let pinned = put(&pit, "pinned", &[]);
    pit.artifacts.pin(&pinned, true).unwrap();
    let gold = put(&pit, "gold", &["gold"]);
    let training = put(&pit, "episodes", &["training"]);
    let popular = put(&pit, "popular", &["report"]);
    for _ in 0..50 {
        pit.artifacts.get(&popular).unwrap();
    }
    settle();
    let p = StalePolicy {
        high_value: 0.6,
        ..policy(vec![
            Rule::KeepTagged {
                tags: vec!["gold".into()],
            },
            Rule::PreserveTrainingData,
            Rule::MinAccessCount {
                count: 1000,
                after: 0.0,
                action: Action::Delete,
            },
        ])
    };
    let dry = pit.cleanup(&p, true).unwrap();
    let by_id = |id: &ArtifactId| dry.verdicts.iter().find(|v| v.id == *id).unwrap().clone();
    assert_eq!(by_id(&plain).action, Action::Delete);
    assert!(by_id(&plain).reason.starts_with("MinAccessCount"));
    assert_eq!(by_id(&pinned).action, Action::Keep);
    assert_eq!(by_id(&pinned).reason, "pinned");
    assert_eq!(by_id(&gold).action, Action::Keep);
    assert_eq!(by_id(&training).action, Action::Archive);
    assert!(by_id(&training).reason.contains("PreserveTrainingData"));
    let popular_v = by_id(&popular);
    assert!(popular_v.value >= 0.6, "{popular_v:?}");
    assert_eq!(popular_v.action, Action::Archive);
    assert!(popular_v.reason.contains("never deleted"));
    // A dry run touches nothing.
    assert_eq!(pit.artifacts.len(), 5);
    assert_eq!((dry.deleted, dry.archived, dry.kept), (1, 2, 2));

    let done = pit.cleanup(&p, false).unwrap();
    assert_eq!((done.deleted, done.archived), (1, 2));
    assert!(!pit.artifacts.exists(&plain));
    assert_eq!(pit.artifacts.get(&training).unwrap().bytes(), b"episodes");
    assert!(pit
        .artifacts
        .metadata(&training)
        .unwrap()
        .archived
        .is_some());
    assert!(pit.artifacts.exists(&pinned) && pit.artifacts.exists(&gold));
    // Running it again archives nothing new.
    let again = pit.cleanup(&p, false).unwrap();
    assert_eq!((again.archived, again.deleted), (0, 0));
    let events = pit.events.poll(100_000);
    assert!(events.iter().any(|e| e.kind == "stale.cleanup"));
    assert!(events.iter().any(|e| e.kind == "artifact.archived"));
}

#[test]
fn max_total_size_archives_lowest_value_first() {
    let pit = Pit::open(PitConfig::in_memory()).unwrap();
    let big_cold = pit
        .artifacts
        .put(&vec![7u8; 40_000], PutOptions::default())
        .unwrap();
    let big_hot = pit
        .artifacts
        .put(&vec![8u8; 40_000], PutOptions::default())
        .unwrap();
    for _ in 0..20 {
        pit.artifacts.get(&big_hot).unwrap();
    }
    let small = put(&pit, "small", &[]);
    let p = policy(vec![Rule::MaxTotalSize {
        bytes: 50_000,
        action: Action::Archive,
    }]);
    let report = pit.cleanup(&p, false).unwrap();
    assert_eq!(report.archived, 1);
    let archived: Vec<ArtifactId> = report
        .verdicts
        .iter()
        .filter(|v| v.action == Action::Archive)
        .map(|v| v.id)
        .collect();
    assert_eq!(archived, [big_cold]);
    assert!(report.bytes_archive_stored < 1_000, "zeros compress well");
    assert_eq!(
        pit.artifacts.get(&big_cold).unwrap().bytes(),
        vec![7u8; 40_000]
    );
    let stats = pit.artifacts.stats();
    assert_eq!(
        (stats.archived_artifacts, stats.archived_bytes),
        (1, 40_000)
    );
    assert!(pit.artifacts.exists(&small));
}

#[test]
fn archives_survive_reopening_and_blobs_leave_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let id;
    {
        let pit = Pit::open(PitConfig::on_disk(dir.path())).unwrap();
        id = pit
            .artifacts
            .put(&vec![3u8; 100_000], PutOptions::default())
            .unwrap();
        pit.flush().unwrap();
        let hex = id.to_hex();
        let blob = dir.path().join("blobs").join(&hex[..2]).join(&hex);
        assert!(blob.exists());
        settle();
        let p = policy(vec![Rule::MaxAge {
            seconds: 0.0,
            action: Action::Archive,
        }]);
        assert_eq!(pit.cleanup(&p, false).unwrap().archived, 1);
        pit.flush().unwrap();
        assert!(!blob.exists(), "the live blob is gone");
        assert!(dir
            .path()
            .join("archive")
            .join(&hex[..2])
            .join(format!("{hex}.gz"))
            .exists());
        assert_eq!(pit.artifacts.get(&id).unwrap().bytes(), vec![3u8; 100_000]);
    }
    let pit = Pit::open(PitConfig::on_disk(dir.path())).unwrap();
    assert!(pit.artifacts.metadata(&id).unwrap().archived.is_some());
    assert_eq!(pit.artifacts.get(&id).unwrap().bytes(), vec![3u8; 100_000]);
    pit.artifacts.delete(&id, false).unwrap();
    pit.flush().unwrap();
    assert!(std::fs::read_dir(dir.path().join("archive"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .next()
        .is_none());
}

struct Doubler;

impl Host for Doubler {
    type Data = ();
    fn call(&self, _slot: usize, inputs: &[Output<()>]) -> Result<((), Value), NodeError> {
        match &*inputs[0].value {
            Value::Int(i) => Ok(((), Value::Int(i * 2))),
            _ => Err(NodeError::host("TypeError", "not an int")),
        }
    }
}

#[test]
fn deleted_results_leave_the_memo_table_and_are_recomputed() {
    let pit = Pit::open(PitConfig::in_memory()).unwrap();
    let wf = CompiledWorkflow::from_json(
        r#"{"format": "symphony.workflow", "version": 1, "name": "m", "inputs": ["x"],
            "nodes": [{"name": "d", "kind": "python", "inputs": ["x"], "code_hash": "v1"}]}"#,
    )
    .unwrap();
    let host = Arc::new(Doubler);
    let run = || {
        execute(
            &pit,
            &wf,
            &host,
            vec![(Value::Int(21), None)],
            &RunOptions::default(),
        )
        .unwrap()
    };
    assert!(!run().nodes[0].cached);
    assert!(run().nodes[0].cached);
    assert_eq!(pit.memo.len(), 1);
    settle();
    let p = policy(vec![Rule::MaxAge {
        seconds: 0.0,
        action: Action::Delete,
    }]);
    let report = pit
        .cleanup(
            &StalePolicy {
                high_value: 2.0,
                ..p
            },
            false,
        )
        .unwrap();
    assert!(report.deleted >= 2, "{report:?}"); // the input and the result
    assert_eq!(report.memo_forgotten, 1);
    assert_eq!(pit.memo.len(), 0);
    let again = run();
    assert!(!again.nodes[0].cached);
    assert_eq!(
        *again.nodes[0].output.as_ref().unwrap().value,
        Value::Int(42)
    );
}

#[test]
fn idle_models_are_released_after_their_ttl() {
    let pit = Pit::open(PitConfig::in_memory()).unwrap();
    pit.pools
        .add_pool("gpu", Capacity([None, Some(1000 * 1000), None, None]))
        .unwrap();
    let spec = Arc::new(
        ModelSpec::new(
            "m",
            "1",
            "echo",
            Resources([0, 500 * 1000, 0, 0]),
            Value::None,
        )
        .unwrap(),
    );
    let a = pit.pools.allocate("gpu", &spec).unwrap();
    pit.pools.release(a.handle, false).unwrap(); // stays warm, holding 500 MB
    assert_eq!(pit.pools.pool("gpu").unwrap().used.0[1], 500 * 1000);
    let keep = StalePolicy {
        idle_model_ttl: Some(3600.0),
        ..policy(vec![])
    };
    assert_eq!(pit.cleanup(&keep, false).unwrap().models_released, 0);
    settle();
    let release = StalePolicy {
        idle_model_ttl: Some(0.0),
        ..policy(vec![])
    };
    assert_eq!(pit.cleanup(&release, true).unwrap().models_released, 1);
    assert_eq!(
        pit.pools.pool("gpu").unwrap().used.0[1],
        500 * 1000,
        "dry run"
    );
    assert_eq!(pit.cleanup(&release, false).unwrap().models_released, 1);
    assert_eq!(pit.pools.pool("gpu").unwrap().used.0[1], 0);
    pit.pools.check_invariants().unwrap();
}

#[test]
fn a_version_2_store_gains_the_archive_column() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let pit = Pit::open(PitConfig::on_disk(dir.path())).unwrap();
        let id = pit
            .artifacts
            .put(b"from v2", PutOptions::default())
            .unwrap();
        pit.close().unwrap();
        id
    };
    {
        // Make it look like a store written before archives existed.
        let conn = rusqlite::Connection::open(dir.path().join("pit.sqlite")).unwrap();
        conn.execute_batch(
            "ALTER TABLE artifacts DROP COLUMN archived;
             UPDATE pit_meta SET value = '2' WHERE key = 'schema_version';",
        )
        .unwrap();
    }
    let pit = Pit::open(PitConfig::on_disk(dir.path())).unwrap();
    assert_eq!(pit.artifacts.get(&id).unwrap().bytes(), b"from v2");
    assert_eq!(pit.artifacts.archive(&[id]).unwrap().len(), 1);
    pit.close().unwrap();
    let pit = Pit::open(PitConfig::on_disk(dir.path())).unwrap();
    assert!(pit.artifacts.metadata(&id).unwrap().archived.is_some());
    assert_eq!(pit.artifacts.get(&id).unwrap().bytes(), b"from v2");
}

#[test]
fn verdicts_are_a_dry_runs_decisions_without_its_event() {
    let pit = Pit::open(PitConfig::in_memory()).unwrap();
    put(&pit, "old", &[]);
    put(&pit, "kept", &["gold"]);
    settle();
    let keep_gold_drop_old = policy(vec![
        Rule::KeepTagged {
            tags: vec!["gold".into()],
        },
        Rule::MaxAge {
            seconds: 0.001,
            action: Action::Delete,
        },
    ]);
    pit.events.poll(usize::MAX);
    let verdicts = pit.verdicts(&keep_gold_drop_old).unwrap();
    assert!(
        pit.events.poll(usize::MAX).is_empty(),
        "verdicts send no event"
    );
    let report = pit.cleanup(&keep_gold_drop_old, true).unwrap();
    let actions = |vs: &[symphony_pit::stale::Verdict]| {
        let mut a: Vec<(ArtifactId, Action)> = vs.iter().map(|v| (v.id, v.action)).collect();
        a.sort_by_key(|(id, _)| id.to_hex());
        a
    };
    assert_eq!(actions(&verdicts), actions(&report.verdicts));
    assert_eq!(
        verdicts
            .iter()
            .filter(|v| v.action == Action::Delete)
            .count(),
        1
    );
    assert!(pit
        .verdicts(&policy(vec![Rule::MaxAge {
            seconds: -1.0,
            action: Action::Delete
        }]))
        .is_err());
}
