//! Pool Manager bindings: pools, `ModelSpec`, `ModelHandle`, Python model runtimes.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use symphony_pit::pool::{InvokeError, ModelFailure, ModelInfo, ModelRuntime, PoolInfo};
use symphony_pit::resources::{amount_from_units, units, DIMENSIONS};
use symphony_pit::{Capacity, ModelSpec, Pit, PitError, Resources, TransitionReason, Value};

use crate::convert::{to_py, to_value};
use crate::errors::{run, to_pyerr, OrRaise};
use crate::html::{frame, render};

/// What to run and what it needs. Equal specs share warm instances (cache hits).
///
/// >>> ModelSpec("summariser", "2", cpu=2, memory_mb=4096, config={"temperature": 0.2})
#[pyclass(frozen, eq, hash, name = "ModelSpec", module = "symphony_pit._native")]
pub struct PyModelSpec {
    pub inner: Arc<ModelSpec>,
}

impl PartialEq for PyModelSpec {
    fn eq(&self, other: &Self) -> bool {
        self.inner.key() == other.inner.key()
    }
}

impl std::hash::Hash for PyModelSpec {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.key().hash(state)
    }
}

#[pymethods]
impl PyModelSpec {
    #[new]
    #[pyo3(signature = (name, version="1", model_type="echo", *, cpu=1.0, memory_mb=0.0, gpu_memory_mb=0.0, slots=1.0, config=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: &str,
        version: &str,
        model_type: &str,
        cpu: f64,
        memory_mb: f64,
        gpu_memory_mb: f64,
        slots: f64,
        config: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let config = config.map(to_value).transpose()?.unwrap_or(Value::None);
        let requirements =
            Resources::from_units(cpu, memory_mb, gpu_memory_mb, slots).or_raise(py)?;
        let spec = ModelSpec::new(name, version, model_type, requirements, config).or_raise(py)?;
        Ok(PyModelSpec {
            inner: Arc::new(spec),
        })
    }
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    #[getter]
    fn version(&self) -> &str {
        &self.inner.version
    }
    #[getter]
    fn model_type(&self) -> &str {
        &self.inner.model_type
    }
    /// Resource requirements as `{dimension: amount}`.
    #[getter]
    fn requirements<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        resources_dict(py, &self.inner.requirements)
    }
    #[getter]
    fn config(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.inner.config)
    }
    fn __repr__(&self) -> String {
        format!(
            "ModelSpec({:?}, {:?}, model_type={:?}, {})",
            self.inner.name, self.inner.version, self.inner.model_type, self.inner.requirements
        )
    }
}

fn resources_dict<'py>(py: Python<'py>, r: &Resources) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (dim, amount) in DIMENSIONS.iter().zip(r.0) {
        dict.set_item(*dim, units(amount))?;
    }
    Ok(dict)
}

fn capacity_dict<'py>(py: Python<'py>, c: &Capacity) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (dim, limit) in DIMENSIONS.iter().zip(c.0) {
        dict.set_item(*dim, limit.map(units))?;
    }
    Ok(dict)
}

fn pool_dict<'py>(py: Python<'py>, p: &PoolInfo) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("name", &p.name)?;
    dict.set_item("capacity", capacity_dict(py, &p.capacity)?)?;
    dict.set_item("used", resources_dict(py, &p.used)?)?;
    dict.set_item("reserved", resources_dict(py, &p.reserved)?)?;
    dict.set_item("models", p.models)?;
    dict.set_item("allocated", p.leased)?;
    Ok(dict)
}

fn model_dict<'py>(py: Python<'py>, m: &ModelInfo) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("model_id", m.id)?;
    dict.set_item("name", &m.spec.name)?;
    dict.set_item("version", &m.spec.version)?;
    dict.set_item("model_type", &m.spec.model_type)?;
    dict.set_item("pool", &m.pool)?;
    dict.set_item("state", m.state.as_str())?;
    dict.set_item("handle", m.handle)?;
    dict.set_item("invocations", m.invocations)?;
    dict.set_item("failures", m.failures)?;
    dict.set_item("last_used", m.last_used)?;
    let history = PyList::empty(py);
    for t in &m.history {
        history.append((t.from.as_str(), t.to.as_str(), t.reason.as_str(), t.time))?;
    }
    dict.set_item("transitions", history)?;
    Ok(dict)
}

