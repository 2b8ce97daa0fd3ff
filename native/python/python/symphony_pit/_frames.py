"""pandas DataFrames of Pit state, for the native classes' ``to_pandas()``.

pandas is imported only when a frame is asked for: production installs need not have it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def _times(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    import pandas as pd

    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], unit="s")
    return frame


def pools_frame(pools: Any) -> pd.DataFrame:
    """One row per live model: pool, spec, state, handle, use."""
    import pandas as pd

    columns = [
        "model_id",
        "name",
        "version",
        "model_type",
        "pool",
        "state",
        "handle",
        "invocations",
        "failures",
        "last_used",
    ]
    rows = [{k: m[k] for k in columns} for m in pools.models()]
    return _times(pd.DataFrame(rows, columns=columns), "last_used")


def artifacts_frame(store: Any, filters: dict[str, Any]) -> pd.DataFrame:
    """One row per artifact (oldest first), with metadata and lineage."""
    import pandas as pd

    columns = [
        "id", "size", "content_type", "created_at", "created_by", "tags", "producer", "inputs", "pinned",
        "access_count", "last_access",
    ]  # fmt: skip
    rows = [{k: meta.to_dict()[k] for k in columns} for meta in store.list(**filters)]
    return _times(pd.DataFrame(rows, columns=columns), "created_at", "last_access")


def dags_frame(dags: Any, run_id: str | None) -> pd.DataFrame:
    """The runs of this session, or the nodes of one run (topological order)."""
    import pandas as pd

    if run_id is None:
        columns = ["run_id", "workflow", "status", "nodes", "succeeded", "failed", "created_at", "finished_at"]
        return _times(pd.DataFrame(dags.runs(), columns=columns), "created_at", "finished_at")
    return pd.DataFrame(dags.nodes(run_id), columns=["node", "state", "attempts", "error", "duration"])


def fairness_frame(arbiter: Any) -> pd.DataFrame:
    """One row per tenant that asked the Arbiter: weight, grants, share vs fair share, waits."""
    import pandas as pd

    columns = ["tenant", "weight", "requested", "granted", "denied", "share", "fair_share", "mean_wait", "max_wait"]
    return pd.DataFrame(arbiter.fairness()["tenants"], columns=columns)
