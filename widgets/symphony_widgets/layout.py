"""A layered drawing of a DAG: columns by depth, rows ordered to cross fewer edges; as SVG too.

The layout is computed once in Python and sent to the browser as columns (names, x, y, edge
sources and targets) in one trait, so a 10,000-node graph is one message, not a widget per edge.
The same layout gives the static SVG snapshot that exported notebooks show.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

#: Node states in the order of their one-byte codes (the ``states`` trait).
STATES = ("pending", "ready", "running", "succeeded", "failed", "skipped", "cancelled")
CODE = {state: code for code, state in enumerate(STATES)}
#: Fill colour of each state (the ES module has the same table).
COLOURS = ("#d0d4da", "#8ecae6", "#ffb703", "#2a9d8f", "#e63946", "#9aa5b1", "#6c757d")
#: Distance between columns and between rows, in drawing units.
COLUMN, ROW = 60, 28
#: Largest graph the static snapshot draws node by node (beyond: a summary by state).
SNAPSHOT_NODES = 2_000


@dataclass(frozen=True)
class Layout:
    """Where each node of a graph is drawn."""

    names: list[str]
    x: list[int]
    y: list[int]
    sources: list[int]
    targets: list[int]

    def columns(self) -> dict[str, list[int] | list[str]]:
        """The layout as the ``graph`` trait sends it."""
        return {"names": self.names, "x": self.x, "y": self.y, "src": self.sources, "dst": self.targets}


def layered(names: Sequence[str], edges: Sequence[tuple[str, str]]) -> Layout:
    """Lay out a DAG: a node's column is its longest path from a root; within a column, nodes
    follow the mean row of their predecessors (one sweep, as Sugiyama's method starts).

    >>> layout = layered(["a", "b", "c"], [("a", "b"), ("a", "c"), ("b", "c")])
    >>> layout.x, layout.y
    ([0, 60, 120], [0, 0, 0])
    """
    index = {name: i for i, name in enumerate(names)}
    if len(index) != len(names):
        raise ValueError("node names must be unique")
    preds: list[list[int]] = [[] for _ in names]
    succs: list[list[int]] = [[] for _ in names]
    sources, targets = [], []
    for a, b in edges:
        if a not in index or b not in index:
            raise ValueError(f"edge {a!r} -> {b!r} names a node the graph does not have")
        i, j = index[a], index[b]
        preds[j].append(i)
        succs[i].append(j)
        sources.append(i)
        targets.append(j)
    depth = [0] * len(names)
    waiting = [len(p) for p in preds]
    order = [i for i, n in enumerate(waiting) if n == 0]
    for i in order:  # Kahn's algorithm; `order` grows as nodes become free
        for j in succs[i]:
            depth[j] = max(depth[j], depth[i] + 1)
            waiting[j] -= 1
            if waiting[j] == 0:
                order.append(j)
    if len(order) != len(names):
        raise ValueError("the graph has a cycle")
    columns: dict[int, list[int]] = {}
    for i in order:
        columns.setdefault(depth[i], []).append(i)
    row = [0.0] * len(names)
    for d in sorted(columns):
        members = columns[d]
        if d > 0:
            members.sort(key=lambda i: sum(row[p] for p in preds[i]) / len(preds[i]))
        for k, i in enumerate(members):
            row[i] = k - (len(members) - 1) / 2
    return Layout(
        list(names),
        [depth[i] * COLUMN for i in range(len(names))],
        [round(row[i] * ROW) for i in range(len(names))],
        sources,
        targets,
    )


def snapshot_svg(layout: Layout, states: bytes, title: str = "") -> str:
    """The drawing as static SVG (node by node up to ``SNAPSHOT_NODES``, else a bar by state),
    for the ``text/html`` of a widget's mimebundle.

    >>> svg = snapshot_svg(layered(["a", "b"], [("a", "b")]), bytes([3, 4]))
    >>> svg.count("<circle"), "#e63946" in svg
    (2, True)
    """
    n = len(layout.names)
    counts = [states.count(code) for code in range(len(STATES))]
    legend = " · ".join(f"{counts[c]} {s}" for c, s in enumerate(STATES) if counts[c])
    head = f"<div style='font:12px sans-serif;color:#444'>{html.escape(title)} {n} nodes: {legend}</div>"
    if n == 0:
        return head
    if n > SNAPSHOT_NODES:
        bar, x = [], 0.0
        for code, count in enumerate(counts):
            if count:
                w = 600 * count / n
                bar.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="16" fill="{COLOURS[code]}"/>')
                x += w
        return head + f'<svg xmlns="http://www.w3.org/2000/svg" width="600" height="16">{"".join(bar)}</svg>'
    pad = 16
    x0, x1 = min(layout.x) - pad, max(layout.x) + pad
    y0, y1 = min(layout.y) - pad, max(layout.y) + pad
    width, height = x1 - x0, y1 - y0
    path = "".join(
        f"M{layout.x[a]} {layout.y[a]}L{layout.x[b]} {layout.y[b]}"
        for a, b in zip(layout.sources, layout.targets, strict=True)
    )
    nodes = "".join(
        f'<circle cx="{layout.x[i]}" cy="{layout.y[i]}" r="7" fill="{COLOURS[states[i] if i < len(states) else 0]}">'
        f"<title>{html.escape(name)}: {STATES[states[i] if i < len(states) else 0]}</title></circle>"
        for i, name in enumerate(layout.names)
    )
    scale = min(1.0, 900 / width) if width else 1.0
    return head + (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{x0} {y0} {width} {height}" '
        f'width="{width * scale:.0f}" height="{height * scale:.0f}">'
        f'<path d="{path}" stroke="#9aa5b1" stroke-width="1.2" fill="none"/>{nodes}</svg>'
    )
