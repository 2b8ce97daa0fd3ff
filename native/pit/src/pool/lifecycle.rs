//! A model's life in a pool: allocate (an idle Hot instance of the same spec is a cache hit),
//! prewarm, invoke, release, and cooling idle models after a TTL.

use std::sync::Arc;

use super::info::Allocation;
use super::model::{InvokeError, ModelSpec, ModelState, TransitionReason};
use super::state::{cool, fail, make_room, remove_idle, transition, unknown_pool, Instance};
use super::PoolManager;
use crate::error::{PitError, Result};
use crate::events::{Component, Field, Subject};
use crate::value::Value;

impl PoolManager {
    /// Allocate a model of `spec` in `pool`: an idle Hot instance of the same spec if there is one
    /// (cache hit, no new capacity), else a new instance, cooling idle models (LRU) if that makes
    /// room. `ResourceExhausted` when the request cannot fit even then.
    pub fn allocate(&self, pool_name: &str, spec: &Arc<ModelSpec>) -> Result<Allocation> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let pool = st
            .pools
            .get_mut(pool_name)
            .ok_or_else(|| unknown_pool(pool_name))?;
        let pool_label = pool.name.clone();
        st.next_id += 1;
        let handle = st.next_id;

        if let Some(ids) = pool.idle.get_mut(&spec.key) {
            if let Some(model_id) = ids.pop() {
                if ids.is_empty() {
                    pool.idle.remove(&spec.key);
                }
                let inst = st.models.get_mut(&model_id).ok_or_else(|| {
                    PitError::Internal(format!(
                        "idle model {model_id} missing from the model table"
                    ))
                })?;
                inst.handle = Some(handle);
                inst.last_used = crate::now();
                st.handles.insert(handle, model_id);
                st.stats.allocations += 1;
                st.stats.cache_hits += 1;
                drop(guard);
                self.emit_allocated(pool_label, spec, handle, model_id, true);
                return Ok(Allocation {
                    handle,
                    model_id,
                    cache_hit: true,
                });
            }
        }

        if let Err(e) = make_room(
            &self.events,
            pool,
            &mut st.models,
            &spec.requirements,
            &**spec,
        ) {
            st.stats.exhausted += 1;
            drop(guard);
            self.events.emit(
                Component::Pool,
                "pool.exhausted",
                Subject::from(pool_name),
                &[("model", Field::Text(spec.shared_name()))],
            );
            return Err(e);
        }
        let model_id = handle;
        let mut inst = Instance::reserve(pool, model_id, spec, Some(handle))?;
        transition(
            &self.events,
            &mut inst,
            ModelState::Warming,
            TransitionReason::User,
        )?;
        st.models.insert(model_id, inst);
        st.handles.insert(handle, model_id);
        st.stats.allocations += 1;
        st.stats.cache_misses += 1;
        drop(guard);

