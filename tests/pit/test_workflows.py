"""Workflows run by the Pit: results, lineage, memoisation, retries, fallbacks, timeouts,
concurrency, cancellation, resume, handlers, metrics, manifests."""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import itertools
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from types import TracebackType

import jsonschema
import pytest
from symphony_pit import (
    Backoff,
    Cancelled,
    CancelToken,
    Event,
    Pipeline,
    Pit,
    ValidationError,
    Workflow,
    manifest_schema,
)


@pytest.fixture
def pit() -> Pit:
    return Pit()


def etl() -> Workflow:
    wf = Workflow("etl")

    @wf.node
    def load(n: int) -> list[int]:
        return list(range(n))

    @wf.node(retries=2, pool="cpu", priority="high")
    def clean(load: list[int]) -> list[int]:
        return [x for x in load if x % 2 == 0]

    wf.add_node("total", "calculator", operation="sum", inputs=["clean"])
    return wf


def test_the_readme_workflow_runs_and_tracks_everything(pit: Pit) -> None:
    run = pit.run(etl(), inputs={"n": 10})
    assert run.status == "completed"
    assert run.outputs == {"total": 0 + 2 + 4 + 6 + 8}
    assert run["clean"] == [0, 2, 4, 6, 8]
    frame = run.to_pandas()
    assert list(frame.index) == ["load", "clean", "total"]
    assert set(frame["state"]) == {"succeeded"}
    assert not frame["cached"].any()
    # Lineage: total was computed from clean, clean from load, load from the input n.
    total_id, clean_id = run.artifact("total"), run.artifact("clean")
    assert total_id is not None
    assert clean_id is not None
    total = pit.artifacts.metadata(total_id)
    assert total.inputs == [clean_id]
    assert total.producer == (run.run_id, "total")
    assert pit.artifacts.metadata(clean_id).inputs == [run.artifact("load")]
    assert pit.artifacts.get(total_id) == 20
    # The DAG Tracker saw the run.
    assert pit.dags.status(run.run_id) == "completed"


def test_rerunning_unchanged_nodes_is_served_from_the_store(pit: Pit) -> None:
    calls: list[int] = []
    wf = Workflow("memo")

    @wf.node
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    first = pit.run(wf, inputs={"x": 7})
    second = pit.run(wf, inputs={"x": 7})
    assert first.outputs == second.outputs == {"square": 49}
    assert calls == [7]
    assert second.to_pandas().loc["square", "cached"]
    assert not first.to_pandas().loc["square", "cached"]
    third = pit.run(wf, inputs={"x": 8})
    assert third.outputs == {"square": 64}
    assert calls == [7, 8]
    pit.run(wf, inputs={"x": 7}, cache=False)
    assert calls == [7, 8, 7]


def test_changed_code_is_not_served_from_the_store(pit: Pit) -> None:
    def build(offset: int) -> Workflow:
        wf = Workflow("changing")

        @wf.node
        def shifted(x: int) -> int:
            return x + offset

        return wf

    assert pit.run(build(1), inputs={"x": 1}).outputs == {"shifted": 2}
    # Same source, different closure value: a different node.
    assert pit.run(build(5), inputs={"x": 1}).outputs == {"shifted": 6}


def test_a_failing_node_raises_its_own_exception_with_its_traceback(pit: Pit) -> None:
    wf = Workflow("boom")

    @wf.node
    def explode() -> None:
        raise ZeroDivisionError("the original message")

    wf.add_node("after", "passthrough", inputs=["explode"])
    with pytest.raises(ZeroDivisionError, match="the original message") as info:
        pit.run(wf)
    assert any("in node 'explode'" in note for note in info.value.__notes__)
    frames = [tb.tb_frame.f_code.co_name for tb in _walk(info.value.__traceback__)]
    assert "explode" in frames
    run = pit.run(wf, raise_on_failure=False)
    frame = run.to_pandas()
    assert frame.loc["explode", "state"] == "failed"
    assert frame.loc["explode", "exception"] == "ZeroDivisionError"
    assert frame.loc["after", "state"] == "skipped"
    assert "ZeroDivisionError" in run.rows()[0]["traceback"]


def _walk(tb: TracebackType | None) -> Iterator[TracebackType]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


