//! `_repr_html_` support: the HTML lives in Python (`symphony_pit._html`); natives hand it data.

use pyo3::prelude::*;

/// Call `symphony_pit._html.<renderer>(obj)`.
pub fn render(obj: &Bound<'_, PyAny>, renderer: &str) -> PyResult<String> {
    obj.py()
        .import("symphony_pit._html")?
        .getattr(renderer)?
        .call1((obj,))?
        .extract()
}
