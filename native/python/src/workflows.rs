//! Workflow bindings: compiled manifests, the Python host that runs callables for the engine,
//! run results, cancel tokens.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use pyo3::exceptions::{PyKeyboardInterrupt, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use symphony_pit::workflow::{
    execute, CancelToken, CompiledWorkflow, Host, NodeError, NodeErrorKind, Output, RunOptions,
    RunReport,
};
use symphony_pit::{ArtifactId, Pit, Value};

use crate::convert::{to_py, to_value};
use crate::errors::{panic_to_pyerr, run, to_pyerr, validation, OrRaise};

type Data = Arc<Py<PyAny>>;

/// Runs the workflow's Python callables for the engine, on whichever thread it asks.
struct PyHost {
    callables: Vec<Py<PyAny>>,
}

/// A Python exception as a node error, keeping the exception object and its traceback.
fn node_error(py: Python<'_>, err: PyErr) -> NodeError {
    // Keep the traceback on the exception object itself, so re-raising it later shows the frames
    // of the node's code.
    if let Some(tb) = err.traceback(py) {
        let _ = err.value(py).call_method1("with_traceback", (tb,));
    }
    let exception = err
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    let message = err
        .value(py)
        .str()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let traceback = py
        .import("traceback")
        .and_then(|tb| tb.call_method1("format_exception", (err.value(py),)))
        .and_then(|lines| {
            let lines: Vec<String> = lines.extract()?;
            Ok(lines.concat())
        })
        .ok();
    let interrupt = err.is_instance_of::<PyKeyboardInterrupt>(py);
    NodeError {
        kind: NodeErrorKind::Host(exception),
        message,
        traceback,
        payload: Some(Arc::new(err)),
        interrupt,
    }
}

/// What a node receives for one of its inputs: a value equal to the artifact its lineage names.
/// An immutable object (see [`shareable`]) is handed on as it is; anything a node could change
/// in place (a list, a dict, an array) is made afresh from the stored value for each consumer,
/// so one node changing its input changes nothing another node, or the run's outputs, see.
fn input_object<'py>(py: Python<'py>, output: &Output<Data>) -> PyResult<Bound<'py, PyAny>> {
    match &output.data {
        Some(object) if shareable(object.bind(py), 0) => Ok(object.bind(py).clone()),
        _ => Ok(to_py(py, &output.value)?.into_bound(py)),
    }
}

/// Whether `object` cannot change and is kept by the store exactly as it is: None, and exact
/// (not subclassed) bool, int, float, str, bytes, and tuples of those (a few levels deep).
fn shareable(object: &Bound<'_, PyAny>, depth: usize) -> bool {
    object.is_none()
        || object.is_exact_instance_of::<PyInt>()
        || object.is_exact_instance_of::<PyFloat>()
        || object.is_exact_instance_of::<PyString>()
        || object.is_exact_instance_of::<PyBool>()
        || object.is_exact_instance_of::<PyBytes>()
        || (depth < 4
            && object.is_exact_instance_of::<PyTuple>()
            && object
                .cast::<PyTuple>()
                .is_ok_and(|t| t.iter().all(|item| shareable(&item, depth + 1))))
}

impl Host for PyHost {
    type Data = Data;

    fn call(&self, slot: usize, inputs: &[Output<Data>]) -> Result<(Data, Value), NodeError> {
        Python::attach(|py| {
            let args = inputs
                .iter()
                .map(|o| input_object(py, o))
                .collect::<PyResult<Vec<_>>>()
                .and_then(|args| PyTuple::new(py, args))
                .map_err(|e| node_error(py, e))?;
            let callable = self.callables.get(slot).ok_or_else(|| {
                NodeError::new(
                    NodeErrorKind::Internal,
                    format!("no callable for slot {slot}"),
                )
            })?;
            let result = callable
                .bind(py)
                .call1(args)
                .map_err(|e| node_error(py, e))?;
            match to_value(&result) {
                Ok(value) => Ok((Arc::new(result.unbind()), value)),
                Err(e) => {
                    let kind = result
                        .get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default();
                    let why = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
                    let err = PyTypeError::new_err(format!(
                        "the node returned a {kind}, which the Pit cannot store: {why}"
                    ));
                    Err(node_error(py, err))
                }
            }
        })
    }

    fn check_interrupt(&self) -> Result<(), NodeError> {
        Python::attach(|py| py.check_signals().map_err(|e| node_error(py, e)))
    }
}

/// A validated workflow manifest, ready to run many times.
#[pyclass(frozen, name = "CompiledWorkflow", module = "symphony_pit._native")]
pub struct PyCompiledWorkflow {
    inner: Arc<CompiledWorkflow>,
}

#[pymethods]
impl PyCompiledWorkflow {
    /// Validate manifest JSON; `ValidationError` names the field and the reason.
    #[new]
    fn new(py: Python<'_>, manifest: &str) -> PyResult<Self> {
        // Read in place: the caller's str outlives the call.
        let inner = run(py, || CompiledWorkflow::from_json(manifest))?;
        Ok(PyCompiledWorkflow {
            inner: Arc::new(inner),
        })
    }

    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// Declared workflow inputs, in order.
    #[getter]
    fn inputs(&self) -> Vec<String> {
        self.inner.manifest.inputs.clone()
    }

