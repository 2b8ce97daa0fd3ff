//! Lossless conversion between Python objects and `Value`.
//!
//! None, bool, int (any size: i64 natively, larger ones exactly as decimal digits), float (NaN
//! and infinities kept), str, bytes, list, tuple, dict, datetime (naive or with a fixed UTC
//! offset) and numpy arrays (dtype, shape and bytes; one copy each way). Anything else raises
//! `TypeError` naming the type and where it sits in the value.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDateTime, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use pyo3::IntoPyObjectExt;
use symphony_pit::value::{DateTime, NdArray, MAX_DEPTH};
use symphony_pit::Value;

use crate::errors::validation;

static DATETIME_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn datetime_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    Ok(DATETIME_MODULE
        .get_or_try_init(py, || py.import("datetime").map(Bound::unbind))?
        .bind(py))
}

/// Python → `Value`.
pub fn to_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    convert_in(obj, 0).map_err(|e| match e {
        Problem::Py(err) => err,
        Problem::At(path, err) => {
            let py = obj.py();
            let message = format!("{} (at value{path})", err.value(py));
            if err.is_instance_of::<PyTypeError>(py) {
                PyTypeError::new_err(message)
            } else {
                validation(py, message)
            }
        }
    })
}

/// A conversion failure and the path (`[0]['key']`) to where it happened.
enum Problem {
    Py(PyErr),
    At(String, PyErr),
}

impl From<PyErr> for Problem {
    fn from(e: PyErr) -> Self {
        Problem::Py(e)
    }
}

impl Problem {
    fn inside(self, step: String) -> Problem {
        match self {
            Problem::Py(e) => Problem::At(step, e),
            Problem::At(path, e) => Problem::At(step + &path, e),
        }
    }
}

fn convert_in(obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value, Problem> {
    let py = obj.py();
    if depth > MAX_DEPTH {
        return Err(Problem::Py(validation(
            py,
            format!(
                "value nests deeper than {MAX_DEPTH} levels (does a container contain itself?)"
            ),
        )));
    }
    if obj.is_none() {
        return Ok(Value::None);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(match obj.extract::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::BigInt(obj.str()?.to_str()?.to_owned()),
        });
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::Str(s.to_str()?.to_owned()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Value::Bytes(b.to_vec()));
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return Ok(Value::List(convert_items(list.iter(), depth)?));
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return Ok(Value::Tuple(convert_items(tuple.iter(), depth)?));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut pairs = Vec::with_capacity(dict.len());
        for (k, v) in dict.iter() {
            let step = format!(
                "[{}]",
                k.repr()
                    .map(|r| r.to_string())
                    .unwrap_or_else(|_| "?".into())
            );
            let key = convert_in(&k, depth + 1).map_err(|p| p.inside(step.clone()))?;
            let value = convert_in(&v, depth + 1).map_err(|p| p.inside(step))?;
            pairs.push((key, value));
        }
        return Ok(Value::Dict(pairs));
    }
    if obj.is_instance_of::<PyDateTime>() {
        return Ok(Value::DateTime(datetime_in(obj)?));
    }
    let class = obj.get_type();
    let module: String = class
        .getattr("__module__")
        .and_then(|m| m.extract())
        .unwrap_or_default();
    if module == "numpy" {
        if class.name()?.to_str()? == "ndarray" {
            return Ok(Value::Array(Box::new(array_in(obj)?)));
        }
        if obj.hasattr("item")? && obj.hasattr("dtype")? {
            // A numpy scalar: keep its value as the matching Python scalar.
            return convert_in(&obj.call_method0("item")?, depth + 1);
        }
    }
    Err(Problem::Py(PyTypeError::new_err(format!(
        "cannot store a value of type '{}.{}' (supported: None, bool, int, float, str, bytes, list, tuple, dict, datetime, numpy.ndarray)",
        module,
        class.qualname()?
    ))))
}

/// Convert a sequence's items, recording the index of a failing one in the error path.
fn convert_items<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    depth: usize,
) -> Result<Vec<Value>, Problem> {
    items
        .enumerate()
        .map(|(i, item)| convert_in(&item, depth + 1).map_err(|p| p.inside(format!("[{i}]"))))
        .collect()
}

