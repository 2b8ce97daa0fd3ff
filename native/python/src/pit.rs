//! The `Pit` class and its event stream.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use symphony_pit::events::{Event, Field};
use symphony_pit::stale::Verdict;
use symphony_pit::{Durability, Pit, PitConfig, StalePolicy};

use crate::arbitration::PyArbiter;
use crate::artifacts::PyArtifactStore;
use crate::dags::PyDagTracker;
use crate::errors::{count_arg, run, validation, OrRaise};
use crate::html::render;
use crate::pools::PyPoolManager;
use crate::workflows::{execute_workflow, PyCancelToken, PyCompiledWorkflow, PyRunReport};

/// The engine behind `symphony_pit.Pit`, which holds one (composition, not a subclass).
#[pyclass(frozen, name = "Pit", module = "symphony_pit._native")]
pub struct PyPit {
    pub inner: Arc<Pit>,
    pools: Py<PyPoolManager>,
    artifacts: Py<PyArtifactStore>,
    dags: Py<PyDagTracker>,
    arbiter: Py<PyArbiter>,
}

fn expand_home(path: PathBuf) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path,
    }
}

#[pymethods]
impl PyPit {
    #[new]
    #[pyo3(signature = (store=None, *, hot_cache_mb=256.0, durability="background", event_capacity=None, recover=false))]
    fn new(
        py: Python<'_>,
        store: Option<PathBuf>,
        hot_cache_mb: f64,
        durability: &str,
        event_capacity: Option<&Bound<'_, PyAny>>,
        recover: bool,
    ) -> PyResult<Self> {
        let event_capacity = match event_capacity {
            None => 100_000,
            Some(n) => count_arg(n, "event_capacity", 1, 1 << 32)? as usize,
        };
        if store.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            return Err(validation(
                py,
                "store must be a directory path, got an empty string (pass None for a Pit in memory)",
            ));
        }
        let durability = match durability {
            "background" => Durability::Background,
            "sync" => Durability::Sync,
            other => {
                return Err(validation(
                    py,
                    format!("durability must be 'background' or 'sync', got {other:?}"),
                ))
            }
        };
        if !(hot_cache_mb.is_finite() && hot_cache_mb >= 0.0) {
            return Err(validation(
                py,
                format!("hot_cache_mb must be a non-negative number, got {hot_cache_mb}"),
            ));
        }
        let config = PitConfig {
            store: store.map(expand_home),
            hot_bytes: (hot_cache_mb * 1024.0 * 1024.0) as u64,
            durability,
            event_capacity,
            recover,
        };
        let inner = Arc::new(run(py, move || Pit::open(config))?);
        Ok(PyPit {
            pools: Py::new(py, PyPoolManager { pit: inner.clone() })?,
            artifacts: Py::new(py, PyArtifactStore { pit: inner.clone() })?,
            dags: Py::new(py, PyDagTracker { pit: inner.clone() })?,
            arbiter: Py::new(py, PyArbiter { pit: inner.clone() })?,
            inner,
        })
    }

    /// The Pool Manager: pools, model allocation, runtimes.
    #[getter]
    fn pools(&self, py: Python<'_>) -> Py<PyPoolManager> {
        self.pools.clone_ref(py)
    }

    /// The Artifact Store: content-addressed results with lineage.
    #[getter]
    fn artifacts(&self, py: Python<'_>) -> Py<PyArtifactStore> {
        self.artifacts.clone_ref(py)
    }

    /// The DAG Tracker: workflow graphs and runs.
    #[getter]
    fn dags(&self, py: Python<'_>) -> Py<PyDagTracker> {
        self.dags.clone_ref(py)
    }

    /// Arbitration: who gets a pool's capacity when requests collide.
    #[getter]
    fn arbiter(&self, py: Python<'_>) -> Py<PyArbiter> {
        self.arbiter.clone_ref(py)
    }

    /// The store directory, or None for an in-memory Pit.
    #[getter]
    fn store(&self) -> Option<String> {
        self.inner
            .config()
            .store
            .as_ref()
            .map(|p| p.display().to_string())
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Run a compiled workflow (the engine behind `symphony_pit.Pit.run`): `callables` holds one
    /// Python callable per host slot, `inputs` one value per declared input. Blocks until the run
    /// ends; the GIL is released while the scheduler waits, and re-taken to call Python nodes.
    #[pyo3(signature = (workflow, callables, inputs, *, cache=true, concurrency=None, cancel=None, reuse=None, tenant=None))]
    #[allow(clippy::too_many_arguments)]
    fn _execute(
        &self,
        py: Python<'_>,
        workflow: &PyCompiledWorkflow,
        callables: Vec<Py<PyAny>>,
        inputs: Vec<Bound<'_, PyAny>>,
        cache: bool,
        concurrency: Option<std::collections::HashMap<String, Bound<'_, PyAny>>>,
        cancel: Option<&PyCancelToken>,
        reuse: Option<std::collections::HashMap<String, String>>,
        tenant: Option<String>,
    ) -> PyResult<PyRunReport> {
        let concurrency = concurrency
            .map(|limits| {
                limits
                    .into_iter()
                    .map(|(pool, n)| {
                        let what = format!("concurrency[{pool:?}]");
                        count_arg(&n, &what, 0, 1 << 20).map(|n| (pool, n as usize))
                    })
                    .collect::<PyResult<std::collections::HashMap<_, _>>>()
            })
            .transpose()?;
        execute_workflow(
            py,
            &self.inner,
            workflow,
            callables,
            inputs,
            cache,
            concurrency,
            cancel,
            reuse,
            tenant,
        )
    }

    /// Run the Stale Manager with a policy given as JSON (what `symphony_pit.StalePolicy`
    /// writes): returns the summary and one row per artifact (the engine behind `Pit.cleanup`).
    fn _cleanup<'py>(
        &self,
        py: Python<'py>,
        policy: &str,
        dry_run: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let policy = StalePolicy::from_json(policy).or_raise(py)?;
        let pit = self.inner.clone();
        let report = run(py, move || pit.cleanup(&policy, dry_run))?;
        let out = PyDict::new(py);
        out.set_item("dry_run", report.dry_run)?;
        out.set_item("examined", report.verdicts.len())?;
        out.set_item("kept", report.kept)?;
        out.set_item("archived", report.archived)?;
        out.set_item("deleted", report.deleted)?;
        out.set_item("bytes_archived", report.bytes_archived)?;
        out.set_item("bytes_archive_stored", report.bytes_archive_stored)?;
        out.set_item("bytes_deleted", report.bytes_deleted)?;
        out.set_item("models_released", report.models_released)?;
        out.set_item("memo_forgotten", report.memo_forgotten)?;
        out.set_item("duration", report.duration)?;
        out.set_item("verdicts", verdict_rows(py, &report.verdicts)?)?;
        Ok(out)
    }

    /// What a policy (JSON) would decide for each artifact now: a cleanup's verdict rows, with
    /// nothing done and no event.
    fn _verdicts<'py>(&self, py: Python<'py>, policy: &str) -> PyResult<Bound<'py, PyList>> {
        let policy = StalePolicy::from_json(policy).or_raise(py)?;
        let pit = self.inner.clone();
        let verdicts = run(py, move || pit.verdicts(&policy))?;
        verdict_rows(py, &verdicts)
    }

    /// The default Stale Manager policy, as JSON.
    #[staticmethod]
    fn _default_stale_policy() -> String {
        StalePolicy::default().to_json()
    }

    /// Memoised node results known to this Pit.
    #[getter]
    fn memo_entries(&self) -> usize {
        self.inner.memo.len()
    }

    /// Remove and return up to `max` of the oldest events, in order.
    #[pyo3(signature = (max=None))]
    fn poll_events(
        &self,
        py: Python<'_>,
        max: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<PyEvent>> {
        let max = match max {
            None => 1000,
            Some(n) => count_arg(n, "max", 0, u64::MAX)? as usize,
        };
        let pit = self.inner.clone();
        let events = run(py, move || Ok(pit.events.poll(max)))?;
        Ok(events.into_iter().map(|e| PyEvent { inner: e }).collect())
    }

    /// Up to `max` of the events numbered after `after`, oldest first, left for `poll_events`.
    #[pyo3(signature = (after=None, max=None))]
    fn read_events(
        &self,
        py: Python<'_>,
        after: Option<&Bound<'_, PyAny>>,
        max: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<PyEvent>> {
        let after = match after {
            None => 0,
            Some(n) => count_arg(n, "after", 0, u64::MAX)?,
        };
        let max = match max {
            None => 1000,
            Some(n) => count_arg(n, "max", 0, u64::MAX)? as usize,
        };
        let pit = self.inner.clone();
        let events = run(py, move || Ok(pit.events.read_after(after, max)))?;
        Ok(events.into_iter().map(|e| PyEvent { inner: e }).collect())
    }

    /// Events waiting to be polled.
    #[getter]
    fn events_pending(&self) -> usize {
        self.inner.events.pending()
    }

    /// Events discarded because nobody polled them in time.
    #[getter]
    fn events_dropped(&self) -> u64 {
        self.inner.events.dropped()
    }

    /// Wait until every queued write is on disk.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let pit = self.inner.clone();
        run(py, move || pit.flush())
    }

    /// Flush and stop the writer; later writes raise `ValidationError`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let pit = self.inner.clone();
        run(py, move || pit.close())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let artifacts = self.inner.artifacts.stats();
        format!(
            "Pit(store={}, pools={}, models={}, artifacts={}, runs={})",
            self.store().map_or("None".into(), |s| format!("{s:?}")),
            self.inner.pools.pool_count(),
            self.inner.pools.models().len(),
            artifacts.artifacts,
            self.inner.dags.runs().len()
        )
    }

    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        render(slf.as_any(), "pit_html")
    }
}

