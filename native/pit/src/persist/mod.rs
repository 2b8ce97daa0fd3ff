//! Durable storage behind the hot path: one writer thread owns the SQLite connection and the blob
//! directory, and applies queued operations in batches (one transaction per batch).
//!
//! Blobs of up to [`SMALL_BLOB_BYTES`] live in the database (table `small_blobs`), written in the
//! same transaction as their metadata row; larger ones are files, written atomically (temp file,
//! sync, rename, sync of the directory) before the transaction that records them. Either way a
//! metadata row is committed only with its durable blob: a blob that could not be written keeps
//! its row out of the database, and its [`DiskState`] says so, so the next put of the same bytes
//! writes them again. `flush()` waits until everything queued before it is on disk and reports
//! the first error since the last flush. The writer thread never touches Python (no logging from
//! it: the caller may hold the GIL while waiting on it).
//!
//! Module layout: `memo` is the table of memoised workflow results, `load` opens a store (schema, checks, loading, quarantine, orphans), `wal`
//! checks SQLite's write-ahead log before it is used, `writer` applies operations; this file
//! holds the handle, the queue and the read side.

mod load;
pub mod memo;
mod wal;
mod writer;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::core::ids::{ArtifactId, ArtifactMeta, Blob};
use crate::error::{PitError, Result};

pub use load::{row_checksum, SCHEMA_VERSION};
pub use memo::MemoTable;

/// Blobs up to this size are kept inside SQLite (one row, written with the metadata in one
/// transaction) instead of one file each: for small blobs the database is far faster to write
/// and to read (SQLite's "35% faster than the filesystem" measurements; ours are in RESULTS.md).
pub const SMALL_BLOB_BYTES: usize = 64 * 1024;

/// Queue length at which producers wake the writer at once.
const HIGH_WATER: usize = 4096;
/// How long the writer lets a burst of writes accumulate into one transaction. This bounds what a
/// crash can lose in `Background` durability; `flush()` never waits for it.
const BATCH_WINDOW: Duration = Duration::from_millis(5);

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

/// Where a blob stands on its way to the disk, shared by the store's hot entry and the writer.
#[derive(Debug, Default)]
pub struct DiskState(AtomicU8);

impl DiskState {
    const PENDING: u8 = 0;
    const DURABLE: u8 = 1;
    const FAILED: u8 = 2;

    /// Queued for the writer.
    pub fn pending() -> Arc<DiskState> {
        Arc::new(DiskState(AtomicU8::new(Self::PENDING)))
    }

    /// Already on disk (read from it, or nothing to write in a memory-only store).
    pub fn durable() -> Arc<DiskState> {
        Arc::new(DiskState(AtomicU8::new(Self::DURABLE)))
    }

    /// On disk: the hot copy may be evicted.
    pub fn is_durable(&self) -> bool {
        self.0.load(Ordering::Acquire) == Self::DURABLE
    }

    /// The write failed: the blob (and its row) are not on disk, and must be written again.
    pub fn has_failed(&self) -> bool {
        self.0.load(Ordering::Acquire) == Self::FAILED
    }

    fn set(&self, state: u8) {
        self.0.store(state, Ordering::Release);
    }

    /// Queued again after a failure.
    pub fn retry(&self) {
        self.set(Self::PENDING);
    }
}

/// One unit of work for the writer thread.
pub enum Op {
    /// A new artifact: its blob and its row, the row committed only once the blob is durable.
    /// With `verify`, a copy of the blob already on disk is read and checked against the id, and
    /// rewritten when it is missing or damaged (a put that repairs); otherwise a file of the
    /// right size is trusted.
    PutArtifact {
        meta: Arc<ArtifactMeta>,
        data: Blob,
        disk: Arc<DiskState>,
        verify: bool,
    },
    /// A row for a blob already durable on disk and verified (rebuilt by `recover`).
    PutMeta(Arc<ArtifactMeta>),
    UpdateMeta(Arc<ArtifactMeta>),
    Delete(ArtifactId),
    /// Move an artifact to the archive tier: its compressed bytes are written to
    /// `archive/`, then its row is marked archived, then its blob goes.
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
    /// Artifact rows that failed their checks: `(id as stored, why)`. Never served.
    pub quarantined: Vec<(String, String)>,
    /// Blobs on disk that no artifact row names (a lost or damaged database, a crash between
    /// a blob and its row): `ArtifactStore::recover` rebuilds their rows.
    pub orphans: Vec<ArtifactId>,
    /// Runs whose history rows were malformed and left out.
    pub damaged_runs: Vec<String>,
}

/// How to open a store's database.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OpenMode {
    /// Refuse a database that fails SQLite's quick check.
    #[default]
    Checked,
    /// Set a database that fails its quick check aside (`pit.sqlite.damaged-<time>`) and start
    /// a new one; its artifacts come back as orphans, for `recover` to rebuild.
    SetAsideDamaged,
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
    /// A read-only connection for small blobs evicted from the hot tier (WAL lets it read
    /// beside the writer); opened on first use.
    reader: Mutex<Option<Connection>>,
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

