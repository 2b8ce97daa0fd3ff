//! Pool Manager: named pools with capacity, and models/workers allocated against them.
//!
//! Lifecycle of a model instance: Cold → Warming → Hot → Cooling → Cold, and any → Failed → Cold,
//! each change with a [`TransitionReason`] and an event. A released model stays Hot and idle,
//! still holding its capacity, so the next allocation of the same spec is a cache hit that costs no
//! new capacity; idle models are cooled under pressure (LRU) or after an idle TTL.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};

pub use crate::core::names::check_name;
use crate::error::{PitError, Result};
use crate::events::{Component, EventLog, Field, Subject};
use crate::resources::{Capacity, Resources};
use crate::value::Value;

/// Lifecycle state of a model instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelState {
    Cold,
    Warming,
    Hot,
    Cooling,
    Failed,
}

impl ModelState {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelState::Cold => "cold",
            ModelState::Warming => "warming",
            ModelState::Hot => "hot",
            ModelState::Cooling => "cooling",
            ModelState::Failed => "failed",
        }
    }

    /// The lifecycle graph: the only legal moves.
    pub fn can_become(self, to: ModelState) -> bool {
        use ModelState::*;
        matches!(
            (self, to),
            (Cold, Warming) | (Warming, Hot) | (Hot, Cooling) | (Cooling, Cold) | (Failed, Cold)
        ) || (to == Failed && self != Failed)
    }
}

/// Why a model changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionReason {
    User,
    Timeout,
    Health,
    Pressure,
    Prewarm,
    Cooldown,
    Recovery,
}

impl TransitionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionReason::User => "user",
            TransitionReason::Timeout => "timeout",
            TransitionReason::Health => "health",
            TransitionReason::Pressure => "pressure",
            TransitionReason::Prewarm => "prewarm",
            TransitionReason::Cooldown => "cooldown",
            TransitionReason::Recovery => "recovery",
        }
    }
}

/// What to run and what it needs. Two specs with equal fields share warm instances.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    pub version: String,
    pub model_type: String,
    pub requirements: Resources,
    pub config: Value,
    key: [u8; 16],
    /// `name`, shared with events.
    shared_name: Arc<str>,
}

impl ModelSpec {
    pub fn new(
        name: &str,
        version: &str,
        model_type: &str,
        requirements: Resources,
        config: Value,
    ) -> Result<Self> {
        check_name("model", name)?;
        check_name("model version", version)?;
        check_name("model_type", model_type)?;
        let mut hasher = blake3::Hasher::new();
        for part in [name, version, model_type] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        for amount in requirements.0 {
            hasher.update(&amount.to_le_bytes());
        }
        hasher.update(&config.encode());
        let mut key = [0u8; 16];
        key.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        Ok(ModelSpec {
            name: name.to_owned(),
            version: version.to_owned(),
            model_type: model_type.to_owned(),
            requirements,
            config,
            key,
            shared_name: Arc::from(name),
        })
    }

    /// The model name as a shared string (what events carry).
    pub fn shared_name(&self) -> Arc<str> {
        self.shared_name.clone()
    }

    /// Identity of the spec: equal specs share warm instances.
    pub fn key(&self) -> [u8; 16] {
        self.key
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "model '{}' v{}", self.name, self.version)
    }
}

/// A model failure reported by a runtime; `payload` can carry the original error object.
pub struct ModelFailure {
    pub message: String,
    pub payload: Option<Box<dyn Any + Send>>,
}

impl fmt::Debug for ModelFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelFailure")
            .field("message", &self.message)
            .finish()
    }
}

/// Error of [`PoolManager::invoke`]: either the Pit refused, or the model itself failed.
#[derive(Debug)]
pub enum InvokeError {
    Pit(PitError),
    Model(ModelFailure),
}

impl From<PitError> for InvokeError {
    fn from(e: PitError) -> Self {
        InvokeError::Pit(e)
    }
}

/// Executes models of one `model_type`.
pub trait ModelRuntime: Send + Sync {
    /// Called while the instance is Warming; an error sends it to Failed → Cold.
    fn load(&self, _spec: &ModelSpec) -> std::result::Result<(), ModelFailure> {
        Ok(())
    }
    /// Run the model on one input.
    fn invoke(&self, spec: &ModelSpec, input: Value) -> std::result::Result<Value, ModelFailure>;
}

/// Built-in runtime `echo`: returns its input (for wiring and tests).
struct EchoRuntime;

impl ModelRuntime for EchoRuntime {
    fn invoke(&self, _spec: &ModelSpec, input: Value) -> std::result::Result<Value, ModelFailure> {
        Ok(input)
    }
}

/// One state change of a model instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub from: ModelState,
    pub to: ModelState,
    pub reason: TransitionReason,
    pub time: f64,
}

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

const HISTORY_LIMIT: usize = 32;

struct Instance {
    id: u64,
    spec: Arc<ModelSpec>,
    pool: Arc<str>,
    state: ModelState,
    handle: Option<u64>,
    /// Whether `spec.requirements` are counted in the pool's `used`.
    holds_capacity: bool,
    invocations: u64,
    failures: u64,
    last_used: f64,
    history: Vec<Transition>,
}

