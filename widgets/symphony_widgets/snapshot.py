"""The static picture in a widget's mimebundle, for where no live widget renders."""

from __future__ import annotations

from typing import Any


def with_snapshot(bundle: Any, html: str) -> Any:
    """``bundle`` (what ipywidgets' ``_repr_mimebundle_`` gives: a dict, a ``(data, metadata)``
    pair, or ``None``) with ``html`` as its ``text/html``: nbconvert, exported HTML and GitHub
    show that picture instead of a blank where the widget cannot run.

    >>> with_snapshot({"text/plain": "DagView()"}, "<svg/>")["text/html"]
    '<svg/>'
    """
    if bundle is None:
        return {"text/html": html}
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    data["text/html"] = html
    return bundle
