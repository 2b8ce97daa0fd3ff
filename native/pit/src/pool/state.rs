//! The Pool Manager's state (under its one lock) and the rules that change it: a model's
//! transitions, capacity given back, making room by cooling idle models (LRU).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::info::PoolStats;
use super::model::{ModelSpec, ModelState, Transition, TransitionReason};
use crate::error::{PitError, Result};
use crate::events::{Component, EventLog, Field, Subject};
use crate::resources::{Capacity, Resources};

/// Transitions kept per model instance (the oldest go first).
pub(super) const HISTORY_LIMIT: usize = 32;

pub(super) struct Instance {
    pub(super) id: u64,
    pub(super) spec: Arc<ModelSpec>,
    pub(super) pool: Arc<str>,
    pub(super) state: ModelState,
    pub(super) handle: Option<u64>,
    /// Whether `spec.requirements` are counted in the pool's `used`.
    pub(super) holds_capacity: bool,
    pub(super) invocations: u64,
    pub(super) failures: u64,
    pub(super) last_used: f64,
    pub(super) history: Vec<Transition>,
}

impl Instance {
    /// A new Cold instance whose requirements are now counted in `pool` (the caller has checked
    /// that they fit).
    pub(super) fn reserve(
        pool: &mut Pool,
        id: u64,
        spec: &Arc<ModelSpec>,
        handle: Option<u64>,
    ) -> Result<Instance> {
        pool.used = pool.used.checked_add(&spec.requirements).ok_or_else(|| {
            PitError::Internal(format!("capacity overflow in pool '{}'", pool.name))
        })?;
        Ok(Instance {
            id,
            spec: spec.clone(),
            pool: pool.name.clone(),
            state: ModelState::Cold,
            handle,
            holds_capacity: true,
            invocations: 0,
            failures: 0,
            last_used: crate::now(),
            history: Vec::new(),
        })
    }
}

pub(super) struct Pool {
    pub(super) name: Arc<str>,
    pub(super) capacity: Capacity,
    /// Held by model instances plus `reserved`.
    pub(super) used: Resources,
    /// Held by Arbitration leases (part of `used`).
    pub(super) reserved: Resources,
    /// Idle Hot instances by spec key, most recently released last.
    pub(super) idle: HashMap<[u8; 16], Vec<u64>>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) pools: HashMap<String, Pool>,
    pub(super) models: HashMap<u64, Instance>,
    pub(super) handles: HashMap<u64, u64>,
    pub(super) next_id: u64,
    pub(super) stats: PoolStats,
}

pub(super) fn transition(
    events: &EventLog,
    inst: &mut Instance,
    to: ModelState,
    reason: TransitionReason,
) -> Result<()> {
    let from = inst.state;
    if !from.can_become(to) {
        return Err(PitError::Internal(format!(
            "illegal model transition {} -> {} for model {}",
            from.as_str(),
            to.as_str(),
            inst.id
        )));
    }
    inst.state = to;
    if inst.history.len() == HISTORY_LIMIT {
        inst.history.remove(0);
    }
    let time = crate::now();
    inst.history.push(Transition {
        from,
        to,
        reason,
        time,
    });
    events.emit(
        Component::Pool,
        "model.transition",
        Subject::Pair(inst.pool.clone(), inst.spec.shared_name()),
        &[
            ("model_id", Field::UInt(inst.id)),
            ("from", Field::Word(from.as_str())),
            ("to", Field::Word(to.as_str())),
            ("reason", Field::Word(reason.as_str())),
        ],
    );
    Ok(())
}

/// Return an instance's capacity to its pool.
pub(super) fn give_back(pool: &mut Pool, inst: &mut Instance) -> Result<()> {
    if inst.holds_capacity {
        pool.used = pool
            .used
            .checked_sub(&inst.spec.requirements)
            .ok_or_else(|| {
                PitError::Internal(format!("capacity underflow in pool '{}'", pool.name))
            })?;
        inst.holds_capacity = false;
    }
    Ok(())
}

/// Hot → Cooling → Cold, releasing capacity.
pub(super) fn cool(
    events: &EventLog,
    pool: &mut Pool,
    inst: &mut Instance,
    reason: TransitionReason,
) -> Result<()> {
    transition(events, inst, ModelState::Cooling, reason)?;
    give_back(pool, inst)?;
    transition(events, inst, ModelState::Cold, reason)
}

/// A health failure: → Failed, capacity freed, → Cold (recovery).
pub(super) fn fail(events: &EventLog, pool: &mut Pool, inst: &mut Instance) -> Result<()> {
    transition(events, inst, ModelState::Failed, TransitionReason::Health)?;
    give_back(pool, inst)?;
    transition(events, inst, ModelState::Cold, TransitionReason::Recovery)
}

pub(super) fn remove_idle(pool: &mut Pool, key: &[u8; 16], id: u64) {
    if let Some(ids) = pool.idle.get_mut(key) {
        ids.retain(|&m| m != id);
        if ids.is_empty() {
            pool.idle.remove(key);
        }
    }
}

pub(super) fn unknown_pool(name: &str) -> PitError {
    PitError::not_found(format!("pool '{name}' does not exist"))
}

/// Make room for `request` in `pool` by cooling idle models, least recently used first. Cools
/// nothing when even cooling every idle model would not be enough.
pub(super) fn make_room(
    events: &EventLog,
    pool: &mut Pool,
    models: &mut HashMap<u64, Instance>,
    request: &Resources,
    what: &dyn fmt::Display,
) -> Result<()> {
    let Some(dim) = pool.capacity.overflow(&pool.used, request) else {
        return Ok(());
    };
    if !can_make_room(pool, models, request) {
        return Err(PitError::ResourceExhausted(format!(
            "pool '{}' cannot fit {what}: {}",
            pool.name,
            pool.capacity.shortfall(dim, &pool.used, request)
        )));
    }
    let mut idle: Vec<(f64, [u8; 16], u64)> = pool
        .idle
        .iter()
        .flat_map(|(k, ids)| ids.iter().map(move |&id| (*k, id)))
        .filter_map(|(k, id)| models.get(&id).map(|m| (m.last_used, k, id)))
        .collect();
    idle.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (_, key, id) in idle {
        if pool.capacity.overflow(&pool.used, request).is_none() {
            break;
        }
        if let Some(mut inst) = models.remove(&id) {
            remove_idle(pool, &key, id);
            cool(events, pool, &mut inst, TransitionReason::Pressure)?;
        }
    }
    Ok(())
}

/// Could cooling idle models make `request` fit in `pool`?
pub(super) fn can_make_room(
    pool: &Pool,
    models: &HashMap<u64, Instance>,
    request: &Resources,
) -> bool {
    let mut floor = pool.used;
    for id in pool.idle.values().flatten() {
        if let Some(m) = models.get(id) {
            floor = floor.checked_sub(&m.spec.requirements).unwrap_or(floor);
        }
    }
    pool.capacity.overflow(&floor, request).is_none()
}

/// Sum amounts per pool, keeping first-seen order.
pub(super) fn sum_by_pool(needs: &[(Arc<str>, Resources)]) -> Result<Vec<(Arc<str>, Resources)>> {
    let mut totals: Vec<(Arc<str>, Resources)> = Vec::with_capacity(needs.len());
    for (name, amount) in needs {
        match totals.iter_mut().find(|(n, _)| n == name) {
            Some((_, total)) => {
                *total = total.checked_add(amount).ok_or_else(|| {
                    PitError::validation(format!("request for pool '{name}' overflows"))
                })?;
            }
            None => totals.push((name.clone(), *amount)),
        }
    }
    Ok(totals)
}
