//! What the store promises on disk: nothing accepted is lost, damage is detected and repairable,
//! and one bad row never keeps the rest of a store from opening.

use std::path::Path;

use rusqlite::Connection;
use symphony_pit::persist::{blob_path, SMALL_BLOB_BYTES};
use symphony_pit::value::VALUE_CONTENT_TYPE;
use symphony_pit::{ArtifactId, Durability, Pit, PitConfig, PitError, PutOptions, Value};

fn open(dir: &Path) -> Pit {
    Pit::open(PitConfig::on_disk(dir)).unwrap()
}

fn sync(dir: &Path) -> Pit {
    Pit::open(PitConfig {
        durability: Durability::Sync,
        ..PitConfig::on_disk(dir)
    })
    .unwrap()
}

/// Bytes too large for the database: kept as a file.
fn large(seed: u8) -> Vec<u8> {
    (0..SMALL_BLOB_BYTES + 100)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn db(dir: &Path) -> Connection {
    Connection::open(dir.join("pit.sqlite")).unwrap()
}

fn is_integrity<T>(r: Result<T, PitError>, id: &ArtifactId) -> bool {
    matches!(r, Err(PitError::Integrity(m)) if m.contains(&id.to_hex()))
}

#[test]
fn a_row_that_fails_its_check_is_quarantined_and_the_rest_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (good, bad) = {
        let pit = open(dir.path());
        let value = Value::List(vec![Value::Int(1)]);
        let opts = PutOptions {
            content_type: Some(VALUE_CONTENT_TYPE.into()),
            ..Default::default()
        };
        let good = pit.artifacts.put(b"good", Default::default()).unwrap();
        let bad = pit.artifacts.put(&value.encode(), opts).unwrap();
        (good, bad)
    };
    // A flipped content type would serve a value as raw bytes: the row's checksum catches it.
    db(dir.path())
        .execute(
            "UPDATE artifacts SET content_type = 'application/octet-stream' WHERE id = ?1",
            [bad.to_hex()],
        )
        .unwrap();
    let pit = open(dir.path());
    assert_eq!(pit.artifacts.get(&good).unwrap().bytes(), b"good");
    assert!(is_integrity(pit.artifacts.get(&bad), &bad));
    assert!(is_integrity(pit.artifacts.metadata(&bad), &bad));
    let events = pit.events.poll(100);
    assert!(events
        .iter()
        .any(|e| e.kind == "artifact.corrupted" && e.subject.to_string().contains(&bad.to_hex())));
    assert_eq!(pit.artifacts.quarantined().len(), 1);
    // recover() rebuilds the row from the verified blob, as a value.
    let report = pit.artifacts.recover().unwrap();
    assert_eq!(report.recovered, vec![bad]);
    let meta = pit.artifacts.metadata(&bad).unwrap();
    assert_eq!(meta.content_type, VALUE_CONTENT_TYPE);
    drop(pit);
    let pit = open(dir.path());
    assert!(pit.artifacts.quarantined().is_empty());
    assert!(pit.artifacts.get(&bad).is_ok());
}

#[test]
fn undecodable_custom_metadata_is_quarantined_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = {
        let pit = open(dir.path());
        let opts = PutOptions {
            custom: Value::Str("meta".into()),
            ..Default::default()
        };
        let a = pit.artifacts.put(b"a", opts).unwrap();
        (a, pit.artifacts.put(b"b", Default::default()).unwrap())
    };
    db(dir.path())
        .execute(
            "UPDATE artifacts SET custom = x'c1c1c1' WHERE id = ?1",
            [a.to_hex()],
        )
        .unwrap();
    let pit = open(dir.path());
    assert!(is_integrity(pit.artifacts.get(&a), &a));
    assert_eq!(pit.artifacts.get(&b).unwrap().bytes(), b"b");
    // A put of the same bytes repairs the row.
    pit.artifacts.put(b"a", Default::default()).unwrap();
    drop(pit);
    assert_eq!(open(dir.path()).artifacts.get(&a).unwrap().bytes(), b"a");
}

/// Put `data` while a regular file stands where its blob directory should be.
fn put_while_obstructed(dir: &Path, data: &[u8], durability: Durability) -> ArtifactId {
    let id = ArtifactId::of(data);
    let fan = blob_path(dir, &id).parent().unwrap().to_path_buf();
    std::fs::create_dir_all(fan.parent().unwrap()).unwrap();
    std::fs::write(&fan, b"in the way").unwrap();
    let pit = match durability {
        Durability::Sync => sync(dir),
        Durability::Background => open(dir),
    };
    let outcome = pit
        .artifacts
        .put(data, Default::default())
        .and_then(|_| pit.flush());
    assert!(matches!(outcome, Err(PitError::Storage(_))), "{outcome:?}");
    std::fs::remove_file(&fan).unwrap();
    // The obstruction is gone: the same put writes the blob (it is no deduplication hit).
    pit.artifacts.put(data, Default::default()).unwrap();
    pit.flush().unwrap();
    drop(pit);
    id
}

