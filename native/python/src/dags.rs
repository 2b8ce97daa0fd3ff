//! DAG Tracker bindings: `WorkflowGraph` and run tracking.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use symphony_pit::dag::RunSummary;
use symphony_pit::{GraphSpec, NodeState, Pit, WorkflowGraph};

use crate::convert::{to_py, to_value};
use crate::errors::{run, OrRaise};
use crate::html::{frame, render};

/// A validated workflow graph: nodes, edges, topological order, critical path.
///
/// >>> WorkflowGraph({"name": "etl", "nodes": [{"name": "load"}, {"name": "clean", "deps": ["load"]}]})
#[pyclass(frozen, name = "WorkflowGraph", module = "symphony_pit._native")]
pub struct PyWorkflowGraph {
    pub inner: Arc<WorkflowGraph>,
}

#[pymethods]
impl PyWorkflowGraph {
    /// Validate a spec `{"name": str, "nodes": [{"name", "kind", "deps", "outputs", "retries",
    /// "weight", "config"}]}`. Errors name every offending node or field.
    #[new]
    fn new(py: Python<'_>, spec: &Bound<'_, PyAny>) -> PyResult<Self> {
        let value = to_value(spec)?;
        let graph = run(py, move || {
            WorkflowGraph::build(GraphSpec::from_value(&value)?)
        })?;
        Ok(PyWorkflowGraph {
            inner: Arc::new(graph),
        })
    }
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }
    /// Node names in declaration order.
    #[getter]
    fn nodes(&self) -> Vec<String> {
        self.inner
            .spec()
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }
    /// (from, to) pairs.
    #[getter]
    fn edges(&self) -> Vec<(String, String)> {
        let name = |i: usize| self.inner.node(i).name.clone();
        self.inner
            .edges()
            .into_iter()
            .map(|(a, b)| (name(a), name(b)))
            .collect()
    }
    fn topological_order(&self) -> Vec<String> {
        self.inner
            .topological_order()
            .iter()
            .map(|&i| self.inner.node(i).name.clone())
            .collect()
    }
    /// Heaviest path by node weights: (node names, total weight).
    fn critical_path(&self) -> (Vec<String>, f64) {
        let cost: Vec<f64> = self.inner.spec().nodes.iter().map(|n| n.weight).collect();
        let (path, total) = self.inner.critical_path(&cost);
        (
            path.into_iter()
                .map(|i| self.inner.node(i).name.clone())
                .collect(),
            total,
        )
    }
    /// The spec as a plain dict (round-trips through the constructor).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let spec = self.inner.spec();
        let d = PyDict::new(py);
        d.set_item("name", &spec.name)?;
        let nodes = spec
            .nodes
            .iter()
            .map(|n| {
                let node = PyDict::new(py);
                node.set_item("name", &n.name)?;
                node.set_item("kind", &n.kind)?;
                node.set_item("deps", &n.deps)?;
                node.set_item("outputs", &n.outputs)?;
                node.set_item("retries", n.retries)?;
                node.set_item("weight", n.weight)?;
                node.set_item("config", to_py(py, &n.config)?)?;
                Ok(node)
            })
            .collect::<PyResult<Vec<_>>>()?;
        d.set_item("nodes", nodes)?;
        Ok(d)
    }
    fn __len__(&self) -> usize {
        self.inner.len()
    }
    fn __repr__(&self) -> String {
        format!(
            "WorkflowGraph({:?}, nodes={}, edges={})",
            self.inner.name(),
            self.inner.len(),
            self.inner.edges().len()
        )
    }
    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        render(slf.as_any(), "graph_html")
    }
}

fn summary_dict<'py>(py: Python<'py>, s: &RunSummary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("run_id", &s.run_id)?;
    d.set_item("workflow", &s.workflow)?;
    d.set_item("status", &s.status)?;
    d.set_item("created_at", s.created_at)?;
    d.set_item("finished_at", s.finished_at)?;
    d.set_item("nodes", s.nodes)?;
    d.set_item("succeeded", s.succeeded)?;
    d.set_item("failed", s.failed)?;
    Ok(d)
}

/// Tracks workflow runs and their node states. Reach it as `pit.dags`.
#[pyclass(frozen, name = "DagTracker", module = "symphony_pit._native")]
pub struct PyDagTracker {
    pub pit: Arc<Pit>,
}

#[pymethods]
impl PyDagTracker {
    /// Start tracking a run of `graph` (a `WorkflowGraph` or a spec dict); returns the run id.
    fn start(&self, py: Python<'_>, graph: &Bound<'_, PyAny>) -> PyResult<String> {
        let graph = match graph.cast::<PyWorkflowGraph>() {
            Ok(g) => g.get().inner.clone(),
            Err(_) => PyWorkflowGraph::new(py, graph)?.inner,
        };
        let pit = &self.pit;
        run(py, move || pit.dags.start(graph))
    }

