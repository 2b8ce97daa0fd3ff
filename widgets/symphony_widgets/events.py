"""``EventLog``: the Pit's event stream as a live, filterable table."""

from __future__ import annotations

import html
import json
from collections import deque
from pathlib import Path
from typing import Any

import traitlets
from symphony_pit import Event, Pit
from symphony_pit.pit import default_pit

from symphony_widgets.feed import feed_for
from symphony_widgets.snapshot import SnapshotWidget


def event_row(event: Event) -> dict[str, Any]:
    """An event as the table shows it (``data`` as JSON text, whole)."""
    return {
        "seq": event.seq,
        "time": event.time,
        "component": event.component,
        "kind": event.kind,
        "subject": event.subject,
        "data": json.dumps(event.data, default=str, ensure_ascii=False) if event.data else "",
    }


class EventLog(SnapshotWidget):
    """The newest ``rows`` events (default 200), newest first, updated as they come (at most every
    ~100 ms); type in the box to filter by component, kind, subject or data. It reads the
    stream without taking it: ``pit.poll_events()`` still returns every event.

    >>> EventLog(pit, rows=500)  # doctest: +SKIP
    """

    _esm = Path(__file__).with_name("events.js")
    events: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    filter = traitlets.Unicode("").tag(sync=True)

    def __init__(self, pit: Pit | None = None, rows: int = 200, **kwargs: Any) -> None:
        if not isinstance(rows, int) or isinstance(rows, bool) or not 1 <= rows <= 10_000:
            raise ValueError(f"rows must be an integer from 1 to 10,000, got {rows!r}")
        super().__init__(**kwargs)
        self._pit = pit or default_pit()
        feed = feed_for(self._pit)
        self._rows: deque[dict[str, Any]] = deque((event_row(e) for e in feed.latest(rows)), maxlen=rows)
        self.events = list(self._rows)
        self._unsubscribe = feed.subscribe(self._on_events)

    def __repr__(self) -> str:
        return (
            f"EventLog({len(self.events)} event(s) shown, newest seq {self.events[-1]['seq'] if self.events else '-'})"
        )

    def close(self) -> None:
        unsubscribe = getattr(self, "_unsubscribe", None)  # None: refused before it subscribed
        if unsubscribe is not None:
            unsubscribe()
        super().close()

    def snapshot_html(self) -> str:
        """The newest 20 events as a static table."""
        rows = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(str(e[k]))}</td>" for k in ("seq", "component", "kind", "subject", "data"))
            + "</tr>"
            for e in reversed(self.events[-20:])
        )
        return f"<table style='font:12px sans-serif'><tr><th>seq</th><th>component</th><th>kind</th><th>subject</th><th>data</th></tr>{rows}</table>"

    def _on_events(self, events: list[Event]) -> None:
        self._rows.extend(event_row(e) for e in events)
        self.events = list(self._rows)  # one message per batch
