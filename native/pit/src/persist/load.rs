//! Opening a store: the schema and its migrations, SQLite's own check, and loading every row with
//! its checksum verified. A row that fails its check is quarantined (reported, never served), not
//! allowed to stop the rest of the store from opening; blobs that no row names are reported as
//! orphans, for [`crate::artifact::ArtifactStore::recover`] to rebuild.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use crate::core::ids::{ArtifactId, ArtifactMeta, Producer};
use crate::error::{PitError, Result};
use crate::persist::{Loaded, NodeRow, RunRecord};
use crate::value::Value;

/// Version of the on-disk schema; a store written by a newer version is refused.
pub const SCHEMA_VERSION: i64 = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS pit_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS artifacts(
    id TEXT PRIMARY KEY, size INTEGER NOT NULL, content_type TEXT NOT NULL,
    created_at REAL NOT NULL, created_by TEXT NOT NULL, tags TEXT NOT NULL, custom BLOB NOT NULL,
    producer_run TEXT, producer_node TEXT, pinned INTEGER NOT NULL,
    access_count INTEGER NOT NULL, last_access REAL NOT NULL, archived INTEGER, checksum BLOB);
CREATE TABLE IF NOT EXISTS lineage(
    artifact_id TEXT NOT NULL, position INTEGER NOT NULL, input_id TEXT NOT NULL,
    PRIMARY KEY(artifact_id, position));
