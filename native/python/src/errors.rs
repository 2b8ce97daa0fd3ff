//! Mapping `PitError` (and Rust panics) onto the Python exception classes of
//! `symphony_pit.errors`, and the one helper every binding uses to run Rust work.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use symphony_pit::workflow::NodeErrorKind;
use symphony_pit::PitError;

/// The Python exception classes, imported once from `symphony_pit.errors`.
struct Classes {
    validation: Py<PyType>,
    resource_exhausted: Py<PyType>,
    not_found: Py<PyType>,
    integrity: Py<PyType>,
    cancelled: Py<PyType>,
    storage: Py<PyType>,
    internal: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let module = py.import("symphony_pit.errors")?;
        let get = |name: &str| -> PyResult<Py<PyType>> {
            Ok(module.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        Ok(Classes {
            validation: get("ValidationError")?,
            resource_exhausted: get("ResourceExhausted")?,
            not_found: get("NotFound")?,
            integrity: get("IntegrityError")?,
            cancelled: get("Cancelled")?,
            storage: get("StorageError")?,
            internal: get("InternalError")?,
        })
    })
}

/// Convert an engine error into the matching Python exception.
pub fn to_pyerr(py: Python<'_>, err: PitError) -> PyErr {
    let classes = match classes(py) {
        Ok(c) => c,
        Err(import_error) => return import_error,
    };
    let (class, message) = match err {
        PitError::Validation(m) => (&classes.validation, m),
        PitError::ResourceExhausted(m) => (&classes.resource_exhausted, m),
        PitError::NotFound(m) => (&classes.not_found, m),
        PitError::Integrity(m) => (&classes.integrity, m),
        PitError::Cancelled(m) => (&classes.cancelled, m),
        PitError::Storage(m) => (&classes.storage, m),
        PitError::Internal(m) => (&classes.internal, m),
    };
    PyErr::from_type(class.bind(py).clone(), message)
}

/// Reports of recent panics (message, place, backtrace), written by the panic hook and logged
/// by [`panic_to_pyerr`] once the GIL is held. Bounded: a storm of panics keeps the newest.
static PANIC_REPORTS: std::sync::Mutex<std::collections::VecDeque<String>> =
    std::sync::Mutex::new(std::collections::VecDeque::new());

/// Route Rust panics to Python `logging` instead of stderr. The hook itself never touches
/// Python (a panicking thread may not hold the GIL, and taking it there could deadlock): it
/// keeps the report, and [`panic_to_pyerr`] logs it as `symphony_pit` error once it holds the GIL.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let report = format!(
            "{info} (thread {:?})\n{}",
            std::thread::current().name().unwrap_or("unnamed"),
            std::backtrace::Backtrace::force_capture()
        );
        if let Ok(mut reports) = PANIC_REPORTS.lock() {
            if reports.len() >= 16 {
                reports.pop_front();
            }
            reports.push_back(report);
        }
    }));
}

/// Log the panic reports kept by the hook (call with the GIL held).
fn log_panic_reports() {
    let reports: Vec<String> = match PANIC_REPORTS.lock() {
        Ok(mut reports) => reports.drain(..).collect(),
        Err(_) => return,
    };
    for report in reports {
        log::error!("Rust panic (a bug in the Pit; please report it): {report}");
    }
}

/// Turn a caught panic into `InternalError`, so the interpreter lives on; its report goes to
/// `logging`.
pub fn panic_to_pyerr(py: Python<'_>, payload: Box<dyn std::any::Any + Send>) -> PyErr {
    log_panic_reports();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    to_pyerr(
        py,
        PitError::Internal(format!(
            "the Pit panicked (a bug; please report it): {text}"
        )),
    )
}

/// Run engine work with the GIL released, catching panics. Every binding that does Rust work
/// goes through here.
pub fn run<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    F: FnOnce() -> Result<T, PitError> + Send,
    T: Send,
{
    match py.detach(|| catch_unwind(AssertUnwindSafe(work))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(to_pyerr(py, err)),
        Err(payload) => Err(panic_to_pyerr(py, payload)),
    }
}

/// Shorthand for a `ValidationError` raised from binding code.
pub fn validation(py: Python<'_>, message: impl Into<String>) -> PyErr {
    to_pyerr(py, PitError::Validation(message.into()))
}

/// A whole number from `min` to `max` given for parameter `name`: anything else (a negative or
/// huge int, a float, a string) is a `ValidationError` that names the parameter, never a bare
/// `OverflowError` or `TypeError`.
pub fn count_arg(value: &Bound<'_, PyAny>, name: &str, min: u64, max: u64) -> PyResult<u64> {
    let py = value.py();
    if value.is_instance_of::<pyo3::types::PyBool>() || value.call_method0("__index__").is_err() {
        return Err(validation(
            py,
            format!(
                "{name} must be a whole number, got {}",
                value.get_type().name()?
            ),
        ));
    }
    match value.extract::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(validation(
            py,
            format!(
                "{name} must be between {min} and {max}, got {}",
                value.str().map(|s| s.to_string()).unwrap_or_default()
            ),
        )),
    }
}

/// Engine results in binding code: `engine_call().or_raise(py)?` raises the matching Python
/// exception through the one mapping ([`to_pyerr`]) every binding shares.
pub trait OrRaise<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for Result<T, PitError> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_pyerr(py, e))
    }
}

/// The Python name of a node failure's kind (what `run.rows()` shows under `exception`).
pub fn node_error_name(kind: &NodeErrorKind) -> &str {
    match kind {
        NodeErrorKind::WrongType => "TypeError",
        NodeErrorKind::ZeroDivision => "ZeroDivisionError",
        NodeErrorKind::Overflow => "OverflowError",
        NodeErrorKind::Timeout => "TimeoutError",
        NodeErrorKind::ResourceExhausted => "ResourceExhausted",
        NodeErrorKind::NotFound => "NotFound",
        NodeErrorKind::Storage => "StorageError",
        NodeErrorKind::Runtime => "RuntimeError",
        NodeErrorKind::Internal => "InternalError",
        NodeErrorKind::Host(name) => name,
    }
}

/// The exception class raised for a node failure of `kind` that carries no exception of the
/// host's own: Python's built-in classes for the engine's arithmetic, type, time and model
/// failures, the Pit's for the rest. (A host failure without its exception object, which the
/// bindings never make, is a RuntimeError.)
pub fn node_error_class<'py>(
    py: Python<'py>,
    kind: &NodeErrorKind,
) -> PyResult<Bound<'py, PyType>> {
    use pyo3::exceptions::{
        PyOverflowError, PyRuntimeError, PyTimeoutError, PyTypeError, PyZeroDivisionError,
    };
    let classes = classes(py)?;
    Ok(match kind {
        NodeErrorKind::WrongType => py.get_type::<PyTypeError>(),
        NodeErrorKind::ZeroDivision => py.get_type::<PyZeroDivisionError>(),
        NodeErrorKind::Overflow => py.get_type::<PyOverflowError>(),
        NodeErrorKind::Timeout => py.get_type::<PyTimeoutError>(),
        NodeErrorKind::Runtime | NodeErrorKind::Host(_) => py.get_type::<PyRuntimeError>(),
        NodeErrorKind::ResourceExhausted => classes.resource_exhausted.bind(py).clone(),
        NodeErrorKind::NotFound => classes.not_found.bind(py).clone(),
        NodeErrorKind::Storage => classes.storage.bind(py).clone(),
        NodeErrorKind::Internal => classes.internal.bind(py).clone(),
    })
}