        // Loading runs without the lock: a slow model must not stall the other pools.
        let runtime = self.runtimes.read().get(&spec.model_type).cloned();
        let loaded = match runtime {
            Some(rt) => rt.load(spec),
            None => Ok(()),
        };
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let (Some(pool), Some(inst)) = (st.pools.get_mut(pool_name), st.models.get_mut(&model_id))
        else {
            return Err(PitError::Internal(format!(
                "model {model_id} vanished while warming"
            )));
        };
        match loaded {
            Ok(()) => {
                transition(&self.events, inst, ModelState::Hot, TransitionReason::User)?;
                drop(guard);
                self.emit_allocated(pool_label, spec, handle, model_id, false);
                Ok(Allocation {
                    handle,
                    model_id,
                    cache_hit: false,
                })
            }
            Err(failure) => {
                fail(&self.events, pool, inst)?;
                st.models.remove(&model_id);
                st.handles.remove(&handle);
                st.stats.failures += 1;
                Err(PitError::validation(format!(
                    "{spec} failed to load in pool '{pool_name}': {}",
                    failure.message
                )))
            }
        }
    }

    fn emit_allocated(
        &self,
        pool: Arc<str>,
        spec: &ModelSpec,
        handle: u64,
        model_id: u64,
        cache_hit: bool,
    ) {
        self.events.emit(
            Component::Pool,
            "model.allocated",
            Subject::Pair(pool, spec.shared_name()),
            &[
                ("handle", Field::UInt(handle)),
                ("model_id", Field::UInt(model_id)),
                ("cache_hit", Field::Bool(cache_hit)),
            ],
        );
    }

    /// Warm `count` idle instances of `spec` ahead of demand (reason `prewarm`).
    pub fn prewarm(
        &self,
        pool_name: &str,
        spec: &Arc<ModelSpec>,
        count: usize,
    ) -> Result<Vec<u64>> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let pool = st
            .pools
            .get_mut(pool_name)
            .ok_or_else(|| unknown_pool(pool_name))?;
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            if let Some(dim) = pool.capacity.overflow(&pool.used, &spec.requirements) {
                return Err(PitError::ResourceExhausted(format!(
                    "cannot prewarm {spec} in pool '{pool_name}' ({} warmed): {}",
                    ids.len(),
                    pool.capacity.shortfall(dim, &pool.used, &spec.requirements)
                )));
            }
            st.next_id += 1;
            let id = st.next_id;
            let mut inst = Instance::reserve(pool, id, spec, None)?;
            transition(
                &self.events,
                &mut inst,
                ModelState::Warming,
                TransitionReason::Prewarm,
            )?;
            transition(
                &self.events,
                &mut inst,
                ModelState::Hot,
                TransitionReason::Prewarm,
            )?;
            pool.idle.entry(spec.key).or_default().push(id);
            st.models.insert(id, inst);
            ids.push(id);
        }
        Ok(ids)
    }

    /// Release an allocation. The model stays Hot and idle (ready for a cache hit) unless
    /// `unload`, which cools it and frees its capacity at once.
    pub fn release(&self, handle: u64, unload: bool) -> Result<()> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let model_id = st.handles.remove(&handle).ok_or_else(|| {
            PitError::not_found(format!(
                "handle {handle} is not allocated (already released?)"
            ))
        })?;
        let inst = st.models.get_mut(&model_id).ok_or_else(|| {
            PitError::Internal(format!("handle {handle} points to a missing model"))
        })?;
        let pool = st
            .pools
            .get_mut(&*inst.pool)
            .ok_or_else(|| PitError::Internal(format!("model {model_id} is in a missing pool")))?;
        inst.handle = None;
        inst.last_used = crate::now();
        st.stats.releases += 1;
        let pool_name = pool.name.clone();
        let spec_name = inst.spec.shared_name();
        if inst.state == ModelState::Hot && !unload {
            pool.idle.entry(inst.spec.key).or_default().push(model_id);
        } else {
            if inst.state == ModelState::Hot {
                cool(&self.events, pool, inst, TransitionReason::User)?;
            }
            st.models.remove(&model_id);
        }
        drop(guard);
        self.events.emit(
            Component::Pool,
            "model.released",
            Subject::Pair(pool_name, spec_name),
            &[
                ("handle", Field::UInt(handle)),
                ("model_id", Field::UInt(model_id)),
            ],
        );
        self.freed();
        Ok(())
    }

    /// Run the allocated model on `input`. The lock is not held while the runtime runs. A runtime
    /// failure sends the model Hot → Failed → Cold (capacity freed); the handle must be released.
    pub fn invoke(&self, handle: u64, input: Value) -> std::result::Result<Value, InvokeError> {
        let spec = {
            let st = self.state.lock();
            let inst = st
                .handles
                .get(&handle)
                .and_then(|id| st.models.get(id))
                .ok_or_else(|| {
                    PitError::not_found(format!(
                        "handle {handle} is not allocated (already released?)"
                    ))
                })?;
            if inst.state != ModelState::Hot {
                return Err(PitError::validation(format!(
                    "{} (handle {handle}) is {}, not hot; release the handle and allocate again",
                    inst.spec,
                    inst.state.as_str()
                ))
                .into());
            }
            inst.spec.clone()
        };
        let runtime = self
            .runtimes
            .read()
            .get(&spec.model_type)
            .cloned()
            .ok_or_else(|| {
                PitError::not_found(format!(
                    "no runtime registered for model_type '{}' (registered: {})",
                    spec.model_type,
                    self.runtime_types().join(", ")
                ))
            })?;
        let outcome = runtime.invoke(&spec, input);

        let mut guard = self.state.lock();
        let st = &mut *guard;
        st.stats.invocations += 1;
        let model_id = st.handles.get(&handle).copied();
        if let Some(inst) = model_id.and_then(|id| st.models.get_mut(&id)) {
            inst.invocations += 1;
            inst.last_used = crate::now();
            if outcome.is_err() && inst.state == ModelState::Hot {
                inst.failures += 1;
                st.stats.failures += 1;
                if let Some(pool) = st.pools.get_mut(&*inst.pool) {
                    fail(&self.events, pool, inst)?;
                }
            }
        }
        let failed = outcome.is_err();
        drop(guard);
        if failed {
            self.freed();
        }
        outcome.map_err(InvokeError::Model)
    }

    /// Idle warm models unused since `cutoff` (what `cool_idle` would cool).
    pub fn idle_models(&self, cutoff: f64) -> usize {
        let st = self.state.lock();
        st.pools
            .values()
            .flat_map(|p| p.idle.values().flatten())
            .filter(|id| st.models.get(id).is_some_and(|m| m.last_used <= cutoff))
            .count()
    }

    /// Cool idle models unused for at least `idle_seconds` (the Stale Manager's idle TTL).
    pub fn cool_idle(&self, idle_seconds: f64, reason: TransitionReason) -> Result<usize> {
        self.cool_idle_in(idle_seconds, reason, |_| true)
    }

    /// [`cool_idle`](Self::cool_idle) in the pools `which` accepts.
    pub fn cool_idle_in(
        &self,
        idle_seconds: f64,
        reason: TransitionReason,
        which: impl Fn(&str) -> bool,
    ) -> Result<usize> {
        let cutoff = crate::now() - idle_seconds.max(0.0);
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let mut cooled = 0;
        for pool in st.pools.values_mut().filter(|p| which(&p.name)) {
            let idle: Vec<([u8; 16], u64)> = pool
                .idle
                .iter()
                .flat_map(|(k, ids)| ids.iter().map(move |&id| (*k, id)))
                .collect();
            for (key, id) in idle {
                let stale = st.models.get(&id).is_some_and(|m| m.last_used <= cutoff);
                if stale {
                    if let Some(mut inst) = st.models.remove(&id) {
                        remove_idle(pool, &key, id);
                        cool(&self.events, pool, &mut inst, reason)?;
                        cooled += 1;
                    }
                }
            }
        }
        st.stats.evictions += cooled as u64;
        drop(guard);
        if cooled > 0 {
            self.freed();
        }
        Ok(cooled)
    }
}