CREATE INDEX IF NOT EXISTS lineage_by_input ON lineage(input_id);
CREATE TABLE IF NOT EXISTS small_blobs(id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS runs(
    run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, finished_at REAL, graph TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS node_states(
    run_id TEXT NOT NULL, node TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
    error TEXT, output TEXT, PRIMARY KEY(run_id, node));
CREATE TABLE IF NOT EXISTS memo(key TEXT PRIMARY KEY, artifact_id TEXT NOT NULL);
";

/// A row's checksum: BLAKE3 over every column that says what the artifact is or how it is kept
/// (all but `archived`, which only the archive step moves; a wrong `archived` sends a read to a
/// file that is missing or fails its own hash check, so it can never serve wrong bytes).
/// `custom` is the column as stored: `m.custom` encoded.
pub fn row_checksum(m: &ArtifactMeta, custom: &[u8]) -> [u8; 16] {
    let mut h = blake3::Hasher::new();
    let text = |h: &mut blake3::Hasher, s: &str| {
        h.update(&(s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    h.update(&m.id.0);
    h.update(&m.size.to_le_bytes());
    text(&mut h, &m.content_type);
    h.update(&m.created_at.to_bits().to_le_bytes());
    text(&mut h, &m.created_by);
    h.update(&(m.tags.len() as u64).to_le_bytes());
    for tag in &m.tags {
        text(&mut h, tag);
    }
    h.update(&(custom.len() as u64).to_le_bytes());
    h.update(custom);
    match &m.producer {
        Some(p) => {
            h.update(&[1]);
            text(&mut h, &p.run);
            text(&mut h, &p.node);
        }
        None => {
            h.update(&[0]);
        }
    }
    h.update(&[u8::from(m.pinned)]);
    h.update(&m.access_count.to_le_bytes());
    h.update(&m.last_access.to_bits().to_le_bytes());
    h.update(&(m.inputs.len() as u64).to_le_bytes());
    for input in &m.inputs {
        h.update(&input.0);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

/// Open the database at `dir/pit.sqlite` and load it: SQLite's quick check, the schema,
/// migrations, every row. A database SQLite finds damaged is an `Integrity` error that says how
/// to open it anyway.
pub fn open_and_load(dir: &Path) -> Result<(Connection, Loaded)> {
    if let Some(why) = super::wal::damage(&dir.join("pit.sqlite-wal")) {
        return Err(damaged(&format!("its write-ahead log: {why}")));
    }
    let opened = (|| {
        let conn = Connection::open(dir.join("pit.sqlite"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // The writer checkpoints the WAL itself when it is idle (see `Writer::run`), so a burst
        // of writes is one sequential append and a flush never waits for a checkpoint; a page
        // cache of 64 MiB keeps the b-trees' hot pages across batches.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "cache_size", -65536)?;
        quick_check(&conn)?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        let loaded = load(&conn, dir)?;
        Ok((conn, loaded))
    })();
    opened.map_err(|e: PitError| match e {
        PitError::Storage(m) if m.contains("malformed") || m.contains("not a database") => {
            damaged(&m)
        }
        other => other,
    })
}

fn damaged(problem: &str) -> PitError {
    PitError::Integrity(format!(
        "the store's metadata database is damaged ({problem}); open it with recover=True to \
         set the database aside and rebuild artifact rows from their blobs"
    ))
}

/// SQLite's structural check of the whole file (pages, b-trees, indexes; not row contents).
fn quick_check(conn: &Connection) -> Result<()> {
    let mut stmt = conn.prepare("PRAGMA quick_check(5)")?;
    let problems: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(damaged(&format!(
        "SQLite quick_check: {}",
        problems.join("; ")
    )))
}

fn migrate(conn: &Connection) -> Result<()> {
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM pit_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let version = match version.map(|v| v.parse::<i64>()) {
        None => {
            conn.execute(
                "INSERT INTO pit_meta(key, value) VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION.to_string()],
            )?;
            return Ok(());
        }
        Some(Ok(v)) if (1..=SCHEMA_VERSION).contains(&v) => v,
        Some(v) => {
            return Err(PitError::Storage(format!(
                "store schema version {v:?} is newer than this Pit understands ({SCHEMA_VERSION})"
            )))
        }
    };
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    // Version 1 lacks the node output column; versions 1 and 2 lack the archive column;
    // versions 1 to 3 lack row checksums (the tables created above are new in any case).
    for (table, column, kind) in [
        ("node_states", "output", "TEXT"),
        ("artifacts", "archived", "INTEGER"),
        ("artifacts", "checksum", "BLOB"),
    ] {
        if !has_column(&tx, table, column)? {
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind};"))?;
        }
    }
    // Rows written before checksums existed are trusted once, as they are now.
    let (rows, _) = read_artifacts(&tx, false)?;
    let mut stmt = tx.prepare("UPDATE artifacts SET checksum = ?2 WHERE id = ?1")?;
    for meta in rows {
        stmt.execute(params![
            meta.id.to_hex(),
            row_checksum(&meta, &meta.custom.encode()).to_vec()
        ])?;
    }
    drop(stmt);
    tx.execute(
        "UPDATE pit_meta SET value = ?1 WHERE key = 'schema_version'",
        [SCHEMA_VERSION.to_string()],
    )?;
    tx.commit()?;
    Ok(())
}

fn has_column(conn: &Connection, table: &str, column: &str) -> Result<bool> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt.query_map([], |r| r.get::<_, String>(1))?;
    for name in names {
        if name? == column {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Everything in the database, rows that fail their checks quarantined, and the blobs in `dir`
/// that no row names.
fn load(conn: &Connection, dir: &Path) -> Result<Loaded> {
    let (artifacts, quarantined) = read_artifacts(conn, true)?;
    let (runs, damaged_runs) = load_runs(conn)?;
    let memo = load_memo(conn)?;
    let mut known: HashSet<String> = artifacts.iter().map(|m| m.id.to_hex()).collect();
    known.extend(quarantined.iter().map(|(id, _)| id.clone()));
    let orphans = find_orphans(conn, dir, &known)?;
    Ok(Loaded {
        artifacts,
        runs,
        memo,
        quarantined,
        orphans,
        damaged_runs,
    })
}

/// Read every artifact row with its lineage. With `verify`, a row whose checksum (or any column)
/// does not check out goes to the second list, `(id as stored, reason)`, instead of the first.
#[allow(clippy::type_complexity)]
fn read_artifacts(
    conn: &Connection,
    verify: bool,
) -> Result<(Vec<ArtifactMeta>, Vec<(String, String)>)> {
    let mut inputs: HashMap<String, Vec<std::result::Result<ArtifactId, String>>> = HashMap::new();
    let mut stmt =
        conn.prepare("SELECT artifact_id, input_id FROM lineage ORDER BY artifact_id, position")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (artifact, input) = row?;
        let parsed = ArtifactId::parse(&input).map_err(|_| "a lineage row is malformed".into());
        inputs.entry(artifact).or_default().push(parsed);
    }
    let checksum_column = if verify { "checksum" } else { "NULL" };
    let mut stmt = conn.prepare(&format!(
        "SELECT id, size, content_type, created_at, created_by, tags, custom, producer_run,
                producer_node, pinned, access_count, last_access, archived, {checksum_column}
         FROM artifacts ORDER BY created_at"
    ))?;
    let mut rows = stmt.query([])?;
    let mut good = Vec::new();
    let mut bad = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = match row.get_ref(0)?.as_str() {
            Ok(text) => text.to_owned(),
            Err(_) => {
                bad.push(("?".to_owned(), "its id is not text".to_owned()));
                continue;
            }
        };
        let lineage = inputs.remove(&id).unwrap_or_default();
        match artifact_row(row, &id, lineage, verify) {
            Ok(meta) => good.push(meta),
            Err(why) => bad.push((id, why)),
        }
    }
    Ok((good, bad))
}

/// One artifact row, or why it cannot be trusted.
fn artifact_row(
    row: &rusqlite::Row<'_>,
    id: &str,
    lineage: Vec<std::result::Result<ArtifactId, String>>,
    verify: bool,
) -> std::result::Result<ArtifactMeta, String> {
    let column = |e: rusqlite::Error| format!("a column is malformed ({e})");
    let parsed_id = ArtifactId::parse(id).map_err(|_| "its id is malformed".to_owned())?;
    let tags: String = row.get(5).map_err(column)?;
    let tags: Vec<String> =
        serde_json::from_str(&tags).map_err(|_| "its tags are not a JSON list".to_owned())?;
    let custom_column: Vec<u8> = row.get(6).map_err(column)?;
    let custom = Value::decode(&custom_column).map_err(|e| format!("its custom metadata: {e}"))?;
    let run: Option<String> = row.get(7).map_err(column)?;
    let node: Option<String> = row.get(8).map_err(column)?;
    let size: i64 = row.get(1).map_err(column)?;
    let access_count: i64 = row.get(10).map_err(column)?;
    let archived: Option<i64> = row.get(12).map_err(column)?;
    let meta = ArtifactMeta {
        id: parsed_id,
        size: u64::try_from(size).map_err(|_| "its size is negative".to_owned())?,
        content_type: row.get(2).map_err(column)?,
        created_at: row.get(3).map_err(column)?,
        created_by: row.get(4).map_err(column)?,
        tags,
        custom,
        producer: run.zip(node).map(|(run, node)| Producer { run, node }),
        inputs: lineage.into_iter().collect::<std::result::Result<_, _>>()?,
        pinned: row.get(9).map_err(column)?,
        access_count: access_count.max(0) as u64,
        last_access: row.get(11).map_err(column)?,
        archived: archived.map(|n| n.max(0) as u64),
    };
    if verify {
        let stored: Option<Vec<u8>> = row.get(13).map_err(column)?;
        match stored {
            Some(sum) if sum == row_checksum(&meta, &custom_column) => {}
            Some(_) => return Err("its metadata fails its checksum".into()),
            None => return Err("its metadata has no checksum".into()),
        }
    }
    Ok(meta)
}

/// Recorded runs; a run whose rows are malformed is left out and named in the second list.
fn load_runs(conn: &Connection) -> Result<(Vec<RunRecord>, Vec<String>)> {
    let mut stmt = conn.prepare(
        "SELECT run_id, workflow, status, created_at, finished_at, graph FROM runs ORDER BY created_at",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(RunRecord {
            run_id: r.get(0)?,
            workflow: r.get(1)?,
            status: r.get(2)?,
            created_at: r.get(3)?,
            finished_at: r.get(4)?,
            graph_json: r.get(5)?,
            nodes: Vec::new(),
        })
    })?;
    let mut runs = Vec::new();
    let mut damaged = Vec::new();
    for row in rows {
        match row {
            Ok(run) => runs.push(run),
            Err(e) => damaged.push(format!("a run row is malformed ({e})")),
        }
    }
    let mut stmt = conn.prepare(
        "SELECT node, state, attempts, error, output FROM node_states WHERE run_id = ?1",
    )?;
    let mut kept = Vec::with_capacity(runs.len());
    for mut run in runs {
        let rows = stmt.query_map([&run.run_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut ok = true;
        for row in rows {
            let Ok((name, state, attempts, error, output)) = row else {
                ok = false;
                break;
            };
            let Ok(output) = output.map(|hex| ArtifactId::parse(&hex)).transpose() else {
                ok = false;
                break;
            };
            run.nodes.push(NodeRow {
                name,
                state,
                attempts,
                error,
                output,
            });
        }
        if ok {
            kept.push(run);
        } else {
            damaged.push(run.run_id);
        }
    }
    Ok((kept, damaged))
}

/// Memoised results; a malformed row is skipped (the node is then recomputed, nothing is lost).
fn load_memo(conn: &Connection) -> Result<Vec<(String, ArtifactId)>> {
    let mut stmt = conn.prepare("SELECT key, artifact_id FROM memo")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut memo = Vec::new();
    for (key, id) in rows.flatten() {
        if let Ok(id) = ArtifactId::parse(&id) {
            memo.push((key, id));
        }
    }
    Ok(memo)
}

/// Blobs (files under `blobs/`, rows of `small_blobs`) whose id no artifact row names.
fn find_orphans(conn: &Connection, dir: &Path, known: &HashSet<String>) -> Result<Vec<ArtifactId>> {
    let mut orphans = Vec::new();
    let mut stmt = conn.prepare("SELECT id FROM small_blobs")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    for id in rows.flatten() {
        if !known.contains(&id) {
            if let Ok(id) = ArtifactId::parse(&id) {
                orphans.push(id);
            }
        }
    }
    let Ok(fans) = fs::read_dir(dir.join("blobs")) else {
        return Ok(orphans);
    };
    for fan in fans.flatten() {
        let Ok(files) = fs::read_dir(fan.path()) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name();
            let Some(name) = name.to_str() else { continue };
            if !known.contains(name) {
                if let Ok(id) = ArtifactId::parse(name) {
                    orphans.push(id);
                }
            }
        }
    }
    orphans.sort();
    orphans.dedup();
    Ok(orphans)
}

/// Remove temp files left by a writer that died mid-batch: those of this process (a store
/// opened again) and of processes no longer alive. Another live process's are its own.
pub fn clean_tmp(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir.join("tmp")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_suffix(".tmp"))
            .and_then(|n| n.rsplit('.').nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let abandoned = match pid {
            Some(pid) => pid == std::process::id() || !process_alive(pid),
            None => true,
        };
        if abandoned {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
        let rc = unsafe { libc::kill(pid, 0) };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}
