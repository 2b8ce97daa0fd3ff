//! Artifact vocabulary shared by the store, its disk tier, the event log, the DAG Tracker and the
//! workflow engine: content ids, the bytes they name, and what is known about an artifact.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use super::error::{PitError, Result};
use super::value::Value;

/// Immutable bytes held by the store. Anything that can lend a stable `&[u8]` qualifies: an owned
/// `Vec<u8>`, or (in the Python bindings) the caller's own `bytes` object, so bytes cross the
/// boundary without a copy in either direction.
pub trait BlobData: Send + Sync + 'static {
    fn bytes(&self) -> &[u8];
    /// For callers that want their own blob type back (e.g. to return the original object).
    fn as_any(&self) -> &dyn Any;
}

impl BlobData for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A shared, immutable blob.
pub type Blob = Arc<dyn BlobData>;

/// Content hash of an artifact (BLAKE3, 32 bytes, shown as 64 hex digits).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ArtifactId(pub [u8; 32]);

impl std::hash::Hash for ArtifactId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The id is already a uniform cryptographic hash: its first 8 bytes are a fine key.
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(head));
    }
}

/// Hasher for maps keyed by [`ArtifactId`]: passes the id's own hash bits through.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub type IdMap<V> = HashMap<ArtifactId, V, std::hash::BuildHasherDefault<IdHasher>>;
pub type IdSet = HashSet<ArtifactId, std::hash::BuildHasherDefault<IdHasher>>;

impl ArtifactId {
    /// The id of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        ArtifactId(*blake3::hash(bytes).as_bytes())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse 64 hex digits.
    pub fn parse(text: &str) -> Result<Self> {
        let mut out = [0u8; 32];
        if text.len() != 64 || hex::decode_to_slice(text, &mut out).is_err() {
            let shown: String = text.chars().take(80).collect();
            return Err(PitError::validation(format!(
                "artifact id must be 64 hexadecimal digits, got {shown:?}"
            )));
        }
        Ok(ArtifactId(out))
    }
}

impl fmt::Display for ArtifactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ArtifactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ArtifactId({})", &self.to_hex()[..12])
    }
}

/// The workflow run and node that produced an artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Producer {
    pub run: String,
    pub node: String,
}

/// Everything known about an artifact besides its bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct ArtifactMeta {
    pub id: ArtifactId,
    pub size: u64,
    pub content_type: String,
    pub created_at: f64,
    pub created_by: String,
    pub tags: Vec<String>,
    pub custom: Value,
    pub producer: Option<Producer>,
    /// Artifacts this one was computed from, in order.
    pub inputs: Vec<ArtifactId>,
    pub pinned: bool,
    pub access_count: u64,
    pub last_access: f64,
    /// Compressed size when the artifact is archived; `None` while it is live.
    pub archived: Option<u64>,
}
