"""DAG Tracker through Python: validation, node state machine, retries, history."""

from __future__ import annotations

from typing import Any

import pytest
from symphony_pit import NotFound, Pit, ValidationError, WorkflowGraph


def diamond(retries: int = 0) -> dict[str, Any]:
    return {
        "name": "diamond",
        "nodes": [
            {"name": "load"},
            {"name": "left", "deps": ["load"], "weight": 5},
            {"name": "right", "deps": ["load"], "retries": retries},
            {"name": "join", "deps": ["left", "right"]},
        ],
    }


def test_graph_model_order_and_critical_path() -> None:
    graph = WorkflowGraph(diamond())
    assert graph.topological_order() == ["load", "left", "right", "join"]
    assert set(graph.edges) == {("load", "left"), ("load", "right"), ("left", "join"), ("right", "join")}
    assert graph.critical_path() == (["load", "left", "join"], 7.0)
    assert WorkflowGraph(graph.to_dict()).to_dict() == graph.to_dict()
    assert "critical path load → left → join" in graph._repr_html_()


def test_named_outputs_are_dependencies() -> None:
    graph = WorkflowGraph(
        {
            "name": "w",
            "nodes": [{"name": "split", "outputs": ["train", "test"]}, {"name": "fit", "deps": ["split.train"]}],
        }
    )
    assert graph.edges == [("split", "fit")]
    with pytest.raises(
        ValidationError, match="output 'valid' of node 'split', which declares outputs \\[train, test\\]"
    ):
        WorkflowGraph(
            {
                "name": "w",
                "nodes": [{"name": "split", "outputs": ["train", "test"]}, {"name": "f", "deps": ["split.valid"]}],
            }
        )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {
                "name": "w",
                "nodes": [{"name": "a", "deps": ["c"]}, {"name": "b", "deps": ["a"]}, {"name": "c", "deps": ["b"]}],
            },
            r"has a cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)",
        ),
        ({"name": "w", "nodes": [{"name": "a", "deps": ["a"]}]}, r"has a cycle: a -> a"),
        ({"name": "w", "nodes": [{"name": "a", "deps": ["ghost"]}]}, r"node 'a' depends on unknown node 'ghost'"),
        (
            {"name": "w", "nodes": [{"name": "a"}, {"name": "a"}, {"name": "b"}, {"name": "b"}]},
            r"duplicate node names: 'a', 'b'",
        ),
        ({"name": "w", "nodes": [{"name": "a", "retries": -1}]}, r"nodes\[0\]\.retries must be an int"),
        ({"name": "w", "nodes": [{"name": "a", "deps": "b"}]}, r"nodes\[0\]\.deps must be a list of str, got str"),
        ({"name": "w", "nodes": [{"name": 7}]}, r"nodes\[0\]\.name must be a str, got int"),
        ({"name": "w", "nodes": [{"name": "a", "depz": []}]}, r"nodes\[0\] has unknown key \"depz\""),
        ({"nodes": []}, r"'name' is missing"),
        ({"name": "", "nodes": []}, r"workflow name must not be empty"),
        ([1, 2], r"the workflow must be a dict, got list"),
    ],
)
def test_invalid_graphs_name_the_problem(spec: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WorkflowGraph(spec)


def run_node(pit: Pit, run: str, node: str, outcome: str = "succeeded", error: str | None = None) -> str:
    assert pit.dags.set_state(run, node, "running") == "running"
    return pit.dags.set_state(run, node, outcome, error)


def test_a_run_walks_the_state_machine(pit: Pit) -> None:
    run = pit.dags.start(WorkflowGraph(diamond()))
    assert pit.dags.status(run) == "pending"
    assert pit.dags.ready(run) == ["load"]
    run_node(pit, run, "load")
    assert pit.dags.status(run) == "running"
    assert pit.dags.ready(run) == ["left", "right"]
    assert pit.dags.state(run, "join") == "pending"
    run_node(pit, run, "left")
    run_node(pit, run, "right")
    run_node(pit, run, "join")
    assert pit.dags.status(run) == "completed"
    nodes = pit.dags.nodes(run)
    assert [n["state"] for n in nodes] == ["succeeded"] * 4
    assert all(n["attempts"] == 1 and n["duration"] is not None for n in nodes)
    path, total = pit.dags.critical_path(run)
    assert path[0] == "load"
    assert path[-1] == "join"
    assert total >= 0


def test_retries_then_failure_skips_downstream(pit: Pit) -> None:
    run = pit.dags.start(diamond(retries=1))
    run_node(pit, run, "load")
    assert run_node(pit, run, "right", "failed", "flaky") == "ready"  # one retry left
    assert run_node(pit, run, "right", "failed", "still flaky") == "failed"
    assert pit.dags.state(run, "join") == "skipped"
    run_node(pit, run, "left")
    assert pit.dags.status(run) == "failed"
    right = next(n for n in pit.dags.nodes(run) if n["node"] == "right")
    assert (right["attempts"], right["error"]) == (2, "still flaky")
    kinds = [e.kind for e in pit.poll_events(1000)]
    assert "node.retry" in kinds
    assert kinds.count("run.status") == 2


def test_illegal_transitions_and_unknown_names(pit: Pit) -> None:
    run = pit.dags.start(diamond())
    with pytest.raises(ValidationError, match="node 'join' of run 'diamond-1' cannot go from pending to running"):
        pit.dags.set_state(run, "join", "running")
    with pytest.raises(ValidationError, match='unknown node state "done"'):
        pit.dags.set_state(run, "load", "done")
    with pytest.raises(NotFound, match="run 'diamond-1' has no node 'ghost'"):
        pit.dags.set_state(run, "ghost", "running")
    with pytest.raises(NotFound, match="run 'nope' does not exist"):
        pit.dags.status("nope")


def test_pause_resume_cancel(pit: Pit) -> None:
    run = pit.dags.start(diamond())
    pit.dags.pause(run)
    assert pit.dags.status(run) == "paused"
    with pytest.raises(ValidationError, match="is paused"):
        pit.dags.set_state(run, "load", "running")
    pit.dags.resume(run)
    pit.dags.set_state(run, "load", "running")
    pit.dags.cancel(run)
    assert pit.dags.status(run) == "cancelled"
    assert {n["state"] for n in pit.dags.nodes(run)} == {"cancelled"}
    with pytest.raises(ValidationError, match="already cancelled"):
        pit.dags.cancel(run)


def test_a_10000_node_graph_validates_and_runs(pit: Pit) -> None:
    nodes = [{"name": f"n{i}", "deps": [f"n{i - 1}", f"n{i // 2}"] if i else []} for i in range(10_000)]
    graph = WorkflowGraph({"name": "big", "nodes": nodes})
    run = pit.dags.start(graph)
    for _ in range(10_000):
        (node,) = pit.dags.ready(run)
        run_node(pit, run, node)
    assert pit.dags.status(run) == "completed"
