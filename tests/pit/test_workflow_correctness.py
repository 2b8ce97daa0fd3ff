"""The Pit's workflow engine against the pure-Python reference executor, the four classic
shapes with exact numbers, and bad input."""

from __future__ import annotations

import json
import os
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from symphony_pit import CompiledWorkflow, Pit, ValidationError, Workflow, _native
from symphony_pit.reference import run_reference

# -- differential: random DAGs with failures and retries ----------------------------------------


class Flaky:
    """A node body that fails its first `failures` attempts (per run), then returns a number
    computed from its inputs."""

    def __init__(self, name: str, failures: int, fail_with: type[Exception]) -> None:
        self.name, self.failures, self.fail_with = name, failures, fail_with
        self.calls = 0

    def __call__(self, *inputs: Any) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.fail_with(f"{self.name} attempt {self.calls}")
        return (sum(x if isinstance(x, int) else len(x) for x in inputs) * 3 + len(self.name)) % 1_000_003


BUILTINS: list[tuple[str, dict[str, Any]]] = [
    ("calculator", {"operation": "sum"}),
    ("calculator", {"operation": "add", "operand": 7}),
    ("calculator", {"operation": "mul", "operand": 2}),
    ("passthrough", {}),
    ("constant", {"value": 11}),
]


@st.composite
def random_workflows(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[str, int, type[Exception]]]]:
    size = draw(st.integers(1, 14))
    nodes = []
    bodies = []
    for i in range(size):
        name = f"n{i}"
        deps = sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else []
        inputs = [f"n{d}" for d in deps] or (["seed"] if draw(st.booleans()) else [])
        retries = draw(st.integers(0, 2))
        node: dict[str, Any] = {"name": name, "inputs": inputs, "retries": retries, "cache": False}
        if draw(st.integers(0, 3)) == 0:
            kind, config = draw(st.sampled_from(BUILTINS))
            if kind == "calculator" and config["operation"] != "sum" and not inputs:
                kind, config = "constant", {"value": 3}
            node.update(kind=kind, config=config)
        else:
            failures = draw(st.sampled_from([0, 0, 0, 1, 2, 3]))
            error = draw(st.sampled_from([ValueError, KeyError, RuntimeError]))
            node["kind"] = "python"
            bodies.append((name, failures, error))
            if draw(st.integers(0, 4)) == 0:
                node["fallback"] = {"kind": "constant", "config": {"value": -1}}
        nodes.append(node)
    manifest = {"format": "symphony.workflow", "version": 1, "name": "random", "inputs": ["seed"], "nodes": nodes}
    return manifest, bodies


def fresh_callables(bodies: list[tuple[str, int, type[Exception]]]) -> list[Flaky]:
    return [Flaky(name, failures, error) for name, failures, error in bodies]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_workflows(), st.integers(0, 50), st.booleans())
def test_the_pit_and_the_reference_agree_on_random_dags(case: Any, seed: int, cache: bool) -> None:
    # cache=False sends built-in nodes through waves (computed, then recorded together);
    # cache=True through the memo table one by one: both must agree with the reference.
    manifest, bodies = case
    expected = run_reference(manifest, {"seed": seed}, fresh_callables(bodies))
    pit = Pit()
    wf = Workflow.from_manifest(
        manifest, callables={name: fn for (name, *_), fn in zip(bodies, fresh_callables(bodies), strict=True)}
    )
    run = pit.run(wf, {"seed": seed}, cache=cache, raise_on_failure=False)
    rows = {row["node"]: row for row in run.rows()}
    assert {n: r["state"] for n, r in rows.items()} == expected.states
    assert run.status == expected.status
    for name, state in expected.states.items():
        if state == "succeeded":
            assert run[name] == expected.results[name], name
        if state in ("succeeded", "failed"):
            assert rows[name]["attempts"] == expected.attempts[name], name
        if state == "failed":
            assert rows[name]["exception"] == expected.errors[name], name
        assert rows[name]["fallback"] == (name in expected.fallbacks)


# -- the classic shapes, numbers checked exactly ---------------------------------------------


def test_linear_chain() -> None:
    wf = Workflow("linear")
    wf.add_node("a", lambda x: x + 1, inputs=["x"])
    wf.add_node("b", "calculator", operation="mul", operand=10, inputs=["a"])
    wf.add_node("c", lambda b: b - 3, inputs=["b"])
    wf.add_node("d", "calculator", operation="div", operand=4, inputs=["c"])
    run = Pit().run(wf, {"x": 2})
    assert [run[n] for n in "abcd"] == [3, 30, 27, 6.75]
    assert run_reference(wf, {"x": 2}).results == {"a": 3, "b": 30, "c": 27, "d": 6.75}


