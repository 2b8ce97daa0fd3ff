"""Arbitration from Python: leases, strategies, workflow nodes of concurrent runs competing for a
pool, fairness reports, rationale events and bad input."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from symphony_pit import Pit, ResourceExhausted, ValidationError, Workflow


@pytest.fixture
def pit() -> Pit:
    pit = Pit()
    pit.pools.add_pool("gpu", slots=1, gpu_memory_mb=16_000)
    pit.pools.add_pool("cpu", slots=4)
    return pit


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.002)


def test_a_lease_holds_capacity_until_released(pit: Pit) -> None:
    with pit.arbiter.acquire({"gpu": {"gpu_memory_mb": 8000, "slots": 1}}, tenant="alice") as lease:
        assert lease.needs == {"gpu": {"gpu_memory_mb": 8000.0, "slots": 1.0}}
        assert pit.pools.pool("gpu")["reserved"]["gpu_memory_mb"] == 8000
        with pytest.raises(ResourceExhausted, match="not granted within"):
            pit.arbiter.acquire({"gpu": {"slots": 1}}, timeout=0.05)
    assert lease.released
    assert pit.pools.pool("gpu")["used"]["slots"] == 0
    lease.release()  # again: nothing happens
    pit.pools.check_invariants()


def test_multi_pool_requests_are_all_or_nothing(pit: Pit) -> None:
    held = pit.arbiter.acquire({"gpu": {"slots": 1}})
    with pytest.raises(ResourceExhausted):
        pit.arbiter.acquire({"cpu": {"slots": 2}, "gpu": {"slots": 1}}, timeout=0.05)
    assert pit.pools.pool("cpu")["used"]["slots"] == 0  # nothing was held while it waited
    held.release()
    with pit.arbiter.acquire({"cpu": {"slots": 2}, "gpu": {"slots": 1}}):
        assert pit.pools.pool("cpu")["used"]["slots"] == 2


@pytest.mark.parametrize(
    ("needs", "match"),
    [
        ({}, "at least one pool"),
        ({"gpu": 1}, "must be a dict"),
        ({"gpu": {"vram": 1}}, "unknown dimension 'vram'"),
        ({"gpu": {"slots": -1}}, "must not be negative"),
        ({"gpu": {"slots": "one"}}, "must be a number"),
        ({"gpu": {"slots": float("nan")}}, "finite"),
    ],
)
def test_bad_requests_name_the_problem(pit: Pit, needs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        pit.arbiter.acquire(needs)


def test_impossible_and_unknown_requests_are_denied(pit: Pit) -> None:
    with pytest.raises(ResourceExhausted, match="can never grant"):
        pit.arbiter.acquire({"gpu": {"slots": 2}})
    with pytest.raises(KeyError, match="pool 'tpu' does not exist"):
        pit.arbiter.acquire({"tpu": {"slots": 1}})
    with pytest.raises(ValidationError, match="priority"):
        pit.arbiter.acquire({"gpu": {"slots": 1}}, priority=5000)
    with pytest.raises(ValidationError, match="unknown arbitration strategy"):
        pit.arbiter.set_strategy("lottery")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="weight"):
        pit.arbiter.set_weight("alice", 0)
    assert pit.arbiter.stats()["denials"] == 2


def _one_node(name: str, priority: str, log: list[str]) -> Workflow:
    wf = Workflow(name)

    def work() -> str:
        log.append(name)
        return name

    wf.add_node("work", work, pool="gpu", priority=priority, cache=False)
    return wf


def test_priority_decides_between_nodes_of_concurrent_runs(pit: Pit) -> None:
    pit.arbiter.set_strategy("priority", aging=0)
    log: list[str] = []
    holder = pit.arbiter.acquire({"gpu": {"slots": 1}}, tenant="holder")
    runs = [
        threading.Thread(target=pit.run, args=(_one_node(name, priority, log),))
        for name, priority in [("nightly", "background"), ("urgent", "critical"), ("normal", "normal")]
    ]
    for queued, t in enumerate(runs, start=1):
        t.start()

        def arrived(n: int = queued) -> bool:
            return pit.arbiter.waiting == n

        wait_until(arrived)  # one at a time, so the arrival order is fixed
    holder.release()
    for t in runs:
        t.join(timeout=10)
    assert log == ["urgent", "normal", "nightly"]
    decisions = [e for e in pit.poll_events(10_000) if e.kind == "arbitration.decision"]
    granted = [e.data for e in decisions if e.data["decision"] == "granted"]
    assert [g["tenant"] for g in granted] == ["holder", "urgent", "normal", "nightly"]
    assert granted[1]["rationale"].startswith("priority 1000.0 = 1000")
    deferred = [e.data for e in decisions if e.data["decision"] == "deferred"]
    assert any("is full" in d["rationale"] for d in deferred)


def test_concurrent_runs_never_exceed_the_pool_and_share_it_fairly(pit: Pit) -> None:
    pit.arbiter.set_strategy("round_robin")
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def busy(x: int) -> int:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.002)
        with lock:
            state["now"] -= 1
        return x + 1

    wf = Workflow("fan")
    for k in range(5):
        wf.add_node(f"n{k}", busy, inputs=["x"], pool="gpu", cache=False)
    results: dict[str, int] = {}

    def one(tenant: str) -> None:
        run = pit.run(wf, {"x": 1}, tenant=tenant)
        results[tenant] = sum(run.outputs.values())

    threads = [threading.Thread(target=one, args=(f"user{k}",)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == {"user0": 10, "user1": 10, "user2": 10}
    assert state["peak"] == 1
    frame = pit.arbiter.to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert sorted(frame["tenant"]) == ["user0", "user1", "user2"]
    assert (frame["granted"] == 5).all()
    assert pit.arbiter.fairness()["gini"] == 0.0
    assert "Arbiter" in pit.arbiter._repr_html_()


def test_a_node_that_can_never_fit_fails_with_resource_exhausted(pit: Pit) -> None:
    wf = Workflow("greedy")
    wf.add_node("big", lambda: 1, inputs=[], pool="gpu", resources={"gpu_memory_mb": 64_000})
    with pytest.raises(ResourceExhausted, match="can never grant"):
        pit.run(wf)


@pytest.mark.parametrize(
    ("resources", "match"),
    [({"vram": 1}, "unknown resource 'vram'"), ({"slots": -1}, "must be a number >= 0"), ([1], "must be a dict")],
)
def test_bad_node_resources_are_refused(resources: object, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        Workflow("w").add_node("a", lambda: 1, inputs=[], resources=resources)  # type: ignore[arg-type]


def test_resources_round_trip_through_the_manifest() -> None:
    wf = Workflow("w")
    wf.add_node("a", "constant", value=1, pool="gpu", resources={"gpu_memory_mb": 4000, "slots": 1})
    manifest = wf.to_manifest()
    assert manifest["nodes"][0]["resources"] == {"gpu_memory_mb": 4000.0, "slots": 1.0}
    assert Workflow.from_manifest(manifest).to_manifest() == manifest
