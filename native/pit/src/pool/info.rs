//! What the Pool Manager reports: read-only views of pools and models, counters.

use std::sync::Arc;

use super::model::{ModelSpec, ModelState, Transition};
use super::state::{Pool, State};
use crate::resources::{Capacity, Resources};

/// The result of a successful allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub handle: u64,
    pub model_id: u64,
    pub cache_hit: bool,
}

/// Read-only view of a pool.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolInfo {
    pub name: String,
    pub capacity: Capacity,
    /// Held by models and leases together.
    pub used: Resources,
    /// Held by Arbitration leases (part of `used`).
    pub reserved: Resources,
    pub models: usize,
    pub leased: usize,
}

/// Read-only view of a live model instance.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub id: u64,
    pub spec: Arc<ModelSpec>,
    pub pool: String,
    pub state: ModelState,
    pub handle: Option<u64>,
    pub invocations: u64,
    pub failures: u64,
    pub last_used: f64,
    pub history: Vec<Transition>,
}

/// Counters over the Pool Manager's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub allocations: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub releases: u64,
    pub evictions: u64,
    pub exhausted: u64,
    pub invocations: u64,
    pub failures: u64,
}

pub(super) fn pool_info(st: &State, p: &Pool) -> PoolInfo {
    let (models, leased) = st
        .models
        .values()
        .filter(|m| m.pool == p.name)
        .fold((0, 0), |(n, l), m| {
            (n + 1, l + usize::from(m.handle.is_some()))
        });
    PoolInfo {
        name: p.name.to_string(),
        capacity: p.capacity,
        used: p.used,
        reserved: p.reserved,
        models,
        leased,
    }
}
