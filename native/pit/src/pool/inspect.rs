//! Looking at the Pool Manager: pools, models, counters, and its invariants checked.

use super::info::{pool_info, ModelInfo, PoolInfo, PoolStats};
use super::model::ModelState;
use super::state::unknown_pool;
use super::PoolManager;
use crate::error::{PitError, Result};
use crate::resources::Resources;

impl PoolManager {
    /// State of the model behind a handle.
    pub fn handle_state(&self, handle: u64) -> Result<ModelState> {
        let st = self.state.lock();
        st.handles
            .get(&handle)
            .and_then(|id| st.models.get(id))
            .map(|m| m.state)
            .ok_or_else(|| PitError::not_found(format!("handle {handle} is not allocated")))
    }

    /// Every pool, by name.
    pub fn pools(&self) -> Vec<PoolInfo> {
        let st = self.state.lock();
        let mut pools: Vec<PoolInfo> = st.pools.values().map(|p| pool_info(&st, p)).collect();
        pools.sort_by(|a, b| a.name.cmp(&b.name));
        pools
    }

    pub fn pool(&self, name: &str) -> Result<PoolInfo> {
        let st = self.state.lock();
        st.pools
            .get(name)
            .map(|p| pool_info(&st, p))
            .ok_or_else(|| unknown_pool(name))
    }

    pub fn has_pool(&self, name: &str) -> bool {
        self.state.lock().pools.contains_key(name)
    }

    pub fn pool_count(&self) -> usize {
        self.state.lock().pools.len()
    }

    pub fn models(&self) -> Vec<ModelInfo> {
        let st = self.state.lock();
        let mut models: Vec<ModelInfo> = st
            .models
            .values()
            .map(|m| ModelInfo {
                id: m.id,
                spec: m.spec.clone(),
                pool: m.pool.to_string(),
                state: m.state,
                handle: m.handle,
                invocations: m.invocations,
                failures: m.failures,
                last_used: m.last_used,
                history: m.history.clone(),
            })
            .collect();
        models.sort_by_key(|m| m.id);
        models
    }

    pub fn stats(&self) -> PoolStats {
        self.state.lock().stats
    }

    /// Verify the accounting invariants: each pool's `used` equals the requirements of the
    /// instances holding capacity in it and fits its capacity; every handle maps to its instance.
    pub fn check_invariants(&self) -> Result<()> {
        let st = self.state.lock();
        for pool in st.pools.values() {
            let mut held = Resources::ZERO;
            for m in st
                .models
                .values()
                .filter(|m| m.pool == pool.name && m.holds_capacity)
            {
                held = held
                    .checked_add(&m.spec.requirements)
                    .ok_or_else(|| PitError::Internal("overflow summing held capacity".into()))?;
            }
            held = held
                .checked_add(&pool.reserved)
                .ok_or_else(|| PitError::Internal("overflow summing reserved capacity".into()))?;
            if held != pool.used {
                return Err(PitError::Internal(format!(
                    "pool '{}' accounts {} used but its models and leases hold {}",
                    pool.name, pool.used, held
                )));
            }
            if let Some(dim) = pool.capacity.overflow(&Resources::ZERO, &pool.used) {
                return Err(PitError::Internal(format!(
                    "pool '{}' is over capacity on {}",
                    pool.name,
                    crate::resources::DIMENSIONS[dim]
                )));
            }
            for (key, ids) in &pool.idle {
                for id in ids {
                    let m = st.models.get(id).ok_or_else(|| {
                        PitError::Internal(format!("idle model {id} is not in the model table"))
                    })?;
                    if m.state != ModelState::Hot || m.handle.is_some() || &m.spec.key != key {
                        return Err(PitError::Internal(format!(
                            "idle model {id} is not idle and hot"
                        )));
                    }
                }
            }
        }
        for (handle, id) in &st.handles {
            let m = st.models.get(id).ok_or_else(|| {
                PitError::Internal(format!("handle {handle} points to missing model {id}"))
            })?;
            if m.handle != Some(*handle) {
                return Err(PitError::Internal(format!(
                    "handle {handle} and model {id} disagree"
                )));
            }
        }
        for m in st.models.values() {
            if m.holds_capacity != matches!(m.state, ModelState::Warming | ModelState::Hot) {
                return Err(PitError::Internal(format!(
                    "model {} is {} but holds_capacity = {}",
                    m.id,
                    m.state.as_str(),
                    m.holds_capacity
                )));
            }
        }
        Ok(())
    }
}
