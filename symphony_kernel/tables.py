"""The Pit's state as tables: pandas DataFrames with times as datetimes and long ids shortened.

Each function returns a :class:`Table`: the full :class:`pandas.DataFrame` in ``.frame`` (every id
whole, for code), shown in a notebook with 64-hex ids cut to 12 characters (the full id on hover)
and nested data as readable text.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd
from symphony_pit import Event, Pit
from symphony_widgets.artifacts import artifact_rows
from symphony_widgets.events import event_row
from symphony_widgets.pools import pools_snapshot

#: Characters of an id a table shows (the full id is in the cell's tooltip and in ``.frame``).
SHORT_ID = 12


def local_times(times: Iterable[Any]) -> pd.Series:
    """Epoch seconds, or naive UTC datetimes (as ``to_pandas`` gives them), as local,
    timezone-naive datetimes to the millisecond (``NaT`` where there is none)."""
    values = times if isinstance(times, pd.Series) else pd.Series(list(times), dtype="float64")
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values.dt.tz_localize("UTC")
    else:
        stamps = pd.to_datetime(values.astype("float64"), unit="s", utc=True)
    tz = dt.datetime.now().astimezone().tzinfo
    local: pd.Series = stamps.dt.tz_convert(tz).dt.tz_localize(None).dt.floor("ms")
    return local


class Table:
    """A DataFrame shown with short ids; ``.frame`` is the whole thing.

    >>> t = Table(pd.DataFrame({"id": ["ab" * 32]}), ids=("id",))
    >>> "title=" in t._repr_html_()
    True
    """

    def __init__(self, frame: pd.DataFrame, ids: tuple[str, ...] = (), caption: str = "") -> None:
        self.frame = frame
        self.ids = tuple(c for c in ids if c in frame.columns)
        self.caption = caption

    def __len__(self) -> int:
        return len(self.frame)

    def _shown(self) -> pd.DataFrame:
        shown = self.frame.copy()
        for column in self.ids:
            shown[column] = shown[column].map(lambda v: _short(v) if isinstance(v, str) else v)
        return shown

    def __repr__(self) -> str:
        text = self._shown().to_string(index=False) if len(self.frame) else "(none)"
        return f"{self.caption}\n{text}" if self.caption else text

    def _repr_html_(self) -> str:
        if not len(self.frame):
            return f"<p><i>{html.escape(self.caption or 'nothing')}: none</i></p>"
        shown = self.frame.copy()
        for column in self.ids:
            shown[column] = shown[column].map(_id_cell)
        for column in shown.columns:
            if column not in self.ids and not pd.api.types.is_numeric_dtype(shown[column]):
                # Text from the store (tags, errors, event data) is shown, never interpreted.
                shown[column] = shown[column].map(lambda v: html.escape(v) if isinstance(v, str) else v)
        body = shown.to_html(index=False, escape=False, na_rep="", border=0)
        head = f"<p><b>{html.escape(self.caption)}</b> ({len(self.frame)})</p>" if self.caption else ""
        return head + body


def _short(value: str) -> str:
    """A content id (32 or more hex digits) cut to ``SHORT_ID``; any other text as it is."""
    return value[:SHORT_ID] + "…" if _HEX_ID.fullmatch(value) else value


_HEX_ID = re.compile(r"[0-9a-f]{32,}")


def _id_cell(value: Any) -> str:
    if not isinstance(value, str):
        return "" if value is None else html.escape(str(value))
    if not _HEX_ID.fullmatch(value):
        return html.escape(value)
    return f'<code title="{html.escape(value)}">{html.escape(_short(value))}</code>'


def pools_table(pit: Pit) -> Table:
    """Each pool's capacity, use and models, one row per pool and dimension in use (the rows
    `PoolView` draws as bars).

    >>> pit = Pit()
    >>> pit.pools.add_pool("cpu", cpu=4)
    >>> pools_table(pit).frame[["pool", "dimension", "capacity"]].to_dict("records")
    [{'pool': 'cpu', 'dimension': 'cpu', 'capacity': '4'}]
    """
    unlimited: list[dict[str, Any]] = [{"dimension": "(unlimited)", "capacity": None, "used": 0.0, "leased": 0.0}]
    rows = []
    for pool in pools_snapshot(pit):
        for d in pool["dimensions"] or unlimited:
            limit, held = d["capacity"], d["used"]
            rows.append(
                {
                    "pool": pool["name"],
                    "dimension": d["dimension"],
                    "capacity": "∞" if limit is None else f"{limit:g}",
                    "used": held,
                    "leased": d["leased"],
                    "use": f"{held / limit:.0%}" if limit else "",
                    "models": pool["models"],
                    "allocated": pool["allocated"],
                }
            )
    columns = ["pool", "dimension", "capacity", "used", "leased", "use", "models", "allocated"]
    return Table(pd.DataFrame(rows, columns=columns), caption="pools")


def runs_table(pit: Pit, limit: int = 50) -> Table:
    """The newest ``limit`` workflow runs: status, node counts, start, end and seconds taken."""
    frame = pit.dags.to_pandas()
    if len(frame):
        frame = frame.sort_values("created_at").tail(limit)
        frame["seconds"] = (frame["finished_at"] - frame["created_at"]).dt.total_seconds()
        frame["created_at"] = local_times(frame["created_at"])
        frame["finished_at"] = local_times(frame["finished_at"])
    return Table(frame.reset_index(drop=True), caption="runs")


def artifacts_table(pit: Pit, tag: str | None = None, stale: bool = False, limit: int = 200) -> Table:
    """Stored artifacts, newest first: id, size, type, tags, producer, the Stale Manager's value
    score and what its policy would do; with ``stale``, only those it would archive or delete.

    >>> pit = Pit()
    >>> _ = pit.artifacts.put(b"x", tags=["raw"])
    >>> artifacts_table(pit, tag="raw").frame[["size", "tags", "action"]].to_dict("records")
    [{'size': 1, 'tags': 'raw', 'action': 'keep'}]
    """
    rows = artifact_rows(pit, limit=None)
    if tag is not None:
        rows = [r for r in rows if tag in r["tags"]]
    if stale:
        rows = [r for r in rows if r["action"] in ("archive", "delete")]
    frame = pd.DataFrame(rows[:limit])
    if len(frame):
        frame["created_at"] = local_times(frame["created_at"])
        frame["tags"] = frame["tags"].map(lambda tags: ", ".join(tags))
    columns = ["id", "size", "content_type", "tags", "producer", "inputs", "value", "action", "created_at", "pinned"]
    frame = frame.reindex(columns=columns).reset_index(drop=True)
    what = "artifacts" + (f" tagged {tag!r}" if tag else "") + (" the stale policy would clean up" if stale else "")
    return Table(frame, ids=("id",), caption=what)


def events_table(events: list[Event]) -> Table:
    """Events as rows: sequence number, local time, component, kind, subject, data (whole)."""
    columns = ["seq", "time", "component", "kind", "subject", "data"]
    frame = pd.DataFrame([event_row(e) for e in events], columns=columns)
    frame["time"] = local_times(frame["time"])
    return Table(frame, ids=("subject",), caption="events")


def run_nodes_table(pit: Pit, run_id: str) -> Table:
    """One run's nodes: state, attempts, error, duration (seconds)."""
    frame = pd.DataFrame(pit.dags.nodes(run_id), columns=["node", "state", "attempts", "error", "duration"])
    return Table(frame, caption=f"run {run_id} ({pit.dags.status(run_id)})")
