//! Property tests: capacity accounting never goes negative, never leaks, never overflows a pool,
//! whatever sequence of allocations, releases, failures and cool-downs happens.

use std::sync::Arc;

use proptest::prelude::*;
use symphony_pit::pool::{ModelFailure, ModelRuntime};
use symphony_pit::{
    Capacity, ModelSpec, Pit, PitConfig, PitError, Resources, TransitionReason, Value,
};

struct FailOnTrue;
impl ModelRuntime for FailOnTrue {
    fn invoke(&self, _: &ModelSpec, input: Value) -> Result<Value, ModelFailure> {
        match input {
            Value::Bool(true) => Err(ModelFailure {
                message: "asked to fail".into(),
                payload: None,
            }),
            other => Ok(other),
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Allocate { spec: usize },
    Release { nth: usize, unload: bool },
    Invoke { nth: usize, fail: bool },
    Prewarm { spec: usize },
    CoolIdle,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize).prop_map(|spec| Op::Allocate { spec }),
        3 => (0..8usize, any::<bool>()).prop_map(|(nth, unload)| Op::Release { nth, unload }),
        2 => (0..8usize, any::<bool>()).prop_map(|(nth, fail)| Op::Invoke { nth, fail }),
        1 => (0..4usize).prop_map(|spec| Op::Prewarm { spec }),
        1 => Just(Op::CoolIdle),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn accounting_invariants_hold(ops in proptest::collection::vec(op(), 1..60)) {
        let pit = Pit::open(PitConfig::in_memory()).unwrap();
        pit.pools.register_runtime("flaky", Arc::new(FailOnTrue)).unwrap();
        pit.pools.add_pool("p", Capacity([Some(4000), Some(3000), None, Some(5000)])).unwrap();
        let specs: Vec<Arc<ModelSpec>> = (0..4)
            .map(|i| {
                let req = Resources::from_units(0.5 + i as f64, 500.0 * i as f64, 0.0, 1.0).unwrap();
                Arc::new(ModelSpec::new(&format!("m{i}"), "1", "flaky", req, Value::None).unwrap())
            })
            .collect();
        let mut handles: Vec<u64> = Vec::new();
        for op in ops {
            match op {
                Op::Allocate { spec } => match pit.pools.allocate("p", &specs[spec]) {
                    Ok(a) => handles.push(a.handle),
                    Err(PitError::ResourceExhausted(_)) => {}
                    Err(e) => panic!("unexpected {e:?}"),
                },
                Op::Release { nth, unload } if !handles.is_empty() => {
                    let h = handles.remove(nth % handles.len());
                    pit.pools.release(h, unload).unwrap();
                    prop_assert!(pit.pools.release(h, false).is_err());
                }
                Op::Invoke { nth, fail } if !handles.is_empty() => {
                    let _ = pit.pools.invoke(handles[nth % handles.len()], Value::Bool(fail));
                }
                Op::Prewarm { spec } => {
                    let _ = pit.pools.prewarm("p", &specs[spec], 1);
                }
                Op::CoolIdle => {
                    pit.pools.cool_idle(0.0, TransitionReason::Cooldown).unwrap();
                }
                _ => {}
            }
            pit.pools.check_invariants().map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        for h in handles {
            pit.pools.release(h, true).unwrap();
        }
        pit.pools.cool_idle(0.0, TransitionReason::Cooldown).unwrap();
        pit.pools.check_invariants().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(pit.pools.pool("p").unwrap().used, Resources::ZERO);
        let stats = pit.pools.stats();
        prop_assert_eq!(stats.allocations, stats.cache_hits + stats.cache_misses);
    }
}
