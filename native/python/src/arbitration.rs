//! `Arbiter` (who gets scarce pool capacity) and the `Lease` it grants.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use symphony_pit::arbitration::{Lease, Request, Strategy};
use symphony_pit::resources::{amount_from_units, units, Resources, DIMENSIONS};
use symphony_pit::Pit;

use crate::errors::{run, validation, OrRaise};
use crate::html::{frame, render};

/// Arbitration: decides which request gets a pool's capacity when requests collide.
#[pyclass(frozen, name = "Arbiter", module = "symphony_pit._native")]
pub struct PyArbiter {
    pub pit: Arc<Pit>,
}

/// Capacity granted by the Arbiter; released by `release()`, by leaving a `with` block, or when
/// garbage-collected.
#[pyclass(frozen, name = "Lease", module = "symphony_pit._native")]
pub struct PyLease {
    inner: Mutex<Option<Lease>>,
    ticket: u64,
    needs: Vec<(Arc<str>, Resources)>,
}

/// `{"gpu": {"gpu_memory_mb": 8000, "slots": 1}, ...}` → amounts per pool.
fn parse_needs(py: Python<'_>, needs: &Bound<'_, PyDict>) -> PyResult<Vec<(Arc<str>, Resources)>> {
    if needs.is_empty() {
        return Err(validation(py, "a request must name at least one pool"));
    }
    let mut out = Vec::with_capacity(needs.len());
    // Snapshots of the items (`items()`), not live iterators: converting an amount may run
    // Python code that changes the dict, which a live iterator meets with a panic.
    for (pool, amounts) in needs
        .items()
        .extract::<Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)>>()?
    {
        let pool: String = pool
            .extract()
            .map_err(|_| validation(py, "pool names must be strings"))?;
        let amounts = amounts.cast::<PyDict>().map_err(|_| {
            validation(
                py,
                format!("needs['{pool}'] must be a dict like {{'slots': 1}}"),
            )
        })?;
        let mut r = Resources::ZERO;
        for (dim, amount) in amounts
            .items()
            .extract::<Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)>>()?
        {
            let dim: String = dim.extract()?;
            let k = DIMENSIONS.iter().position(|d| *d == dim).ok_or_else(|| {
                validation(
                    py,
                    format!(
                        "needs['{pool}'] has unknown dimension '{dim}'; use {}",
                        DIMENSIONS.join(", ")
                    ),
                )
            })?;
            let value: f64 = amount.extract().map_err(|_| {
                validation(py, format!("needs['{pool}']['{dim}'] must be a number"))
            })?;
            r.0[k] = amount_from_units(&format!("needs['{pool}']['{dim}']"), value).or_raise(py)?;
        }
        out.push((Arc::from(pool.as_str()), r));
    }
    Ok(out)
}

fn needs_dict<'py>(
    py: Python<'py>,
    needs: &[(Arc<str>, Resources)],
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (pool, r) in needs {
        let amounts = PyDict::new(py);
        for (dim, amount) in DIMENSIONS.iter().zip(r.0) {
            if amount > 0 {
                amounts.set_item(*dim, units(amount))?;
            }
        }
        out.set_item(&**pool, amounts)?;
    }
    Ok(out)
}

