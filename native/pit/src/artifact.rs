//! Artifact Store: content-addressed blobs with metadata and lineage.
//!
//! An artifact's id is the BLAKE3 hash of its bytes, so storing the same bytes twice costs
//! nothing. Blobs live in a hot in-memory tier and, for a store opened on a directory, a durable
//! disk tier written behind the hot path ([`crate::persist`]); reads from disk are verified
//! against the id. Metadata and lineage are kept in memory for microsecond lookups and persisted
//! in SQLite. The Stale Manager may move cold artifacts to an archive tier: compressed (gzip),
//! out of the hot tier and the blob directory, and still readable through `get`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

pub use crate::core::ids::{ArtifactId, ArtifactMeta, Blob, BlobData, IdHasher, Producer};
use crate::core::ids::{IdMap, IdSet};
use crate::core::names::check_name;
use crate::error::{PitError, Result};
use crate::events::{Component, EventBatch, EventLog, Field, Subject};
use crate::persist::{archive_path, DiskState, Loaded, Op, Persister};
use crate::value::Value;

impl ArtifactMeta {
    /// The record of a newly stored artifact: live, unpinned, not yet read.
    fn fresh(id: ArtifactId, size: usize, created_at: f64, opts: PutOptions) -> ArtifactMeta {
        ArtifactMeta {
            id,
            size: size as u64,
            content_type: opts
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            created_at,
            created_by: opts.created_by.unwrap_or_else(|| "user".into()),
            tags: opts.tags,
            custom: opts.custom,
            producer: opts.producer,
            inputs: opts.inputs,
            pinned: false,
            access_count: 0,
            last_access: created_at,
            archived: None,
        }
    }
}

/// What an artifact's bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// Opaque bytes, returned as they are.
    Bytes,
    /// A [`Value`] encoded by [`Value::encode`].
    Value,
}

impl Content {
    fn of(content_type: &str) -> Content {
        if content_type == crate::value::VALUE_CONTENT_TYPE {
            Content::Value
        } else {
            Content::Bytes
        }
    }
}

/// Optional metadata for [`ArtifactStore::put`].
#[derive(Clone, Debug, Default)]
pub struct PutOptions {
    pub content_type: Option<String>,
    pub created_by: Option<String>,
    pub tags: Vec<String>,
    pub custom: Value,
    pub producer: Option<Producer>,
    pub inputs: Vec<ArtifactId>,
}

/// Filters for [`ArtifactStore::list`]; `None` matches everything.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub tag: Option<String>,
    pub content_type: Option<String>,
    pub created_by: Option<String>,
    pub run: Option<String>,
    pub limit: Option<usize>,
}

/// What [`ArtifactStore::recover`] rebuilt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Artifacts that have a row again.
    pub recovered: Vec<ArtifactId>,
    /// Blobs that could not be recovered, and why.
    pub failed: Vec<(ArtifactId, String)>,
}

/// Counters and sizes of the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub artifacts: u64,
    pub total_bytes: u64,
    pub hot_artifacts: u64,
    pub hot_bytes: u64,
    pub puts: u64,
    pub dedup_hits: u64,
    pub hot_hits: u64,
    pub disk_reads: u64,
    pub pending_writes: u64,
    pub archived_artifacts: u64,
    /// Original bytes of archived artifacts.
    pub archived_bytes: u64,
    /// What the archive holds after compression.
    pub archive_stored_bytes: u64,
    pub archive_reads: u64,
}

struct HotEntry {
    data: Blob,
    /// Set by the writer thread once the blob is on disk (only durable entries may be evicted)
    /// or once its write failed (the next put of these bytes writes them again).
    disk: Arc<DiskState>,
}

#[derive(Default)]
struct State {
    /// Shared records: a lookup is a reference-count bump; writers copy only if a reader still
    /// holds the old record (`Arc::make_mut`), which keeps handed-out metadata a snapshot.
    meta: IdMap<Arc<ArtifactMeta>>,
    hot: IdMap<HotEntry>,
    /// Compressed bytes of archived artifacts: all of them in a memory-only store; in a store
    /// with a directory only until the archive file is durable.
    archive: IdMap<Blob>,
    /// Hot ids, least recently used first (lazy: may hold stale or repeated ids).
    lru: VecDeque<ArtifactId>,
    hot_bytes: u64,
    total_bytes: u64,
    /// Artifacts whose access counters changed since the last flush.
    dirty: IdSet,
    /// Reads not yet folded into their artifact's shared record: id → (reads, last read). A get
    /// updates the record in place when nobody else holds it; when someone does (a write still
    /// queued for the disk, a caller's snapshot) it counts here rather than copy the record, and
    /// whoever hands a record out folds these in first ([`State::fold`]).
    reads: IdMap<(u64, f64)>,
    /// Artifacts whose copy on disk was found missing or damaged: the next put of their bytes
    /// writes them again.
    damaged: IdSet,
    /// Rows that failed their checks when the store was opened: id (as stored) → why. Never
    /// served; a put of the same bytes, or `recover`, replaces them.
    quarantined: HashMap<String, String>,
    /// Blobs on disk that no row names, found when the store was opened (for `recover`).
    orphans: Vec<ArtifactId>,
    stats: StoreStats,
}

