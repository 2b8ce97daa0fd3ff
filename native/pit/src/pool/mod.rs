//! Pool Manager: named pools with capacity, and models/workers allocated against them.
//!
//! Lifecycle of a model instance: Cold → Warming → Hot → Cooling → Cold, and any → Failed → Cold,
//! each change with a [`TransitionReason`] and an event. A released model stays Hot and idle,
//! still holding its capacity, so the next allocation of the same spec is a cache hit that costs no
//! new capacity; idle models are cooled under pressure (LRU) or after an idle TTL.
//!
//! Files, one job each: `model` (specs, states, reasons, runtimes), `state` (what the manager
//! holds under its lock and the rules that change it), `capacity` (pools and the leases
//! Arbitration reserves), `lifecycle` (allocate, prewarm, invoke, release, cool), `inspect`
//! (views, counters, invariants), `info` (the view types).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};

pub use crate::core::names::check_name;
use crate::error::Result;
use crate::events::EventLog;

mod capacity;
mod info;
mod inspect;
mod lifecycle;
mod model;
mod state;

pub use info::{Allocation, ModelInfo, PoolInfo, PoolStats};
use model::EchoRuntime;
pub use model::{
    InvokeError, ModelFailure, ModelRuntime, ModelSpec, ModelState, Transition, TransitionReason,
};
use state::State;

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PitError;
    use crate::resources::{Capacity, Resources};
    use crate::value::Value;

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
