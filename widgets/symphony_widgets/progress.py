"""``RunProgress``: nodes done of total and failures of one workflow run, moving while it runs."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import traitlets
from symphony_pit import Event, Pit

from symphony_widgets.feed import feed_for
from symphony_widgets.snapshot import SnapshotWidget

#: Node states that end a node (one more done).
ENDS = frozenset({"succeeded", "failed", "skipped", "cancelled"})


class RunProgress(SnapshotWidget):
    """A progress bar for the next run of workflow ``name`` on ``pit``: it takes the run's id
    from its ``run.started`` event, counts nodes as they end (from the event feed, so it moves
    while ``pit.run`` blocks the cell) and shows the run's final status. The notebook layer
    shows one for every ``pit.run`` in a cell (``symphony_pit.watch_runs``).

    >>> bar = RunProgress(pit, "etl", total=12)  # doctest: +SKIP
    """

    _esm = Path(__file__).with_name("progress.js")
    workflow = traitlets.Unicode("").tag(sync=True)
    run_id = traitlets.Unicode("").tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    done = traitlets.Int(0).tag(sync=True)
    failed = traitlets.Int(0).tag(sync=True)
    status = traitlets.Unicode("starting").tag(sync=True)

    def __init__(self, pit: Pit, name: str, total: int, **kwargs: Any) -> None:
        super().__init__(workflow=name, total=total, **kwargs)
        self._pit = pit
        self._unsubscribe = feed_for(pit).subscribe(self._on_events)

    def _on_events(self, events: list[Event]) -> None:
        done, failed = self.done, self.failed
        for event in events:
            if event.kind == "run.started" and not self.run_id and event.data.get("workflow") == self.workflow:
                self.run_id = event.subject
                self.status = "running"
            elif event.kind == "node.state" and self.run_id and event.subject.startswith(self.run_id + "/"):
                to = event.data.get("to")
                if to in ENDS:
                    done += 1
                    failed += to == "failed"
            elif event.kind == "run.status" and event.subject == self.run_id:
                self.status = str(event.data.get("to", ""))
        self.done, self.failed = min(done, self.total), failed

    def finish(self) -> None:
        """The run is over: read its last events and stop following the Pit (the bar stays
        shown, at its final count)."""
        feed_for(self._pit).catch_up()
        self._unsubscribe()

    def __repr__(self) -> str:
        failures = f", {self.failed} failed" if self.failed else ""
        return f"RunProgress({self.run_id or self.workflow!r}: {self.done}/{self.total} nodes{failures}, {self.status})"

    def snapshot_html(self) -> str:
        """The bar as static HTML."""
        share = self.done / self.total if self.total else 1.0
        failures = f", {self.failed} failed" if self.failed else ""
        return (
            f"<div style='font:12px sans-serif'>{html.escape(self.run_id or self.workflow)} · "
            f"{self.done}/{self.total} nodes{failures} · {html.escape(self.status)}"
            f"<div style='width:300px;height:8px;background:#eee'><div style='width:{share * 300:.0f}px;"
            f"height:8px;background:{'#e63946' if self.failed else '#2a9d8f'}'></div></div></div>"
        )