/// Whether a blob of `size` bytes is kept in the database rather than in a file.
pub fn is_small(size: usize) -> bool {
    size <= SMALL_BLOB_BYTES
}

impl Persister {
    /// Open (or create) the store at `dir`. Without a directory nothing is persisted: every
    /// operation is accepted and dropped, and `flush` returns at once.
    pub fn open(dir: Option<&Path>) -> Result<(Persister, Loaded)> {
        Persister::open_with(dir, OpenMode::Checked)
    }

    pub fn open_with(dir: Option<&Path>, mode: OpenMode) -> Result<(Persister, Loaded)> {
        let Some(dir) = dir else {
            // An in-memory Pit has nothing to persist: no database, no writer thread.
            return Ok((
                Persister {
                    dir: None,
                    shared: Arc::default(),
                    thread: Mutex::new(None),
                    queued: Arc::default(),
                    reader: Mutex::new(None),
                },
                Loaded::default(),
            ));
        };
        if dir.as_os_str().is_empty() {
            return Err(PitError::validation(
                "the store directory must not be empty (pass None for a Pit in memory)",
            ));
        }
        fs::create_dir_all(dir.join("blobs")).map_err(|e| {
            PitError::Storage(format!(
                "cannot create store directory {}: {e}",
                dir.display()
            ))
        })?;
        fs::create_dir_all(dir.join("tmp"))?;
        load::clean_tmp(dir);
        if mode == OpenMode::SetAsideDamaged && wal::damage(&dir.join("pit.sqlite-wal")).is_some() {
            // The database itself may be sound: only the log is set aside.
            set_aside(dir, &["-wal", "-shm"])?;
        }
        let (conn, loaded) = match load::open_and_load(dir) {
            Err(PitError::Integrity(_)) if mode == OpenMode::SetAsideDamaged => {
                set_aside(dir, &["", "-wal", "-shm"])?;
                load::open_and_load(dir)?
            }
            other => other?,
        };

        let shared = Arc::new(Shared::default());
        let queued = Arc::new(AtomicU64::new(0));
        let writer = writer::Writer::new(conn, dir.to_path_buf(), queued.clone());
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
                reader: Mutex::new(None),
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
        // The reader goes first: the writer's connection, closing last, folds the WAL into the
        // database and removes it.
        *self.reader.lock() = None;
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

    /// The stored bytes of a blob of `size` bytes as they are on disk (not yet checked against
    /// the id: the caller does that). `Ok(None)`: there is no copy.
    pub fn read_blob(&self, id: &ArtifactId, size: usize) -> Result<Option<Vec<u8>>> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        if is_small(size) {
            if let Some(bytes) = self.read_small(id)? {
                return Ok(Some(bytes));
            }
            // Stores written before small blobs moved into the database keep them as files.
        }
        match fs::read(blob_path(dir, id)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PitError::Storage(format!(
                "blob file {} cannot be read: {e}",
                blob_path(dir, id).display()
            ))),
        }
    }

    fn read_small(&self, id: &ArtifactId) -> Result<Option<Vec<u8>>> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        let mut reader = self.reader.lock();
        if reader.is_none() {
            let conn = Connection::open_with_flags(
                dir.join("pit.sqlite"),
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            *reader = Some(conn);
        }
        let conn = reader.as_ref().expect("opened above");
        let found = conn
            .prepare_cached("SELECT data FROM small_blobs WHERE id = ?1")?
            .query_row([id.to_hex()], |r| r.get::<_, Vec<u8>>(0))
            .optional()?;
        Ok(found)
    }
}

/// Move damaged database files (`suffixes` of `pit.sqlite`: "" for the database, "-wal",
/// "-shm") aside as `pit.sqlite.damaged-<time><suffix>`, so a new one can start.
fn set_aside(dir: &Path, suffixes: &[&str]) -> Result<()> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for suffix in suffixes {
        let from = dir.join(format!("pit.sqlite{suffix}"));
        if from.exists() {
            let to = dir.join(format!("pit.sqlite.damaged-{stamp}{suffix}"));
            fs::rename(&from, &to)?;
        }
    }
    log::warn!(
        "the store's metadata files {suffixes:?} in {} were damaged; they were set aside as pit.sqlite.damaged-{stamp}*",
        dir.display()
    );
    Ok(())
}

impl Drop for Persister {
    fn drop(&mut self) {
        let _ = self.close();
    }
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
    fn an_empty_store_path_is_refused() {
        let err = Persister::open(Some(Path::new("")))
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, PitError::Validation(m) if m.contains("must not be empty")));
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

    #[test]
    fn temp_files_of_dead_writers_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        drop(Persister::open(Some(dir.path())).unwrap());
        let tmp = dir.path().join("tmp");
        // pid 0x7fff_fff0 is not alive; this process's own leftovers go too.
        let dead = tmp.join("ab.2147483632.1.tmp");
        let mine = tmp.join(format!("cd.{}.7.tmp", std::process::id()));
        fs::write(&dead, b"x").unwrap();
        fs::write(&mine, b"x").unwrap();
        drop(Persister::open(Some(dir.path())).unwrap());
        assert!(!dead.exists() && !mine.exists());
    }
}
