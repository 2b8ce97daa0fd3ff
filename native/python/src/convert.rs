//! Lossless conversion between Python objects and `Value`.
//!
//! None, bool, int (any size: i64 natively, larger ones exactly as decimal digits), float (NaN
//! and infinities kept), str, bytes, list, tuple, dict, datetime (naive, with a fixed UTC offset
//! or in a `zoneinfo.ZoneInfo`, `fold` kept) and numpy arrays (dtype, shape and bytes; one copy
//! each way). Subclasses are kept as their base type and numpy scalars as the Python scalar of
//! the same value (the README's table). A value that would not read back equal is refused with
//! a `ValidationError`; an unsupported type raises `TypeError`; both name where in the value
//! the problem sits.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDateTime, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use pyo3::IntoPyObjectExt;
use symphony_pit::value::{depth_allowed, DateTime, NdArray, MAX_DEPTH};
use symphony_pit::Value;

use crate::errors::validation;

static DATETIME_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

static ZONEINFO: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `zoneinfo.ZoneInfo`, imported on first use.
fn zoneinfo(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    Ok(ZONEINFO
        .get_or_try_init(py, || {
            py.import("zoneinfo")?
                .getattr("ZoneInfo")
                .map(Bound::unbind)
        })?
        .bind(py))
}

static NUMPY: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// `numpy`, imported once (numpy values are common; an import lookup per value is not free).
fn numpy(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    Ok(NUMPY
        .get_or_try_init(py, || py.import("numpy").map(Bound::unbind))?
        .bind(py))
}

fn datetime_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    Ok(DATETIME_MODULE
        .get_or_try_init(py, || py.import("datetime").map(Bound::unbind))?
        .bind(py))
}