#[pymethods]
impl PyArbiter {
    /// The strategy's name: priority, round_robin, weighted_fair or queue.
    #[getter]
    fn strategy(&self) -> &'static str {
        self.pit.arbiter.strategy().name()
    }

    /// Points of priority a waiting request gains per second (priority strategy; else None).
    #[getter]
    fn aging(&self) -> Option<f64> {
        match self.pit.arbiter.strategy() {
            Strategy::Priority { aging_per_second } => Some(aging_per_second),
            _ => None,
        }
    }

    /// Choose how waiting requests are ordered.
    #[pyo3(signature = (strategy, *, aging=100.0))]
    fn set_strategy(&self, py: Python<'_>, strategy: &str, aging: f64) -> PyResult<()> {
        let parsed = Strategy::parse(strategy, aging).or_raise(py)?;
        let pit = self.pit.clone();
        run(py, move || {
            pit.arbiter.set_strategy(parsed);
            Ok(())
        })
    }

    /// Set a tenant's weight (default 1) for weighted-fair ordering and the fairness report.
    fn set_weight(&self, py: Python<'_>, tenant: &str, weight: f64) -> PyResult<()> {
        self.pit.arbiter.set_weight(tenant, weight).or_raise(py)
    }

    /// Block until `needs` (`{pool: {dimension: amount}}`) is granted, all or nothing.
    /// `ResourceExhausted` when it can never fit or `timeout` passes; Ctrl-C withdraws it.
    #[pyo3(signature = (needs, *, tenant="default", priority=0, timeout=None, label=None))]
    fn acquire(
        &self,
        py: Python<'_>,
        needs: &Bound<'_, PyDict>,
        tenant: &str,
        priority: i32,
        timeout: Option<f64>,
        label: Option<String>,
    ) -> PyResult<PyLease> {
        let needs = parse_needs(py, needs)?;
        if !(-1000..=1000).contains(&priority) {
            return Err(validation(
                py,
                format!("priority must be between -1000 and 1000, got {priority}"),
            ));
        }
        let timeout = match timeout {
            None => None,
            Some(t) if t.is_finite() && t >= 0.0 => Some(Duration::from_secs_f64(t)),
            Some(t) => {
                return Err(validation(
                    py,
                    format!("timeout must be a number of seconds >= 0, got {t}"),
                ))
            }
        };
        let request = Request {
            tenant: Arc::from(tenant),
            label: Arc::from(label.unwrap_or_else(|| format!("{tenant}/acquire"))),
            priority,
            needs: needs.clone(),
        };
        let pit = self.pit.clone();
        let interrupted = Arc::new(Mutex::new(None::<PyErr>));
        let seen = interrupted.clone();
        let outcome = run(py, move || {
            pit.arbiter.acquire(request, timeout, &|| {
                Python::attach(|py| match py.check_signals() {
                    Ok(()) => false,
                    Err(e) => {
                        *seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                        true
                    }
                })
            })
        });
        if let Some(e) = interrupted.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(e);
        }
        let lease = outcome?;
        Ok(PyLease {
            ticket: lease.ticket(),
            inner: Mutex::new(Some(lease)),
            needs,
        })
    }

    /// Requests waiting now.
    #[getter]
    fn waiting(&self) -> usize {
        self.pit.arbiter.waiting()
    }

    /// Counters: waiting, grants, deferrals, denials, resolutions, mean_resolve_seconds.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.pit.arbiter.stats();
        let dict = PyDict::new(py);
        dict.set_item("strategy", self.strategy())?;
        dict.set_item("waiting", s.waiting)?;
        dict.set_item("grants", s.grants)?;
        dict.set_item("deferrals", s.deferrals)?;
        dict.set_item("denials", s.denials)?;
        dict.set_item("resolutions", s.resolutions)?;
        dict.set_item("mean_resolve_seconds", s.mean_resolve_seconds)?;
        Ok(dict)
    }

    /// Granted share per tenant against its weight: `{"strategy", "gini", "max_deviation",
    /// "tenants": [{tenant, weight, requested, granted, denied, share, fair_share, mean_wait,
    /// max_wait}, ...]}`.
    fn fairness<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let f = self.pit.arbiter.fairness();
        let rows = PyList::empty(py);
        for t in &f.tenants {
            let row = PyDict::new(py);
            row.set_item("tenant", &t.tenant)?;
            row.set_item("weight", t.weight)?;
            row.set_item("requested", t.requested)?;
            row.set_item("granted", t.granted)?;
            row.set_item("denied", t.denied)?;
            row.set_item("share", t.share)?;
            row.set_item("fair_share", t.fair_share)?;
            row.set_item("mean_wait", t.mean_wait)?;
            row.set_item("max_wait", t.max_wait)?;
            rows.append(row)?;
        }
        let dict = PyDict::new(py);
        dict.set_item("strategy", f.strategy)?;
        dict.set_item("gini", f.gini)?;
        dict.set_item("max_deviation", f.max_deviation)?;
        dict.set_item("tenants", rows)?;
        Ok(dict)
    }

    /// Fairness per tenant as a pandas DataFrame.
    fn to_pandas<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        frame(slf.as_any(), "fairness_frame", vec![])
    }

    fn __repr__(&self) -> String {
        let s = self.pit.arbiter.stats();
        format!(
            "Arbiter(strategy={:?}, waiting={}, grants={}, denials={})",
            self.strategy(),
            s.waiting,
            s.grants,
            s.denials
        )
    }

    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        render(slf, "arbiter_html")
    }
}

#[pymethods]
impl PyLease {
    #[getter]
    fn ticket(&self) -> u64 {
        self.ticket
    }

    /// What was granted: `{pool: {dimension: amount}}`.
    #[getter]
    fn needs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        needs_dict(py, &self.needs)
    }

    #[getter]
    fn released(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// Give the capacity back (again is a no-op).
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        let lease = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        match lease {
            Some(mut lease) => run(py, move || lease.release()),
            None => Ok(()),
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.release(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let pools: Vec<String> = self
            .needs
            .iter()
            .map(|(p, r)| format!("{p}: {r}"))
            .collect();
        format!(
            "Lease(ticket={}, {}, released={})",
            self.ticket,
            pools.join("; "),
            self.released()
        )
    }
}