def test_retries_wait_their_backoff_then_succeed(pit: Pit) -> None:
    attempts: list[float] = []
    wf = Workflow("flaky")

    @wf.node(retries=3, backoff=Backoff(0.02, "linear"))
    def flaky() -> str:
        attempts.append(time.perf_counter())
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "ok"

    run = pit.run(wf)
    assert run.outputs == {"flaky": "ok"}
    assert run.to_pandas().loc["flaky", "attempts"] == 3
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.018, gaps
    assert gaps[1] >= 0.038, gaps


def test_a_fallback_stands_in_when_every_attempt_failed(pit: Pit) -> None:
    wf = Workflow("fallback")

    def cached_answer(x: int) -> int:
        return -x

    @wf.node(retries=1, fallback=cached_answer)
    def remote(x: int) -> int:
        raise TimeoutError("service down")

    wf.add_node("builtin_fallback", lambda: 1 / 0, inputs=[], fallback={"kind": "constant", "value": 0})
    run = pit.run(wf, inputs={"x": 4})
    assert run.outputs == {"remote": -4, "builtin_fallback": 0}
    frame = run.to_pandas()
    assert frame.loc["remote", "fallback"]
    assert frame.loc["remote", "attempts"] == 2


def test_timeouts_fail_the_node_without_waiting_for_it(pit: Pit) -> None:
    wf = Workflow("slow")
    wf.add_node("sleepy", lambda: time.sleep(1.0), inputs=[], timeout=0.05)
    started = time.perf_counter()
    run = pit.run(wf, raise_on_failure=False)
    assert time.perf_counter() - started < 0.6
    assert run.to_pandas().loc["sleepy", "exception"] == "TimeoutError"
    with pytest.raises(TimeoutError):
        run.raise_for_status()


def test_nodes_of_a_pool_with_slots_run_in_parallel_threads(pit: Pit) -> None:
    wf = Workflow("parallel")
    for i in range(4):
        wf.add_node(f"sleep{i}", lambda: time.sleep(0.1), inputs=[], pool="io")
    started = time.perf_counter()
    run = pit.run(wf, concurrency={"io": 4})
    took = time.perf_counter() - started
    assert run.ok
    assert took < 0.3, took  # time.sleep releases the GIL
    assert run.metrics()["worker"].all()


def test_priority_orders_ready_nodes(pit: Pit) -> None:
    order: list[str] = []
    wf = Workflow("priorities")
    for name, priority in [("low", "low"), ("critical", "critical"), ("normal", "normal")]:
        wf.add_node(name, lambda name=name: order.append(name), inputs=[], priority=priority)
    pit.run(wf)
    assert order == ["critical", "normal", "low"]


def test_a_cancel_token_cancels_a_running_workflow(pit: Pit) -> None:
    token = CancelToken()
    wf = Workflow("cancel")
    wf.add_node("first", lambda: time.sleep(0.05), inputs=[], pool="p")
    wf.add_node("second", lambda first: "never", inputs=["first"])
    threading.Timer(0.01, token.cancel).start()
    run = pit.run(wf, cancel=token, concurrency={"p": 2}, raise_on_failure=False)
    assert run.status == "cancelled"
    assert set(run.to_pandas()["state"]) == {"cancelled"}
    with pytest.raises(Cancelled):
        run.raise_for_status()


def test_cancelling_the_asyncio_task_cancels_the_run(pit: Pit) -> None:
    wf = Workflow("async")
    wf.add_node("slow", lambda: time.sleep(0.3), inputs=[], pool="p")

    async def main() -> str:
        task = asyncio.create_task(pit.run_async(wf, concurrency={"p": 2}))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return str(pit.dags.runs()[-1]["status"])

    assert asyncio.run(main()) == "cancelled"


def test_run_async_returns_the_run(pit: Pit) -> None:
    async def main() -> object:
        return (await pit.run_async(etl(), {"n": 4})).outputs

    assert asyncio.run(main()) == {"total": 2}