impl State {
    /// Bring an artifact's shared record up to date with its deferred reads.
    fn fold(&mut self, id: &ArtifactId) {
        if let Some((count, last)) = self.reads.remove(id) {
            if let Some(entry) = self.meta.get_mut(id) {
                let meta = Arc::make_mut(entry);
                meta.access_count += count;
                meta.last_access = meta.last_access.max(last);
            }
        }
    }

    /// Fold every deferred read.
    fn fold_all(&mut self) {
        let ids: Vec<ArtifactId> = self.reads.keys().copied().collect();
        for id in ids {
            self.fold(&id);
        }
    }
}

/// Content-addressed artifact storage shared by the Pit's components.
pub struct ArtifactStore {
    state: Mutex<State>,
    persister: Arc<Persister>,
    events: Arc<EventLog>,
    hot_limit: u64,
    sync_writes: bool,
    disk_reads: AtomicU64,
}

impl fmt::Debug for ArtifactStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArtifactStore")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Every lineage input must be a stored artifact.
fn check_lineage(st: &State, inputs: &[ArtifactId]) -> Result<()> {
    match inputs.iter().find(|input| !st.meta.contains_key(*input)) {
        Some(input) => Err(PitError::not_found(format!(
            "lineage input artifact {input} does not exist"
        ))),
        None => Ok(()),
    }
}

/// Bytes and their id, hashed before any lock is taken.
pub struct Hashed<'a> {
    bytes: &'a [u8],
    id: ArtifactId,
}

impl<'a> Hashed<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Hashed {
            bytes,
            id: ArtifactId::of(bytes),
        }
    }

    /// `bytes` again with the id [`Hashed::new`] or [`SmallIds::id_of`] gave them (kept apart
    /// meanwhile, so that the buffer holding the bytes could grow).
    pub(crate) fn again(bytes: &'a [u8], id: ArtifactId) -> Self {
        debug_assert!(ArtifactId::of(bytes) == id, "an id kept with other bytes");
        Hashed { bytes, id }
    }

    pub fn id(&self) -> ArtifactId {
        self.id
    }
}

/// Ids of small encodings seen lately, so a result that repeats (a flag, a count, a zero) is not
/// hashed again: BLAKE3 costs ~50 ns even for a few bytes, a look here a few. Encodings of 1 to
/// 15 bytes are kept in a direct-mapped table of [`SmallIds::SLOTS`] (a newer one takes an
/// older one's slot), allocated on first use.
#[derive(Default)]
pub struct SmallIds {
    slots: Option<Box<[SmallSlot]>>,
}

/// An encoding of `len` bytes as two words (see [`small_key`]) and its id; `len` 0: empty.
#[derive(Clone, Copy)]
struct SmallSlot {
    words: (u64, u64),
    len: u8,
    id: ArtifactId,
}

/// `bytes` (1 to 16 of them) as two words that, with the length, determine them: the first and
/// last 8 bytes, the first and last 4, or the first, middle and last byte. Two loads where a
/// byte-by-byte packing would take a shift per byte.
fn small_key(bytes: &[u8]) -> (u64, u64) {
    let n = bytes.len();
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let half = |at: usize| {
        u64::from(u32::from_le_bytes(
            bytes[at..at + 4].try_into().expect("4 bytes"),
        ))
    };
    if n >= 8 {
        (word(0), word(n - 8))
    } else if n >= 4 {
        (half(0) | half(n - 4) << 32, 0)
    } else {
        let b = |at: usize| u64::from(bytes[at]);
        (b(0) | b(n / 2) << 8 | b(n - 1) << 16, 0)
    }
}

impl SmallIds {
    pub const SLOTS: usize = 256;

    /// The id of `bytes`, looked up when they are small and were seen lately.
    pub fn id_of(&mut self, bytes: &[u8]) -> ArtifactId {
        if bytes.is_empty() || bytes.len() >= 16 {
            return ArtifactId::of(bytes);
        }
        let words = small_key(bytes);
        let len = bytes.len() as u8;
        let slots = self.slots.get_or_insert_with(|| {
            let empty = SmallSlot {
                words: (0, 0),
                len: 0,
                id: ArtifactId([0; 32]),
            };
            vec![empty; Self::SLOTS].into_boxed_slice()
        });
        let mixed = (words.0 ^ words.1.rotate_left(29) ^ u64::from(len))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let slot = &mut slots[(mixed >> 56) as usize % Self::SLOTS];
        if slot.words != words || slot.len != len {
            *slot = SmallSlot {
                words,
                len,
                id: ArtifactId::of(bytes),
            };
        }
        slot.id
    }
}

/// What a put sends to the writer once the store's lock is released: one or two operations,
/// kept inline (no allocation per put).
type Ops = smallvec::SmallVec<[Op; 2]>;

/// The store held for results stored together (see [`ArtifactStore::batch`]).
pub struct StoreBatch<'a> {
    store: &'a ArtifactStore,
    st: MutexGuard<'a, State>,
    ops: Ops,
}

