//! Durable storage behind the hot path: one writer thread owns the SQLite connection and the blob
//! directory, and applies queued operations in batches (one transaction per batch).
//!
//! Blobs are written atomically: temp file, fsync, rename, fsync of the directory. `flush()` waits
//! until everything queued before it is on disk and reports the first error since the last flush.
//! The writer thread never touches Python (no logging from it: the caller may hold the GIL while
//! waiting on it).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use rusqlite::{params, Connection, OptionalExtension};

use crate::artifact::{ArtifactId, ArtifactMeta, Blob, Producer};
use crate::error::{PitError, Result};
use crate::value::Value;

/// Queue length at which producers wake the writer at once.
const HIGH_WATER: usize = 4096;
/// How long the writer lets a burst of writes accumulate into one transaction. This bounds what a
/// crash can lose in `Background` durability; `flush()` never waits for it.
const BATCH_WINDOW: Duration = Duration::from_millis(5);

/// Version of the on-disk schema; a store written by a newer version is refused.
pub const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS pit_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS artifacts(
    id TEXT PRIMARY KEY, size INTEGER NOT NULL, content_type TEXT NOT NULL,
    created_at REAL NOT NULL, created_by TEXT NOT NULL, tags TEXT NOT NULL, custom BLOB NOT NULL,
    producer_run TEXT, producer_node TEXT, pinned INTEGER NOT NULL,
    access_count INTEGER NOT NULL, last_access REAL NOT NULL, archived INTEGER);
CREATE TABLE IF NOT EXISTS lineage(
    artifact_id TEXT NOT NULL, position INTEGER NOT NULL, input_id TEXT NOT NULL,
    PRIMARY KEY(artifact_id, position));
CREATE INDEX IF NOT EXISTS lineage_by_input ON lineage(input_id);
CREATE TABLE IF NOT EXISTS runs(
    run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, finished_at REAL, graph TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS node_states(
    run_id TEXT NOT NULL, node TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
    error TEXT, output TEXT, PRIMARY KEY(run_id, node));
CREATE TABLE IF NOT EXISTS memo(key TEXT PRIMARY KEY, artifact_id TEXT NOT NULL);
";

/// A run as recorded in the history tables.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub run_id: String,
    pub workflow: String,
    pub status: String,
    pub created_at: f64,
    pub finished_at: Option<f64>,
    pub graph_json: String,
    pub nodes: Vec<NodeRow>,
}

/// One node of a recorded run.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeRow {
    pub name: String,
    pub state: String,
    pub attempts: u32,
    pub error: Option<String>,
    /// The artifact holding the node's result, once it succeeded.
    pub output: Option<ArtifactId>,
}

/// One unit of work for the writer thread.
pub enum Op {
    PutBlob {
        id: ArtifactId,
        data: Blob,
        durable: Arc<AtomicBool>,
    },
    PutMeta(Arc<ArtifactMeta>),
    UpdateMeta(Arc<ArtifactMeta>),
    Delete(ArtifactId),
    /// Move an artifact to the archive tier: its compressed bytes are written to
    /// `archive/`, then its row is marked archived, then its blob file goes.
    Archive {
        meta: Arc<ArtifactMeta>,
        compressed: Blob,
    },
    PutRun(Box<RunRecord>),
    /// A memoised node result: cache key (hex) → artifact.
    PutMemo(String, ArtifactId),
    Flush(SyncSender<Result<()>>),
}

/// Everything found in a store when it is opened.
#[derive(Default)]
pub struct Loaded {
    pub artifacts: Vec<ArtifactMeta>,
    pub runs: Vec<RunRecord>,
    /// Memoised node results: cache key (hex) → artifact.
    pub memo: Vec<(String, ArtifactId)>,
}

