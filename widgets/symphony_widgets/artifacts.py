"""``ArtifactBrowser``: the Artifact Store as a filterable table, a value's preview, its lineage."""

from __future__ import annotations

import html
import reprlib
import threading
import time
from pathlib import Path
from typing import Any

import traitlets
from symphony_pit import Event, Pit
from symphony_pit.pit import default_pit

from symphony_widgets.feed import feed_for
from symphony_widgets.snapshot import SnapshotWidget

#: Most rows the table holds (the newest artifacts).
MAX_ROWS = 500
#: Least time between two readings of the whole store while artifacts keep coming (a reading
#: lists and scores every artifact: with a large store, not something to do ten times a second).
REFRESH_S = 1.0
#: Most ancestors the lineage drawing shows.
MAX_LINEAGE = 40

_preview = reprlib.Repr()
_preview.maxstring, _preview.maxother, _preview.maxlist, _preview.maxdict, _preview.maxlevel = 400, 400, 20, 20, 4


def artifact_rows(pit: Pit, limit: int | None = MAX_ROWS) -> list[dict[str, Any]]:
    """The newest ``limit`` artifacts (``None``: all): id, size, type, tags, producer (the
    run/node that made it, if one did), creator, time, inputs, pinned, value score and what the
    stale policy would do (``pit.stale.verdicts()``: nothing done, no event).

    >>> pit = Pit()
    >>> _ = pit.artifacts.put(b"x", tags=["raw"])
    >>> [(r["size"], r["tags"], r["action"]) for r in artifact_rows(pit)]
    [(1, ['raw'], 'keep')]
    """
    metas = sorted(pit.artifacts.list(), key=lambda m: m.created_at, reverse=True)[:limit]
    decisions = {d["id"]: d for d in pit.stale.verdicts()} if metas else {}
    rows = []
    for m in metas:
        d = decisions.get(m.id, {})
        rows.append(
            {
                "id": m.id,
                "size": m.size,
                "content_type": m.content_type,
                "tags": list(m.tags),
                "producer": "/".join(m.producer) if m.producer else "",
                "created_by": m.created_by or "",
                "created_at": m.created_at,
                "inputs": len(m.inputs),
                "pinned": m.pinned,
                "value": round(float(d.get("value", float("nan"))), 3),
                "action": d.get("action", ""),
            }
        )
    return rows


class ArtifactBrowser(SnapshotWidget):
    """The store's newest artifacts as a table you filter as you type (id, type, size, tags,
    producer, value score); click a row for a preview of its value and its lineage, drawn as a
    small graph of its ancestors. New artifacts appear as they are stored.

    >>> ArtifactBrowser(pit)  # doctest: +SKIP
    """

    _esm = Path(__file__).with_name("artifacts.js")
    rows: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    preview = traitlets.Dict().tag(sync=True)

    def __init__(self, pit: Pit | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pit = pit or default_pit()
        self._pending: threading.Timer | None = None
        self._refreshed = 0.0
        self.refresh()
        self.observe(self._on_select, names="selected")
        self._unsubscribe = feed_for(self._pit).subscribe(self._on_events)

    def refresh(self) -> None:
        """Read the store's artifacts again now."""
        self._pending = None
        self._refreshed = time.monotonic()
        if not self._pit.closed:
            self.rows = artifact_rows(self._pit)

    def close(self) -> None:
        unsubscribe = getattr(self, "_unsubscribe", None)
        if unsubscribe is not None:
            unsubscribe()
        pending = getattr(self, "_pending", None)
        if pending is not None:
            pending.cancel()
        super().close()

    def _on_events(self, events: list[Event]) -> None:
        stored = any(e.kind == "artifact.stored" and not e.data.get("dedup") for e in events)
        if stored and self._pending is None:
            # At most one reading per REFRESH_S; the last one comes after the last artifact.
            wait = max(0.0, REFRESH_S - (time.monotonic() - self._refreshed))
            self._pending = threading.Timer(wait, self.refresh)
            self._pending.daemon = True
            self._pending.start()

    def _on_select(self, change: dict[str, Any]) -> None:
        artifact = change["new"]
        if not artifact:
            self.preview = {}
            return
        try:
            meta = self._pit.artifacts.metadata(artifact)
            value = self._pit.artifacts.get(artifact)
        except Exception as e:  # unknown, quarantined, unreadable: say so in the preview
            self.preview = {"id": artifact, "error": f"{type(e).__name__}: {e}"}
            return
        ancestors = self._pit.artifacts.ancestors(artifact)[:MAX_LINEAGE]
        nodes = [artifact, *ancestors]
        shown = set(nodes)
        edges = []
        for node in nodes:
            for parent in self._pit.artifacts.metadata(node).inputs:
                if parent in shown:
                    edges.append([parent, node])
        self.preview = {
            "id": artifact,
            "type": type(value).__name__,
            "text": _preview.repr(value),
            "content_type": meta.content_type,
            "tags": list(meta.tags),
            "lineage": {"nodes": nodes, "edges": edges},
        }

    def __repr__(self) -> str:
        return f"ArtifactBrowser({len(self.rows)} artifact(s))"

    def snapshot_html(self) -> str:
        """The table as static HTML (the first 50 rows)."""
        body = "".join(
            f"<tr><td><code title='{r['id']}'>{r['id'][:12]}…</code></td><td>{r['size']}</td>"
            f"<td>{html.escape(r['content_type'] or '')}</td><td>{html.escape(', '.join(r['tags']))}</td>"
            f"<td>{html.escape(r['producer'] or r['created_by'])}</td><td>{r['value']}</td></tr>"
            for r in self.rows[:50]
        )
        head = "<tr><th>id</th><th>size</th><th>type</th><th>tags</th><th>producer</th><th>value</th></tr>"
        return f"<table style='font:12px sans-serif'>{head}{body}</table>"
