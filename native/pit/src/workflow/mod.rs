//! Workflows: manifests written by Python (or by hand), validated and scheduled here.
//!
//! A [`manifest::Manifest`] is the versioned JSON form of a workflow; compiling it gives a
//! [`manifest::CompiledWorkflow`] — the validated graph plus each node's body (a host callable,
//! a built-in Rust node from [`builtin`], or a sub-workflow) and its policies (retries with
//! backoff, timeout, pool, priority, fallback, memoisation). [`engine::execute`] runs it: the
//! DAG Tracker records every transition, every result goes to the Artifact Store with lineage,
//! and unchanged nodes are served from the [`MemoTable`] (kept with storage).

pub mod builtin;
pub mod engine;
pub mod manifest;
pub mod ready;
pub mod workers;

/// The memo table is storage (the Pit holds it); workflows use it through the Pit.
pub use crate::persist::MemoTable;
pub use engine::{
    execute, CancelToken, Host, NodeError, NodeErrorKind, NodeReport, NodeReports, Output,
    RunOptions, RunReport, Stamp,
};
pub use manifest::{CompiledWorkflow, Manifest, MANIFEST_FORMAT, MANIFEST_VERSION};