impl Instance {
    /// A new Cold instance whose requirements are now counted in `pool` (the caller has checked
    /// that they fit).
    fn reserve(
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

struct Pool {
    name: Arc<str>,
    capacity: Capacity,
    /// Held by model instances plus `reserved`.
    used: Resources,
    /// Held by Arbitration leases (part of `used`).
    reserved: Resources,
    /// Idle Hot instances by spec key, most recently released last.
    idle: HashMap<[u8; 16], Vec<u64>>,
}

#[derive(Default)]
struct State {
    pools: HashMap<String, Pool>,
    models: HashMap<u64, Instance>,
    handles: HashMap<u64, u64>,
    next_id: u64,
    stats: PoolStats,
}

/// Pools, model instances and handles. Thread-safe; every call holds one lock briefly and never
/// while a model runtime runs.
pub struct PoolManager {
    state: Mutex<State>,
    runtimes: RwLock<HashMap<String, Arc<dyn ModelRuntime>>>,
    events: Arc<EventLog>,
    /// Told (outside the lock) whenever capacity is given back, so waiting requests can go.
    on_freed: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

/// What [`PoolManager::try_reserve`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// Everything was reserved.
    Reserved,
    /// Not now: the first pool that is short, and why.
    Busy { pool: Arc<str>, reason: String },
}

impl fmt::Debug for PoolManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolManager")
            .field("stats", &self.stats())
            .finish()
    }
}