    /// Node names in manifest order.
    #[getter]
    fn nodes(&self) -> Vec<String> {
        self.inner
            .manifest
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }

    /// Names of the output nodes.
    #[getter]
    fn outputs(&self) -> Vec<String> {
        self.inner
            .outputs
            .iter()
            .map(|&i| self.inner.nodes[i].name.to_string())
            .collect()
    }

    /// How many Python callables a run needs (bodies, sub-workflow nodes and fallbacks, depth-first).
    #[getter]
    fn host_slots(&self) -> usize {
        self.inner.host_slots
    }

    /// The manifest as JSON (normalised: defaults left out).
    #[pyo3(signature = (indent=false))]
    fn to_json(&self, indent: bool) -> String {
        if indent {
            self.inner.manifest.to_json_pretty()
        } else {
            self.inner.manifest.to_json()
        }
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "CompiledWorkflow('{}', nodes={}, inputs={:?})",
            self.inner.name(),
            self.inner.len(),
            self.inner.manifest.inputs
        )
    }
}

/// Cancels a workflow run from another thread or an asyncio task.
#[pyclass(frozen, name = "CancelToken", module = "symphony_pit._native")]
#[derive(Default)]
pub struct PyCancelToken {
    inner: CancelToken,
}

#[pymethods]
impl PyCancelToken {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Ask the run to stop: unfinished nodes become Cancelled, running results are discarded.
    fn cancel(&self) {
        self.inner.cancel();
    }

    #[getter]
    fn cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    fn __repr__(&self) -> String {
        format!("CancelToken(cancelled={})", self.inner.is_cancelled())
    }
}

/// The outcome of one workflow run, as the engine reported it.
#[pyclass(frozen, name = "RunReport", module = "symphony_pit._native")]
pub struct PyRunReport {
    inner: RunReport<Data>,
    /// The workflow that ran: its graph finds nodes by name (report nodes are in its order).
    workflow: Arc<CompiledWorkflow>,
}

fn object_of(py: Python<'_>, output: &Output<Data>) -> PyResult<Py<PyAny>> {
    match &output.data {
        Some(object) => Ok(object.clone_ref(py)),
        None => to_py(py, &output.value),
    }
}

impl PyRunReport {
    fn node(&self, name: &str) -> PyResult<usize> {
        self.workflow.graph.index_of(name).ok_or_else(|| {
            pyo3::exceptions::PyKeyError::new_err(format!(
                "run '{}' has no node '{name}'",
                self.inner.run_id
            ))
        })
    }
}

#[pymethods]
impl PyRunReport {
    #[getter]
    fn run_id(&self) -> &str {
        &self.inner.run_id
    }
    #[getter]
    fn workflow(&self) -> &str {
        &self.inner.workflow
    }
    /// "completed", "failed" or "cancelled".
    #[getter]
    fn status(&self) -> &'static str {
        self.inner.status.as_str()
    }
    #[getter]
    fn started_at(&self) -> f64 {
        self.inner.started_at
    }
    #[getter]
    fn finished_at(&self) -> f64 {
        self.inner.finished_at
    }
    /// The first node that failed for good, if any.
    #[getter]
    fn failed_node(&self) -> Option<String> {
        self.inner
            .failed_node
            .map(|i| self.inner.name_of(i).to_owned())
    }
    /// Whether a KeyboardInterrupt cancelled the run.
    #[getter]
    fn interrupted(&self) -> bool {
        self.inner.interrupt.is_some()
    }
    /// Names of the output nodes.
    #[getter]
    fn output_names(&self) -> Vec<String> {
        self.inner
            .outputs
            .iter()
            .map(|&i| self.inner.name_of(i).to_owned())
            .collect()
    }
    /// Node names in manifest order.
    #[getter]
    fn node_names(&self) -> Vec<String> {
        (0..self.inner.nodes.len())
            .map(|i| self.inner.name_of(i).to_owned())
            .collect()
    }

    /// The result of node `name` (the very object its callable returned when it ran in this
    /// process); `None` when it has none.
    fn result(&self, py: Python<'_>, name: &str) -> PyResult<Option<Py<PyAny>>> {
        let i = self.node(name)?;
        self.inner.nodes[i]
            .output
            .as_ref()
            .map(|o| object_of(py, o))
            .transpose()
    }

    /// Artifact id of node `name`'s result.
    fn artifact(&self, name: &str) -> PyResult<Option<String>> {
        let i = self.node(name)?;
        Ok(self.inner.nodes[i].output.as_ref().map(|o| o.id.to_hex()))
    }

    /// Artifact ids of the workflow inputs, in declared order.
    fn input_artifacts(&self) -> Vec<String> {
        self.inner.inputs.iter().map(|o| o.id.to_hex()).collect()
    }

    /// The original exception raised by node `name` (its last failure), with its traceback.
    fn exception(&self, py: Python<'_>, name: &str) -> PyResult<Option<Py<PyAny>>> {
        let i = self.node(name)?;
        let Some(error) = &self.inner.nodes[i].error else {
            return Ok(None);
        };
        if let Some(err) = error
            .payload
            .as_ref()
            .and_then(|p| p.downcast_ref::<PyErr>())
        {
            return Ok(Some(err.value(py).clone().into_any().unbind()));
        }
        // A built-in node or the engine failed: the exception class of its kind.
        let class = crate::errors::node_error_class(py, &error.kind)?;
        Ok(Some(class.call1((error.message.as_str(),))?.unbind()))
    }

    /// One dict per node (manifest order): state, attempts, cached, reused, fallback, worker,
    /// pool, error, exception type, traceback, artifact, times, sub-run.
    fn node_rows<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let rows = PyList::empty(py);
        for (i, n) in self.inner.nodes.iter().enumerate() {
            let d = PyDict::new(py);
            d.set_item("node", self.inner.name_of(i))?;
            d.set_item("state", self.inner.states[i].as_str())?;
            d.set_item("attempts", n.attempts)?;
            d.set_item("cached", n.cached)?;
            d.set_item("reused", n.reused)?;
            d.set_item("fallback", n.fallback)?;
            d.set_item("worker", n.worker)?;
            d.set_item("pool", &*self.workflow.nodes[i].pool)?;
            d.set_item(
                "exception",
                n.error
                    .as_ref()
                    .map(|e| crate::errors::node_error_name(&e.kind)),
            )?;
            d.set_item("error", n.error.as_ref().map(|e| e.message.as_str()))?;
            d.set_item(
                "traceback",
                n.error.as_ref().and_then(|e| e.traceback.as_deref()),
            )?;
            d.set_item("artifact", n.output.as_ref().map(|o| o.id.to_hex()))?;
            d.set_item("ready_at", n.ready_at.get())?;
            d.set_item("started_at", n.started_at.get())?;
            d.set_item("finished_at", n.finished_at.get())?;
            d.set_item("sub_run", self.inner.sub_run_of(i))?;
            rows.append(d)?;
        }
        Ok(rows)
    }

    fn __repr__(&self) -> String {
        format!(
            "RunReport('{}', status={}, nodes={})",
            self.inner.run_id,
            self.inner.status.as_str(),
            self.inner.nodes.len()
        )
    }
}