def test_diamond() -> None:
    wf = Workflow("diamond")
    wf.add_node("top", "constant", value=[1, 2, 3, 4, 5, 6])
    wf.add_node("big", "filter", compare="gt", value=3, inputs=["top"])
    wf.add_node("scaled", "map", operation="mul", operand=10, inputs=["top"])
    wf.add_node("joined", "concat", inputs=["big", "scaled"])
    wf.add_node("bottom", "calculator", operation="sum", inputs=["joined"])
    run = Pit().run(wf)
    assert run["big"] == [4, 5, 6]
    assert run["scaled"] == [10, 20, 30, 40, 50, 60]
    assert run["joined"] == [4, 5, 6, 10, 20, 30, 40, 50, 60]
    assert run.outputs == {"bottom": 225}


def test_tree_fan_out_and_in() -> None:
    wf = Workflow("tree")
    wf.add_node("root", lambda n: n, inputs=["n"])
    for i in range(4):
        wf.add_node(f"leaf{i}", lambda root, i=i: root * (i + 1), inputs=["root"])
    wf.add_node("total", "calculator", operation="sum", inputs=[f"leaf{i}" for i in range(4)])
    run = Pit().run(wf, {"n": 7})
    assert run.outputs == {"total": 7 * (1 + 2 + 3 + 4)}


def test_mixed_dag_of_python_builtin_and_sub_workflow_nodes() -> None:
    stats = Workflow("stats")
    stats.add_node("count", len, inputs=["values"])
    stats.add_node("total", "calculator", operation="sum", inputs=["values"])
    stats.add_node("mean", "calculator", operation="div", inputs=["total", "count"])
    stats.set_outputs("count", "mean")
    wf = Workflow("mixed")
    wf.add_node("raw", lambda n: list(range(1, n + 1)), inputs=["n"])
    wf.add_node("odd", lambda raw: [x for x in raw if x % 2], inputs=["raw"])
    wf.add_node("summary", stats, inputs=["odd"])
    wf.add_node("report", lambda summary, raw: f"{summary['count']} odd of {len(raw)}, mean {summary['mean']}")
    run = Pit().run(wf, {"n": 9})
    assert run["summary"] == {"count": 5, "mean": 5.0}
    assert run.outputs == {"report": "5 odd of 9, mean 5.0"}
    assert run_reference(wf, {"n": 9}).results["report"] == run.outputs["report"]


# -- bad input ---------------------------------------------------------------------------------


def manifest(nodes: list[dict[str, Any]], **extra: Any) -> str:
    return json.dumps({"format": "symphony.workflow", "version": 1, "name": "bad", "nodes": nodes, **extra})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            manifest(
                [{"name": "a", "kind": "python", "inputs": ["b"]}, {"name": "b", "kind": "python", "inputs": ["a"]}]
            ),
            "cycle",
        ),
        (manifest([{"name": "a", "kind": "python", "inputs": ["ghost"]}]), "'ghost' is neither a node"),
        (manifest([{"name": "a", "kind": "python"}, {"name": "a", "kind": "python"}]), "duplicate node names: 'a'"),
        (manifest([{"name": "a", "kind": "warp-drive"}]), "unknown node kind 'warp-drive'"),
        (manifest([{"name": "a", "kind": "python", "retries": "three"}]), "nodes[0].retries"),
        (manifest([{"name": "a", "kind": "python", "timeout": -1}]), "timeout"),
        (manifest([{"name": "a", "kind": "calculator", "config": {"operation": "pow"}}]), '"pow" is unknown'),
        (manifest([], version=7), "version 7 is not understood"),
        (manifest([{"name": "a", "kind": "python", "colour": "red"}]), "unknown field `colour`"),
        ("{not json", "workflow manifest"),
    ],
)
def test_bad_manifests_get_clear_errors(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        CompiledWorkflow(text)
    assert message in str(info.value)


def test_random_bytes_and_deep_nesting_are_refused() -> None:
    rng = random.Random(3)
    for _ in range(50):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))).decode("latin-1")
        with pytest.raises(ValidationError):
            CompiledWorkflow(junk)
    with pytest.raises(ValidationError):
        CompiledWorkflow("[" * 100_000 + "]" * 100_000)
    deep: dict[str, Any] = {"format": "symphony.workflow", "version": 1, "name": "w0", "inputs": ["x"], "nodes": []}
    for level in range(40):
        deep = {
            "format": "symphony.workflow",
            "version": 1,
            "name": f"w{level + 1}",
            "inputs": ["x"],
            "nodes": [{"name": "sub", "kind": "workflow", "inputs": ["x"], "workflow": deep}],
        }
    with pytest.raises(ValidationError, match="nest deeper|recursion"):
        CompiledWorkflow(json.dumps(deep))


