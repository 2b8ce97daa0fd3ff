"""The static picture in a widget's mimebundle, for where no live widget renders."""

from __future__ import annotations

from typing import Any

import anywidget


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


class SnapshotWidget(anywidget.AnyWidget):
    """A view whose mimebundle carries :meth:`snapshot_html` as its ``text/html``."""

    def snapshot_html(self) -> str:
        """The view now, as static HTML."""
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return with_snapshot(super()._repr_mimebundle_(**kwargs), self.snapshot_html())