    /// Add a node (depending on existing nodes) to a run that is still going; returns the
    /// state it starts in: "ready", "pending" (waiting on unfinished dependencies) or
    /// "skipped" (a dependency failed).
    #[pyo3(signature = (run_id, name, deps=Vec::new(), *, kind="task", weight=1.0))]
    fn append(
        &self,
        py: Python<'_>,
        run_id: &str,
        name: &str,
        deps: Vec<String>,
        kind: &str,
        weight: f64,
    ) -> PyResult<&'static str> {
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(crate::errors::validation(
                py,
                format!("weight must be a finite number >= 0, got {weight}"),
            ));
        }
        let node = symphony_pit::dag::NodeSpec {
            kind: kind.to_owned(),
            weight,
            deps,
            ..symphony_pit::dag::NodeSpec::task(name, &[])
        };
        let pit = &self.pit;
        run(py, move || pit.dags.append(run_id, node)).map(NodeState::as_str)
    }

    /// Move a node to `state` ("ready", "running", "succeeded", "failed", "skipped",
    /// "cancelled"). Failing a node with retries left sends it back to "ready"; returns the state
    /// the node ended in.
    #[pyo3(signature = (run_id, node, state, error=None))]
    fn set_state(
        &self,
        py: Python<'_>,
        run_id: &str,
        node: &str,
        state: &str,
        error: Option<String>,
    ) -> PyResult<&'static str> {
        let to = NodeState::parse(state).or_raise(py)?;
        let pit = &self.pit;
        run(py, move || pit.dags.set_state(run_id, node, to, error)).map(NodeState::as_str)
    }

    /// Result artifact ids of the nodes that succeeded in `run_id` (this process's runs and the
    /// store's history): what resuming the run reuses.
    fn succeeded_outputs(
        &self,
        py: Python<'_>,
        run_id: &str,
    ) -> PyResult<std::collections::HashMap<String, String>> {
        let pit = &self.pit;
        let outputs = run(py, move || pit.dags.succeeded_outputs(run_id))?;
        Ok(outputs
            .into_iter()
            .map(|(n, id)| (n, id.to_hex()))
            .collect())
    }

    /// Ready nodes in topological order.
    fn ready(&self, py: Python<'_>, run_id: &str) -> PyResult<Vec<String>> {
        let pit = &self.pit;
        run(py, move || pit.dags.ready(run_id))
    }

    /// State of one node.
    fn state(&self, py: Python<'_>, run_id: &str, node: &str) -> PyResult<&'static str> {
        let pit = &self.pit;
        run(py, move || pit.dags.node_state(run_id, node)).map(NodeState::as_str)
    }

    /// Every node of a run: name, state, attempts, error, duration (topological order). The
    /// duration is that of the node's last finished attempt: None until one is over, and while
    /// the node runs again.
    fn nodes<'py>(&self, py: Python<'py>, run_id: &str) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let pit = &self.pit;
        let nodes = run(py, move || pit.dags.nodes(run_id))?;
        nodes
            .iter()
            .map(|n| {
                let d = PyDict::new(py);
                d.set_item("node", &n.name)?;
                d.set_item("state", n.state.as_str())?;
                d.set_item("attempts", n.attempts)?;
                d.set_item("error", &n.error)?;
                d.set_item("duration", n.duration)?;
                Ok(d)
            })
            .collect()
    }

    /// "pending", "running", "paused", "completed", "failed" or "cancelled".
    fn status(&self, py: Python<'_>, run_id: &str) -> PyResult<&'static str> {
        let pit = &self.pit;
        run(py, move || pit.dags.status(run_id)).map(|s| s.as_str())
    }

    /// The run's graph.
    fn graph(&self, py: Python<'_>, run_id: &str) -> PyResult<PyWorkflowGraph> {
        let pit = &self.pit;
        run(py, move || pit.dags.graph(run_id)).map(|inner| PyWorkflowGraph { inner })
    }

    /// Heaviest path: measured durations for finished nodes, weights for the rest.
    fn critical_path(&self, py: Python<'_>, run_id: &str) -> PyResult<(Vec<String>, f64)> {
        let pit = &self.pit;
        run(py, move || pit.dags.critical_path(run_id))
    }

    fn pause(&self, py: Python<'_>, run_id: &str) -> PyResult<()> {
        let pit = &self.pit;
        run(py, move || pit.dags.pause(run_id))
    }

    fn resume(&self, py: Python<'_>, run_id: &str) -> PyResult<()> {
        let pit = &self.pit;
        run(py, move || pit.dags.resume(run_id))
    }

    /// Cancel every unfinished node of the run.
    fn cancel(&self, py: Python<'_>, run_id: &str) -> PyResult<()> {
        let pit = &self.pit;
        run(py, move || pit.dags.cancel(run_id))
    }

    /// Record the run's node states in the history tables now.
    fn checkpoint(&self, py: Python<'_>, run_id: &str) -> PyResult<()> {
        let pit = &self.pit;
        run(py, move || pit.dags.checkpoint(run_id))
    }

    /// Runs tracked by this Pit, oldest first.
    fn runs<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.pit
            .dags
            .runs()
            .iter()
            .map(|s| summary_dict(py, s))
            .collect()
    }

    /// Every run in the store's history, including those of earlier processes.
    fn history<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.pit
            .dags
            .history()
            .iter()
            .map(|s| summary_dict(py, s))
            .collect()
    }

    /// This session's runs, or with `run_id` that run's nodes, as a pandas DataFrame.
    #[pyo3(signature = (run_id=None))]
    fn to_pandas<'py>(
        slf: &Bound<'py, Self>,
        run_id: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        frame(
            slf.as_any(),
            "dags_frame",
            vec![run_id.into_pyobject(slf.py())?.into_any()],
        )
    }

    fn __repr__(&self) -> String {
        format!("DagTracker(runs={})", self.pit.dags.runs().len())
    }

    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        render(slf.as_any(), "dags_html")
    }
}
