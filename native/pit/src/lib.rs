//! The Pit: the in-process engine of Symphony Lab.
//!
//! Five components share one [`Pit`] value and one ordered [`events::EventLog`]:
//! the [`pool::PoolManager`] (models and workers allocated against pool capacity), the
//! [`artifact::ArtifactStore`] (content-addressed blobs with metadata and lineage in SQLite),
//! the [`dag::DagTracker`] (workflow graphs, node state machines, run history), the
//! [`arbitration::Arbiter`] (who gets scarce capacity) and the Stale Manager ([`stale`]: what to
//! keep, archive or delete; idle allocations released).
//! Everything is `Send + Sync`; each component guards its own state with one short-held lock.
//!
//! ```
//! use symphony_pit::{BlobData, Pit, PitConfig};
//! let pit = Pit::open(PitConfig::in_memory()).unwrap();
//! let id = pit.artifacts.put(b"hello", Default::default()).unwrap();
//! assert_eq!(pit.artifacts.get(&id).unwrap().bytes(), b"hello");
//! ```

pub mod core;

pub mod arbitration;
pub mod artifact;
pub mod dag;
pub mod events;
pub mod persist;
pub mod pit;
pub mod pool;
pub mod stale;
pub mod workflow;

// The vocabulary at the paths it has always had.
pub(crate) use crate::core::flat_lists;
pub(crate) use crate::core::time::known;
pub use crate::core::time::now;
pub use crate::core::{error, resources, value};

pub use arbitration::{Arbiter, Lease, Request, Strategy};
pub use artifact::{ArtifactId, ArtifactMeta, ArtifactStore, Blob, BlobData, PutOptions};
pub use dag::{DagTracker, GraphSpec, NodeState, RunStatus, WorkflowGraph};
pub use error::{PitError, Result};
pub use events::{Event, EventLog};
pub use pit::{Durability, Pit, PitConfig};
pub use pool::{ModelSpec, ModelState, PoolManager, TransitionReason};
pub use resources::{Amount, Capacity, Resources};
pub use stale::{CleanupReport, StalePolicy};
pub use value::Value;