/// Operations waiting for the writer. Producers only wake the writer when the queue goes from
/// empty to non-empty, on a flush, or at the high-water mark, so a stream of puts costs no
/// syscall per put.
#[derive(Default)]
struct Queue {
    ops: Vec<Op>,
    urgent: bool,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

/// Handle to the writer thread.
pub struct Persister {
    dir: Option<PathBuf>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    queued: Arc<AtomicU64>,
}

impl std::fmt::Debug for Persister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persister").field("dir", &self.dir).finish()
    }
}

/// Path of a blob file: `blobs/<first two hex digits>/<hex id>`.
pub fn blob_path(dir: &Path, id: &ArtifactId) -> PathBuf {
    let hex = id.to_hex();
    dir.join("blobs").join(&hex[..2]).join(hex)
}

/// Where an archived artifact's compressed bytes live.
pub fn archive_path(dir: &Path, id: &ArtifactId) -> PathBuf {
    let hex = id.to_hex();
    dir.join("archive")
        .join(&hex[..2])
        .join(format!("{hex}.gz"))
}

impl Persister {
    /// Open (or create) the store at `dir`. Without a directory nothing is persisted: every
    /// operation is accepted and dropped, and `flush` returns at once.
    pub fn open(dir: Option<&Path>) -> Result<(Persister, Loaded)> {
        let Some(dir) = dir else {
            // An in-memory Pit has nothing to persist: no database, no writer thread.
            return Ok((
                Persister {
                    dir: None,
                    shared: Arc::default(),
                    thread: Mutex::new(None),
                    queued: Arc::default(),
                },
                Loaded::default(),
            ));
        };
        fs::create_dir_all(dir.join("blobs")).map_err(|e| {
            PitError::Storage(format!(
                "cannot create store directory {}: {e}",
                dir.display()
            ))
        })?;
        fs::create_dir_all(dir.join("tmp"))?;
        let conn = Connection::open(dir.join("pit.sqlite"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM pit_meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match version.map(|v| v.parse::<i64>()) {
            None => {
                conn.execute(
                    "INSERT INTO pit_meta(key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(Ok(v @ (1 | 2))) => {
                // Version 1 lacks the node output column (the memo table is created above);
                // versions 1 and 2 lack the archive column.
                if v == 1 {
                    conn.execute_batch("ALTER TABLE node_states ADD COLUMN output TEXT;")?;
                }
                conn.execute_batch(
                    "ALTER TABLE artifacts ADD COLUMN archived INTEGER;
                     UPDATE pit_meta SET value = '3' WHERE key = 'schema_version';",
                )?;
            }
            Some(Ok(v)) if v <= SCHEMA_VERSION => {}
            Some(v) => {
                return Err(PitError::Storage(format!(
                "store schema version {v:?} is newer than this Pit understands ({SCHEMA_VERSION})"
            )))
            }
        }
        let loaded = Loaded {
            artifacts: load_artifacts(&conn)?,
            runs: load_runs(&conn)?,
            memo: load_memo(&conn)?,
        };

        let shared = Arc::new(Shared::default());
        let error = Arc::new(Mutex::new(None));
        let queued = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            conn,
            dir: Some(dir.to_path_buf()),
            error,
            queued: queued.clone(),
            tmp_counter: 0,
        };
        let thread = std::thread::Builder::new()
            .name("symphony-pit-writer".into())
            .spawn({
                let shared = shared.clone();
                move || writer.run(&shared)
            })
            .map_err(|e| PitError::Storage(format!("cannot start the writer thread: {e}")))?;
        Ok((
            Persister {
                dir: Some(dir.to_path_buf()),
                shared,
                thread: Mutex::new(Some(thread)),
                queued,
            },
            loaded,
        ))
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Queue an operation; it is applied in order behind the hot path.
    pub fn send(&self, op: Op) -> Result<()> {
        let urgent = matches!(op, Op::Flush(_));
        let mut queue = self.shared.queue.lock();
        if queue.closed {
            return Err(PitError::validation("the Pit is closed"));
        }
        if self.dir.is_none() {
            if let Op::Flush(reply) = op {
                let _ = reply.send(Ok(()));
            }
            return Ok(());
        }
        let was_empty = queue.ops.is_empty();
        queue.ops.push(op);
        queue.urgent |= urgent;
        let wake = was_empty || urgent || queue.ops.len() >= HIGH_WATER;
        drop(queue);
        self.queued.fetch_add(1, Ordering::Relaxed);
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// Operations queued but not yet applied.
    pub fn backlog(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Wait until everything queued so far is durable; report the first error since the last flush.
    pub fn flush(&self) -> Result<()> {
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        self.send(Op::Flush(reply_tx))?;
        reply_rx
            .recv()
            .map_err(|_| PitError::Storage("the writer thread stopped before flushing".into()))?
    }

    /// Flush, then stop the writer thread. Later sends fail with "the Pit is closed".
    pub fn close(&self) -> Result<()> {
        let flushed = if self.is_closed() {
            Ok(())
        } else {
            self.flush()
        };
        self.shared.queue.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.lock().take() {
            thread
                .join()
                .map_err(|_| PitError::Internal("the writer thread panicked".into()))?;
        }
        flushed
    }

    pub fn is_closed(&self) -> bool {
        self.shared.queue.lock().closed
    }
}

impl Drop for Persister {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

struct Writer {
    conn: Connection,
    dir: Option<PathBuf>,
    error: Arc<Mutex<Option<PitError>>>,
    queued: Arc<AtomicU64>,
    tmp_counter: u64,
}

impl Writer {
    fn run(mut self, shared: &Shared) {
        loop {
            let batch = {
                let mut queue = shared.queue.lock();
                while queue.ops.is_empty() && !queue.closed {
                    shared.wake.wait(&mut queue);
                }
                if queue.ops.is_empty() {
                    return; // closed and drained
                }
                if !queue.urgent && !queue.closed && queue.ops.len() < HIGH_WATER {
                    // Let the burst grow: one transaction for many writes.
                    shared.wake.wait_for(&mut queue, BATCH_WINDOW);
                }
                queue.urgent = false;
                std::mem::take(&mut queue.ops)
            };
            let count = batch.len() as u64;
            let mut replies = Vec::new();
            if let Err(e) = self.apply(batch, &mut replies) {
                self.error.lock().get_or_insert(e);
            }
            self.queued.fetch_sub(count, Ordering::Relaxed);
            for reply in replies {
                let outcome = match self.error.lock().take() {
                    Some(e) => Err(e),
                    None => Ok(()),
                };
                let _ = reply.send(outcome);
            }
        }
    }

    fn apply(&mut self, batch: Vec<Op>, replies: &mut Vec<SyncSender<Result<()>>>) -> Result<()> {
        let mut first_error = None;
        // Blob and archive files first, so a metadata row never points at a missing file.
        let files: Vec<(PathBuf, &Blob, Option<&Arc<AtomicBool>>)> = match &self.dir {
            None => Vec::new(),
            Some(dir) => batch
                .iter()
                .filter_map(|op| match op {
                    Op::PutBlob { id, data, durable } => {
                        Some((blob_path(dir, id), data, Some(durable)))
                    }
                    Op::Archive { meta, compressed } => {
                        Some((archive_path(dir, &meta.id), compressed, None))
                    }
                    _ => None,
                })
                .collect(),
        };
        if let Err(e) = self.write_files(&files) {
            first_error.get_or_insert(e);
        }
        drop(files);
        let mut deleted = Vec::new();
        let mut archived = Vec::new();
        let tx = self.conn.transaction()?;
        for op in batch {
            let outcome = match op {
                Op::PutBlob { .. } => Ok(()),
                Op::PutMeta(meta) => insert_artifact(&tx, &meta),
                Op::UpdateMeta(meta) => update_artifact(&tx, &meta),
                Op::Delete(id) => {
                    let outcome = delete_artifact(&tx, &id);
                    deleted.push(id);
                    outcome
                }
                Op::Archive { meta, .. } => {
                    archived.push(meta.id);
                    // Only this op moves the archived column, so an access-counter update
                    // racing with archiving can never un-archive a row.
                    tx.execute(
                        "UPDATE artifacts SET archived = ?2 WHERE id = ?1",
                        params![meta.id.to_hex(), meta.archived.map(|n| n as i64)],
                    )
                    .map(|_| ())
                    .map_err(PitError::from)
                }
                Op::PutRun(run) => upsert_run(&tx, &run),
                Op::PutMemo(key, id) => tx
                    .execute(
                        "INSERT OR REPLACE INTO memo(key, artifact_id) VALUES (?1, ?2)",
                        params![key, id.to_hex()],
                    )
                    .map(|_| ())
                    .map_err(PitError::from),
                Op::Flush(reply) => {
                    replies.push(reply);
                    Ok(())
                }
            };
            if let Err(e) = outcome {
                first_error.get_or_insert(e);
            }
        }
        tx.commit()?;
        // Deleted blobs go after the commit: a crash in between leaves an orphan file, not a
        // dangling row. An id stored again later in the same batch keeps its file.
        if let Some(dir) = &self.dir {
            for id in deleted {
                let stored_again: bool = self.conn.query_row(
                    "SELECT EXISTS(SELECT 1 FROM artifacts WHERE id = ?1)",
                    [id.to_hex()],
                    |r| r.get(0),
                )?;
                if !stored_again {
                    for path in [blob_path(dir, &id), archive_path(dir, &id)] {
                        if let Err(e) = remove_if_present(&path) {
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
            // An archived artifact's live blob goes once the row says "archived" durably.
            for id in archived {
                let still_archived: bool = self.conn.query_row(
                    "SELECT EXISTS(SELECT 1 FROM artifacts WHERE id = ?1 AND archived IS NOT NULL)",
                    [id.to_hex()],
                    |r| r.get(0),
                )?;
                if still_archived {
                    if let Err(e) = remove_if_present(&blob_path(dir, &id)) {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Write a batch of files (blobs, archives) atomically: every temp file is written, the batch
    /// is made durable with one sync, the files are renamed into place, and the directories are
    /// synced once. Each file is either wholly present under its final name or absent; a
    /// blob's `durable` flag is raised once it is.
    fn write_files(&mut self, files: &[(PathBuf, &Blob, Option<&Arc<AtomicBool>>)]) -> Result<()> {
        let Some(dir) = self.dir.clone() else {
            return Ok(());
        };
        let mut staged = Vec::with_capacity(files.len());
        for (target, data, durable) in files {
            if target.exists() {
                if let Some(durable) = durable {
                    durable.store(true, Ordering::Release);
                }
                continue;
            }
            self.tmp_counter += 1;
            let name = target
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let tmp = dir.join("tmp").join(format!(
                "{name}.{}.{}.tmp",
                std::process::id(),
                self.tmp_counter
            ));
            let mut file = File::create(&tmp)?;
            file.write_all(data.bytes())?;
            // Closed at once (a batch can outnumber the descriptor limit); on Linux one syncfs
            // below makes the whole batch durable, elsewhere each file is synced here.
            #[cfg(not(target_os = "linux"))]
            file.sync_all()?;
            drop(file);
            staged.push((tmp, target.clone(), *durable));
        }
        if staged.is_empty() {
            return Ok(());
        }
        #[cfg(target_os = "linux")]
        syncfs(&dir)?;
        let mut parents = std::collections::BTreeSet::new();
        for (tmp, target, _) in &staged {
            let parent = target.parent().expect("blob paths have a parent");
            if parents.insert(parent.to_path_buf()) {
                fs::create_dir_all(parent)?;
            }
            fs::rename(tmp, target)?;
        }
        sync_dirs(&dir, &parents)?;
        for (.., durable) in staged {
            if let Some(durable) = durable {
                durable.store(true, Ordering::Release);
            }
        }
        Ok(())
    }
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Make renames durable: the directories' entries must reach the disk too.
fn sync_dirs(dir: &Path, parents: &std::collections::BTreeSet<PathBuf>) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = parents;
        syncfs(dir)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        for parent in parents {
            File::open(parent)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn syncfs(dir: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let handle = File::open(dir)?;
    // SAFETY: `syncfs` only reads the descriptor, which `handle` keeps open for the call.
    if unsafe { libc::syncfs(handle.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).expect("a list of strings serialises")
}

fn insert_artifact(tx: &rusqlite::Transaction<'_>, m: &ArtifactMeta) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO artifacts(id, size, content_type, created_at, created_by, tags,
             custom, producer_run, producer_node, pinned, access_count, last_access, archived)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            m.id.to_hex(),
            m.size as i64,
            m.content_type,
            m.created_at,
            m.created_by,
            tags_json(&m.tags),
            m.custom.encode(),
            m.producer.as_ref().map(|p| p.run.as_str()),
            m.producer.as_ref().map(|p| p.node.as_str()),
            m.pinned,
            m.access_count as i64,
            m.last_access,
            m.archived.map(|n| n as i64),
        ],
    )?;
    tx.execute(
        "DELETE FROM lineage WHERE artifact_id = ?1",
        [m.id.to_hex()],
    )?;
    for (position, input) in m.inputs.iter().enumerate() {
        tx.execute(
            "INSERT INTO lineage(artifact_id, position, input_id) VALUES (?1, ?2, ?3)",
            params![m.id.to_hex(), position as i64, input.to_hex()],
        )?;
    }
    Ok(())
}

fn update_artifact(tx: &rusqlite::Transaction<'_>, m: &ArtifactMeta) -> Result<()> {
    tx.execute(
        "UPDATE artifacts SET tags = ?2, pinned = ?3, access_count = ?4, last_access = ?5
         WHERE id = ?1",
        params![
            m.id.to_hex(),
            tags_json(&m.tags),
            m.pinned,
            m.access_count as i64,
            m.last_access
        ],
    )?;
    Ok(())
}

fn delete_artifact(tx: &rusqlite::Transaction<'_>, id: &ArtifactId) -> Result<()> {
    tx.execute("DELETE FROM artifacts WHERE id = ?1", [id.to_hex()])?;
    tx.execute("DELETE FROM lineage WHERE artifact_id = ?1", [id.to_hex()])?;
    tx.execute("DELETE FROM memo WHERE artifact_id = ?1", [id.to_hex()])?;
    Ok(())
}

fn upsert_run(tx: &rusqlite::Transaction<'_>, r: &RunRecord) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO runs(run_id, workflow, status, created_at, finished_at, graph)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            r.run_id,
            r.workflow,
            r.status,
            r.created_at,
            r.finished_at,
            r.graph_json
        ],
    )?;
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO node_states(run_id, node, state, attempts, error, output) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for n in &r.nodes {
        let output = n.output.map(|id| id.to_hex());
        stmt.execute(params![
            r.run_id, n.name, n.state, n.attempts, n.error, output
        ])?;
    }
    Ok(())
}

fn load_artifacts(conn: &Connection) -> Result<Vec<ArtifactMeta>> {
    let mut inputs: std::collections::HashMap<String, Vec<ArtifactId>> = Default::default();
    let mut stmt =
        conn.prepare("SELECT artifact_id, input_id FROM lineage ORDER BY artifact_id, position")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (artifact, input) = row?;
        inputs
            .entry(artifact)
            .or_default()
            .push(ArtifactId::parse(&input).map_err(corrupt_row)?);
    }
    let mut stmt = conn.prepare(
        "SELECT id, size, content_type, created_at, created_by, tags, custom, producer_run,
                producer_node, pinned, access_count, last_access, archived FROM artifacts
         ORDER BY created_at",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, f64>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, Vec<u8>>(6)?,
            r.get::<_, Option<String>>(7)?,
            r.get::<_, Option<String>>(8)?,
            r.get::<_, bool>(9)?,
            r.get::<_, i64>(10)?,
            r.get::<_, f64>(11)?,
            r.get::<_, Option<i64>>(12)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (
            id,
            size,
            content_type,
            created_at,
            created_by,
            tags,
            custom,
            run,
            node,
            pinned,
            access_count,
            last_access,
            archived,
        ) = row?;
        let tags: Vec<String> = serde_json::from_str(&tags).map_err(|e| {
            PitError::Integrity(format!(
                "artifact {id}: tags column is not a JSON list: {e}"
            ))
        })?;
        let inputs = inputs.remove(&id).unwrap_or_default();
        out.push(ArtifactMeta {
            id: ArtifactId::parse(&id).map_err(corrupt_row)?,
            size: size as u64,
            content_type,
            created_at,
            created_by,
            tags,
            custom: Value::decode(&custom)?,
            producer: run.zip(node).map(|(run, node)| Producer { run, node }),
            inputs,
            pinned,
            access_count: access_count as u64,
            last_access,
            archived: archived.map(|n| n as u64),
        });
    }
    Ok(out)
}

fn load_runs(conn: &Connection) -> Result<Vec<RunRecord>> {
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
    let mut runs: Vec<RunRecord> = rows.collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare(
        "SELECT node, state, attempts, error, output FROM node_states WHERE run_id = ?1",
    )?;
    for run in &mut runs {
        let rows = stmt.query_map([&run.run_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        for row in rows {
            let (name, state, attempts, error, output) = row?;
            let output = output
                .map(|hex| ArtifactId::parse(&hex))
                .transpose()
                .map_err(corrupt_row)?;
            run.nodes.push(NodeRow {
                name,
                state,
                attempts,
                error,
                output,
            });
        }
    }
    Ok(runs)
}

fn load_memo(conn: &Connection) -> Result<Vec<(String, ArtifactId)>> {
    let mut stmt = conn.prepare("SELECT key, artifact_id FROM memo")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut memo = Vec::new();
    for row in rows {
        let (key, id) = row?;
        memo.push((key, ArtifactId::parse(&id).map_err(corrupt_row)?));
    }
    Ok(memo)
}

fn corrupt_row(e: PitError) -> PitError {
    PitError::Integrity(format!(
        "metadata database holds a malformed artifact id: {e}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_fan_out_by_their_first_hex_byte() {
        let id = ArtifactId::of(b"hello");
        let path = blob_path(Path::new("/store"), &id);
        assert_eq!(path, Path::new("/store/blobs/ea").join(id.to_hex()));
    }

    #[test]
    fn an_in_memory_persister_accepts_and_flushes_without_a_thread() {
        let (persister, loaded) = Persister::open(None).unwrap();
        assert!(loaded.artifacts.is_empty());
        persister.send(Op::Delete(ArtifactId::of(b"x"))).unwrap();
        persister.flush().unwrap();
        assert_eq!(persister.backlog(), 0);
        persister.close().unwrap();
        assert!(persister.send(Op::Delete(ArtifactId::of(b"x"))).is_err());
    }

    #[test]
    fn a_store_from_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Persister::open(Some(dir.path())).unwrap());
        let conn = Connection::open(dir.path().join("pit.sqlite")).unwrap();
        conn.execute(
            "UPDATE pit_meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        drop(conn);
        let err = Persister::open(Some(dir.path())).map(|_| ()).unwrap_err();
        assert!(matches!(err, PitError::Storage(m) if m.contains("newer")));
    }
}