impl StoreBatch<'_> {
    /// Store an encoded [`Value`] made by `producer` from `inputs` (its lineage) at `time`;
    /// `artifact.stored` goes to `ev`. Returns whether the bytes were already there.
    /// `inputs_put_here`: every input was put by this batch (so it is there: not looked up).
    /// The lineage is asked for only when it is used: to look the inputs up, or for a new
    /// artifact (stored bytes keep the lineage they were first stored with).
    pub fn put_value<L: AsRef<[ArtifactId]>>(
        &mut self,
        data: &Hashed<'_>,
        inputs: impl Fn() -> L,
        inputs_put_here: bool,
        producer: impl FnOnce() -> Producer,
        time: f64,
        ev: &mut EventBatch,
    ) -> Result<bool> {
        let checked = if inputs_put_here {
            debug_assert!(
                check_lineage(&self.st, inputs().as_ref()).is_ok(),
                "an input not put here"
            );
            None
        } else {
            let lineage = inputs();
            check_lineage(&self.st, lineage.as_ref())?;
            Some(lineage)
        };
        let bytes = data.bytes;
        let dedup = self.store.insert(
            &mut self.st,
            data.id,
            Vec::new(),
            &mut self.ops,
            |tags| {
                let inputs = match &checked {
                    Some(lineage) => lineage.as_ref().to_vec(),
                    None => inputs().as_ref().to_vec(),
                };
                let opts = PutOptions {
                    content_type: Some(crate::value::VALUE_CONTENT_TYPE.into()),
                    created_by: Some("workflow".into()),
                    tags,
                    custom: Value::None,
                    producer: Some(producer()),
                    inputs,
                };
                ArtifactMeta::fresh(data.id, bytes.len(), time, opts)
            },
            || Arc::new(bytes.to_vec()) as Blob,
            false,
        );
        ev.stored(time, data.id, bytes.len(), dedup);
        Ok(dedup)
    }

    /// Release the store and send what must reach the disk (waiting for it with synchronous
    /// durability).
    pub fn finish(self) -> Result<()> {
        let StoreBatch { store, st, ops } = self;
        drop(st);
        store.send(ops)
    }
}

fn check_tags(tags: &[String]) -> Result<()> {
    for tag in tags {
        check_name("tag", tag)?;
    }
    Ok(())
}

impl ArtifactStore {
    /// A store over `persister`, seeded with the metadata found on disk. `hot_limit` bounds the
    /// hot tier in bytes when there is a disk tier (an in-memory store keeps everything hot).
    pub fn new(
        persister: Arc<Persister>,
        loaded: &mut Loaded,
        events: Arc<EventLog>,
        hot_limit: u64,
        sync_writes: bool,
    ) -> Self {
        let mut state = State {
            quarantined: std::mem::take(&mut loaded.quarantined)
                .into_iter()
                .collect(),
            orphans: std::mem::take(&mut loaded.orphans),
            ..State::default()
        };
        for meta in std::mem::take(&mut loaded.artifacts) {
            state.total_bytes += meta.size;
            if let Some(compressed) = meta.archived {
                state.stats.archived_artifacts += 1;
                state.stats.archived_bytes += meta.size;
                state.stats.archive_stored_bytes += compressed;
            }
            state.meta.insert(meta.id, Arc::new(meta));
        }
        ArtifactStore {
            state: Mutex::new(state),
            persister,
            events,
            hot_limit,
            sync_writes,
            disk_reads: AtomicU64::new(0),
        }
    }

    /// Store a copy of `data`; returns its id. Storing bytes that are already there costs no
    /// copy and only adds the new tags.
    pub fn put(&self, data: &[u8], opts: PutOptions) -> Result<ArtifactId> {
        self.store(data, || Arc::new(data.to_vec()), opts)
    }

    /// Store `blob` itself (no copy); returns its id.
    pub fn put_blob(&self, blob: Blob, opts: PutOptions) -> Result<ArtifactId> {
        let keep = blob.clone();
        self.store(blob.bytes(), move || keep, opts)
    }

    fn store(
        &self,
        data: &[u8],
        make_blob: impl FnOnce() -> Blob,
        mut opts: PutOptions,
    ) -> Result<ArtifactId> {
        if self.persister.is_closed() {
            return Err(PitError::validation("the Pit is closed"));
        }
        if let Some(content_type) = &opts.content_type {
            check_name("content_type", content_type)?;
        }
        if let Some(created_by) = &opts.created_by {
            check_name("created_by", created_by)?;
        }
        check_tags(&opts.tags)?;
        if let Some(p) = &opts.producer {
            check_name("producer run", &p.run)?;
            check_name("producer node", &p.node)?;
        }
        let id = ArtifactId::of(data);
        let mut ops = Ops::new();
        let mut st = self.state.lock();
        check_lineage(&st, &opts.inputs)?;
        let tags = std::mem::take(&mut opts.tags);
        let dedup = self.insert(
            &mut st,
            id,
            tags,
            &mut ops,
            |tags| ArtifactMeta::fresh(id, data.len(), crate::now(), PutOptions { tags, ..opts }),
            make_blob,
            true,
        );
        drop(st);
        self.send(ops)?;
        self.events.stored(id, data.len(), dedup);
        Ok(id)
    }