fn transition(
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
fn give_back(pool: &mut Pool, inst: &mut Instance) -> Result<()> {
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
fn cool(
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
fn fail(events: &EventLog, pool: &mut Pool, inst: &mut Instance) -> Result<()> {
    transition(events, inst, ModelState::Failed, TransitionReason::Health)?;
    give_back(pool, inst)?;
    transition(events, inst, ModelState::Cold, TransitionReason::Recovery)
}

fn remove_idle(pool: &mut Pool, key: &[u8; 16], id: u64) {
    if let Some(ids) = pool.idle.get_mut(key) {
        ids.retain(|&m| m != id);
        if ids.is_empty() {
            pool.idle.remove(key);
        }
    }
}

impl PoolManager {
    pub fn new(events: Arc<EventLog>) -> Self {
        let mut runtimes: HashMap<String, Arc<dyn ModelRuntime>> = HashMap::new();
        runtimes.insert("echo".into(), Arc::new(EchoRuntime));
        PoolManager {
            state: Mutex::new(State::default()),
            runtimes: RwLock::new(runtimes),
            events,
            on_freed: OnceLock::new(),
        }
    }

    /// Install the listener told whenever capacity is given back (the Arbiter); once only.
    pub fn set_on_freed(&self, listener: Box<dyn Fn() + Send + Sync>) {
        let _ = self.on_freed.set(listener);
    }

    fn freed(&self) {
        if let Some(listener) = self.on_freed.get() {
            listener();
        }
    }

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

    /// Register (or replace) the runtime that executes models of `model_type`.
    pub fn register_runtime(&self, model_type: &str, runtime: Arc<dyn ModelRuntime>) -> Result<()> {
        check_name("model_type", model_type)?;
        self.runtimes.write().insert(model_type.to_owned(), runtime);
        Ok(())
    }

    pub fn runtime_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self.runtimes.read().keys().cloned().collect();
        types.sort();
        types
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

fn pool_info(st: &State, p: &Pool) -> PoolInfo {
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

fn unknown_pool(name: &str) -> PitError {
    PitError::not_found(format!("pool '{name}' does not exist"))
}

/// Make room for `request` in `pool` by cooling idle models, least recently used first. Cools
/// nothing when even cooling every idle model would not be enough.
fn make_room(
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
fn can_make_room(pool: &Pool, models: &HashMap<u64, Instance>, request: &Resources) -> bool {
    let mut floor = pool.used;
    for id in pool.idle.values().flatten() {
        if let Some(m) = models.get(id) {
            floor = floor.checked_sub(&m.spec.requirements).unwrap_or(floor);
        }
    }
    pool.capacity.overflow(&floor, request).is_none()
}

/// Sum amounts per pool, keeping first-seen order.
fn sum_by_pool(needs: &[(Arc<str>, Resources)]) -> Result<Vec<(Arc<str>, Resources)>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn manager() -> PoolManager {
        PoolManager::new(Arc::new(EventLog::new(10_000)))
    }

    fn spec(name: &str, cpu: f64) -> Arc<ModelSpec> {
        Arc::new(
            ModelSpec::new(
                name,
                "1",
                "echo",
                Resources::from_units(cpu, 0.0, 0.0, 1.0).unwrap(),
                Value::None,
            )
            .unwrap(),
        )
    }

    fn cpu_pool(pm: &PoolManager, cpu: f64) {
        pm.add_pool(
            "cpu",
            Capacity([Some((cpu * 1000.0) as u64), None, None, None]),
        )
        .unwrap();
    }

    #[test]
    fn hot_reuse_is_a_cache_hit_without_new_capacity() {
        let pm = manager();
        cpu_pool(&pm, 2.0);
        let s = spec("m", 1.0);
        let a = pm.allocate("cpu", &s).unwrap();
        assert!(!a.cache_hit);
        pm.release(a.handle, false).unwrap();
        let b = pm.allocate("cpu", &s).unwrap();
        assert!(b.cache_hit);
        assert_eq!(b.model_id, a.model_id);
        assert_eq!(pm.pool("cpu").unwrap().used.0[0], 1000);
        pm.check_invariants().unwrap();
    }

    #[test]
    fn exhaustion_names_pool_and_dimension_and_changes_nothing() {
        let pm = manager();
        cpu_pool(&pm, 1.0);
        let a = pm.allocate("cpu", &spec("a", 1.0)).unwrap();
        let err = pm.allocate("cpu", &spec("b", 0.5)).unwrap_err();
        assert!(
            matches!(&err, PitError::ResourceExhausted(m) if m.contains("'cpu'") && m.contains("cpu=0.5"))
        );
        pm.release(a.handle, false).unwrap();
        // Idle "a" is cooled under pressure to make room for "b".
        let b = pm.allocate("cpu", &spec("b", 0.5)).unwrap();
        assert!(!b.cache_hit);
        assert_eq!(pm.stats().exhausted, 1);
        pm.check_invariants().unwrap();
    }

    #[test]
    fn lifecycle_events_have_reasons() {
        let events = Arc::new(EventLog::new(100));
        let pm = PoolManager::new(events.clone());
        cpu_pool(&pm, 4.0);
        let a = pm.allocate("cpu", &spec("m", 1.0)).unwrap();
        pm.release(a.handle, true).unwrap();
        let moves: Vec<(String, String)> = events
            .poll(100)
            .into_iter()
            .filter(|e| e.kind == "model.transition")
            .map(|e| {
                let get = |k: &str| {
                    e.data
                        .iter()
                        .find(|(n, _)| *n == k)
                        .unwrap()
                        .1
                        .as_str()
                        .unwrap()
                        .to_owned()
                };
                (get("to"), get("reason"))
            })
            .collect();
        let expect = [
            ("warming", "user"),
            ("hot", "user"),
            ("cooling", "user"),
            ("cold", "user"),
        ];
        assert_eq!(moves, expect.map(|(a, b)| (a.to_owned(), b.to_owned())));
    }

    #[test]
    fn failed_invoke_goes_failed_then_cold_and_frees_capacity() {
        struct Broken;
        impl ModelRuntime for Broken {
            fn invoke(&self, _: &ModelSpec, _: Value) -> std::result::Result<Value, ModelFailure> {
                Err(ModelFailure {
                    message: "boom".into(),
                    payload: None,
                })
            }
        }
        let pm = manager();
        pm.register_runtime("broken", Arc::new(Broken)).unwrap();
        cpu_pool(&pm, 1.0);
        let s = Arc::new(
            ModelSpec::new(
                "b",
                "1",
                "broken",
                Resources::from_units(1.0, 0.0, 0.0, 0.0).unwrap(),
                Value::None,
            )
            .unwrap(),
        );
        let a = pm.allocate("cpu", &s).unwrap();
        assert!(matches!(
            pm.invoke(a.handle, Value::None),
            Err(InvokeError::Model(_))
        ));
        assert_eq!(pm.handle_state(a.handle).unwrap(), ModelState::Cold);
        assert_eq!(pm.pool("cpu").unwrap().used, Resources::ZERO);
        assert!(matches!(
            pm.invoke(a.handle, Value::None),
            Err(InvokeError::Pit(PitError::Validation(_)))
        ));
        pm.release(a.handle, false).unwrap();
        pm.check_invariants().unwrap();
        assert!(pm.models().is_empty());
    }

    #[test]
    fn release_twice_is_not_found() {
        let pm = manager();
        cpu_pool(&pm, 1.0);
        let a = pm.allocate("cpu", &spec("m", 1.0)).unwrap();
        pm.release(a.handle, false).unwrap();
        assert!(matches!(
            pm.release(a.handle, false),
            Err(PitError::NotFound(_))
        ));
    }

    #[test]
    fn lifecycle_graph_is_exactly_the_documented_one() {
        use ModelState::*;
        let all = [Cold, Warming, Hot, Cooling, Failed];
        let legal: Vec<_> = all
            .iter()
            .flat_map(|&a| all.iter().map(move |&b| (a, b)))
            .filter(|(a, b)| a.can_become(*b))
            .collect();
        assert_eq!(
            legal,
            vec![
                (Cold, Warming),
                (Cold, Failed),
                (Warming, Hot),
                (Warming, Failed),
                (Hot, Cooling),
                (Hot, Failed),
                (Cooling, Cold),
                (Cooling, Failed),
                (Failed, Cold)
            ]
        );
    }
}
