//! Presentation lives in Python: `_repr_html_` renders with `symphony_pit._html`, `to_pandas`
//! builds frames with `symphony_pit._frames`; the natives hand them themselves.

use pyo3::prelude::*;

/// Call `symphony_pit._html.<renderer>(obj)`.
pub fn render(obj: &Bound<'_, PyAny>, renderer: &str) -> PyResult<String> {
    obj.py()
        .import("symphony_pit._html")?
        .getattr(renderer)?
        .call1((obj,))?
        .extract()
}

/// Call `symphony_pit._frames.<builder>(obj, *args)`.
pub fn frame<'py>(
    obj: &Bound<'py, PyAny>,
    builder: &str,
    args: Vec<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let builder = obj.py().import("symphony_pit._frames")?.getattr(builder)?;
    let mut all = Vec::with_capacity(args.len() + 1);
    all.push(obj.clone());
    all.extend(args);
    builder.call1(pyo3::types::PyTuple::new(obj.py(), all)?)
}
