//! Pools and their capacity: creating and removing pools, and the leases Arbitration reserves
//! (all-or-nothing across pools).

use std::collections::HashMap;
use std::sync::Arc;

use super::model::TransitionReason;
use super::state::{can_make_room, cool, make_room, sum_by_pool, unknown_pool, Pool};
use super::{PoolManager, Reservation};
use crate::core::names::check_name;
use crate::error::{PitError, Result};
use crate::events::{Component, Subject};
use crate::resources::{Capacity, Resources};

impl PoolManager {
    /// Check that every `(pool, amount)` could ever fit: the pools exist and each amount is
    /// within the pool's capacity. Amounts for one pool are summed.
    pub fn check_request(&self, needs: &[(Arc<str>, Resources)]) -> Result<()> {
        let st = self.state.lock();
        for (name, total) in sum_by_pool(needs)? {
            let pool = st.pools.get(&*name).ok_or_else(|| unknown_pool(&name))?;
            if let Some(dim) = pool.capacity.overflow(&Resources::ZERO, &total) {
                return Err(PitError::ResourceExhausted(format!(
                    "pool '{name}' can never grant {total}: {}",
                    pool.capacity.shortfall(dim, &Resources::ZERO, &total)
                )));
            }
        }
        Ok(())
    }

    /// Reserve every `(pool, amount)` or nothing (all-or-nothing, under one lock). Idle models
    /// are cooled (LRU, reason `pressure`) when that makes room.
    pub fn try_reserve(&self, needs: &[(Arc<str>, Resources)]) -> Result<Reservation> {
        let totals = sum_by_pool(needs)?;
        let mut guard = self.state.lock();
        let st = &mut *guard;
        for (name, total) in &totals {
            let pool = st.pools.get(&**name).ok_or_else(|| unknown_pool(name))?;
            if let Some(dim) = pool.capacity.overflow(&pool.used, total) {
                if !can_make_room(pool, &st.models, total) {
                    return Ok(Reservation::Busy {
                        pool: pool.name.clone(),
                        reason: pool.capacity.shortfall(dim, &pool.used, total),
                    });
                }
            }
        }
        for (name, total) in &totals {
            let pool = st
                .pools
                .get_mut(&**name)
                .ok_or_else(|| unknown_pool(name))?;
            make_room(&self.events, pool, &mut st.models, total, &"a lease")?;
            pool.used = pool
                .used
                .checked_add(total)
                .ok_or_else(|| PitError::Internal(format!("capacity overflow in pool '{name}'")))?;
            pool.reserved = pool
                .reserved
                .checked_add(total)
                .ok_or_else(|| PitError::Internal(format!("capacity overflow in pool '{name}'")))?;
        }
        Ok(Reservation::Reserved)
    }

    /// Give back what [`try_reserve`](Self::try_reserve) took. A pool removed meanwhile is skipped.
    pub fn unreserve(&self, needs: &[(Arc<str>, Resources)]) -> Result<()> {
        let totals = sum_by_pool(needs)?;
        let mut st = self.state.lock();
        for (name, total) in &totals {
            if let Some(pool) = st.pools.get_mut(&**name) {
                let (Some(used), Some(reserved)) = (
                    pool.used.checked_sub(total),
                    pool.reserved.checked_sub(total),
                ) else {
                    return Err(PitError::Internal(format!(
                        "pool '{name}' gives back more than was reserved"
                    )));
                };
                pool.used = used;
                pool.reserved = reserved;
            }
        }
        drop(st);
        self.freed();
        Ok(())
    }

    /// Create a pool. A dimension without a limit is unlimited.
    pub fn add_pool(&self, name: &str, capacity: Capacity) -> Result<()> {
        check_name("pool", name)?;
        let mut st = self.state.lock();
        if st.pools.contains_key(name) {
            return Err(PitError::validation(format!(
                "pool '{name}' already exists"
            )));
        }
        let name: Arc<str> = Arc::from(name);
        st.pools.insert(
            name.to_string(),
            Pool {
                name: name.clone(),
                capacity,
                used: Resources::ZERO,
                reserved: Resources::ZERO,
                idle: HashMap::new(),
            },
        );
        drop(st);
        self.events
            .emit(Component::Pool, "pool.created", Subject::Name(name), &[]);
        Ok(())
    }

    /// Remove a pool; idle models in it are cooled. Fails while any model in it is allocated.
    pub fn remove_pool(&self, name: &str) -> Result<()> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let pool = st.pools.get_mut(name).ok_or_else(|| unknown_pool(name))?;
        let leased = st
            .models
            .values()
            .filter(|m| &*m.pool == name && m.handle.is_some())
            .count();
        if leased > 0 {
            return Err(PitError::validation(format!(
                "pool '{name}' still has {leased} allocated model(s); release them first"
            )));
        }
        if pool.reserved != Resources::ZERO {
            return Err(PitError::validation(format!(
                "pool '{name}' still has granted leases ({}); wait for them to end",
                pool.reserved
            )));
        }
        let idle: Vec<u64> = pool.idle.values().flatten().copied().collect();
        for id in idle {
            if let Some(mut inst) = st.models.remove(&id) {
                cool(&self.events, pool, &mut inst, TransitionReason::User)?;
            }
        }
        st.pools.remove(name);
        drop(guard);
        self.events
            .emit(Component::Pool, "pool.removed", Subject::from(name), &[]);
        Ok(())
    }
}
