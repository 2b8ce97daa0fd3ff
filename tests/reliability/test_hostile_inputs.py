"""Hostile inputs: manifests that are code, malformed manifests the validator accepts, arguments
that overflow, callers that change what is being converted. Each one gets a clear exception
under `symphony_pit.PitError` (or the documented TypeError) — never a crash, a raw OverflowError,
a `BaseException`, or code run that the caller did not ask for."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import function_quest  # noqa: F401  (registers FunctionQuest-v0)
import gymnasium as gym
import numpy as np
import pytest
import yaml
from function_quest.packs import LEVELS_DIR
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from symphony_pit import InternalError, ModelSpec, Pit, PitError, QuestGame, QuestLevel, ValidationError, Workflow
from symphony_pit._native import CompiledWorkflow


def manifest(*nodes: Any, inputs: list[str] | None = None) -> dict[str, Any]:
    return {"format": "symphony.workflow", "version": 1, "name": "m", "inputs": inputs or [], "nodes": list(nodes)}


# -- a manifest is data, not code ------------------------------------------------------------


def test_loading_a_manifest_runs_no_shell_command(tmp_path: Path, pit: Pit) -> None:
    target = tmp_path / "pwned"
    hostile = manifest({"name": "x", "kind": "python", "callable": "os:system", "inputs": ["cmd"]}, inputs=["cmd"])
    with pytest.raises(ValidationError, match="imports nothing by default"):
        Workflow.from_manifest(hostile)
    assert not target.exists()
    assert pit.dags.runs() == []


def test_loading_a_manifest_imports_no_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "evil_nodes.py").write_text(f"open({str(marker)!r}, 'w').close()\ndef f(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    hostile = manifest({"name": "x", "kind": "python", "callable": "evil_nodes:f", "inputs": ["v"]}, inputs=["v"])
    with pytest.raises(ValidationError, match="imports nothing by default"):
        Workflow.from_manifest(hostile)
    assert not marker.exists()
    assert "evil_nodes" not in sys.modules
    # A fallback is a callable too.
    fallback = manifest(
        {
            "name": "x",
            "kind": "constant",
            "config": {"value": 1},
            "fallback": {"kind": "python", "callable": "evil_nodes:f"},
        }
    )
    with pytest.raises(ValidationError, match="imports nothing by default"):
        Workflow.from_manifest(fallback)
    assert not marker.exists()
    # Only the caller's say-so imports it.
    Workflow.from_manifest(hostile, trusted=True)
    assert marker.exists()


@pytest.mark.parametrize("path", ["..x:y", ":y", "os:", "os:system;rm", "a b:c", "x:y:z"])
def test_malformed_callable_paths_are_validation_errors(path: str) -> None:
    bad = manifest({"name": "x", "kind": "python", "callable": path})
    with pytest.raises(ValidationError):
        Workflow.from_manifest(bad, trusted=True)


@pytest.mark.parametrize(
    "node",
    [
        {"name": "a", "kind": "constant", "config": None},
        {"name": "a", "kind": "constant", "config": {"value": 1}, "fallback": {"kind": "constant", "config": None}},
        {"name": "a", "kind": "model", "config": {"model": "echo", "pool": "gpu"}},
        ["a", "constant"],
    ],
)
def test_manifests_the_validator_accepts_load(node: Any) -> None:
    wf = Workflow.from_manifest(manifest(node))
    assert list(wf.nodes) == ["a"]


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_manifests_are_loaded_or_refused_cleanly(data: st.DataObject) -> None:
    base = manifest(
        {"name": "a", "kind": "constant", "config": {"value": 2}},
        {"name": "b", "kind": "calculator", "inputs": ["a"], "config": {"operation": "add", "operand": 1}},
        {"name": "c", "kind": "python", "callable": "builtins:abs", "inputs": ["b"], "retries": 1},
    )
    text = json.dumps(base)
    junk = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.just([]), st.just({})
    )
    mutated = json.loads(text)
    for _ in range(data.draw(st.integers(1, 4))):
        node = mutated["nodes"][data.draw(st.integers(0, 2))]
        key = data.draw(st.sampled_from(["name", "kind", "inputs", "config", "retries", "callable", "pool", "timeout"]))
        node[key] = data.draw(junk)
    try:
        wf = Workflow.from_manifest(mutated, namespace={"builtins:abs": abs})
        Pit().run(wf, raise_on_failure=False)
    except PitError:
        pass  # refused with a message naming the field


# -- arguments and values that used to escape as raw errors ---------------------------------


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (lambda: Pit(event_capacity=-1), "event_capacity"),
        (lambda: Pit(event_capacity=2**70), "event_capacity"),
        (lambda: Pit().poll_events(-1), "max"),
        (lambda: Pit().artifacts.list(limit=-1), "limit"),
        (lambda: Pit().run(_one(), concurrency={"default": 2**64}), "concurrency"),
        (lambda: Pit(""), "store"),
    ],
)
def test_bad_arguments_are_validation_errors_naming_the_parameter(call: Any, names: str) -> None:
    with pytest.raises(ValidationError, match=names):
        call()


def _one() -> Workflow:
    return Workflow("one").add_node("a", "constant", value=1)


def test_actions_out_of_range_are_validation_errors() -> None:
    env = gym.make("FunctionQuest-v0", level="locked-study")
    env.reset(seed=0)
    for action in (2**63, -1, np.uint64(2**64 - 1), 64):
        with pytest.raises(ValidationError, match="out of range"):
            env.step(action)
    envs = gym.make_vec("FunctionQuest-v0", num_envs=2, vectorization_mode="vector_entry_point", band=1)
    envs.reset(seed=0)
    with pytest.raises(ValidationError, match=r"actions\[1\] = 18446744073709551615 is out of range"):
        envs.step(np.array([0, 2**64 - 1], dtype=np.uint64))


def test_a_huge_vector_env_is_refused_with_the_memory_it_needs() -> None:
    with pytest.raises(ValidationError, match=r"num_envs=10,000,000 needs [\d.,]+ GiB"):
        gym.make_vec("FunctionQuest-v0", num_envs=10**7, vectorization_mode="vector_entry_point", band=1)


def test_a_level_may_be_given_as_a_dict() -> None:
    level = yaml.safe_load((LEVELS_DIR / "campaign" / "01-locked-study.yaml").read_text())
    env = gym.make("FunctionQuest-v0", level=level)
    assert env.unwrapped.level.id == "locked-study"  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="unknown key"):
        gym.make("FunctionQuest-v0", level={"secret": "x"})


def test_loading_a_file_that_is_no_level_does_not_echo_it(tmp_path: Path) -> None:
    secret = "root:$6$Xk2Jd9$8sPq0vHqzTQ9yC1fN2mXxWv:19000:0:99999:7:::"
    for text in (f"{secret}: 1\n", f'{{"{secret}": 1}}', f"format: {secret}\n"):
        path = tmp_path / ("shadow.json" if text.startswith("{") else "shadow.yaml")
        path.write_text(text)
        with pytest.raises(ValidationError) as refused:
            gym.make("FunctionQuest-v0", level=str(path))
        assert "$6$" not in str(refused.value)
        assert "not shown" in str(refused.value) or "line 1" in str(refused.value)


class Growing:
    """A value whose conversion (`__float__`, `__index__`, `__repr__`) adds keys to its dict."""

    def __init__(self, owner: dict[Any, Any]) -> None:
        self.owner = owner

    def _grow(self) -> None:
        self.owner[f"k{len(self.owner)}"] = 1

    def __float__(self) -> float:
        self._grow()
        return 1.0

    def __index__(self) -> int:
        self._grow()
        return 1

    def __repr__(self) -> str:
        self._grow()
        return "Growing()"


def test_callers_that_change_what_is_being_converted_get_exceptions_not_panics(pit: Pit) -> None:
    pit.pools.add_pool("gpu", slots=4)
    calls: list[Callable[[Any], object]] = [
        lambda v: pit.artifacts.put(v),
        lambda v: pit.artifacts.put(b"x", custom=v),
        lambda v: ModelSpec("m", config=v),
        lambda v: pit.run(_echo(), inputs={"x": v}),
        lambda v: pit.arbiter.acquire({"gpu": v}, timeout=0.1),
    ]
    for call in calls:
        value: dict[Any, Any] = {}
        value["slots"] = Growing(value)
        escaped: BaseException | None = None
        try:
            call(value)
        except (PitError, TypeError, ValueError) as e:
            escaped = e if isinstance(e, InternalError) else None
        except BaseException as e:
            escaped = e
        if escaped is not None:
            pytest.fail(f"{type(escaped).__name__} escaped: {escaped}")


def _echo() -> Workflow:
    wf = Workflow("echo")

    @wf.node
    def out(x: Any) -> Any:
        return x

    return wf


# -- small inputs that used to cost a lot ---------------------------------------------------


def _wide(n: int) -> str:
    nodes = [{"name": f"c{i}", "kind": "constant", "config": {"value": i}} for i in range(n)]
    nodes.append({"name": "all", "kind": "concat", "inputs": [f"c{i}" for i in range(n)]})
    return json.dumps(manifest(*nodes))


def test_compiling_is_linear_in_a_nodes_input_count() -> None:
    def seconds(n: int) -> float:
        text = _wide(n)
        started = time.perf_counter()
        CompiledWorkflow(text)
        return time.perf_counter() - started

    small, large = min(seconds(20_000) for _ in range(3)), min(seconds(80_000) for _ in range(3))
    assert large < 5.0, f"80,000 inputs took {large:.2f} s"
    assert large / small < 10, f"4x the inputs took {large / small:.1f}x the time (quadratic: 16x)"


def test_a_small_level_describing_millions_of_states_is_refused_within_the_budget() -> None:
    facts = [f"s{i}" for i in range(21)]
    functions = [
        {"name": f"{verb}{i}", "description": verb, key: [f"s{i}"], "returns": verb, "fails": "no"}
        for i in range(21)
        for verb, key in (("on", "adds"), ("off", "removes"))
    ]
    functions.append(
        {"name": "finish", "description": "finish", "requires": facts, "adds": ["done"], "returns": "ok", "fails": "no"}
    )
    level = {
        "format": "function-quest/1", "id": "switches", "title": "Switches", "band": 1, "story": "Switches.",
        "facts": [*facts, "done"], "initial": [], "goal": ["done"], "success": "Done.", "max_steps": 23,
        "pools": {}, "functions": functions,
    }  # fmt: skip
    started = time.perf_counter()
    with pytest.raises(ValidationError, match="solver gave up"):
        gym.make("FunctionQuest-v0", level=level)
    assert time.perf_counter() - started < 3.0


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_levels_load_or_are_refused_cleanly(data: st.DataObject) -> None:
    files = sorted((LEVELS_DIR / "campaign").glob("*.yaml"))
    level = yaml.safe_load(data.draw(st.sampled_from(files)).read_text())
    junk = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(),
        st.text(max_size=8),
        st.lists(st.text(max_size=4), max_size=3),
        st.just({}),
    )
    for _ in range(data.draw(st.integers(1, 4))):
        target: dict[str, Any] = level
        functions = (
            [f for f in level.get("functions") or [] if isinstance(f, dict)]
            if isinstance(level.get("functions"), list)
            else []
        )
        into_a_function: bool = data.draw(st.booleans())
        if functions and into_a_function:
            target = data.draw(st.sampled_from(functions))
        key = data.draw(st.sampled_from([*sorted(target), "extra", "cost", "params"]))
        target[key] = data.draw(junk)
    started = time.perf_counter()
    try:
        loaded = QuestLevel.from_json(json.dumps(level, default=str), source="mutated.json")
    except ValidationError:
        pass
    else:
        game = QuestGame(loaded)
        game.step(0)
    assert time.perf_counter() - started < 3.0
