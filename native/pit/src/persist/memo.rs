//! The memo table: which artifact holds the result of a node given its code and its inputs.
//!
//! A key is the BLAKE3 hash of the node's identity (code hash or built-in settings) and its
//! input artifact ids; the value is the id of the result. Keys are kept in memory and, for a Pit
//! with a store, in the `memo` table of its SQLite database (behind the hot path).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::core::ids::ArtifactId;
use crate::persist::{Op, Persister};

/// A memo key: hash of a node's identity and its input ids.
pub type MemoKey = [u8; 32];

/// The key for a node with `identity` computed from `inputs`.
pub fn memo_key(identity: &[u8; 32], inputs: &[ArtifactId]) -> MemoKey {
    let mut h = blake3::Hasher::new();
    h.update(identity);
    for id in inputs {
        h.update(&id.0);
    }
    *h.finalize().as_bytes()
}

/// Memoised node results. Thread-safe.
pub struct MemoTable {
    entries: Mutex<HashMap<MemoKey, ArtifactId>>,
    persister: Arc<Persister>,
}

impl fmt::Debug for MemoTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoTable")
            .field("entries", &self.entries.lock().len())
            .finish()
    }
}

impl MemoTable {
    /// A table holding `loaded` (hex key, artifact) pairs; malformed keys are skipped.
    pub fn new(persister: Arc<Persister>, loaded: Vec<(String, ArtifactId)>) -> Self {
        let entries = loaded
            .into_iter()
            .filter_map(|(key, id)| {
                let bytes = hex::decode(key).ok()?;
                Some((<MemoKey>::try_from(bytes.as_slice()).ok()?, id))
            })
            .collect();
        MemoTable {
            entries: Mutex::new(entries),
            persister,
        }
    }

    pub fn get(&self, key: &MemoKey) -> Option<ArtifactId> {
        self.entries.lock().get(key).copied()
    }

    /// Remember `id` as the result for `key` (persisted when the Pit has a store).
    pub fn put(&self, key: MemoKey, id: ArtifactId) {
        let previous = self.entries.lock().insert(key, id);
        if previous != Some(id) && self.persister.dir().is_some() {
            // A failed write only costs a future cache miss; the writer reports it on flush.
            let _ = self.persister.send(Op::PutMemo(hex::encode(key), id));
        }
    }

    /// Forget every entry whose result is one of `gone` (deleted artifacts; their persisted
    /// rows go with the artifact). Returns how many were forgotten.
    pub fn forget(&self, gone: &std::collections::HashSet<ArtifactId>) -> usize {
        if gone.is_empty() {
            return 0;
        }
        let mut entries = self.entries.lock();
        let before = entries.len();
        entries.retain(|_, id| !gone.contains(id));
        before - entries.len()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.lock().is_empty()
    }
}