    /// Send what a put must write to the disk, once the lock is released; with synchronous
    /// durability wait for it when an artifact's bytes are among it (new, or written again).
    fn send(&self, ops: Ops) -> Result<()> {
        let writes = ops.iter().any(|op| matches!(op, Op::PutArtifact { .. }));
        for op in ops {
            self.persister.send(op)?;
        }
        if self.sync_writes && writes {
            self.persister.flush()?;
        }
        Ok(())
    }

    /// Under the lock: a known `id` gains `tags` (returns true: deduplicated); a new one gets the
    /// metadata `make_meta` gives and the blob `make_blob` gives, and joins the hot tier. What
    /// must reach the disk is added to `ops`, to be sent once the lock is released.
    ///
    /// A known id whose copy on disk failed to be written or was found damaged is written again
    /// from these bytes; with `check_disk` (a put by a user), one that is not in memory has its
    /// copy on disk checked by the writer, and rewritten if it is missing or damaged.
    #[allow(clippy::too_many_arguments)]
    fn insert(
        &self,
        st: &mut State,
        id: ArtifactId,
        tags: Vec<String>,
        ops: &mut Ops,
        make_meta: impl FnOnce(Vec<String>) -> ArtifactMeta,
        make_blob: impl FnOnce() -> Blob,
        check_disk: bool,
    ) -> bool {
        st.stats.puts += 1;
        if !st.reads.is_empty() {
            st.fold(&id); // a record handed to the writer below carries its reads
        }
        if let Some(entry) = st.meta.get_mut(&id) {
            st.stats.dedup_hits += 1;
            let mut tags_changed = false;
            if !tags.is_empty() {
                let existing = Arc::make_mut(entry);
                let before = existing.tags.len();
                for tag in tags {
                    if !existing.tags.contains(&tag) {
                        existing.tags.push(tag);
                    }
                }
                tags_changed = existing.tags.len() != before;
            }
            if self.durable() && entry.archived.is_none() {
                let hot = st.hot.get(&id);
                let failed = hot.is_some_and(|h| h.disk.has_failed());
                let damaged = !st.damaged.is_empty() && st.damaged.remove(&id);
                if failed || damaged || (check_disk && hot.is_none()) {
                    let disk = match hot {
                        Some(h) if failed => {
                            h.disk.retry();
                            h.disk.clone()
                        }
                        _ => DiskState::pending(),
                    };
                    ops.push(Op::PutArtifact {
                        meta: entry.clone(),
                        data: make_blob(),
                        disk,
                        verify: true,
                    });
                    return true;
                }
            }
            if tags_changed {
                ops.push(Op::UpdateMeta(entry.clone()));
            }
            return true;
        }
        let meta = make_meta(tags);
        let blob = make_blob();
        st.quarantined.remove(&id.to_hex());
        let disk = if self.durable() {
            DiskState::pending()
        } else {
            DiskState::durable()
        };
        st.total_bytes += meta.size;
        let meta = Arc::new(meta);
        if self.durable() {
            ops.push(Op::PutArtifact {
                meta: meta.clone(),
                data: blob.clone(),
                disk: disk.clone(),
                verify: false,
            });
        }
        st.meta.insert(id, meta);
        self.insert_hot(st, id, blob, disk);
        false
    }