fn parse_reuse(
    py: Python<'_>,
    reuse: Option<HashMap<String, String>>,
) -> PyResult<HashMap<String, ArtifactId>> {
    reuse
        .unwrap_or_default()
        .into_iter()
        .map(|(node, id)| ArtifactId::parse(&id).map(|id| (node, id)).or_raise(py))
        .collect()
}

/// Run a compiled workflow for `Pit._execute` (see its docstring).
#[allow(clippy::too_many_arguments)]
pub fn execute_workflow(
    py: Python<'_>,
    pit: &Arc<Pit>,
    workflow: &PyCompiledWorkflow,
    callables: Vec<Py<PyAny>>,
    inputs: Vec<Bound<'_, PyAny>>,
    cache: bool,
    concurrency: Option<HashMap<String, usize>>,
    cancel: Option<&PyCancelToken>,
    reuse: Option<HashMap<String, String>>,
    tenant: Option<String>,
) -> PyResult<PyRunReport> {
    let wf = workflow.inner.clone();
    if callables.len() != wf.host_slots {
        return Err(validation(
            py,
            format!(
                "workflow '{}' needs {} callable(s), got {}",
                wf.name(),
                wf.host_slots,
                callables.len()
            ),
        ));
    }
    for (k, c) in callables.iter().enumerate() {
        if !c.bind(py).is_callable() {
            return Err(validation(py, format!("callable #{k} is not callable")));
        }
    }
    if let Some(limits) = &concurrency {
        if let Some((pool, _)) = limits.iter().find(|(_, &n)| n == 0) {
            return Err(validation(
                py,
                format!("concurrency of pool '{pool}' must be at least 1"),
            ));
        }
    }
    let mut values = Vec::with_capacity(inputs.len());
    for (k, obj) in inputs.iter().enumerate() {
        let value = to_value(obj).map_err(|e| {
            let name = wf.manifest.inputs.get(k).cloned().unwrap_or_default();
            PyTypeError::new_err(format!("workflow input '{name}' cannot be stored: {e}"))
        })?;
        values.push((value, Some(Arc::new(obj.clone().unbind()))));
    }
    let opts = RunOptions {
        cache,
        concurrency: concurrency.unwrap_or_default(),
        cancel: cancel.map(|c| c.inner.clone()).unwrap_or_default(),
        reuse: parse_reuse(py, reuse)?,
        tenant: tenant.map(|t| Arc::from(t.as_str())),
    };
    let host = Arc::new(PyHost { callables });
    let pit = pit.clone();
    let outcome = py.detach(|| {
        catch_unwind(AssertUnwindSafe(|| {
            execute(&pit, &wf, &host, values, &opts)
        }))
    });
    let report = match outcome {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => return Err(to_pyerr(py, e)),
        Err(payload) => return Err(panic_to_pyerr(py, payload)),
    };
    Ok(PyRunReport {
        inner: report,
        workflow: wf,
    })
}