/// A model runtime implemented by Python callables: `handler(spec, input) -> output` and an
/// optional `load(spec)` run while the model warms.
struct PythonRuntime {
    handler: Py<PyAny>,
    load: Option<Py<PyAny>>,
}

fn failure(py: Python<'_>, err: PyErr) -> ModelFailure {
    ModelFailure {
        message: err.value(py).to_string(),
        payload: Some(Box::new(err)),
    }
}

impl ModelRuntime for PythonRuntime {
    fn load(&self, spec: &ModelSpec) -> Result<(), ModelFailure> {
        let Some(load) = &self.load else {
            return Ok(());
        };
        Python::attach(|py| {
            let spec = PyModelSpec {
                inner: Arc::new(spec.clone()),
            };
            load.call1(py, (spec,))
                .map(drop)
                .map_err(|e| failure(py, e))
        })
    }

    fn invoke(&self, spec: &ModelSpec, input: Value) -> Result<Value, ModelFailure> {
        Python::attach(|py| {
            let outcome = (|| {
                let spec = PyModelSpec {
                    inner: Arc::new(spec.clone()),
                };
                let output = self.handler.call1(py, (spec, to_py(py, &input)?))?;
                to_value(output.bind(py))
            })();
            outcome.map_err(|e| failure(py, e))
        })
    }
}

/// Pools with capacity, and models allocated against them. Reach it as `pit.pools`.
#[pyclass(frozen, name = "PoolManager", module = "symphony_pit._native")]
pub struct PyPoolManager {
    pub pit: Arc<Pit>,
}

fn limit(py: Python<'_>, field: &str, value: Option<f64>) -> PyResult<Option<u64>> {
    value
        .map(|v| amount_from_units(field, v))
        .transpose()
        .or_raise(py)
}

/// Accept a `ModelHandle` or its integer id.
fn handle_id(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(h) = obj.cast::<PyModelHandle>() {
        return Ok(h.get().handle);
    }
    obj.extract::<u64>().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "expected a ModelHandle or its integer id, got {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })
}

#[pymethods]
impl PyPoolManager {
    /// Create a pool. A dimension left as None is unlimited.
    #[pyo3(signature = (name, *, cpu=None, memory_mb=None, gpu_memory_mb=None, slots=None))]
    fn add_pool(
        &self,
        py: Python<'_>,
        name: &str,
        cpu: Option<f64>,
        memory_mb: Option<f64>,
        gpu_memory_mb: Option<f64>,
        slots: Option<f64>,
    ) -> PyResult<()> {
        let capacity = Capacity([
            limit(py, "cpu", cpu)?,
            limit(py, "memory_mb", memory_mb)?,
            limit(py, "gpu_memory_mb", gpu_memory_mb)?,
            limit(py, "slots", slots)?,
        ]);
        let pit = self.pit.clone();
        run(py, move || pit.pools.add_pool(name, capacity))
    }

    /// Remove a pool (its idle models are cooled). Fails while a model in it is allocated.
    fn remove_pool(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let pit = self.pit.clone();
        run(py, move || pit.pools.remove_pool(name))
    }

    /// Allocate a model of `spec` in `pool`. Reuses an idle Hot model of the same spec when there
    /// is one (a cache hit, no new capacity); raises `ResourceExhausted` when it cannot fit.
    fn allocate(&self, py: Python<'_>, pool: &str, spec: &PyModelSpec) -> PyResult<PyModelHandle> {
        let pit = &self.pit;
        let spec_arc = &spec.inner;
        let a = run(py, move || pit.pools.allocate(pool, spec_arc))?;
        Ok(PyModelHandle {
            pit: self.pit.clone(),
            handle: a.handle,
            model_id: a.model_id,
            pool: pool.to_owned(),
            spec: spec.inner.clone(),
            cache_hit: a.cache_hit,
        })
    }