def test_a_keyboard_interrupt_ends_the_run_cancelled(pit: Pit) -> None:
    wf = Workflow("interrupted")
    wf.add_node("wait", lambda: time.sleep(0.5), inputs=[], pool="p")
    threading.Timer(0.05, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        pit.run(wf, concurrency={"p": 2})
    assert pit.dags.runs()[-1]["status"] == "cancelled"


def test_resume_reexecutes_only_what_did_not_succeed(pit: Pit) -> None:
    calls = {"extract": 0, "load": 0}
    broken = {"yes": True}
    wf = Workflow("resumable")

    @wf.node(cache=False)
    def extract() -> list[int]:
        calls["extract"] += 1
        return [1, 2, 3]

    @wf.node(cache=False)
    def load(extract: list[int]) -> int:
        calls["load"] += 1
        if broken["yes"]:
            raise OSError("disk full")
        return sum(extract)

    failed = pit.run(wf, raise_on_failure=False)
    assert failed.status == "failed"
    broken["yes"] = False
    resumed = pit.resume(failed.run_id)
    assert resumed.outputs == {"load": 6}
    assert calls == {"extract": 1, "load": 2}
    assert resumed.resumed_from == failed.run_id
    assert resumed.to_pandas().loc["extract", "reused"]


def test_resume_across_processes_reads_the_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    wf = Workflow("durable")
    state = {"fail": True}
    wf.add_node("a", lambda: 41, inputs=[], cache=False)

    def b(a: int) -> int:
        if state["fail"]:
            raise RuntimeError("first time")
        return a + 1

    wf.add_node("b", b, cache=False)
    with Pit(tmp_path / "store") as first:
        run_id = first.run(wf, raise_on_failure=False).run_id
    state["fail"] = False
    with Pit(tmp_path / "store") as second:
        resumed = second.resume(run_id, workflow=wf, inputs={})
        assert resumed.outputs == {"b": 42}
        assert resumed.to_pandas().loc["a", "reused"]


def test_handlers_hear_about_failures(pit: Pit) -> None:
    heard: list[str] = []
    pit.on("node.failed", lambda event: heard.append(event.subject))

    def on_run(event: Event) -> None:
        heard.append(event.kind)

    pit.on("run.*", on_run)

    def boom() -> None:
        raise ValueError("x")

    wf = Workflow("heard")
    wf.add_node("boom", boom, inputs=[])
    run = pit.run(wf, raise_on_failure=False)
    assert f"{run.run_id}/boom" in heard
    assert "run.started" in heard


def test_metrics_summarise_runs(pit: Pit) -> None:
    for n in range(3):
        pit.run(etl(), inputs={"n": n})
    summary = pit.metrics()
    row = summary.loc["etl"]
    assert row["runs"] == 3
    assert row["completed"] == 3
    assert row["nodes_run"] == 9
    assert row["latency_p95"] >= row["latency_p50"] >= 0


def test_sub_workflows_nest(pit: Pit) -> None:
    inner = Workflow("inner")
    inner.add_node("double", lambda v: v * 2, inputs=["v"])
    outer = Workflow("outer")
    outer.add_node("start", "constant", value=5)
    outer.add_node("inner", inner, inputs=["start"])
    outer.add_node("plus", "calculator", operation="add", operand=1, inputs=["inner"])
    run = pit.run(outer)
    assert run.outputs == {"plus": 11}


def test_model_nodes_allocate_through_the_pool_manager(pit: Pit) -> None:
    pit.pools.add_pool("gpu", gpu_memory_mb=1000)
    wf = Workflow("inference")
    wf.add_node("prompt", "constant", value={"text": "hi"})
    wf.add_node("answer", "model", pool="gpu", model="echo-llm", gpu_memory_mb=500, inputs=["prompt"])
    assert pit.run(wf, cache=False).outputs == {"answer": {"text": "hi"}}
    assert pit.run(wf, cache=False).outputs == {"answer": {"text": "hi"}}
    assert pit.pools.stats()["cache_hits"] == 1


def test_manifests_round_trip_and_match_the_published_schema() -> None:
    wf = etl()
    manifest = wf.to_manifest()
    jsonschema.validate(manifest, manifest_schema())
    again = Workflow.from_manifest(json.dumps(manifest), callables={n.name: n.fn for n in wf if n.fn})
    assert again.to_manifest() == manifest
    assert Pit().run(again, inputs={"n": 10}).outputs == {"total": 20}
    assert manifest["nodes"][1]["priority"] == 500
    assert manifest["nodes"][1]["pool"] == "cpu"


def test_manifests_load_callables_by_import_path() -> None:
    manifest = {
        "format": "symphony.workflow",
        "version": 1,
        "name": "imported",
        "inputs": ["xs"],
        "nodes": [{"name": "total", "kind": "python", "callable": "builtins:sum", "inputs": ["xs"]}],
    }
    jsonschema.validate(manifest, manifest_schema())
    with pytest.raises(ValidationError, match="imports nothing by default"):
        Workflow.from_manifest(manifest)
    for wf in (
        Workflow.from_manifest(manifest, namespace=builtins),
        Workflow.from_manifest(manifest, namespace={"builtins:sum": sum}),
        Workflow.from_manifest(manifest, trusted=True),
    ):
        assert Pit().run(wf, inputs={"xs": [1, 2, 3]}).outputs == {"total": 6}


def test_pipeline_style() -> None:
    pipeline = (
        Pipeline("seed", pit=Pit())
        .add_node("twice", lambda input: input * 2)
        .add_node("plus", "calculator", operation="add", operand=1, inputs=["twice"])
    )
    assert asyncio.run(pipeline.run(20)).outputs == {"plus": 41}
    assert pipeline.run_sync(1).outputs == {"plus": 3}
    constant = Pipeline("no-inputs", pit=Pit()).add_node("one", "constant", value=1)
    assert constant.run_sync().outputs == {"one": 1}
    with pytest.raises(ValidationError, match="takes inputs"):
        constant.run_sync(5)


def test_missing_and_unknown_inputs_are_named(pit: Pit) -> None:
    wf = Workflow("sum-of-two")
    wf.add_node("total", "calculator", operation="add", inputs=["a", "b"])
    assert pit.run(wf, {"a": 1, "b": 2}).outputs == {"total": 3}
    with pytest.raises(ValidationError, match=r"takes inputs \['a', 'b'\]: missing \['b'\]$"):
        pit.run(wf, {"a": 1})
    with pytest.raises(ValidationError, match=r"unknown \['c'\]$"):
        pit.run(wf, {"a": 1, "b": 2, "c": 3})
    with pytest.raises(ValidationError, match=r"missing \['b'\], unknown \['c'\]$"):
        pit.run(wf, {"a": 1, "c": 3})
    with pytest.raises(ValidationError, match=r"missing \['a', 'b'\]$"):
        pit.run(wf)


def test_reprs_show_state(pit: Pit) -> None:
    run = pit.run(etl(), inputs={"n": 3})
    assert "completed" in repr(run)
    html = run._repr_html_()
    assert "Run etl-" in html
    assert "succeeded" in html
    assert "calculator" in etl()._repr_html_()


def test_editing_a_sub_workflow_after_its_parent_ran_is_seen(pit: Pit) -> None:
    inner = Workflow("inner-edit")
    inner.add_node("one", "constant", value=1)
    outer = Workflow("outer-edit")
    outer.add_node("inner", inner, inputs=[])
    assert pit.run(outer).outputs == {"inner": 1}
    inner.add_node("two", "constant", value=2)
    assert pit.run(outer).outputs == {"inner": {"one": 1, "two": 2}}


def test_the_run_history_is_bounded_by_nodes(pit: Pit, monkeypatch: pytest.MonkeyPatch) -> None:
    import symphony_pit.pit as pit_module

    monkeypatch.setattr(pit_module, "RUN_HISTORY_NODES", 25)
    wf = Workflow("ten")
    for i in range(10):
        wf.add_node(f"n{i}", "constant", value=i)
    ids = [pit.run(wf, cache=False).run_id for _ in range(5)]
    assert [run.run_id for run in pit.workflow_runs] == ids[-2:]  # 20 nodes kept, 30 would not fit
    big = Workflow("big")
    for i in range(40):
        big.add_node(f"n{i}", "constant", value=i)
    assert [run.run_id for run in pit.workflow_runs] == ids[-2:]
    last = pit.run(big, cache=False)
    assert [run.run_id for run in pit.workflow_runs] == [last.run_id]  # the newest always stays
    assert pit.metrics().loc["big", "runs"] == 1


def test_a_workflow_changes_only_through_its_methods_so_its_compiled_form_is_never_stale() -> None:
    wf = Workflow("frozen")
    wf.add_node("x", "constant", value=1)
    pit = Pit()
    assert pit.run(wf).outputs == {"x": 1}
    node = wf.nodes["x"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.retries = 3  # type: ignore[misc]
    node.config["value"] = 5  # a copy: the workflow keeps its own
    node.inputs.append("ghost")
    assert wf.nodes["x"].config == {"value": 1}
    assert pit.run(wf, cache=False).outputs == {"x": 1}
    assert [n.config for n in wf] == [{"value": 1}]