/// Python → `Value`.
///
/// A value that cannot be stored exactly is refused (`ValidationError`, or `TypeError` for an
/// unsupported type) with the path to where it sits (`at value[0]['key']`). A Rust panic on the
/// way (a bug) becomes `InternalError`.
pub fn to_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let py = obj.py();
    let converted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| convert_in(obj, 1)))
        .map_err(|payload| crate::errors::panic_to_pyerr(py, payload))?;
    converted.map_err(|e| match e {
        Problem::Py(err) => err,
        Problem::At(path, err) => {
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

/// The most bytes one str, bytes or array inside a stored value may hold (MessagePack's limit
/// for one item). Plain `bytes` put on their own are stored as they are, of any size.
const MAX_ITEM_BYTES: usize = u32::MAX as usize;

fn check_length(py: Python<'_>, len: usize) -> Result<(), Problem> {
    if len > MAX_ITEM_BYTES {
        return Err(refuse(
            py,
            format!("an item of {len} bytes is over the 4 GiB a stored value's item may hold (put large bytes on their own)"),
        ));
    }
    Ok(())
}

/// A `ValidationError` for a value that cannot be stored exactly.
fn refuse(py: Python<'_>, message: impl Into<String>) -> Problem {
    Problem::Py(validation(py, message))
}

/// Convert `obj`, which sits `level` levels deep (the top value is at level 1), so that the
/// deepest level reached is what [`Value::depth`] will count when the stored value is decoded.
fn convert_in(obj: &Bound<'_, PyAny>, level: usize) -> Result<Value, Problem> {
    let py = obj.py();
    if !depth_allowed(level) {
        return Err(refuse(
            py,
            format!(
                "value nests deeper than {MAX_DEPTH} levels (does a container contain itself?)"
            ),
        ));
    }
    if obj.is_none() {
        return Ok(Value::None);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return int_in(obj);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_str()?;
        check_length(py, text.len())?;
        return Ok(Value::Str(text.to_owned()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        check_length(py, b.as_bytes().len())?;
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        check_length(py, b.len())?;
        return Ok(Value::Bytes(b.to_vec()));
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return Ok(Value::List(convert_items(list.iter(), level)?));
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return Ok(Value::Tuple(convert_items(tuple.iter(), level)?));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        return dict_in(dict, level);
    }
    if obj.is_instance_of::<PyDateTime>() {
        return Ok(Value::DateTime(Box::new(datetime_in(obj)?)));
    }
    let class = obj.get_type();
    let module: String = class
        .getattr("__module__")
        .and_then(|m| m.extract())
        .unwrap_or_default();
    if module == "numpy" || module.starts_with("numpy.") {
        let numpy = numpy(py)?;
        if obj.is_instance(&numpy.getattr("ndarray")?)? {
            if module.starts_with("numpy.ma") {
                return Err(refuse(
                    py,
                    "numpy masked arrays cannot be stored exactly (the mask would be lost); store the data and the mask apart",
                ));
            }
            return Ok(Value::Array(Box::new(array_in(obj)?)));
        }
        if obj.is_instance(&numpy.getattr("generic")?)? {
            return numpy_scalar_in(obj, level);
        }
    }
    Err(Problem::Py(PyTypeError::new_err(format!(
        "cannot store a value of type '{}.{}' (supported: None, bool, int, float, str, bytes, list, tuple, dict, datetime, numpy.ndarray and numpy scalars)",
        module,
        class.qualname()?
    ))))
}

/// An int (or an int subclass, kept as a plain int): its exact value, whatever the subclass's
/// `__str__` says.
fn int_in(obj: &Bound<'_, PyAny>) -> Result<Value, Problem> {
    if let Ok(i) = obj.extract::<i64>() {
        return Ok(Value::Int(i));
    }
    let py = obj.py();
    // int.__repr__, not str(obj): a subclass may print itself as anything.
    match py
        .get_type::<PyInt>()
        .call_method1("__repr__", (obj,))
        .and_then(|digits| digits.extract::<String>())
    {
        Ok(digits) => Ok(Value::BigInt(digits)),
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyValueError>(py) => Err(refuse(
            py,
            format!(
                "an int this large cannot be stored: {} (sys.set_int_max_str_digits)",
                e.value(py)
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

fn dict_in(dict: &Bound<'_, PyDict>, level: usize) -> Result<Value, Problem> {
    let py = dict.py();
    // A snapshot of the items: a key or value whose conversion changes the dict (a `__repr__`
    // that adds a key) cannot break the walk.
    let items = dict.items();
    let mut pairs = Vec::with_capacity(items.len());
    for item in items.iter() {
        let (k, v) = item.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>()?;
        let converted = convert_in(&k, level + 1).and_then(|key| {
            let value = convert_in(&v, level + 1)?;
            Ok((key, value))
        });
        match converted {
            Ok(pair) => pairs.push(pair),
            Err(problem) => {
                // The key's repr only when it is needed (it runs Python code).
                let step = format!(
                    "[{}]",
                    k.repr()
                        .map(|r| r.to_string())
                        .unwrap_or_else(|_| "?".into())
                );
                return Err(problem.inside(step));
            }
        }
    }
    if dict.len() != pairs.len() {
        return Err(refuse(
            py,
            format!(
                "the dict changed size while it was being converted ({} items, then {})",
                pairs.len(),
                dict.len()
            ),
        ));
    }
    Ok(Value::Dict(pairs))
}

/// A numpy scalar, kept as the matching Python scalar when that is exact.
fn numpy_scalar_in(obj: &Bound<'_, PyAny>, level: usize) -> Result<Value, Problem> {
    let py = obj.py();
    let dtype = obj.getattr("dtype")?;
    let kind: String = dtype.getattr("kind")?.extract()?;
    let name = dtype.str()?.to_string();
    match kind.as_str() {
        "b" | "i" | "u" | "U" | "S" => convert_in(&obj.call_method0("item")?, level),
        "f" if dtype.getattr("itemsize")?.extract::<usize>()? <= 8 => {
            convert_in(&obj.call_method0("item")?, level)
        }
        "M" => {
            let item = obj.call_method0("item")?;
            if item.is_instance_of::<PyDateTime>() {
                convert_in(&item, level)
            } else {
                Err(refuse(
                    py,
                    format!(
                        "a numpy.{name} cannot be stored exactly as a datetime; store np.array([value]) to keep it as numpy"
                    ),
                ))
            }
        }
        _ => Err(refuse(
            py,
            format!(
                "a numpy scalar of dtype {name} cannot be stored exactly; store np.array([value]) to keep it as numpy"
            ),
        )),
    }
}

/// Convert a sequence's items, recording the index of a failing one in the error path.
fn convert_items<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    level: usize,
) -> Result<Vec<Value>, Problem> {
    items
        .enumerate()
        .map(|(i, item)| convert_in(&item, level + 1).map_err(|p| p.inside(format!("[{i}]"))))
        .collect()
}

fn datetime_in(obj: &Bound<'_, PyAny>) -> Result<DateTime, Problem> {
    let py = obj.py();
    let field = |name: &str| -> PyResult<i64> { obj.getattr(name)?.extract() };
    // pandas.Timestamp (a datetime subclass) carries nanoseconds a datetime cannot hold.
    if let Ok(nanosecond) = obj.getattr("nanosecond") {
        if nanosecond.extract::<i64>().unwrap_or(1) != 0 {
            return Err(refuse(
                py,
                format!(
                    "a {} with nanoseconds cannot be stored exactly as a datetime; store its .value (nanoseconds since the epoch) or a numpy datetime64 array",
                    obj.get_type().qualname()?
                ),
            ));
        }
    }
    let tzinfo = obj.getattr("tzinfo")?;
    let offset = obj.call_method0("utcoffset")?;
    let mut zone = None;
    let utc_offset_seconds = if offset.is_none() {
        if !tzinfo.is_none() {
            return Err(refuse(
                py,
                "a datetime whose tzinfo gives no UTC offset cannot be stored",
            ));
        }
        None
    } else {
        let datetime = datetime_module(py)?;
        if tzinfo.is_exact_instance(&datetime.getattr("timezone")?) {
            // A fixed offset: nothing is lost.
        } else if tzinfo.get_type().qualname()? == "ZoneInfo"
            && tzinfo
                .get_type()
                .getattr("__module__")?
                .extract::<String>()?
                == "zoneinfo"
        {
            let key = tzinfo.getattr("key")?;
            if key.is_none() {
                return Err(refuse(
                    py,
                    "a datetime in a zoneinfo.ZoneInfo made from a file (no key) cannot be stored; use ZoneInfo(key)",
                ));
            }
            zone = Some(key.extract::<String>()?);
        } else {
            return Err(refuse(
                py,
                format!(
                    "a datetime with tzinfo of type '{}' cannot be stored exactly (its rules would be lost); use datetime.timezone or zoneinfo.ZoneInfo",
                    tzinfo.get_type().qualname()?
                ),
            ));
        }
        let seconds: f64 = offset.call_method0("total_seconds")?.extract()?;
        if seconds.fract() != 0.0 {
            return Err(refuse(
                py,
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
        fold: field("fold")? as u8,
        zone,
    })
}

/// An array's dtype string and shape, once it is known to be storable exactly.
fn array_layout(obj: &Bound<'_, PyAny>) -> Result<(String, Vec<u64>, usize), Problem> {
    let py = obj.py();
    let dtype = obj.getattr("dtype")?;
    if dtype.getattr("hasobject")?.is_truthy()? || !dtype.getattr("names")?.is_none() {
        return Err(refuse(
            py,
            format!("numpy arrays of dtype {} cannot be stored (object and structured dtypes hold no plain bytes)", dtype.str()?),
        ));
    }
    if dtype.getattr("itemsize")?.extract::<usize>()? == 0 {
        return Err(refuse(
            py,
            format!(
                "numpy arrays of dtype {} cannot be stored (items of size 0 cannot be read back)",
                dtype.str()?
            ),
        ));
    }
    if !dtype.getattr("subdtype")?.is_none() {
        return Err(refuse(
            py,
            format!(
                "numpy arrays of sub-array dtype {} cannot be stored; reshape them to a plain dtype",
                dtype.str()?
            ),
        ));
    }
    let nbytes: usize = obj.getattr("nbytes")?.extract()?;
    check_length(py, nbytes)?;
    Ok((
        dtype.getattr("str")?.extract()?,
        obj.getattr("shape")?.extract()?,
        nbytes,
    ))
}

fn array_in(obj: &Bound<'_, PyAny>) -> Result<NdArray, Problem> {
    let (dtype, shape, nbytes) = array_layout(obj)?;
    let mut data = Vec::with_capacity(nbytes);
    copy_array_into(obj, &mut data)?;
    Ok(NdArray { dtype, shape, data })
}

/// Blocks of at most this many bytes are made contiguous at a time when an array that is not
/// (a view, a broadcast) is copied: the copy never needs a second array's worth of memory.
const COPY_BLOCK_BYTES: usize = 16 << 20;

/// Append an array's bytes, in C order, to `out`. A contiguous array is copied once; any other
/// is copied block by block along its first axes.
fn copy_array_into(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> PyResult<()> {
    let contiguous: bool = obj.getattr("flags")?.get_item("C_CONTIGUOUS")?.extract()?;
    let nbytes: usize = obj.getattr("nbytes")?.extract()?;
    let shape: Vec<usize> = obj.getattr("shape")?.extract()?;
    if contiguous || nbytes <= COPY_BLOCK_BYTES || shape.is_empty() {
        let block = numpy(obj.py())?.call_method1("ascontiguousarray", (obj,))?;
        let flat = block
            .call_method1("reshape", (-1,))?
            .call_method1("view", ("u1",))?;
        let buffer = pyo3::buffer::PyBuffer::<u8>::get(&flat)?;
        let start = out.len();
        out.resize(start + buffer.len_bytes(), 0);
        buffer.copy_to_slice(obj.py(), &mut out[start..])?;
        return Ok(());
    }
    for i in 0..shape[0] {
        copy_array_into(&obj.get_item(i)?, out)?;
    }
    Ok(())
}

/// The stored encoding of a numpy array put on its own, written straight from the array: one
/// copy of its bytes, however it is laid out (where converting it to a `Value` and encoding that
/// would take two, and expand a broadcast view whole first). `None` for anything that is not a
/// plain ndarray (the general conversion takes it, and explains a refusal).
pub fn encode_array(obj: &Bound<'_, PyAny>) -> PyResult<Option<Vec<u8>>> {
    // The name first: a put of anything else never imports numpy.
    let class = obj.get_type();
    if !class.name().is_ok_and(|n| n == "ndarray")
        || !class.is(&numpy(obj.py())?.getattr("ndarray")?)
    {
        return Ok(None);
    }
    let Ok((dtype, shape, nbytes)) = array_layout(obj) else {
        return Ok(None);
    };
    let mut out = symphony_pit::value::array_header(&dtype, &shape, nbytes);
    out.reserve_exact(nbytes);
    copy_array_into(obj, &mut out)?;
    Ok(Some(out))
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
            let tz = match (&dt.zone, dt.utc_offset_seconds) {
                (_, None) => py.None(),
                (Some(zone), Some(_)) => zoneinfo(py)?.call1((zone.as_str(),))?.unbind(),
                (None, Some(seconds)) => {
                    let delta = module
                        .getattr("timedelta")?
                        .call((), Some(&[("seconds", seconds)].into_py_dict(py)?))?;
                    module.getattr("timezone")?.call1((delta,))?.unbind()
                }
            };
            let kwargs = [("tzinfo", tz), ("fold", dt.fold.into_py_any(py)?)].into_py_dict(py)?;
            module
                .getattr("datetime")?
                .call(
                    (
                        dt.year,
                        dt.month,
                        dt.day,
                        dt.hour,
                        dt.minute,
                        dt.second,
                        dt.microsecond,
                    ),
                    Some(&kwargs),
                )?
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
