//! The writer thread: applies queued operations in batches, one transaction per batch.
//!
//! In a batch, blob files (large blobs, archives) are written first, all made durable by one
//! sync; then one transaction records rows and small blobs. An artifact's row goes into the
//! transaction only if its blob is durable (its file written, or its small blob in the same
//! transaction), and its [`DiskState`] is set once the transaction has committed: durable, or
//! failed (so that the next put of those bytes writes them again).

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};

use super::{archive_path, blob_path, is_small, row_checksum, DiskState, Op, RunRecord, Shared};
use super::{BATCH_WINDOW, HIGH_WATER};
use crate::core::ids::{ArtifactId, ArtifactMeta, Blob};
use crate::error::{PitError, Result};

/// WAL size past which the writer checkpoints even while busy.
const WAL_LIMIT: u64 = 256 << 20;
/// WAL size worth a checkpoint when the writer has nothing else to do.
const WAL_IDLE_MIN: u64 = 4 << 20;

pub struct Writer {
    conn: Connection,
    dir: PathBuf,
    error: Mutex<Option<PitError>>,
    queued: Arc<AtomicU64>,
    tmp_counter: u64,
}

/// A file the batch writes before its transaction.
struct FileWrite<'a> {
    target: PathBuf,
    data: &'a Blob,
    /// Read a copy already there and check it against this id (rewrite it if it fails).
    verify: Option<ArtifactId>,
}

impl Writer {
    pub fn new(conn: Connection, dir: PathBuf, queued: Arc<AtomicU64>) -> Self {
        Writer {
            conn,
            dir,
            error: Mutex::new(None),
            queued,
            tmp_counter: 0,
        }
    }