fn datetime_in(obj: &Bound<'_, PyAny>) -> PyResult<DateTime> {
    let field = |name: &str| -> PyResult<i64> { obj.getattr(name)?.extract() };
    let offset = obj.call_method0("utcoffset")?;
    let utc_offset_seconds = if offset.is_none() {
        None
    } else {
        let seconds: f64 = offset.call_method0("total_seconds")?.extract()?;
        if seconds.fract() != 0.0 {
            return Err(validation(
                obj.py(),
                "UTC offsets with fractions of a second are not supported",
            ));
        }
        Some(seconds as i32)
    };
    Ok(DateTime {
        year: field("year")? as i32,
        month: field("month")? as u8,
        day: field("day")? as u8,
        hour: field("hour")? as u8,
        minute: field("minute")? as u8,
        second: field("second")? as u8,
        microsecond: field("microsecond")? as u32,
        utc_offset_seconds,
    })
}

fn array_in(obj: &Bound<'_, PyAny>) -> PyResult<NdArray> {
    let py = obj.py();
    let dtype = obj.getattr("dtype")?;
    if dtype.getattr("hasobject")?.is_truthy()? || !dtype.getattr("names")?.is_none() {
        return Err(validation(
            py,
            format!("numpy arrays of dtype {} cannot be stored (object and structured dtypes hold no plain bytes)", dtype.str()?),
        ));
    }
    let numpy = py.import("numpy")?;
    let contiguous = numpy.call_method1("ascontiguousarray", (obj,))?;
    let flat = contiguous
        .call_method1("reshape", (-1,))?
        .call_method1("view", ("u1",))?;
    let buffer = pyo3::buffer::PyBuffer::<u8>::get(&flat)?;
    Ok(NdArray {
        dtype: dtype.getattr("str")?.extract()?,
        shape: obj.getattr("shape")?.extract()?,
        data: buffer.to_vec(py)?,
    })
}

/// `Value` → Python.
pub fn to_py(py: Python<'_>, value: &Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::None => py.None(),
        Value::Bool(b) => b.into_py_any(py)?,
        Value::Int(i) => i.into_py_any(py)?,
        Value::BigInt(digits) => py.get_type::<PyInt>().call1((digits.as_str(),))?.unbind(),
        Value::Float(f) => f.into_py_any(py)?,
        Value::Str(s) => s.into_py_any(py)?,
        Value::Bytes(b) => PyBytes::new(py, b).into_any().unbind(),
        Value::List(items) => {
            let items = items
                .iter()
                .map(|v| to_py(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any().unbind()
        }
        Value::Tuple(items) => {
            let items = items
                .iter()
                .map(|v| to_py(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, items)?.into_any().unbind()
        }
        Value::Dict(pairs) => {
            let dict = PyDict::new(py);
            for (k, v) in pairs {
                dict.set_item(to_py(py, k)?, to_py(py, v)?)?;
            }
            dict.into_any().unbind()
        }
        Value::DateTime(dt) => {
            let module = datetime_module(py)?;
            let tz = match dt.utc_offset_seconds {
                None => py.None(),
                Some(seconds) => {
                    let delta = module
                        .getattr("timedelta")?
                        .call((), Some(&[("seconds", seconds)].into_py_dict(py)?))?;
                    module.getattr("timezone")?.call1((delta,))?.unbind()
                }
            };
            module
                .getattr("datetime")?
                .call1((
                    dt.year,
                    dt.month,
                    dt.day,
                    dt.hour,
                    dt.minute,
                    dt.second,
                    dt.microsecond,
                    tz,
                ))?
                .unbind()
        }
        Value::Array(array) => {
            let numpy = py.import("numpy")?;
            let buffer = PyByteArray::new(py, &array.data);
            numpy
                .call_method1("frombuffer", (buffer, array.dtype.as_str()))?
                .call_method1("reshape", (PyTuple::new(py, &array.shape)?,))?
                .unbind()
        }
    })
}

use pyo3::types::IntoPyDict;