    /// Hold the store for a series of workflow results stored together (a wave of built-in
    /// nodes): one lock for all of them. Call [`StoreBatch::finish`] to release it and send what
    /// must reach the disk.
    pub fn batch(&self) -> Result<StoreBatch<'_>> {
        if self.persister.is_closed() {
            return Err(PitError::validation("the Pit is closed"));
        }
        Ok(StoreBatch {
            store: self,
            st: self.state.lock(),
            ops: Ops::new(),
        })
    }

    fn insert_hot(&self, st: &mut State, id: ArtifactId, data: Blob, disk: Arc<DiskState>) {
        st.hot_bytes += data.bytes().len() as u64;
        st.hot.insert(id, HotEntry { data, disk });
        if !self.durable() {
            return; // the hot tier is the only tier: nothing is ever evicted
        }
        st.lru.push_back(id);
        // Evict least recently used durable blobs beyond the budget. A blob not yet on disk
        // stays, and so does everything after it: the queue is about in write order, so the
        // scan stops there instead of walking every pending blob on every put while the writer
        // catches up. A blob whose write failed goes to the back (it waits for a put to retry).
        let mut rotated = 0;
        while st.hot_bytes > self.hot_limit {
            let Some(&victim) = st.lru.front() else {
                break;
            };
            match st.hot.get(&victim) {
                None => {
                    st.lru.pop_front(); // a stale entry of the lazy queue
                }
                Some(e) if e.disk.is_durable() && victim != id => {
                    let size = e.data.bytes().len() as u64;
                    st.hot.remove(&victim);
                    st.hot_bytes -= size;
                    st.lru.pop_front();
                }
                Some(e) if e.disk.has_failed() && rotated < 16 => {
                    rotated += 1;
                    st.lru.pop_front();
                    st.lru.push_back(victim);
                }
                Some(_) => break,
            }
        }
        if st.lru.len() > 4 * st.hot.len() + 64 {
            let hot = &st.hot;
            let mut seen = HashSet::new();
            let compacted: VecDeque<ArtifactId> = st
                .lru
                .iter()
                .rev()
                .filter(|id| hot.contains_key(id) && seen.insert(**id))
                .copied()
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            st.lru = compacted;
        }
    }

    /// The bytes of an artifact. Blobs read from disk are verified against their id: a mismatch
    /// or a missing file is an `Integrity` error, and the artifact is not served.
    pub fn get(&self, id: &ArtifactId) -> Result<Blob> {
        self.get_typed(id).map(|(blob, _)| blob)
    }

    /// Like [`ArtifactStore::get`], also telling whether the bytes are an encoded [`Value`]
    /// (one lookup, not two).
    pub fn get_typed(&self, id: &ArtifactId) -> Result<(Blob, Content)> {
        let (content, size) = {
            let mut guard = self.state.lock();
            let st = &mut *guard;
            let now = crate::now();
            let Some(entry) = st.meta.get_mut(id) else {
                return Err(missing(st, id));
            };
            match Arc::get_mut(entry) {
                Some(meta) => {
                    meta.access_count += 1;
                    meta.last_access = now;
                }
                None => {
                    let read = st.reads.entry(*id).or_insert((0, now));
                    read.0 += 1;
                    read.1 = now;
                }
            }
            let meta: &ArtifactMeta = entry;
            let content = Content::of(&meta.content_type);
            let archived = meta.archived.is_some();
            let size = meta.size;
            if self.durable() {
                st.dirty.insert(*id);
            }
            if archived {
                st.stats.archive_reads += 1;
                let in_memory = st.archive.get(id).cloned();
                drop(guard);
                return Ok((self.read_archived(id, in_memory, size)?, content));
            }
            if let Some(entry) = st.hot.get(id) {
                let data = entry.data.clone();
                st.stats.hot_hits += 1;
                if self.durable() {
                    st.lru.push_back(*id);
                }
                return Ok((data, content));
            }
            (content, size)
        };
        let data = self.read_blob(id, size)?;
        let mut st = self.state.lock();
        if st.meta.contains_key(id) && !st.hot.contains_key(id) {
            self.insert_hot(&mut st, *id, data.clone(), DiskState::durable());
        }
        Ok((data, content))
    }

    /// Read an artifact's blob from the disk tier (database or file) and check it against its id.
    fn read_blob(&self, id: &ArtifactId, size: u64) -> Result<Blob> {
        if !self.durable() {
            return Err(PitError::Internal(format!(
                "artifact {id} has no blob in memory"
            )));
        }
        self.disk_reads.fetch_add(1, Ordering::Relaxed);
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        match self.verified_blob(id, size) {
            Ok(bytes) => Ok(Arc::new(bytes)),
            Err(why) => Err(self.corrupted(id, &why)),
        }
    }

    /// The bytes the disk tier holds for `id` (a blob of `size` bytes; 0 when unknown: the
    /// database is looked in first, then the files), if they match the id; else why not.
    fn verified_blob(&self, id: &ArtifactId, size: usize) -> std::result::Result<Vec<u8>, String> {
        match self.persister.read_blob(id, size) {
            Ok(Some(bytes)) if ArtifactId::of(&bytes) == *id => Ok(bytes),
            Ok(Some(_)) => Err("its blob does not match its hash".into()),
            Ok(None) => Err("its blob is missing".into()),
            Err(e) => Err(format!("its blob cannot be read: {e}")),
        }
    }

    /// Decompress an archived artifact of `size` bytes (from memory, else its archive file) and
    /// verify it. Decompression stops past the recorded size: a hostile archive cannot make it
    /// fill memory.
    fn read_archived(&self, id: &ArtifactId, in_memory: Option<Blob>, size: u64) -> Result<Blob> {
        let compressed: Blob = match in_memory {
            Some(c) => c,
            None => {
                let dir = self.persister.dir().ok_or_else(|| {
                    PitError::Internal(format!("artifact {id} has no archive in memory"))
                })?;
                let path = archive_path(dir, id);
                self.disk_reads.fetch_add(1, Ordering::Relaxed);
                let bytes = std::fs::read(&path).map_err(|e| {
                    self.corrupted(
                        id,
                        &format!("its archive file {} cannot be read: {e}", path.display()),
                    )
                })?;
                Arc::new(bytes)
            }
        };
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(compressed.bytes())
            .take(size.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| self.corrupted(id, &format!("its archive does not decompress: {e}")))?;
        if bytes.len() as u64 > size {
            return Err(self.corrupted(
                id,
                &format!("its archive decompresses to more than its recorded {size} bytes"),
            ));
        }
        if ArtifactId::of(&bytes) != *id {
            return Err(self.corrupted(id, "its archive does not match its hash"));
        }
        Ok(Arc::new(bytes))
    }

    /// The live bytes of an artifact without counting an access (hot tier, else disk).
    fn live_bytes(&self, id: &ArtifactId, size: u64) -> Result<Blob> {
        if let Some(entry) = self.state.lock().hot.get(id) {
            return Ok(entry.data.clone());
        }
        self.read_blob(id, size)
    }

    /// Move artifacts to the archive tier: gzip-compressed, dropped from the hot tier and the
    /// blob directory, still readable by `get`. Already archived ones are skipped. Returns
    /// `(id, original bytes, compressed bytes)` for each artifact archived now.
    pub fn archive(&self, ids: &[ArtifactId]) -> Result<Vec<(ArtifactId, u64, u64)>> {
        let mut done = Vec::new();
        for id in ids {
            let meta = self.metadata(id)?;
            if meta.archived.is_some() {
                continue;
            }
            let bytes = self.live_bytes(id, meta.size)?;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(bytes.bytes())?;
            let compressed: Blob = Arc::new(encoder.finish()?);
            let stored = compressed.bytes().len() as u64;
            let mut st = self.state.lock();
            st.fold(id);
            let Some(entry) = st.meta.get_mut(id) else {
                continue; // deleted meanwhile
            };
            let meta = Arc::make_mut(entry);
            if meta.archived.is_some() {
                continue;
            }
            meta.archived = Some(stored);
            let record = entry.clone();
            if let Some(hot) = st.hot.remove(id) {
                st.hot_bytes -= hot.data.bytes().len() as u64;
            }
            st.archive.insert(*id, compressed.clone());
            st.stats.archived_artifacts += 1;
            st.stats.archived_bytes += record.size;
            st.stats.archive_stored_bytes += stored;
            drop(st);
            if self.durable() {
                self.persister.send(Op::Archive {
                    meta: record.clone(),
                    compressed,
                })?;
            }
            self.events.emit(
                Component::Artifact,
                "artifact.archived",
                Subject::Artifact(*id),
                &[
                    ("size", Field::UInt(record.size)),
                    ("compressed", Field::UInt(stored)),
                ],
            );
            done.push((*id, record.size, stored));
        }
        if self.durable() && !done.is_empty() {
            // Once the archive files are durable, memory need not hold them.
            self.persister.flush()?;
            let mut st = self.state.lock();
            for (id, ..) in &done {
                st.archive.remove(id);
            }
        }
        Ok(done)
    }

    /// Whether the store has a disk tier (otherwise memory is the only tier).
    fn durable(&self) -> bool {
        self.persister.dir().is_some()
    }

    /// Report a damaged copy: logged, an `artifact.corrupted` event, remembered so that the
    /// next put of the same bytes writes them again. The caller must not hold the state lock.
    fn corrupted(&self, id: &ArtifactId, why: &str) -> PitError {
        log::warn!("artifact {id} is corrupted: {why}");
        self.state.lock().damaged.insert(*id);
        self.events.emit(
            Component::Artifact,
            "artifact.corrupted",
            Subject::Artifact(*id),
            &[("reason", Field::Text(Arc::from(why)))],
        );
        PitError::Integrity(format!("artifact {id} is corrupted: {why}"))
    }

    pub fn exists(&self, id: &ArtifactId) -> bool {
        self.state.lock().meta.contains_key(id)
    }

    /// A snapshot of an artifact's metadata (shared, not copied).
    pub fn metadata(&self, id: &ArtifactId) -> Result<Arc<ArtifactMeta>> {
        let mut st = self.state.lock();
        st.fold(id);
        st.meta.get(id).cloned().ok_or_else(|| missing(&st, id))
    }

    /// Artifacts matching `filter`, oldest first.
    pub fn list(&self, filter: &ListFilter) -> Vec<Arc<ArtifactMeta>> {
        let mut st = self.state.lock();
        st.fold_all();
        let mut out: Vec<Arc<ArtifactMeta>> = st
            .meta
            .values()
            .filter(|m| filter.tag.as_ref().is_none_or(|t| m.tags.contains(t)))
            .filter(|m| {
                filter
                    .content_type
                    .as_ref()
                    .is_none_or(|c| &m.content_type == c)
            })
            .filter(|m| {
                filter
                    .created_by
                    .as_ref()
                    .is_none_or(|c| &m.created_by == c)
            })
            .filter(|m| {
                filter
                    .run
                    .as_ref()
                    .is_none_or(|r| m.producer.as_ref().is_some_and(|p| &p.run == r))
            })
            .cloned()
            .collect();
        drop(st);
        out.sort_by(|a, b| a.created_at.total_cmp(&b.created_at).then(a.id.cmp(&b.id)));
        if let Some(limit) = filter.limit {
            out.truncate(limit);
        }
        out
    }

    /// Delete an artifact. A pinned artifact is refused unless `force`.
    pub fn delete(&self, id: &ArtifactId, force: bool) -> Result<()> {
        let mut st = self.state.lock();
        let meta = st.meta.get(id).ok_or_else(|| unknown(id))?;
        if meta.pinned && !force {
            return Err(PitError::validation(format!(
                "artifact {id} is pinned; unpin it or pass force=True to delete it"
            )));
        }
        let size = meta.size;
        if let Some(compressed) = meta.archived {
            st.stats.archived_artifacts -= 1;
            st.stats.archived_bytes -= size;
            st.stats.archive_stored_bytes -= compressed;
        }
        st.meta.remove(id);
        st.reads.remove(id);
        st.archive.remove(id);
        st.total_bytes -= size;
        st.dirty.remove(id);
        if let Some(entry) = st.hot.remove(id) {
            st.hot_bytes -= entry.data.bytes().len() as u64;
        }
        drop(st);
        self.persister.send(Op::Delete(*id))?;
        self.events.emit(
            Component::Artifact,
            "artifact.deleted",
            Subject::Artifact(*id),
            &[],
        );
        Ok(())
    }

    /// Pin (or unpin) an artifact: pinned artifacts are never deleted by cleanup.
    pub fn pin(&self, id: &ArtifactId, pinned: bool) -> Result<()> {
        let mut st = self.state.lock();
        st.fold(id);
        let entry = st.meta.get_mut(id).ok_or_else(|| unknown(id))?;
        Arc::make_mut(entry).pinned = pinned;
        let meta = entry.clone();
        drop(st);
        self.persister.send(Op::UpdateMeta(meta))?;
        self.events.emit(
            Component::Artifact,
            "artifact.pinned",
            Subject::Artifact(*id),
            &[("pinned", Field::Bool(pinned))],
        );
        Ok(())
    }

    /// Every ancestor of an artifact (inputs, their inputs, ...), nearest first, each once.
    pub fn ancestors(&self, id: &ArtifactId) -> Result<Vec<ArtifactId>> {
        let st = self.state.lock();
        let root = st.meta.get(id).ok_or_else(|| unknown(id))?;
        let mut seen: HashSet<ArtifactId> = HashSet::from([*id]);
        let mut queue: VecDeque<ArtifactId> = root.inputs.iter().copied().collect();
        let mut out = Vec::new();
        while let Some(next) = queue.pop_front() {
            if !seen.insert(next) {
                continue;
            }
            out.push(next);
            if let Some(m) = st.meta.get(&next) {
                queue.extend(m.inputs.iter().copied());
            }
        }
        Ok(out)
    }

    /// Artifact rows quarantined when the store was opened: `(id as stored, why)`.
    pub fn quarantined(&self) -> Vec<(String, String)> {
        let st = self.state.lock();
        let mut out: Vec<_> = st
            .quarantined
            .iter()
            .map(|(id, why)| (id.clone(), why.clone()))
            .collect();
        out.sort();
        out
    }

    /// Blobs on disk that no artifact row names (found when the store was opened, not yet
    /// recovered).
    pub fn orphans(&self) -> Vec<ArtifactId> {
        let st = self.state.lock();
        st.orphans
            .iter()
            .filter(|id| !st.meta.contains_key(*id))
            .copied()
            .collect()
    }

    /// Rebuild rows from content-addressed blobs: every orphan blob, and every quarantined row
    /// whose blob is still there, gets a fresh row (`created_by` "recovered", no tags, lineage or
    /// producer: those lived in the lost row). A blob is verified against its id first; one whose
    /// bytes are a well-formed encoded value comes back as that value (content type
    /// `VALUE_CONTENT_TYPE`), any other as bytes. Returns what was rebuilt and what could not be,
    /// with why.
    pub fn recover(&self) -> Result<Recovery> {
        if self.persister.is_closed() {
            return Err(PitError::validation("the Pit is closed"));
        }
        let candidates: Vec<ArtifactId> = {
            let st = self.state.lock();
            let mut ids: Vec<ArtifactId> = st
                .orphans
                .iter()
                .copied()
                .chain(
                    st.quarantined
                        .keys()
                        .filter_map(|h| ArtifactId::parse(h).ok()),
                )
                .filter(|id| !st.meta.contains_key(id))
                .collect();
            ids.sort();
            ids.dedup();
            ids
        };
        let mut report = Recovery::default();
        for id in candidates {
            let bytes = match self.verified_blob(&id, 0) {
                Ok(bytes) => bytes,
                Err(why) => {
                    report.failed.push((id, why));
                    continue;
                }
            };
            let is_value = Value::decode(&bytes).is_ok_and(|v| v.encode() == bytes);
            let content_type = if is_value {
                crate::value::VALUE_CONTENT_TYPE
            } else {
                "application/octet-stream"
            };
            let opts = PutOptions {
                content_type: Some(content_type.into()),
                created_by: Some("recovered".into()),
                ..PutOptions::default()
            };
            let meta = Arc::new(ArtifactMeta::fresh(id, bytes.len(), crate::now(), opts));
            {
                let mut st = self.state.lock();
                if st.meta.contains_key(&id) {
                    continue; // put meanwhile
                }
                st.quarantined.remove(&id.to_hex());
                st.total_bytes += meta.size;
                st.meta.insert(id, meta.clone());
            }
            self.persister.send(Op::PutMeta(meta))?;
            report.recovered.push(id);
        }
        {
            let mut st = self.state.lock();
            let State { orphans, meta, .. } = &mut *st;
            orphans.retain(|id| !meta.contains_key(id));
        }
        self.persister.flush()?;
        log::info!(
            "recovered {} artifacts from their blobs; {} could not be",
            report.recovered.len(),
            report.failed.len()
        );
        Ok(report)
    }

    /// Persist access counters and wait until every queued write is durable.
    pub fn flush(&self) -> Result<()> {
        let dirty: Vec<Arc<ArtifactMeta>> = {
            let mut st = self.state.lock();
            let ids: Vec<ArtifactId> = st.dirty.drain().collect();
            for id in &ids {
                st.fold(id);
            }
            ids.iter()
                .filter_map(|id| st.meta.get(id).cloned())
                .collect()
        };
        for meta in dirty {
            self.persister.send(Op::UpdateMeta(meta))?;
        }
        self.persister.flush()
    }

    pub fn len(&self) -> usize {
        self.state.lock().meta.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> StoreStats {
        let st = self.state.lock();
        StoreStats {
            artifacts: st.meta.len() as u64,
            total_bytes: st.total_bytes,
            hot_artifacts: st.hot.len() as u64,
            hot_bytes: st.hot_bytes,
            disk_reads: self.disk_reads.load(Ordering::Relaxed),
            pending_writes: self.persister.backlog(),
            ..st.stats
        }
    }
}

