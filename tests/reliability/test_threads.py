"""Threads cannot be killed: a node past its timeout is abandoned, counted while its code still
runs, and bounded — past the limit, a node that could be abandoned is not started."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from symphony_pit import Pit, Workflow, thread_workers


@pytest.fixture
def limit() -> Iterator[None]:
    before = thread_workers()["abandoned_limit"]
    yield
    thread_workers(abandoned_limit=before)


def spinning(seconds: float) -> Workflow:
    wf = Workflow("spin")

    @wf.node(timeout=0.05, cache=False)
    def spin() -> int:
        end = time.monotonic() + seconds
        while time.monotonic() < end:  # holds its thread (and, between switches, the GIL)
            pass
        return 1

    return wf


def wait_for(condition: object, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def test_an_abandoned_node_is_counted_until_its_thread_finishes(pit: Pit, limit: None) -> None:
    assert wait_for(lambda: thread_workers()["abandoned_running"] == 0, 5)
    total = thread_workers()["abandoned_total"]
    run = pit.run(spinning(0.8), raise_on_failure=False)
    assert run.rows()[0]["exception"] == "TimeoutError"
    stats = thread_workers()
    assert stats["abandoned_running"] == 1
    assert stats["abandoned_total"] == total + 1
    # At the limit, a node with a timeout is not started, and its run says why.
    thread_workers(abandoned_limit=1)
    refused = pit.run(spinning(0.0), raise_on_failure=False)
    row = refused.rows()[0]
    assert row["exception"] == "ResourceExhausted"
    assert "still running on their threads" in row["error"]
    assert "process pool" in row["error"]
    # Once the abandoned node's code returns, it no longer counts, and nodes start again.
    assert wait_for(lambda: thread_workers()["abandoned_running"] == 0, 5)
    assert pit.run(spinning(0.0)).outputs == {"spin": 1}


def test_the_limit_is_a_whole_number() -> None:
    from symphony_pit import ValidationError

    with pytest.raises(ValidationError, match="abandoned_limit"):
        thread_workers(abandoned_limit=-1)


def test_a_node_that_changes_its_input_changes_nothing_its_siblings_see(pit: Pit) -> None:
    wf = Workflow("siblings")

    @wf.node
    def a() -> list[int]:
        return [1, 2]

    @wf.node
    def b(a: list[int]) -> int:
        a.append(99)  # changes the object it was handed
        return len(a)

    @wf.node
    def c(a: list[int], b: int) -> list[int]:
        return list(a)

    run = pit.run(wf, cache=False)
    assert run["c"] == [1, 2]
    assert run["a"] == [1, 2]
    assert pit.artifacts.get(run.rows()[0]["artifact"]) == [1, 2]
    # A workflow input is the caller's object: nodes get copies of it too.
    given = {"xs": [1]}
    wf2 = Workflow("inputs")

    @wf2.node
    def grow(xs: list[int]) -> int:
        xs.append(2)
        return len(xs)

    assert pit.run(wf2, inputs=given, cache=False)["grow"] == 2
    assert given == {"xs": [1]}
