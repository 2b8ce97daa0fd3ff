//! Artifact Store across process lifetimes: persistence, dedup, integrity, lineage, pins.

use symphony_pit::artifact::{ListFilter, Producer};
use symphony_pit::{ArtifactId, Pit, PitConfig, PitError, PutOptions};

fn opts(tags: &[&str]) -> PutOptions {
    PutOptions {
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        ..Default::default()
    }
}

#[test]
fn a_reopened_store_sees_every_artifact_and_its_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b);
    {
        let pit = Pit::open(PitConfig::on_disk(dir.path())).unwrap();
        a = pit.artifacts.put(b"raw data", opts(&["raw"])).unwrap();
        b = pit
            .artifacts
            .put(
                b"clean data",
                PutOptions {
                    inputs: vec![a],
                    producer: Some(Producer {
                        run: "etl-1".into(),
                        node: "clean".into(),
                    }),
                    ..Default::default()
                },
            )
            .unwrap();
        pit.artifacts.pin(&a, true).unwrap();
        pit.artifacts.get(&a).unwrap();
    } // dropped: flushes and closes
    let pit = Pit::open(PitConfig::on_disk(dir.path())).unwrap();
    assert_eq!(pit.artifacts.len(), 2);
    assert_eq!(pit.artifacts.get(&b).unwrap().bytes(), b"clean data");
    let meta = pit.artifacts.metadata(&b).unwrap();
    assert_eq!(meta.inputs, vec![a]);
    assert_eq!(meta.producer.as_ref().unwrap().node, "clean");
    let raw = pit.artifacts.metadata(&a).unwrap();
    assert!(raw.pinned);
    assert_eq!(raw.tags, vec!["raw"]);
    assert_eq!(raw.access_count, 1);
    assert_eq!(pit.artifacts.ancestors(&b).unwrap(), vec![a]);
    let by_run = pit.artifacts.list(&ListFilter {
        run: Some("etl-1".into()),
        ..Default::default()
    });
    assert_eq!(by_run.len(), 1);
}

#[test]
fn storing_the_same_bytes_twice_costs_nothing_and_merges_tags() {
    let pit = Pit::open(PitConfig::in_memory()).unwrap();
    let a = pit.artifacts.put(b"x", opts(&["one"])).unwrap();
    let b = pit.artifacts.put(b"x", opts(&["two"])).unwrap();
    assert_eq!(a, b);
    let stats = pit.artifacts.stats();
    assert_eq!(
        (stats.artifacts, stats.total_bytes, stats.dedup_hits),
        (1, 1, 1)
    );
    assert_eq!(pit.artifacts.metadata(&a).unwrap().tags, vec!["one", "two"]);
}

#[test]
fn hot_tier_evicts_durable_blobs_and_reads_them_back_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let config = PitConfig {
        hot_bytes: 4096,
        ..PitConfig::on_disk(dir.path())
    };
    let pit = Pit::open(config).unwrap();
    let ids: Vec<ArtifactId> = (0..16u8)
        .map(|i| {
            let id = pit
                .artifacts
                .put(&[i; 1024], PutOptions::default())
                .unwrap();
            pit.flush().unwrap();
            id
        })
        .collect();
    assert!(pit.artifacts.stats().hot_bytes <= 4096 + 1024);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(pit.artifacts.get(id).unwrap().bytes(), &[i as u8; 1024][..]);
    }
    assert!(pit.artifacts.stats().disk_reads > 0);
}

#[test]
fn delete_respects_pins_and_removes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pit = Pit::open(PitConfig::on_disk(dir.path())).unwrap();
    let id = pit.artifacts.put(b"bye", PutOptions::default()).unwrap();
    pit.artifacts.pin(&id, true).unwrap();
    assert!(matches!(
        pit.artifacts.delete(&id, false),
        Err(PitError::Validation(_))
    ));
    pit.artifacts.delete(&id, true).unwrap();
    pit.flush().unwrap();
    assert!(!symphony_pit::persist::blob_path(dir.path(), &id).exists());
    assert!(matches!(pit.artifacts.get(&id), Err(PitError::NotFound(_))));
    assert!(matches!(
        pit.artifacts.delete(&id, true),
        Err(PitError::NotFound(_))
    ));
}

#[test]
fn lineage_inputs_must_exist() {
    let pit = Pit::open(PitConfig::in_memory()).unwrap();
    let ghost = ArtifactId::of(b"never stored");
    let err = pit
        .artifacts
        .put(
            b"y",
            PutOptions {
                inputs: vec![ghost],
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, PitError::NotFound(m) if m.contains(&ghost.to_hex())));
}

#[test]
fn closed_pit_refuses_writes() {
    let pit = Pit::open(PitConfig::in_memory()).unwrap();
    pit.close().unwrap();
    assert!(pit.artifacts.put(b"late", PutOptions::default()).is_err());
}