    /// Release an allocation (a `ModelHandle` or its id). The model stays Hot for reuse unless
    /// `unload=True`.
    #[pyo3(signature = (handle, *, unload=false))]
    fn release(&self, py: Python<'_>, handle: &Bound<'_, PyAny>, unload: bool) -> PyResult<()> {
        let id = handle_id(handle)?;
        let pit = &self.pit;
        run(py, move || pit.pools.release(id, unload))
    }

    /// Warm `count` idle models of `spec` ahead of demand; returns their model ids.
    #[pyo3(signature = (pool, spec, count=1))]
    fn prewarm(
        &self,
        py: Python<'_>,
        pool: &str,
        spec: &PyModelSpec,
        count: usize,
    ) -> PyResult<Vec<u64>> {
        let pit = &self.pit;
        let spec = &spec.inner;
        run(py, move || pit.pools.prewarm(pool, spec, count))
    }

    /// Cool idle models unused for `idle_seconds` or more (in `pools`, default all); returns
    /// how many were cooled.
    #[pyo3(signature = (idle_seconds=0.0, pools=None))]
    fn cool_idle(
        &self,
        py: Python<'_>,
        idle_seconds: f64,
        pools: Option<Vec<String>>,
    ) -> PyResult<usize> {
        let pit = &self.pit;
        run(py, move || {
            pit.pools
                .cool_idle_in(idle_seconds, TransitionReason::Cooldown, |name| {
                    pools.as_ref().is_none_or(|p| p.iter().any(|x| x == name))
                })
        })
    }

    /// Run models of `model_type` with `handler(spec, input) -> output`; `load(spec)`, if
    /// given, runs while a new model warms. An exception in either sends the model to Failed.
    #[pyo3(signature = (model_type, handler, *, load=None))]
    fn register_runtime(
        &self,
        py: Python<'_>,
        model_type: &str,
        handler: Py<PyAny>,
        load: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        for (what, f) in [("handler", Some(&handler)), ("load", load.as_ref())] {
            if let Some(f) = f {
                if !f.bind(py).is_callable() {
                    return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                        "{what} must be callable"
                    )));
                }
            }
        }
        let runtime = Arc::new(PythonRuntime { handler, load });
        self.pit
            .pools
            .register_runtime(model_type, runtime)
            .or_raise(py)
    }

    /// Model types that have a runtime.
    fn runtimes(&self) -> Vec<String> {
        self.pit.pools.runtime_types()
    }

    /// Every pool with its capacity and use.
    fn pools<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let pit = &self.pit;
        let pools = run(py, move || Ok(pit.pools.pools()))?;
        pools.iter().map(|p| pool_dict(py, p)).collect()
    }

    /// One pool with its capacity and use.
    fn pool<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyDict>> {
        let pit = &self.pit;
        let pool = run(py, move || pit.pools.pool(name))?;
        pool_dict(py, &pool)
    }

    /// Every live model instance with its state and transition history.
    fn models<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let pit = &self.pit;
        let models = run(py, move || Ok(pit.pools.models()))?;
        models.iter().map(|m| model_dict(py, m)).collect()
    }

    /// Allocation counters and the cache hit rate.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.pit.pools.stats();
        let dict = PyDict::new(py);
        dict.set_item("allocations", s.allocations)?;
        dict.set_item("cache_hits", s.cache_hits)?;
        dict.set_item("cache_misses", s.cache_misses)?;
        let rate = if s.allocations == 0 {
            0.0
        } else {
            s.cache_hits as f64 / s.allocations as f64
        };
        dict.set_item("hit_rate", rate)?;
        dict.set_item("releases", s.releases)?;
        dict.set_item("evictions", s.evictions)?;
        dict.set_item("exhausted", s.exhausted)?;
        dict.set_item("invocations", s.invocations)?;
        dict.set_item("failures", s.failures)?;
        Ok(dict)
    }

    /// Raise `InternalError` if the capacity accounting is inconsistent (it never should be).
    fn check_invariants(&self, py: Python<'_>) -> PyResult<()> {
        let pit = &self.pit;
        run(py, move || pit.pools.check_invariants())
    }

    /// The live models as a pandas DataFrame.
    fn to_pandas<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        frame(slf.as_any(), "pools_frame", vec![])
    }

    fn __len__(&self) -> usize {
        self.pit.pools.pool_count()
    }

    fn __contains__(&self, name: &str) -> bool {
        self.pit.pools.has_pool(name)
    }

    fn __repr__(&self) -> String {
        let s = self.pit.pools.stats();
        format!(
            "PoolManager(pools={}, models={}, allocations={}, cache_hits={})",
            self.pit.pools.pool_count(),
            self.pit.pools.models().len(),
            s.allocations,
            s.cache_hits
        )
    }

    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        render(slf.as_any(), "pools_html")
    }
}

