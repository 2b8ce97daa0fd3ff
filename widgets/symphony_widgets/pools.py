"""``PoolView``: each pool's capacity and use as bars, its models and their lifecycle states, live."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import traitlets
from symphony_pit import Event, Pit
from symphony_pit.pit import default_pit

from symphony_widgets.feed import feed_for
from symphony_widgets.snapshot import SnapshotWidget


def pools_snapshot(pit: Pit) -> list[dict[str, Any]]:
    """Each pool with the dimensions it limits or uses: capacity (``None``: unlimited), used,
    leased (held by Arbitration), and its models.

    >>> pit = Pit()
    >>> pit.pools.add_pool("cpu", cpu=4)
    >>> pools_snapshot(pit)[0]["dimensions"]
    [{'dimension': 'cpu', 'capacity': 4.0, 'used': 0.0, 'leased': 0.0}]
    """
    out = []
    for pool in pit.pools.pools():
        dims = [
            {
                "dimension": d,
                "capacity": limit,
                "used": pool["used"].get(d) or 0.0,
                "leased": pool["reserved"].get(d) or 0.0,
            }
            for d, limit in pool["capacity"].items()
            if limit is not None or pool["used"].get(d)
        ]
        out.append({"name": pool["name"], "dimensions": dims, "models": pool["models"], "allocated": pool["allocated"]})
    return out


def models_snapshot(pit: Pit) -> list[dict[str, Any]]:
    """The live model instances: id, name, version, pool, state, handle, invocations."""
    keep = ("model_id", "name", "version", "model_type", "pool", "state", "handle", "invocations", "failures")
    return [{k: m[k] for k in keep} for m in pit.pools.models()]


class PoolView(SnapshotWidget):
    """Pools as bars (used, and the part Arbitration leased, of each dimension's capacity) and
    their models with their lifecycle states, refreshed when the Pool Manager or Arbitration
    reports a change (at most every ~100 ms).

    >>> PoolView(pit)  # doctest: +SKIP
    """

    _esm = Path(__file__).with_name("pools.js")
    pools: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    models: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)

    def __init__(self, pit: Pit | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pit = pit or default_pit()
        self.refresh()
        self._unsubscribe = feed_for(self._pit).subscribe(self._on_events)

    def refresh(self) -> None:
        """Read the pools and models again now."""
        self.pools = pools_snapshot(self._pit)
        self.models = models_snapshot(self._pit)

    def close(self) -> None:
        unsubscribe = getattr(self, "_unsubscribe", None)  # None: refused before it subscribed
        if unsubscribe is not None:
            unsubscribe()
        super().close()

    def _on_events(self, events: list[Event]) -> None:
        # Read again on every batch: a lease given back when a node ends sends no event of its
        # own, and a snapshot costs microseconds; traitlets sends only what changed.
        if events and not self._pit.closed:
            self.refresh()

    def __repr__(self) -> str:
        return f"PoolView({len(self.pools)} pool(s), {len(self.models)} model(s))"

    def snapshot_html(self) -> str:
        """The pools now as static HTML bars (what exported notebooks show)."""
        rows = []
        for pool in self.pools:
            for d in pool["dimensions"]:
                cap = d["capacity"]
                share = 0.0 if not cap else min(1.0, d["used"] / cap)
                rows.append(
                    f"<tr><td>{html.escape(pool['name'])}</td><td>{html.escape(d['dimension'])}</td>"
                    f"<td><div style='width:200px;background:#eee'><div style='width:{share * 200:.0f}px;"
                    f"height:10px;background:#6a4c93'></div></div></td>"
                    f"<td>{d['used']:g} / {'∞' if cap is None else f'{cap:g}'}</td></tr>"
                )
        models = ", ".join(f"{html.escape(m['name'])} ({m['state']})" for m in self.models) or "none"
        return f"<table style='font:12px sans-serif'>{''.join(rows)}</table><div style='font:12px sans-serif'>models: {models}</div>"