#[test]
fn a_failed_blob_write_commits_no_row_and_the_next_put_writes_it() {
    for durability in [Durability::Sync, Durability::Background] {
        let dir = tempfile::tempdir().unwrap();
        let data = large(1);
        let id = put_while_obstructed(dir.path(), &data, durability);
        let pit = open(dir.path());
        assert_eq!(pit.artifacts.get(&id).unwrap().bytes(), &data[..]);
        assert!(pit.artifacts.orphans().is_empty());
    }
}

#[test]
fn a_failed_write_leaves_no_row_behind_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let data = large(2);
    let id = ArtifactId::of(&data);
    let fan = blob_path(dir.path(), &id).parent().unwrap().to_path_buf();
    std::fs::create_dir_all(fan.parent().unwrap()).unwrap();
    std::fs::write(&fan, b"in the way").unwrap();
    {
        let pit = sync(dir.path());
        assert!(pit.artifacts.put(&data, Default::default()).is_err());
    }
    std::fs::remove_file(&fan).unwrap();
    let pit = open(dir.path());
    // Not acknowledged, so not there: NotFound, never an unreadable row.
    assert!(matches!(pit.artifacts.get(&id), Err(PitError::NotFound(_))));
}

/// Damage done to a stored blob, for both tiers (a file, a row of the database).
#[derive(Clone, Copy, Debug)]
enum Damage {
    Truncate,
    FlipBit,
    Delete,
    Replace,
}

fn damage_file(path: &Path, how: Damage) {
    let mut bytes = std::fs::read(path).unwrap();
    match how {
        Damage::Truncate => bytes.truncate(bytes.len() / 2),
        Damage::FlipBit => bytes[7] ^= 0x10,
        Damage::Delete => return std::fs::remove_file(path).unwrap(),
        Damage::Replace => bytes = large(99),
    }
    std::fs::write(path, bytes).unwrap();
}

fn damage_row(dir: &Path, id: &ArtifactId, how: Damage) {
    let conn = db(dir);
    let sql = match how {
        Damage::Truncate => "UPDATE small_blobs SET data = substr(data, 1, 2) WHERE id = ?1",
        Damage::FlipBit => "UPDATE small_blobs SET data = x'00' || substr(data, 2) WHERE id = ?1",
        Damage::Delete => "DELETE FROM small_blobs WHERE id = ?1",
        Damage::Replace => "UPDATE small_blobs SET data = x'0102030405' WHERE id = ?1",
    };
    assert_eq!(conn.execute(sql, [id.to_hex()]).unwrap(), 1);
}

#[test]
fn a_damaged_blob_is_detected_and_a_put_of_the_same_bytes_repairs_it() {
    for how in [
        Damage::Truncate,
        Damage::FlipBit,
        Damage::Delete,
        Damage::Replace,
    ] {
        for small in [true, false] {
            // Once after `get` saw the damage, once with a put straight after reopening.
            for look_first in [true, false] {
                let dir = tempfile::tempdir().unwrap();
                let data = if small {
                    b"precious bytes".to_vec()
                } else {
                    large(3)
                };
                let id = open(dir.path())
                    .artifacts
                    .put(&data, Default::default())
                    .unwrap();
                if small {
                    damage_row(dir.path(), &id, how);
                } else {
                    damage_file(&blob_path(dir.path(), &id), how);
                }
                let pit = open(dir.path());
                if look_first {
                    assert!(is_integrity(pit.artifacts.get(&id), &id), "{how:?}");
                }
                pit.artifacts.put(&data, Default::default()).unwrap();
                pit.flush().unwrap();
                assert_eq!(pit.artifacts.get(&id).unwrap().bytes(), &data[..]);
                drop(pit);
                let pit = open(dir.path());
                assert_eq!(
                    pit.artifacts.get(&id).unwrap().bytes(),
                    &data[..],
                    "{how:?} small={small} look_first={look_first}"
                );
            }
        }
    }
}

