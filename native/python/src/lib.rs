//! `symphony_pit._native`: PyO3 bindings of the Pit. This crate only converts and delegates;
//! the engine is the pure-Rust `symphony-pit` crate.

mod arbitration;
mod artifacts;
mod convert;
mod dags;
mod errors;
mod html;
mod pit;
mod pools;
mod quest;
mod workflows;

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The engine allocates small objects on every node, event and artifact; mimalloc serves them
/// several times faster than the system allocator (measured on the workflow and manifest paths).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Panic on purpose inside the guarded engine call path (used by tests to prove that a Rust
/// panic becomes `InternalError` and the interpreter lives on).
#[pyfunction]
fn _debug_panic(py: Python<'_>, message: &str) -> PyResult<()> {
    errors::run(py, move || -> Result<(), symphony_pit::PitError> {
        panic!("{message}")
    })
}

/// Convert a value to the engine's representation and back (exercises the conversion layer).
#[pyfunction]
fn _roundtrip(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let converted = convert::to_value(value)?;
    let decoded = errors::run(py, move || symphony_pit::Value::decode(&converted.encode()))?;
    convert::to_py(py, &decoded)
}

/// The process's worker threads (nodes of concurrent pools, nodes with a timeout): `threads`,
/// `idle`, `abandoned_running` (nodes given up on — timed out or cancelled — whose code still
/// runs: a thread cannot be killed), `abandoned_total` and `abandoned_limit`. With
/// `abandoned_limit=`, set the bound first: past it, a node with a timeout is not started (it
/// fails with `ResourceExhausted`, saying why).
///
/// >>> symphony_pit.thread_workers()["abandoned_running"]
/// 0
#[pyfunction]
#[pyo3(signature = (*, abandoned_limit=None))]
fn thread_workers<'py>(
    py: Python<'py>,
    abandoned_limit: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    use symphony_pit::workflow::workers;
    if let Some(limit) = abandoned_limit {
        let limit = errors::count_arg(limit, "abandoned_limit", 0, 1 << 20)?;
        workers::set_abandoned_limit(limit as usize);
    }
    let s = workers::stats();
    let out = PyDict::new(py);
    out.set_item("threads", s.threads)?;
    out.set_item("idle", s.idle)?;
    out.set_item("abandoned_running", s.abandoned_running)?;
    out.set_item("abandoned_total", s.abandoned_total)?;
    out.set_item("abandoned_limit", s.abandoned_limit)?;
    Ok(out)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // Rust `log` records flow into Python `logging` (logger names follow Rust module paths,
    // e.g. `symphony_pit.pit`). The Pit logs rarely, so levels are looked up on every record
    // rather than cached: a level set after import still takes effect.
    let _ = pyo3_log::Logger::new(py, pyo3_log::Caching::Nothing)?.install();
    errors::install_panic_hook();
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    let info = PyDict::new(py);
    info.set_item("version", env!("CARGO_PKG_VERSION"))?;
    info.set_item("git_commit", env!("PIT_GIT_COMMIT"))?;
    info.set_item("rustc", env!("PIT_RUSTC_VERSION"))?;
    info.set_item("target", env!("PIT_TARGET"))?;
    info.set_item("profile", env!("PIT_PROFILE"))?;
    info.set_item("pyo3", "0.30")?;
    m.add("BUILD_INFO", info)?;
    // Facts of the engine the Python layer checks against: defined once, here.
    m.add("MANIFEST_FORMAT", symphony_pit::workflow::MANIFEST_FORMAT)?;
    m.add("MANIFEST_VERSION", symphony_pit::workflow::MANIFEST_VERSION)?;
    let kinds = PyDict::new(py);
    for (kind, settings) in symphony_pit::workflow::builtin::BUILTIN_KINDS {
        kinds.set_item(kind, pyo3::types::PyTuple::new(py, settings)?)?;
    }
    m.add("BUILTIN_KINDS", kinds)?;
    m.add(
        "RESOURCE_DIMENSIONS",
        pyo3::types::PyTuple::new(py, symphony_pit::resources::DIMENSIONS)?,
    )?;
    m.add("HISTORY_NODES", symphony_pit::dag::HISTORY_NODES)?;
    m.add_class::<pit::PyPit>()?;
    m.add_class::<pit::PyEvent>()?;
    m.add_class::<pools::PyPoolManager>()?;
    m.add_class::<pools::PyModelSpec>()?;
    m.add_class::<pools::PyModelHandle>()?;
    m.add_class::<arbitration::PyArbiter>()?;
    m.add_class::<arbitration::PyLease>()?;
    m.add_class::<artifacts::PyArtifactStore>()?;
    m.add_class::<artifacts::PyArtifactMeta>()?;
    m.add_class::<dags::PyDagTracker>()?;
    m.add_class::<dags::PyWorkflowGraph>()?;
    m.add_class::<workflows::PyCompiledWorkflow>()?;
    m.add_class::<workflows::PyCancelToken>()?;
    m.add_class::<workflows::PyRunReport>()?;
    m.add_class::<quest::PyQuestLevel>()?;
    m.add_class::<quest::PyQuestGame>()?;
    m.add_class::<quest::PyQuestBatch>()?;
    m.add_function(wrap_pyfunction!(quest::quest_tier, m)?)?;
    m.add_function(wrap_pyfunction!(quest::quest_layout, m)?)?;
    m.add_function(wrap_pyfunction!(thread_workers, m)?)?;
    m.add_function(wrap_pyfunction!(_debug_panic, m)?)?;
    m.add_function(wrap_pyfunction!(_roundtrip, m)?)?;
    Ok(())
}