fn unknown(id: &ArtifactId) -> PitError {
    PitError::not_found(format!("artifact {id} does not exist"))
}

/// The error for an id the store does not serve: quarantined (its row failed its checks when
/// the store was opened), else unknown.
fn missing(st: &State, id: &ArtifactId) -> PitError {
    match st.quarantined.get(&id.to_hex()) {
        Some(why) => PitError::Integrity(format!(
            "artifact {id} is quarantined: {why} (pit.artifacts.recover() rebuilds it from its blob)"
        )),
        None => unknown(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Pit, PitConfig};

    #[test]
    fn small_ids_give_the_content_hash_of_every_encoding() {
        let mut ids = SmallIds::default();
        // More distinct small encodings than slots, seen twice each (hits, misses, evictions),
        // and encodings too long for the table.
        let encodings: Vec<Vec<u8>> = (0u32..1000)
            .map(|k| k.to_le_bytes()[..1 + (k as usize % 4)].to_vec())
            .chain((0u8..20).map(|n| vec![n; n as usize]))
            .collect();
        for _ in 0..2 {
            for bytes in &encodings {
                assert_eq!(ids.id_of(bytes), ArtifactId::of(bytes), "{bytes:?}");
            }
        }
    }

    proptest::proptest! {
        /// Encodings that differ in one byte anywhere, or only in length, never share an id.
        #[test]
        fn small_ids_tell_every_small_encoding_apart(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..20),
            flip in 0usize..20,
        ) {
            let mut ids = SmallIds::default();
            let mut other = bytes.clone();
            if !other.is_empty() {
                let k = flip % other.len();
                other[k] ^= 1 + (flip as u8 % 255);
            }
            let longer = [bytes.as_slice(), &[0]].concat();
            for _ in 0..2 {
                for b in [&bytes, &other, &longer] {
                    proptest::prop_assert_eq!(ids.id_of(b), ArtifactId::of(b));
                }
            }
        }
    }

    #[test]
    fn ids_parse_and_print_as_64_hex_digits() {
        let id = ArtifactId::of(b"hello");
        assert_eq!(ArtifactId::parse(&id.to_hex()).unwrap(), id);
        for bad in ["", "abc", &"g".repeat(64), &"0".repeat(65)] {
            assert!(
                matches!(ArtifactId::parse(bad), Err(PitError::Validation(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn put_blob_keeps_the_very_blob() {
        let pit = Pit::open(PitConfig::in_memory()).unwrap();
        let blob: Blob = Arc::new(b"shared".to_vec());
        let id = pit
            .artifacts
            .put_blob(blob.clone(), PutOptions::default())
            .unwrap();
        assert!(Arc::ptr_eq(&pit.artifacts.get(&id).unwrap(), &blob));
        let (_, content) = pit.artifacts.get_typed(&id).unwrap();
        assert_eq!(content, Content::Bytes);
        assert_eq!(pit.artifacts.metadata(&id).unwrap().access_count, 2);
    }

    #[test]
    fn reads_count_while_a_snapshot_is_held_and_reach_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let id = {
            let pit = Pit::open(PitConfig::on_disk(dir.path())).unwrap();
            let id = pit
                .artifacts
                .put(b"counted", PutOptions::default())
                .unwrap();
            let snapshot = pit.artifacts.metadata(&id).unwrap();
            for _ in 0..3 {
                pit.artifacts.get(&id).unwrap();
            }
            assert_eq!(snapshot.access_count, 0, "a snapshot does not change");
            assert_eq!(pit.artifacts.metadata(&id).unwrap().access_count, 3);
            pit.artifacts.get(&id).unwrap();
            assert_eq!(
                pit.artifacts.list(&ListFilter::default())[0].access_count,
                4
            );
            id
        };
        let pit = Pit::open(PitConfig::on_disk(dir.path())).unwrap();
        assert_eq!(pit.artifacts.metadata(&id).unwrap().access_count, 4);
    }

    #[test]
    fn invalid_options_are_refused_before_anything_is_stored() {
        let pit = Pit::open(PitConfig::in_memory()).unwrap();
        let opts = PutOptions {
            tags: vec!["ok".into(), "".into()],
            ..Default::default()
        };
        assert!(matches!(
            pit.artifacts.put(b"x", opts),
            Err(PitError::Validation(_))
        ));
        assert!(pit.artifacts.is_empty());
    }
}