#[test]
fn a_lost_database_is_reported_and_recovered_from_the_blobs() {
    for loss in ["delete", "empty", "drop table"] {
        let dir = tempfile::tempdir().unwrap();
        let value = Value::Dict(vec![(Value::from("k"), Value::Int(7))]);
        let (bytes_id, value_id, big_id) = {
            let pit = open(dir.path());
            let opts = PutOptions {
                content_type: Some(VALUE_CONTENT_TYPE.into()),
                ..Default::default()
            };
            (
                pit.artifacts.put(b"plain", Default::default()).unwrap(),
                pit.artifacts.put(&value.encode(), opts).unwrap(),
                pit.artifacts.put(&large(4), Default::default()).unwrap(),
            )
        };
        let path = dir.path().join("pit.sqlite");
        match loss {
            "delete" => {
                std::fs::remove_file(&path).unwrap();
                // The small blobs lived in the database: only the file blob survives.
            }
            "empty" => std::fs::write(&path, b"").unwrap(),
            _ => {
                db(dir.path())
                    .execute_batch("DROP TABLE artifacts;")
                    .unwrap();
            }
        }
        let pit = open(dir.path());
        let orphans = pit.artifacts.orphans();
        assert!(orphans.contains(&big_id), "{loss}: {orphans:?}");
        let opened = pit
            .events
            .poll(10)
            .into_iter()
            .find(|e| e.kind == "pit.opened")
            .unwrap();
        assert!(format!("{:?}", opened.data).contains("orphans"), "{loss}");
        let report = pit.artifacts.recover().unwrap();
        assert!(report.recovered.contains(&big_id));
        assert_eq!(pit.artifacts.get(&big_id).unwrap().bytes(), &large(4)[..]);
        if loss == "drop table" {
            // The small blobs were kept: everything comes back, a value as a value.
            assert!(report.recovered.contains(&bytes_id));
            assert_eq!(
                pit.artifacts.metadata(&value_id).unwrap().content_type,
                VALUE_CONTENT_TYPE
            );
            assert_eq!(
                pit.artifacts.metadata(&bytes_id).unwrap().content_type,
                "application/octet-stream"
            );
        }
        assert!(pit.artifacts.orphans().is_empty());
    }
}

#[test]
fn random_bit_flips_in_the_database_never_serve_a_wrong_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut stored = Vec::new();
    {
        let pit = open(dir.path());
        for i in 0..40u32 {
            let value = Value::List(vec![Value::Int(i64::from(i)), Value::from("x")]);
            let opts = PutOptions {
                content_type: Some(VALUE_CONTENT_TYPE.into()),
                tags: vec![format!("t{i}")],
                ..Default::default()
            };
            let bytes = value.encode();
            stored.push((pit.artifacts.put(&bytes, opts).unwrap(), bytes));
        }
        pit.close().unwrap();
    }
    // Fold the WAL into the database so the flips hit the rows.
    db(dir.path())
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let pristine = std::fs::read(dir.path().join("pit.sqlite")).unwrap();
    let mut seed = 0x9E37_79B9_u64;
    let mut outcomes = [0usize; 3]; // refused to open, opened with damage, opened clean
    for _ in 0..120 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut bytes = pristine.clone();
        let at = (seed as usize) % bytes.len();
        bytes[at] ^= 1 << ((seed >> 40) % 8);
        std::fs::write(dir.path().join("pit.sqlite"), &bytes).unwrap();
        let _ = std::fs::remove_file(dir.path().join("pit.sqlite-wal"));
        let pit = match Pit::open(PitConfig::on_disk(dir.path())) {
            Ok(pit) => pit,
            Err(PitError::Integrity(_) | PitError::Storage(_)) => {
                outcomes[0] += 1;
                continue;
            }
            Err(e) => panic!("flip at {at}: {e:?}"),
        };
        let mut damaged = false;
        for (id, bytes) in &stored {
            match pit.artifacts.get_typed(id) {
                Ok((blob, content)) => {
                    assert_eq!(blob.bytes(), &bytes[..], "flip at {at}");
                    assert_eq!(content, symphony_pit::artifact::Content::Value);
                }
                Err(PitError::Integrity(_) | PitError::NotFound(_) | PitError::Storage(_)) => {
                    damaged = true
                }
                Err(e) => panic!("flip at {at}: {e:?}"),
            }
        }
        outcomes[if damaged { 1 } else { 2 }] += 1;
        drop(pit);
    }
    assert_eq!(outcomes.iter().sum::<usize>(), 120);
    eprintln!(
        "bit flips: refused {}, damage found {}, clean {}",
        outcomes[0], outcomes[1], outcomes[2]
    );
}