    pub fn run(mut self, shared: &Shared) {
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
            let idle = shared.queue.lock().ops.is_empty();
            self.checkpoint_if_due(idle);
        }
    }

    /// Fold the WAL into the database: when the writer is idle and the WAL holds anything worth
    /// it, or whatever the load once it grows past [`WAL_LIMIT`]. Nothing waits on this: the
    /// batch's flushes were answered already. A checkpoint that cannot finish (a reader holds
    /// old pages) is retried later; the WAL stays valid meanwhile.
    fn checkpoint_if_due(&mut self, idle: bool) {
        let wal = std::fs::metadata(self.dir.join("pit.sqlite-wal")).map_or(0, |m| m.len());
        if (idle && wal > WAL_IDLE_MIN) || wal > WAL_LIMIT {
            let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);");
        }
    }

    fn apply(&mut self, batch: Vec<Op>, replies: &mut Vec<SyncSender<Result<()>>>) -> Result<()> {
        let mut first_error = None;
        // Files first, so a row never points at a missing file.
        let files: Vec<FileWrite<'_>> = batch
            .iter()
            .filter_map(|op| match op {
                Op::PutArtifact {
                    meta, data, verify, ..
                } if !is_small(data.bytes().len()) => Some(FileWrite {
                    target: blob_path(&self.dir, &meta.id),
                    data,
                    verify: verify.then_some(meta.id),
                }),
                Op::Archive { meta, compressed } => Some(FileWrite {
                    target: archive_path(&self.dir, &meta.id),
                    data: compressed,
                    verify: None,
                }),
                _ => None,
            })
            .collect();
        let failed_files: HashSet<PathBuf> = match self.write_files(&files) {
            Ok(()) => HashSet::new(),
            Err(e) => {
                first_error.get_or_insert(e);
                files.iter().map(|f| f.target.clone()).collect()
            }
        };
        drop(files);
        let dir = self.dir.clone();
        let mut written: Vec<&Arc<DiskState>> = Vec::new();
        let mut failed: Vec<&Arc<DiskState>> = Vec::new();
        let mut deleted = Vec::new();
        let tx = self.conn.transaction()?;
        for op in &batch {
            let outcome = match op {
                Op::PutArtifact {
                    meta, data, disk, ..
                } => {
                    let recorded = if is_small(data.bytes().len()) {
                        put_small_blob(&tx, &meta.id, data.bytes())
                            .and_then(|()| insert_artifact(&tx, meta))
                    } else if failed_files.contains(&blob_path(&dir, &meta.id)) {
                        Err(PitError::Storage(format!(
                            "the blob of artifact {} could not be written",
                            meta.id
                        )))
                    } else {
                        insert_artifact(&tx, meta)
                    };
                    match recorded {
                        Ok(()) => written.push(disk),
                        Err(_) => failed.push(disk),
                    }
                    recorded
                }
                Op::PutMeta(meta) => insert_artifact(&tx, meta),
                Op::UpdateMeta(meta) => update_artifact(&tx, meta),
                Op::Delete(id) => {
                    deleted.push(*id);
                    delete_artifact(&tx, id)
                }
                Op::Archive { meta, .. } => {
                    if failed_files.contains(&archive_path(&dir, &meta.id)) {
                        // The row stays live and the blob stays: nothing is lost.
                        Ok(())
                    } else {
                        archive_artifact(&tx, meta)
                    }
                }
                Op::PutRun(run) => upsert_run(&tx, run),
                Op::PutMemo(key, id) => tx
                    .prepare_cached("INSERT OR REPLACE INTO memo(key, artifact_id) VALUES (?1, ?2)")
                    .and_then(|mut stmt| stmt.execute(params![key, id.to_hex()]))
                    .map(|_| ())
                    .map_err(PitError::from),
                Op::Flush(reply) => {
                    replies.push(reply.clone());
                    Ok(())
                }
            };
            if let Err(e) = outcome {
                first_error.get_or_insert(e);
            }
        }
        if let Err(e) = tx.commit() {
            // Nothing of this transaction is on disk: every artifact in it must be put again.
            for disk in written.into_iter().chain(failed) {
                disk.set(DiskState::FAILED);
            }
            return Err(e.into());
        }
        for disk in written {
            disk.set(DiskState::DURABLE);
        }
        for disk in failed {
            disk.set(DiskState::FAILED);
        }
        // Deleted blob files go after the commit: a crash in between leaves an orphan file,
        // not a dangling row. An id stored again later in the same batch keeps its file.
        for id in deleted {
            let stored_again: bool = self.conn.query_row(
                "SELECT EXISTS(SELECT 1 FROM artifacts WHERE id = ?1)",
                [id.to_hex()],
                |r| r.get(0),
            )?;
            if !stored_again {
                for path in [blob_path(&dir, &id), archive_path(&dir, &id)] {
                    if let Err(e) = remove_if_present(&path) {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        // An archived artifact's live blob file goes once the row says "archived" durably.
        for op in &batch {
            if let Op::Archive { meta, .. } = op {
                let still_archived: bool = self.conn.query_row(
                    "SELECT EXISTS(SELECT 1 FROM artifacts WHERE id = ?1 AND archived IS NOT NULL)",
                    [meta.id.to_hex()],
                    |r| r.get(0),
                )?;
                if still_archived {
                    if let Err(e) = remove_if_present(&blob_path(&dir, &meta.id)) {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Write a batch of files (blobs, archives) atomically: every temp file is written, the batch
    /// is made durable with one sync, the files are renamed into place, and the directories are
    /// synced once. Each file is either wholly present under its final name or absent.
    fn write_files(&mut self, files: &[FileWrite<'_>]) -> Result<()> {
        let mut staged = Vec::with_capacity(files.len());
        for file in files {
            if already_there(file)? {
                continue;
            }
            self.tmp_counter += 1;
            let name = file
                .target
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let tmp = self.dir.join("tmp").join(format!(
                "{name}.{}.{}.tmp",
                std::process::id(),
                self.tmp_counter
            ));
            let mut handle = File::create(&tmp)?;
            handle.write_all(file.data.bytes())?;
            // Closed at once (a batch can outnumber the descriptor limit); on Linux one syncfs
            // below makes the whole batch durable, elsewhere each file is synced here.
            #[cfg(not(target_os = "linux"))]
            handle.sync_all()?;
            drop(handle);
            staged.push((tmp, file.target.clone()));
        }
        if staged.is_empty() {
            return Ok(());
        }
        #[cfg(target_os = "linux")]
        syncfs(&self.dir)?;
        let mut parents = BTreeSet::new();
        for (tmp, target) in &staged {
            let parent = target.parent().expect("blob paths have a parent");
            if parents.insert(parent.to_path_buf()) {
                fs::create_dir_all(parent).map_err(|e| {
                    PitError::Storage(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            fs::rename(tmp, target).map_err(|e| {
                let _ = fs::remove_file(tmp);
                PitError::Storage(format!("cannot write {}: {e}", target.display()))
            })?;
        }
        sync_dirs(&self.dir, &parents)
    }
}

/// Whether a file to write is already in place: of the right size, or with `verify`, bytes that
/// match the id. Anything else (missing, truncated, damaged, replaced) is written again.
fn already_there(file: &FileWrite<'_>) -> Result<bool> {
    let Ok(found) = fs::metadata(&file.target) else {
        return Ok(false);
    };
    if found.len() != file.data.bytes().len() as u64 {
        return Ok(false);
    }
    match file.verify {
        None => Ok(true),
        Some(id) => Ok(fs::read(&file.target).is_ok_and(|bytes| ArtifactId::of(&bytes) == id)),
    }
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Make renames durable: the directories' entries must reach the disk too.
fn sync_dirs(dir: &Path, parents: &BTreeSet<PathBuf>) -> Result<()> {
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

/// A small blob's bytes, in the same transaction as its row. A row already there (a damaged
/// copy, or one left by a crash before its metadata) is replaced.
fn put_small_blob(tx: &rusqlite::Transaction<'_>, id: &ArtifactId, data: &[u8]) -> Result<()> {
    tx.prepare_cached("INSERT OR REPLACE INTO small_blobs(id, data) VALUES (?1, ?2)")?
        .execute(params![id.to_hex(), data])?;
    Ok(())
}

fn insert_artifact(tx: &rusqlite::Transaction<'_>, m: &ArtifactMeta) -> Result<()> {
    let custom = m.custom.encode();
    tx.prepare_cached(
        "INSERT OR REPLACE INTO artifacts(id, size, content_type, created_at, created_by, tags,
             custom, producer_run, producer_node, pinned, access_count, last_access, archived,
             checksum)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        m.id.to_hex(),
        m.size as i64,
        m.content_type,
        m.created_at,
        m.created_by,
        tags_json(&m.tags),
        custom,
        m.producer.as_ref().map(|p| p.run.as_str()),
        m.producer.as_ref().map(|p| p.node.as_str()),
        m.pinned,
        m.access_count as i64,
        m.last_access,
        m.archived.map(|n| n as i64),
        row_checksum(m, &custom).to_vec(),
    ])?;
    tx.prepare_cached("DELETE FROM lineage WHERE artifact_id = ?1")?
        .execute([m.id.to_hex()])?;
    if !m.inputs.is_empty() {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO lineage(artifact_id, position, input_id) VALUES (?1, ?2, ?3)",
        )?;
        for (position, input) in m.inputs.iter().enumerate() {
            stmt.execute(params![m.id.to_hex(), position as i64, input.to_hex()])?;
        }
    }
    Ok(())
}

fn update_artifact(tx: &rusqlite::Transaction<'_>, m: &ArtifactMeta) -> Result<()> {
    tx.prepare_cached(
        "UPDATE artifacts SET tags = ?2, pinned = ?3, access_count = ?4, last_access = ?5,
             checksum = ?6
         WHERE id = ?1",
    )?
    .execute(params![
        m.id.to_hex(),
        tags_json(&m.tags),
        m.pinned,
        m.access_count as i64,
        m.last_access,
        row_checksum(m, &m.custom.encode()).to_vec(),
    ])?;
    Ok(())
}

/// Mark an artifact archived (its archive file is durable already) and drop its small blob.
/// Only this step moves the archived column, so an access-counter update racing with archiving
/// can never un-archive a row.
fn archive_artifact(tx: &rusqlite::Transaction<'_>, meta: &ArtifactMeta) -> Result<()> {
    let changed = tx.execute(
        "UPDATE artifacts SET archived = ?2 WHERE id = ?1",
        params![meta.id.to_hex(), meta.archived.map(|n| n as i64)],
    )?;
    if changed > 0 {
        tx.execute("DELETE FROM small_blobs WHERE id = ?1", [meta.id.to_hex()])?;
    }
    Ok(())
}

fn delete_artifact(tx: &rusqlite::Transaction<'_>, id: &ArtifactId) -> Result<()> {
    for sql in [
        "DELETE FROM artifacts WHERE id = ?1",
        "DELETE FROM lineage WHERE artifact_id = ?1",
        "DELETE FROM memo WHERE artifact_id = ?1",
        "DELETE FROM small_blobs WHERE id = ?1",
    ] {
        tx.prepare_cached(sql)?.execute([id.to_hex()])?;
    }
    Ok(())
}

/// Record a run: a new row, or an update of the same run's row. A row of another run under the
/// same id (two processes that chose one id) is never replaced: the update is refused.
fn upsert_run(tx: &rusqlite::Transaction<'_>, r: &RunRecord) -> Result<()> {
    let owner: Option<(String, f64)> = tx
        .prepare_cached("SELECT workflow, created_at FROM runs WHERE run_id = ?1")?
        .query_row([&r.run_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match owner {
        Some((workflow, created_at))
            if workflow != r.workflow || created_at.to_bits() != r.created_at.to_bits() =>
        {
            return Err(PitError::Storage(format!(
                "run id '{}' already belongs to another run in this store; its history row was kept",
                r.run_id
            )));
        }
        Some(_) => {
            tx.prepare_cached(
                "UPDATE runs SET status = ?2, finished_at = ?3, graph = ?4 WHERE run_id = ?1",
            )?
            .execute(params![r.run_id, r.status, r.finished_at, r.graph_json])?;
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO runs(run_id, workflow, status, created_at, finished_at, graph)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                r.run_id,
                r.workflow,
                r.status,
                r.created_at,
                r.finished_at,
                r.graph_json
            ])?;
        }
    }
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