/// One entry of the event stream.
#[pyclass(frozen, name = "Event", module = "symphony_pit._native")]
pub struct PyEvent {
    inner: Event,
}

#[pymethods]
impl PyEvent {
    /// Position in the stream (strictly increasing across components).
    #[getter]
    fn seq(&self) -> u64 {
        self.inner.seq
    }
    /// Seconds since the Unix epoch.
    #[getter]
    fn time(&self) -> f64 {
        self.inner.time
    }
    /// "pit", "pool", "artifact" or "dag".
    #[getter]
    fn component(&self) -> &'static str {
        self.inner.component.as_str()
    }
    /// Dotted kind, e.g. "model.transition".
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind
    }
    /// What the event is about: a pool/model, an artifact id, a run or run/node.
    #[getter]
    fn subject(&self) -> String {
        self.inner.subject.to_string()
    }
    /// Details of the event.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (k, v) in &self.inner.data {
            match v {
                Field::Word(w) => dict.set_item(*k, *w)?,
                Field::Text(t) => dict.set_item(*k, &**t)?,
                Field::UInt(u) => dict.set_item(*k, *u)?,
                Field::Bool(b) => dict.set_item(*k, *b)?,
            }
        }
        Ok(dict)
    }
    /// Everything as one flat dict (handy for `pandas.DataFrame`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("seq", self.inner.seq)?;
        dict.set_item("time", self.inner.time)?;
        dict.set_item("component", self.inner.component.as_str())?;
        dict.set_item("kind", self.inner.kind)?;
        dict.set_item("subject", self.subject())?;
        dict.set_item("data", self.data(py)?)?;
        Ok(dict)
    }
    fn __repr__(&self) -> String {
        let data: Vec<String> = self
            .inner
            .data
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "Event(#{} {} {} {})",
            self.inner.seq,
            self.inner.kind,
            self.inner.subject,
            data.join(" ")
        )
    }
}

/// Verdicts as the rows `CleanupReport.decisions` holds.
fn verdict_rows<'py>(py: Python<'py>, verdicts: &[Verdict]) -> PyResult<Bound<'py, PyList>> {
    let rows = PyList::empty(py);
    for v in verdicts {
        let row = PyDict::new(py);
        row.set_item("id", v.id.to_hex())?;
        row.set_item("action", v.action.as_str())?;
        row.set_item("reason", &v.reason)?;
        row.set_item("value", v.value)?;
        row.set_item("size", v.size)?;
        row.set_item("age", v.age)?;
        row.set_item("idle", v.idle)?;
        row.set_item("access_count", v.access_count)?;
        row.set_item("tags", &v.tags)?;
        row.set_item("pinned", v.pinned)?;
        row.set_item("archived", v.archived)?;
        row.set_item("recency", v.parts.recency)?;
        row.set_item("frequency", v.parts.frequency)?;
        row.set_item("success", v.parts.success)?;
        row.set_item("tagged", v.parts.tags)?;
        row.set_item("size_score", v.parts.size)?;
        row.set_item("lineage", v.parts.lineage)?;
        rows.append(row)?;
    }
    Ok(rows)
}