#[test]
fn a_damaged_database_opens_with_recover_and_keeps_the_file_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let pit = open(dir.path());
        let id = pit.artifacts.put(&large(5), Default::default()).unwrap();
        pit.close().unwrap();
        id
    };
    db(dir.path())
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    // Wreck the b-tree pages (not the header): SQLite's quick check refuses the file.
    let path = dir.path().join("pit.sqlite");
    let mut bytes = std::fs::read(&path).unwrap();
    for b in bytes.iter_mut().skip(4096).take(4096 * 3) {
        *b = 0x5a;
    }
    std::fs::write(&path, bytes).unwrap();
    let refused = Pit::open(PitConfig::on_disk(dir.path()));
    assert!(
        matches!(&refused, Err(PitError::Integrity(m)) if m.contains("recover=True")),
        "{:?}",
        refused.as_ref().err()
    );
    let pit = Pit::open(PitConfig {
        recover: true,
        ..PitConfig::on_disk(dir.path())
    })
    .unwrap();
    assert_eq!(pit.artifacts.get(&id).unwrap().bytes(), &large(5)[..]);
    assert!(std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains("damaged")));
}

#[test]
fn two_pits_on_one_store_never_share_a_run_id() {
    let dir = tempfile::tempdir().unwrap();
    let graph = || {
        let spec = symphony_pit::GraphSpec {
            name: "etl".into(),
            nodes: vec![symphony_pit::dag::NodeSpec::task("a", &[])],
        };
        std::sync::Arc::new(symphony_pit::WorkflowGraph::build(spec).unwrap())
    };
    let mut ids = std::collections::HashSet::new();
    {
        let (one, two) = (open(dir.path()), open(dir.path()));
        for _ in 0..5 {
            for pit in [&one, &two] {
                let run = pit.dags.start(graph()).unwrap();
                pit.dags
                    .set_state(&run, "a", symphony_pit::NodeState::Running, None)
                    .unwrap();
                pit.dags
                    .set_state(&run, "a", symphony_pit::NodeState::Succeeded, None)
                    .unwrap();
                assert!(ids.insert(run));
            }
        }
        one.close().unwrap();
        two.close().unwrap();
    }
    let count: i64 = db(dir.path())
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 10);
}

#[test]
fn an_archive_that_decompresses_past_its_size_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pit = open(dir.path());
    let id = pit.artifacts.put(b"tiny", Default::default()).unwrap();
    pit.artifacts.archive(&[id]).unwrap();
    drop(pit);
    let bomb = {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 50 << 20]).unwrap();
        gz.finish().unwrap()
    };
    std::fs::write(symphony_pit::persist::archive_path(dir.path(), &id), bomb).unwrap();
    let pit = open(dir.path());
    match pit.artifacts.get(&id) {
        Err(PitError::Integrity(m)) => assert!(m.contains("more than its recorded 4 bytes"), "{m}"),
        other => panic!("{:?}", other.map(|b| b.bytes().len())),
    }
}

#[test]
fn a_version_3_store_gains_checksums_and_keeps_its_blob_files() {
    let dir = tempfile::tempdir().unwrap();
    let (small, big) = {
        let pit = open(dir.path());
        let small = pit
            .artifacts
            .put(b"written by v3", Default::default())
            .unwrap();
        let big = pit.artifacts.put(&large(6), Default::default()).unwrap();
        pit.close().unwrap();
        (small, big)
    };
    {
        // As a version 3 store was: no checksums, small blobs in files like every other blob.
        let conn = db(dir.path());
        let bytes: Vec<u8> = conn
            .query_row(
                "SELECT data FROM small_blobs WHERE id = ?1",
                [small.to_hex()],
                |r| r.get(0),
            )
            .unwrap();
        let path = blob_path(dir.path(), &small);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        conn.execute_batch(
            "DROP TABLE small_blobs;
             ALTER TABLE artifacts DROP COLUMN checksum;
             UPDATE pit_meta SET value = '3' WHERE key = 'schema_version';",
        )
        .unwrap();
    }
    let pit = open(dir.path());
    assert!(pit.artifacts.quarantined().is_empty());
    assert!(pit.artifacts.orphans().is_empty());
    assert_eq!(pit.artifacts.get(&small).unwrap().bytes(), b"written by v3");
    assert_eq!(pit.artifacts.get(&big).unwrap().bytes(), &large(6)[..]);
    drop(pit);
    // The rows now carry checksums that hold.
    let pit = open(dir.path());
    assert!(pit.artifacts.quarantined().is_empty());
    assert_eq!(pit.artifacts.metadata(&small).unwrap().access_count, 1);
}
