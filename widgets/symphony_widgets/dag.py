"""``DagView``: a workflow run drawn as a layered graph, nodes coloured by state, live."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import traitlets
from symphony_pit import Event, Pit, Workflow, WorkflowRun
from symphony_pit.pit import default_pit

from symphony_widgets.feed import feed_for
from symphony_widgets.layout import CODE, STATES, Layout, layered, snapshot_svg
from symphony_widgets.snapshot import SnapshotWidget


class DagView(SnapshotWidget):
    """A run (or the runs of a workflow) as a layered graph that follows the run as it goes.

    Pass a ``WorkflowRun``, a run id, or a ``Workflow`` (the view then follows each new run of
    it, so it can be shown before ``pit.run`` starts). States arrive from the Pit's events,
    whether the run is awaited (``pit.run_async``) or blocks the cell (``pit.run``): the view is
    updated from the event feed's thread, at most every ~100 ms. Click a node for its attempts,
    error, time and artifact.

    >>> view = DagView(wf)            # doctest: +SKIP
    >>> view                          # doctest: +SKIP
    >>> pit.run(wf)                   # the drawing follows the run  # doctest: +SKIP
    """

    _esm = Path(__file__).with_name("dag.js")
    _css = Path(__file__).with_name("dag.css")

    #: The layout as columns: names, x, y, src, dst (see ``layout.Layout.columns``).
    graph = traitlets.Dict().tag(sync=True)
    #: One byte per node: its state's code (``layout.STATES``).
    states = traitlets.Bytes(b"").tag(sync=True)
    run_id = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    #: The node the user clicked (-1: none), and what the Pit says about it.
    selected = traitlets.Int(-1).tag(sync=True)
    detail = traitlets.Dict().tag(sync=True)

    def __init__(self, target: WorkflowRun | Workflow | str, pit: Pit | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pit = pit or default_pit()
        self._follow: str | None = None
        if isinstance(target, Workflow):
            nodes = target.nodes  # a fresh copy per access: taken once
            names = list(nodes)
            edges = [(i, n) for n, node in nodes.items() for i in node.inputs if i in nodes]
            self._follow = target.name
            self._set_graph(layered(names, edges))
            self.status = "not started"
        elif isinstance(target, WorkflowRun | str):
            self._show_run(target.run_id if isinstance(target, WorkflowRun) else target)
        else:
            raise TypeError(f"DagView shows a WorkflowRun, a run id or a Workflow, not {type(target).__name__}")
        self._unsubscribe = feed_for(self._pit).subscribe(self._on_events)
        self.observe(self._on_select, names="selected")

    @property
    def drawing(self) -> Layout:
        """The layout drawn (names, positions, edges)."""
        return self._layout

    def close(self) -> None:
        """Stop following the Pit, then close the widget."""
        unsubscribe = getattr(self, "_unsubscribe", None)  # None: refused before it subscribed
        if unsubscribe is not None:
            unsubscribe()
        super().close()

    def _set_graph(self, layout: Layout) -> None:
        self._layout = layout
        self._index = {name: i for i, name in enumerate(layout.names)}
        self._states = bytearray(len(layout.names))
        self.graph = layout.columns()
        self.states = bytes(self._states)

    def _show_run(self, run_id: str) -> None:
        graph = self._pit.dags.graph(run_id)  # NotFound names the run
        names = list(graph.nodes)
        if not hasattr(self, "_layout") or names != self._layout.names:
            self._set_graph(layered(names, list(graph.edges)))
        for row in self._pit.dags.nodes(run_id):
            self._states[self._index[row["node"]]] = CODE[row["state"]]
        self.run_id = run_id
        self.status = self._pit.dags.status(run_id)
        self.states = bytes(self._states)

    def _on_events(self, events: list[Event]) -> None:
        changed = False
        for event in events:
            kind = event.kind
            if kind == "node.state":
                run, _, node = event.subject.partition("/")
                if run == self.run_id and node in self._index:
                    self._states[self._index[node]] = CODE.get(str(event.data.get("to")), 0)
                    changed = True
            elif kind == "run.status" and event.subject == self.run_id:
                self.status = str(event.data.get("to", ""))
            elif kind == "run.started" and self._follow is not None and event.data.get("workflow") == self._follow:
                self.run_id = event.subject
                self.status = "running"
                self._states[:] = bytes(len(self._states))
                changed = True
        if changed:
            self.states = bytes(self._states)  # one message per batch: updates are coalesced

    def _on_select(self, change: dict[str, Any]) -> None:
        i = change["new"]
        if not (0 <= i < len(self._layout.names)):
            self.detail = {}
            return
        name = self._layout.names[i]
        detail: dict[str, Any] = {"node": name, "state": STATES[self._states[i]]}
        if self.run_id:
            row = next((r for r in self._pit.dags.nodes(self.run_id) if r["node"] == name), None)
            if row is not None:
                detail.update(attempts=row["attempts"], error=row["error"], seconds=row["duration"])
            outputs = self._pit.dags.succeeded_outputs(self.run_id)
            if name in outputs:
                detail["artifact"] = outputs[name]
        self.detail = detail

    def __repr__(self) -> str:
        what = self.run_id or f"runs of {self._follow!r}"
        return f"DagView({what}, {len(self._layout.names)} nodes, {self.status})"

    def snapshot_html(self) -> str:
        """The drawing now, as static HTML (what exported notebooks show)."""
        title = f"{self.run_id or self._follow or ''} ({self.status})"
        return snapshot_svg(self._layout, bytes(self._states), html.escape(title))
