"""The Pit's state as tables: pandas DataFrames with times as datetimes and long ids shortened.

Each function returns a :class:`Table`: the full :class:`pandas.DataFrame` in ``.frame`` (every id
whole, for code), shown in a notebook with 64-hex ids cut to 12 characters (the full id on hover)
and nested data as readable text.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd
from symphony_pit import Event, Pit

#: Characters of an id a table shows (the full id is in the cell's tooltip and in ``.frame``).
SHORT_ID = 12


def local_times(seconds: Iterable[float | None]) -> pd.Series:
    """Epoch seconds as local, timezone-naive datetimes (``NaT`` where there is none)."""
    values = [float("nan") if s is None else s for s in seconds]
    stamps = pd.to_datetime(pd.Series(values, dtype="float64"), unit="s", utc=True)
    tz = dt.datetime.now().astimezone().tzinfo
    return stamps.dt.tz_convert(tz).dt.tz_localize(None).dt.floor("ms")


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


def _amount(value: float | None) -> str:
    if value is None:
        return "∞"
    return f"{value:g}"


def pools_table(pit: Pit) -> Table:
    """Each pool's capacity, use and models, one row per pool and dimension in use.

    >>> pit = Pit()
    >>> pit.pools.add_pool("cpu", cpu=4)
    >>> pools_table(pit).frame[["pool", "dimension", "capacity"]].to_dict("records")
    [{'pool': 'cpu', 'dimension': 'cpu', 'capacity': '4'}]
    """
    rows = []
    for pool in pit.pools.pools():
        capacity, used, reserved = pool["capacity"], pool["used"], pool["reserved"]
        for dimension, limit in capacity.items():
            if limit is None and not used.get(dimension):
                continue  # an unlimited dimension nobody uses says nothing
            held = used.get(dimension) or 0.0
            rows.append(
                {
                    "pool": pool["name"],
                    "dimension": dimension,
                    "capacity": _amount(limit),
                    "used": held,
                    "leased": reserved.get(dimension) or 0.0,
                    "use": f"{held / limit:.0%}" if limit else "",
                    "models": pool["models"],
                    "allocated": pool["allocated"],
                }
            )
        if not any(r["pool"] == pool["name"] for r in rows):
            rows.append({"pool": pool["name"], "dimension": "(unlimited)", "capacity": "∞", "used": 0.0,
                         "leased": 0.0, "use": "", "models": pool["models"], "allocated": pool["allocated"]})  # fmt: skip
    columns = ["pool", "dimension", "capacity", "used", "leased", "use", "models", "allocated"]
    return Table(pd.DataFrame(rows, columns=columns), caption="pools")


def models_table(pit: Pit) -> Table:
    """The live model instances and their lifecycle states."""
    return Table(pit.pools.to_pandas(), caption="models")


def runs_table(pit: Pit, limit: int = 50) -> Table:
    """The newest ``limit`` workflow runs: status, node counts, start, end and seconds taken."""
    frame = pit.dags.to_pandas()
    if len(frame):
        frame = frame.sort_values("created_at").tail(limit)
        frame["seconds"] = (frame["finished_at"] - frame["created_at"]).dt.total_seconds()
        frame["created_at"] = _as_local(frame["created_at"])
        frame["finished_at"] = _as_local(frame["finished_at"])
    return Table(frame.reset_index(drop=True), caption="runs")


def _as_local(column: pd.Series) -> pd.Series:
    """Naive UTC datetimes (as ``to_pandas`` gives them) as local ones."""
    tz = dt.datetime.now().astimezone().tzinfo
    local: pd.Series = column.dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None).dt.floor("ms")
    return local


def artifacts_table(pit: Pit, tag: str | None = None, stale: bool = False, limit: int = 200) -> Table:
    """Stored artifacts, newest first: id, size, type, tags, producer, the Stale Manager's value
    score and what its policy would do; with ``stale``, only those it would archive or delete.

    >>> pit = Pit()
    >>> _ = pit.artifacts.put(b"x", tags=["raw"])
    >>> artifacts_table(pit, tag="raw").frame[["size", "tags", "action"]].to_dict("records")
    [{'size': 1, 'tags': 'raw', 'action': 'keep'}]
    """
    frame = pit.artifacts.to_pandas()
    if len(frame):
        decisions = {d["id"]: d for d in pit.stale.verdicts()}
        frame["value"] = frame["id"].map(lambda i: round(decisions[i]["value"], 3) if i in decisions else float("nan"))
        frame["action"] = frame["id"].map(lambda i: decisions[i]["action"] if i in decisions else "")
        if tag is not None:
            frame = frame[frame["tags"].map(lambda tags: tag in tags)]
        if stale:
            frame = frame[frame["action"].isin(["archive", "delete"])]
        frame = frame.sort_values("created_at", ascending=False).head(limit)
        frame["created_at"] = _as_local(frame["created_at"])
        frame["tags"] = frame["tags"].map(lambda tags: ", ".join(tags))
        frame["producer"] = frame["producer"].map(lambda p: "/".join(p) if p else "")
        frame["inputs"] = frame["inputs"].map(len)
    columns = ["id", "size", "content_type", "tags", "producer", "inputs", "value", "action", "created_at", "pinned"]
    frame = frame.reindex(columns=columns).reset_index(drop=True)
    what = "artifacts" + (f" tagged {tag!r}" if tag else "") + (" the stale policy would clean up" if stale else "")
    return Table(frame, ids=("id",), caption=what)


def events_table(events: list[Event]) -> Table:
    """Events as rows: sequence number, local time, component, kind, subject, data (whole)."""
    rows = [
        {
            "seq": e.seq,
            "component": e.component,
            "kind": e.kind,
            "subject": e.subject,
            "data": json.dumps(e.data, default=str, ensure_ascii=False) if e.data else "",
        }
        for e in events
    ]
    frame = pd.DataFrame(rows, columns=["seq", "component", "kind", "subject", "data"])
    frame.insert(1, "time", local_times(e.time for e in events))
    return Table(frame, ids=("subject",), caption="events")


def run_nodes_table(pit: Pit, run_id: str) -> Table:
    """One run's nodes: state, attempts, error, duration (seconds)."""
    frame = pd.DataFrame(pit.dags.nodes(run_id), columns=["node", "state", "attempts", "error", "duration"])
    return Table(frame, caption=f"run {run_id} ({pit.dags.status(run_id)})")
