"""`WorkflowRun`: what `Pit.run` gives back — outputs, states, metrics, errors."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from symphony_pit._native import RunReport

if TYPE_CHECKING:
    import pandas as pd


class WorkflowRun:
    """One finished run of a workflow.

    ``run.outputs`` maps each output node to its result (the very object the node returned);
    ``run["node"]`` gives any node's result; ``run.to_pandas()`` shows every node with its state,
    attempts and whether it was ``cached``; ``run.metrics()`` adds queue waits and latencies.
    """

    def __init__(self, report: RunReport, *, resumed_from: str | None = None) -> None:
        self._report = report
        self.resumed_from = resumed_from

    @property
    def run_id(self) -> str:
        return self._report.run_id

    @property
    def workflow(self) -> str:
        return self._report.workflow

    @property
    def status(self) -> str:
        """ "completed", "failed" or "cancelled"."""
        return self._report.status

    @property
    def ok(self) -> bool:
        return self._report.status == "completed"

    @property
    def failed_node(self) -> str | None:
        return self._report.failed_node

    @property
    def duration(self) -> float:
        """Seconds from the start of the run to its end."""
        return self._report.finished_at - self._report.started_at

    @cached_property
    def outputs(self) -> dict[str, Any]:
        """Results of the output nodes (those that have one)."""
        results = {}
        for name in self._report.output_names:
            if self._report.artifact(name) is not None:
                results[name] = self._report.result(name)
        return results

    def __getitem__(self, node: str) -> Any:
        """The result of any node; KeyError for an unknown node, LookupError when it has none."""
        if self._report.artifact(node) is None:
            raise LookupError(f"node '{node}' of run '{self.run_id}' has no result")
        return self._report.result(node)

    def artifact(self, node: str) -> str | None:
        """Id of the artifact holding `node`'s result."""
        return self._report.artifact(node)

    def exception(self, node: str) -> BaseException | None:
        """The exception `node` last raised (the original object, traceback included)."""
        exc = self._report.exception(node)
        assert exc is None or isinstance(exc, BaseException)
        return exc

    def raise_for_status(self) -> WorkflowRun:
        """Re-raise the failed node's original exception (with its type and traceback)."""
        if self.status == "failed" and self.failed_node is not None:
            exc = self.exception(self.failed_node)
            if exc is not None:
                note = f"in node '{self.failed_node}' of workflow run '{self.run_id}'"
                if note not in getattr(exc, "__notes__", []):
                    exc.add_note(note)
                raise exc
        if self.status == "cancelled":
            from symphony_pit.errors import Cancelled

            raise Cancelled(f"workflow run '{self.run_id}' was cancelled")
        return self

    def rows(self) -> list[dict[str, Any]]:
        """One dict per node, in manifest order."""
        return list(self._report.node_rows())

    def to_pandas(self) -> pd.DataFrame:
        """One row per node: state, attempts, cached, reused, fallback, pool, error, artifact,
        duration."""
        import pandas as pd

        columns = [
            "node",
            "state",
            "attempts",
            "cached",
            "reused",
            "fallback",
            "pool",
            "duration",
            "exception",
            "error",
            "artifact",
        ]
        rows = []
        for row in self.rows():
            started, finished = row["started_at"], row["finished_at"]
            row["duration"] = finished - started if started and finished else None
            rows.append({c: row[c] for c in columns})
        return pd.DataFrame(rows, columns=columns).set_index("node")

    def metrics(self) -> pd.DataFrame:
        """Per node: queue wait (ready → started) and latency (started → finished), seconds."""
        import pandas as pd

        rows = []
        for row in self.rows():
            ready, started, finished = row["ready_at"], row["started_at"], row["finished_at"]
            rows.append(
                {
                    "node": row["node"],
                    "state": row["state"],
                    "pool": row["pool"],
                    "attempts": row["attempts"],
                    "cached": row["cached"],
                    "worker": row["worker"],
                    "queue_wait": started - ready if ready and started else None,
                    "latency": finished - started if started and finished else None,
                }
            )
        return pd.DataFrame(rows).set_index("node")

    def __repr__(self) -> str:
        return (
            f"WorkflowRun({self.run_id!r}, status={self.status!r}, "
            f"nodes={len(self._report.node_names)}, duration={self.duration * 1e3:.2f} ms)"
        )

    def _repr_html_(self) -> str:
        from symphony_pit._html import workflow_run_html

        return workflow_run_html(self)