/// An allocated model. Use it as a context manager to release it automatically.
#[pyclass(frozen, name = "ModelHandle", module = "symphony_pit._native")]
pub struct PyModelHandle {
    pit: Arc<Pit>,
    handle: u64,
    model_id: u64,
    pool: String,
    spec: Arc<ModelSpec>,
    cache_hit: bool,
}

#[pymethods]
impl PyModelHandle {
    #[getter]
    fn id(&self) -> u64 {
        self.handle
    }
    #[getter]
    fn model_id(&self) -> u64 {
        self.model_id
    }
    #[getter]
    fn pool(&self) -> &str {
        &self.pool
    }
    #[getter]
    fn spec(&self) -> PyModelSpec {
        PyModelSpec {
            inner: self.spec.clone(),
        }
    }
    /// Whether this allocation reused a Hot model.
    #[getter]
    fn cache_hit(&self) -> bool {
        self.cache_hit
    }
    /// The model's lifecycle state, or "released".
    #[getter]
    fn status(&self) -> &'static str {
        self.pit
            .pools
            .handle_state(self.handle)
            .map(|s| s.as_str())
            .unwrap_or("released")
    }

    /// Run the model on `input`. An exception raised by a Python runtime is re-raised as is.
    #[pyo3(signature = (input=None))]
    fn invoke(&self, py: Python<'_>, input: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let input = input.map(to_value).transpose()?.unwrap_or(Value::None);
        let pit = &self.pit;
        let handle = self.handle;
        let outcome = py.detach(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pit.pools.invoke(handle, input)
            }))
        });
        match outcome {
            Ok(Ok(value)) => to_py(py, &value),
            Ok(Err(InvokeError::Pit(e))) => Err(to_pyerr(py, e)),
            Ok(Err(InvokeError::Model(f))) => {
                match f.payload.and_then(|p| p.downcast::<PyErr>().ok()) {
                    Some(original) => Err(*original),
                    None => Err(to_pyerr(
                        py,
                        PitError::Validation(format!("model failed: {}", f.message)),
                    )),
                }
            }
            Err(panic) => Err(crate::errors::panic_to_pyerr(py, panic)),
        }
    }

    /// Release the allocation; the model stays Hot for reuse unless `unload=True`.
    #[pyo3(signature = (*, unload=false))]
    fn release(&self, py: Python<'_>, unload: bool) -> PyResult<()> {
        let pit = &self.pit;
        let handle = self.handle;
        run(py, move || pit.pools.release(handle, unload))
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        let pit = &self.pit;
        let handle = self.handle;
        match run(py, move || match pit.pools.release(handle, false) {
            Err(PitError::NotFound(_)) => Ok(()),
            other => other,
        }) {
            Ok(()) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "ModelHandle(id={}, model={:?} v{}, pool={:?}, status={}, cache_hit={})",
            self.handle,
            self.spec.name,
            self.spec.version,
            self.pool,
            self.status(),
            if self.cache_hit { "True" } else { "False" } // as Python writes a bool
        )
    }

    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        render(slf.as_any(), "handle_html")
    }
}