def test_a_ten_thousand_node_manifest_compiles_and_runs() -> None:
    nodes = [{"name": "n0", "kind": "constant", "config": {"value": 1}}]
    nodes += [
        {"name": f"n{i}", "kind": "calculator", "inputs": [f"n{i - 1}"], "config": {"operation": "add", "operand": 1}}
        for i in range(1, 10_000)
    ]
    wf = Workflow.from_manifest(manifest(nodes))
    run = Pit().run(wf)
    assert run.outputs == {"n9999": 10_000}


def test_bad_workflow_building_is_refused_early() -> None:
    wf = Workflow("bad")
    wf.add_node("a", "constant", value=1)
    with pytest.raises(ValidationError, match="already has a node 'a'"):
        wf.add_node("a", "constant", value=2)
    with pytest.raises(ValidationError, match="unknown node kind 'teleport'"):
        wf.add_node("b", "teleport")
    with pytest.raises(ValidationError, match="kind must be a callable"):
        wf.add_node("c", 42)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="retries must be an int"):
        wf.add_node("d", len, retries=-1)
    with pytest.raises(ValidationError, match="priority 'urgent' is unknown"):
        wf.add_node("e", len, priority="urgent")
    with pytest.raises(ValidationError, match="inputs must be a list of str"):
        wf.add_node("f", len, inputs="a")
    with pytest.raises(ValidationError, match="a fallback is a callable"):
        wf.add_node("g", len, fallback={"kind": "nothing"})


def test_bad_run_arguments_are_refused() -> None:
    pit = Pit()
    wf = Workflow("needs")
    wf.add_node("echo", lambda x: x, inputs=["x"])
    with pytest.raises(ValidationError, match=r"missing \['x'\]"):
        pit.run(wf)
    with pytest.raises(ValidationError, match=r"unknown \['y'\]"):
        pit.run(wf, {"x": 1, "y": 2})
    with pytest.raises(TypeError, match="workflow input 'x' cannot be stored"):
        pit.run(wf, {"x": object()})
    with pytest.raises(ValidationError, match="needs a Workflow or Pipeline, got str"):
        pit.run("etl")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="concurrency of pool 'p' must be at least 1"):
        pit.run(wf, {"x": 1}, concurrency={"p": 0})


def test_outputs_that_cannot_be_stored_fail_their_node_with_a_clear_error() -> None:
    wf = Workflow("unstorable")
    wf.add_node("weird", lambda: object(), inputs=[])
    with pytest.raises(TypeError, match="the node returned a object, which the Pit cannot store"):
        Pit().run(wf)


def test_non_callable_and_wrong_arity_nodes() -> None:
    wf = Workflow("arity")
    wf.add_node("takes_two", lambda a, b: a + b, inputs=["x"])
    with pytest.raises(TypeError, match="missing 1 required positional argument"):
        Pit().run(wf, {"x": 1})
    compiled = wf.compile()
    with pytest.raises(ValidationError, match="is not callable"):
        _native.Pit()._execute(compiled, [42], [1])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="needs 1 callable"):
        _native.Pit()._execute(compiled, [], [1])


@pytest.mark.parametrize("cache", [True, False])
def test_builtin_type_errors_name_the_problem(cache: bool) -> None:
    wf = Workflow("types")
    wf.add_node("text", "constant", value="abc")
    wf.add_node("bad_sum", "calculator", operation="sum", inputs=["text"])
    with pytest.raises(TypeError, match="calculator needs numbers, got str"):
        Pit().run(wf, cache=cache)
    wf2 = Workflow("zero")
    wf2.add_node("zero", "constant", value=0)
    wf2.add_node("ratio", "calculator", operation="div", operand=0, inputs=["zero"], retries=1)
    wf2.add_node("after", "passthrough", inputs=["ratio"])
    wf2.add_node("beside", "calculator", operation="add", operand=1, inputs=["zero"])
    run = Pit().run(wf2, cache=cache, raise_on_failure=False)
    rows = {row["node"]: row for row in run.rows()}
    assert rows["ratio"]["state"] == "failed"
    assert rows["ratio"]["exception"] == "ZeroDivisionError"
    assert rows["ratio"]["attempts"] == 2  # a failing node of a wave goes the single way: retried
    assert rows["after"]["state"] == "skipped"
    assert rows["beside"]["state"] == "succeeded"
    assert run["beside"] == 1
    with pytest.raises(ZeroDivisionError):
        run.raise_for_status()


def test_the_interpreter_survives_a_crashing_process_node() -> None:
    # os._exit would kill us; a recursion overflow inside a node is the nastiest thing that can
    # safely happen in-process, and must come back as the node's RecursionError.
    def recurse(n: int) -> int:
        return recurse(n + 1)

    wf = Workflow("deep")
    wf.add_node("r", recurse, inputs=["n"])
    with pytest.raises(RecursionError):
        Pit().run(wf, {"n": 0})
    assert os.getpid() > 0
