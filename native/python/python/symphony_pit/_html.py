"""HTML cards for ``_repr_html_`` of the native classes (Dask-style summaries).

The native classes call these renderers with themselves; everything shown is escaped.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

_STYLE = (
    "font-family: var(--jp-ui-font-family, sans-serif); font-size: 12px; "
    "border: 1px solid var(--jp-border-color2, #ddd); border-radius: 4px; padding: 6px 10px; "
    "margin: 2px 0; max-width: 960px;"
)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return escape(str(value))


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "—"
    return _dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, limit: int = 50) -> str:
    """An HTML table of at most ``limit`` rows (the rest summarised)."""
    rows = list(rows)
    head = "".join(f"<th style='text-align:left'>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(cell)}</td>" for cell in row) + "</tr>" for row in rows[:limit])
    more = f"<tr><td colspan='{len(headers)}'>… {len(rows) - limit} more</td></tr>" if len(rows) > limit else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}{more}</tbody></table>"


def card(title: str, summary: str, *sections: str) -> str:
    """A titled box with a one-line summary and optional sections."""
    inner = "".join(f"<div style='margin-top:4px'>{s}</div>" for s in sections if s)
    return (
        f"<div class='symphony-card' style='{_STYLE}'><strong>{escape(title)}</strong> "
        f"<span style='color:var(--jp-ui-font-color2,#666)'>{escape(summary)}</span>{inner}</div>"
    )


def _capacity(capacity: dict[str, float | None], used: dict[str, float]) -> str:
    parts = []
    for dim, limit in capacity.items():
        if limit is None:
            if used[dim]:
                parts.append(f"{dim} {used[dim]:g}/∞")
        else:
            parts.append(f"{dim} {used[dim]:g}/{limit:g}")
    return ", ".join(parts) or "unlimited"


def pools_section(pools: Any) -> str:
    rows = [(p["name"], _capacity(p["capacity"], p["used"]), p["models"], p["allocated"]) for p in pools.pools()]
    models = [
        (m["model_id"], m["name"], m["version"], m["pool"], m["state"], m["handle"], m["invocations"])
        for m in pools.models()
    ]
    return table(["pool", "used / capacity", "models", "allocated"], rows) + (
        table(["id", "model", "version", "pool", "state", "handle", "invocations"], models) if models else ""
    )


def pools_html(pools: Any) -> str:
    stats = pools.stats()
    summary = (
        f"{len(pools)} pools · {stats['allocations']} allocations · "
        f"hit rate {stats['hit_rate']:.0%} · {stats['exhausted']} exhausted"
    )
    return card("Pool Manager", summary, pools_section(pools))


def artifacts_section(store: Any, limit: int = 20) -> str:
    metas = store.list()
    rows = [
        (m.id[:12] + "…", m.size, m.content_type, ", ".join(m.tags), _when(m.created_at), "📌" if m.pinned else "")
        for m in metas[-limit:]
    ]
    return table(["id", "bytes", "content type", "tags", "created", "pinned"], rows) if rows else ""


def artifacts_html(store: Any) -> str:
    stats = store.stats()
    summary = (
        f"{stats['artifacts']} artifacts · {stats['total_bytes']:,} bytes · "
        f"{stats['hot_artifacts']} hot · {stats['dedup_hits']} dedup hits"
    )
    return card("Artifact Store", summary, artifacts_section(store))


def artifact_meta_html(meta: Any) -> str:
    rows = [(k, v) for k, v in meta.to_dict().items() if k not in ("created_at", "last_access")]
    rows += [("created_at", _when(meta.created_at)), ("last_access", _when(meta.last_access))]
    return card("Artifact", f"{meta.id[:16]}… · {meta.size:,} bytes", table(["field", "value"], rows))


def dags_section(dags: Any) -> str:
    rows = [
        (r["run_id"], r["workflow"], r["status"], f"{r['succeeded']}/{r['nodes']}", r["failed"], _when(r["created_at"]))
        for r in dags.runs()
    ]
    return table(["run", "workflow", "status", "succeeded", "failed", "started"], rows) if rows else ""


def dags_html(dags: Any) -> str:
    runs = dags.runs()
    return card("DAG Tracker", f"{len(runs)} runs in this session", dags_section(dags))


def graph_html(graph: Any) -> str:
    path, total = graph.critical_path()
    deps: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        deps[b].append(a)
    rows = [(n, ", ".join(deps[n]), "★" if n in path else "") for n in graph.topological_order()]
    summary = f"{len(graph)} nodes · {len(graph.edges)} edges · critical path {' → '.join(path)} ({total:g})"
    return card(f"Workflow {graph.name}", summary, table(["node", "depends on", "critical"], rows))


def handle_html(handle: Any) -> str:
    spec = handle.spec
    rows = [
        ("model", f"{spec.name} v{spec.version} ({spec.model_type})"),
        ("pool", handle.pool),
        ("status", handle.status),
        ("cache hit", handle.cache_hit),
        ("requirements", ", ".join(f"{k}={v:g}" for k, v in spec.requirements.items() if v)),
    ]
    return card("Model handle", f"#{handle.id}", table(["", ""], rows))


def pit_html(pit: Any) -> str:
    where = pit.store or "in memory"
    stats = pit.artifacts.stats()
    summary = (
        f"{where} · {len(pit.pools)} pools · {len(pit.pools.models())} models · "
        f"{stats['artifacts']} artifacts · {len(pit.dags.runs())} runs · {pit.events_pending} events pending"
    )
    sections = [
        "<em>Pools</em>" + pools_section(pit.pools) if len(pit.pools) else "",
        "<em>Artifacts</em>" + artifacts_section(pit.artifacts, limit=10) if stats["artifacts"] else "",
        "<em>Runs</em>" + dags_section(pit.dags) if pit.dags.runs() else "",
    ]
    return card("Pit", summary, *sections)


def quest_level_html(level: Any) -> str:
    """A Function Quest level: story, goal, optimal plan and its calls."""
    calls = table(
        ["#", "call", "requires", "adds", "cost"],
        (
            (
                i,
                c["label"],
                ", ".join(c["requires"]),
                ", ".join(c["adds"]),
                "—"
                if c["cost"]["pool"] is None
                else f"{c['cost']['pool']}: {c['cost']['cpu']:g} cpu × {c['cost']['steps']}",
            )
            for i, c in enumerate(level.calls)
        ),
    )
    return card(
        f"QuestLevel {level.id} — {level.title}",
        f"band {level.band} · {len(level.facts)} facts · {len(level)} calls · optimal {level.optimal_steps} steps",
        f"<em>{escape(level.story)}</em>",
        f"Goal: {escape(', '.join(level.goal))} · optimal plan: {escape(' → '.join(level.plan))}",
        calls,
    )


def workflow_html(workflow: Any) -> str:
    """A workflow: its inputs and one row per node (kind, inputs, policies)."""
    rows = [
        (
            node.name,
            node.kind,
            ", ".join(node.inputs) or "—",
            node.pool,
            node.priority,
            node.retries,
            node.timeout,
            "yes" if node.fallback is not None else "—",
            "yes" if node.cache else "no",
        )
        for node in workflow
    ]
    summary = f"{len(rows)} nodes · inputs: {', '.join(workflow.inputs) or 'none'}"
    headers = ["node", "kind", "takes", "pool", "priority", "retries", "timeout", "fallback", "cache"]
    return card(f"Workflow {workflow.name}", summary, table(headers, rows))


_STATE_COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "skipped": "#9e9e9e",
    "cancelled": "#6d4c41",
}


def workflow_run_html(run: Any) -> str:
    """A run: status, duration and one row per node (state, attempts, cached, error)."""
    rows = []
    for row in run.rows():
        colour = _STATE_COLOURS.get(row["state"], "inherit")
        started, finished = row["started_at"], row["finished_at"]
        took = f"{(finished - started) * 1e3:.2f} ms" if started and finished else "—"
        rows.append(
            "<tr>"
            f"<td>{escape(row['node'])}</td>"
            f"<td style='color:{colour}'>{escape(row['state'])}</td>"
            f"<td>{row['attempts']}</td>"
            f"<td>{'✓' if row['cached'] or row['reused'] else ''}</td>"
            f"<td>{'✓' if row['fallback'] else ''}</td>"
            f"<td>{took}</td>"
            f"<td>{escape(row['exception'] or '')} {escape((row['error'] or '')[:120])}</td>"
            "</tr>"
        )
    head = "".join(
        f"<th style='text-align:left'>{h}</th>"
        for h in ["node", "state", "attempts", "cached", "fallback", "took", "error"]
    )
    body = "".join(rows[:100])
    more = f"<tr><td colspan='7'>… {len(rows) - 100} more</td></tr>" if len(rows) > 100 else ""
    summary = f"{run.status} · {len(rows)} nodes · {run.duration * 1e3:.2f} ms"
    if run.resumed_from:
        summary += f" · resumed from {run.resumed_from}"
    return card(
        f"Run {run.run_id}",
        summary,
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}{more}</tbody></table>",
    )


def arbiter_html(arbiter: Any) -> str:
    """Strategy, queue and fairness of the Arbiter."""
    stats = arbiter.stats()
    fairness = arbiter.fairness()
    summary = (
        f"{stats['strategy']} · {stats['waiting']} waiting · {stats['grants']} granted · "
        f"{stats['denials']} denied · Gini {fairness['gini']:.3f}"
    )
    rows = [
        (
            t["tenant"],
            f"{t['weight']:g}",
            t["granted"],
            f"{t['share']:.1%}",
            f"{t['fair_share']:.1%}",
            f"{t['mean_wait'] * 1e3:.2f} ms",
        )
        for t in fairness["tenants"]
    ]
    return card(
        "Arbiter",
        summary,
        table(["tenant", "weight", "granted", "share", "fair share", "mean wait"], rows) if rows else "",
    )


def cleanup_html(report: Any) -> str:
    """Summary of a Stale Manager cleanup and the artifacts it archives or deletes."""
    mode = "dry run" if report.dry_run else "cleanup"
    summary = (
        f"{mode} · {report.examined} examined · {report.kept} kept · {report.archived} archived · "
        f"{report.deleted} deleted ({report.bytes_deleted:,} bytes) · {report.models_released} models released · "
        f"{report.duration * 1e3:.1f} ms"
    )
    rows = [
        (row["id"][:12] + "…", row["action"], f"{row['value']:.2f}", row["size"], row["access_count"], row["reason"])
        for row in report.decisions
        if row["action"] != "keep"
    ]
    return card(
        "Stale Manager", summary, table(["id", "action", "value", "bytes", "reads", "reason"], rows) if rows else ""
    )
