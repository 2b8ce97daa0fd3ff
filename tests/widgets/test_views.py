"""The views' Python side: layout, states followed from events, snapshots, bad input."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import pytest
from symphony_pit import ModelSpec, NotFound, Pit, Workflow
from symphony_widgets import DagView, EventLog, PoolView, feed_for
from symphony_widgets.layout import CODE, SNAPSHOT_NODES, layered, snapshot_svg


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not within the time allowed")
        time.sleep(0.02)


def diamond() -> Workflow:
    wf = Workflow("diamond")
    wf.add_node("a", "constant", value=2)
    wf.add_node("b", "calculator", operation="add", operand=1, inputs=["a"])
    wf.add_node("c", "calculator", operation="mul", operand=3, inputs=["a"])
    wf.add_node("d", "calculator", operation="add", inputs=["b", "c"])
    return wf


def test_layout_puts_each_node_after_its_inputs_and_refuses_cycles() -> None:
    layout = layered(["d", "b", "c", "a"], [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    x = dict(zip(layout.names, layout.x, strict=True))
    assert x["a"] < x["b"] == x["c"] < x["d"]
    assert len(layout.sources) == 4
    with pytest.raises(ValueError, match="cycle"):
        layered(["a", "b"], [("a", "b"), ("b", "a")])
    with pytest.raises(ValueError, match="does not have"):
        layered(["a"], [("a", "zz")])
    with pytest.raises(ValueError, match="unique"):
        layered(["a", "a"], [])


def test_a_view_of_a_workflow_follows_its_next_run() -> None:
    pit, wf = Pit(), diamond()
    view = DagView(wf, pit=pit)
    assert view.graph["names"] == ["a", "b", "c", "d"]
    assert view.status == "not started"
    assert view.states == bytes(4)
    run = pit.run(wf)
    eventually(lambda: view.status == "completed")
    assert view.run_id == run.run_id
    assert view.states == bytes([CODE["succeeded"]] * 4)
    view.selected = 3
    assert view.detail["node"] == "d"
    assert view.detail["attempts"] == 1
    assert re.fullmatch("[0-9a-f]{64}", view.detail["artifact"])
    view.selected = 99
    assert view.detail == {}
    view.close()


def test_a_view_of_a_finished_run_shows_its_states_and_failures() -> None:
    pit = Pit()
    wf = Workflow("breaks")
    wf.add_node("ok", "constant", value=1)
    wf.add_node("bad", lambda ok: 1 / 0, inputs=["ok"])
    wf.add_node("after", lambda bad: bad, inputs=["bad"])
    run = pit.run(wf, raise_on_failure=False)
    view = DagView(run, pit=pit)
    states = dict(zip(view.graph["names"], view.states, strict=True))
    assert states == {"ok": CODE["succeeded"], "bad": CODE["failed"], "after": CODE["skipped"]}
    view.selected = view.graph["names"].index("bad")
    assert "ZeroDivisionError" in (view.detail["error"] or "")
    again = DagView(run.run_id, pit=pit)  # by id
    assert again.states == view.states


def test_states_change_while_a_blocking_run_is_still_going() -> None:
    pit = Pit()
    gate, seen_running = threading.Event(), threading.Event()
    wf = Workflow("slow")
    wf.add_node("first", "constant", value=1)
    wf.add_node("wait", lambda first: gate.wait(10), inputs=["first"])
    view = DagView(wf, pit=pit)

    def watch(_: object) -> None:
        if view.states and view.states[1] == CODE["running"]:
            seen_running.set()

    view.observe(watch, names="states")
    runner = threading.Thread(target=pit.run, args=(wf,))
    runner.start()
    try:
        assert seen_running.wait(5), "the view saw no node running before the run ended"
        assert view.states[0] == CODE["succeeded"]
    finally:
        gate.set()
        runner.join(10)
    eventually(lambda: view.status == "completed")


def test_updates_are_coalesced_into_one_message_per_batch() -> None:
    pit = Pit()
    wf = Workflow("wide")
    for k in range(300):
        wf.add_node(f"n{k}", "constant", value=k)
    view = DagView(wf, pit=pit)
    changes: list[int] = []
    view.observe(lambda c: changes.append(1), names="states")
    pit.run(wf)
    eventually(lambda: view.status == "completed")
    assert view.states == bytes([CODE["succeeded"]] * 300)
    assert len(changes) <= 5  # 900 state events, a handful of messages


def test_snapshots_for_exported_notebooks() -> None:
    pit, wf = Pit(), diamond()
    pit.run(wf)
    view = DagView(pit.run(wf), pit=pit)
    bundle = view._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/html"].count("<circle") == 4
    big = layered([f"n{k}" for k in range(SNAPSHOT_NODES + 1)], [])
    summary = snapshot_svg(big, bytes([CODE["succeeded"]]) * (SNAPSHOT_NODES + 1))
    assert "<circle" not in summary
    assert f"{SNAPSHOT_NODES + 1} succeeded" in summary
    assert "&lt;b&gt;" in snapshot_svg(layered(["<b>"], []), b"\0")  # names are text


def test_bad_targets_are_refused() -> None:
    pit = Pit()
    with pytest.raises(TypeError, match="WorkflowRun, a run id or a Workflow"):
        DagView(42, pit=pit)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="no-such-run"):
        DagView("no-such-run", pit=pit)
    for rows in (0, -1, 10_001, True, 2.5):
        with pytest.raises(ValueError, match="rows must be"):
            EventLog(pit, rows=rows)  # type: ignore[arg-type]


def test_pool_view_follows_allocations() -> None:
    pit = Pit()
    view = PoolView(pit)
    assert view.pools == []
    pit.pools.add_pool("gpu", gpu_memory_mb=24_000, slots=4)
    handle = pit.pools.allocate("gpu", ModelSpec("summariser", gpu_memory_mb=16_000))
    eventually(lambda: bool(view.models) and view.models[0]["state"] == "hot")
    dims = {d["dimension"]: d for d in view.pools[0]["dimensions"]}
    assert dims["gpu_memory_mb"]["used"] == 16_000
    assert dims["gpu_memory_mb"]["capacity"] == 24_000
    assert "summariser (hot)" in view.snapshot_html()
    handle.release(unload=True)
    eventually(lambda: view.models == [] or view.models[0]["state"] == "cold")
    view.close()


def test_event_log_reads_without_taking() -> None:
    pit = Pit()
    log = EventLog(pit, rows=3)
    for k in range(5):
        pit.artifacts.put(f"item {k}".encode())
    eventually(lambda: len(log.events) == 3 and log.events[-1]["kind"] == "artifact.stored")
    assert [e["seq"] for e in log.events] == sorted(e["seq"] for e in log.events)
    assert sum(e.kind == "artifact.stored" for e in pit.poll_events()) == 5  # all still the user's
    assert log._repr_mimebundle_()[0]["text/html"].count("artifact.stored") == 3
    log.close()


def test_one_feed_per_pit_and_a_failing_listener_spares_the_others() -> None:
    pit = Pit()
    assert feed_for(pit) is feed_for(pit)
    got: list[int] = []

    def broken(_: object) -> None:
        raise RuntimeError("a view that breaks")

    stop_broken = feed_for(pit).subscribe(broken)
    stop = feed_for(pit).subscribe(lambda events: got.append(len(events)))
    pit.artifacts.put(b"x")
    eventually(lambda: sum(got) >= 1)
    stop_broken()
    stop()


def test_run_progress_counts_nodes_as_they_end_and_watchers_see_every_run() -> None:
    from symphony_pit import watch_runs
    from symphony_widgets import RunProgress

    pit = Pit()
    wf = Workflow("counted")
    wf.add_node("a", "constant", value=1)
    wf.add_node("b", lambda a: a / 0, inputs=["a"])
    wf.add_node("c", lambda b: b, inputs=["b"])
    bars: list[RunProgress] = []

    def watcher(p: Pit, w: Workflow) -> Callable[[], None]:
        bars.append(RunProgress(p, w.name, total=len(w)))
        return bars[-1].finish

    stop = watch_runs(watcher)
    try:
        with pytest.raises(ZeroDivisionError):
            pit.run(wf)
    finally:
        stop()
    (bar,) = bars
    assert (bar.done, bar.total, bar.failed, bar.status) == (3, 3, 1, "failed")
    assert bar.run_id.startswith("counted-")
    assert "1 failed" in bar.snapshot_html()
    pit.run(Workflow("after").add_node("x", "constant", value=1))
    assert len(bars) == 1  # stopped watching


def test_quest_player_plays_and_watches() -> None:
    from symphony_widgets import QuestPlayer

    player = QuestPlayer("locked-study")
    assert player.level["calls"][0]["label"] == "search_desk()"
    player._on_msg(player, {"act": 0}, None)  # a button click
    assert player.state["steps"] == 1
    assert player.moves[0]["outcome"] == "succeeded"
    player._on_msg(player, {"policy": "solver"}, None)  # refused: the solver plans from the start
    assert "Start again" in player.state["message"]
    assert player.state["steps"] == 1
    player._on_msg(player, {"reset": True}, None)
    while not player.state["done"]:
        player._on_msg(player, {"policy": "solver"}, None)
    assert player.state["won"]
    assert player.state["steps"] == player.level["optimal_steps"]
    assert player.play(0) == player.state  # over: no more moves
    watched = player.watch("greedy", delay=0.0)
    watched.join(10)
    assert player.state["won"]
    assert "The Locked Study" in player.snapshot_html()
    for bad in (-1, 99, True, "0"):
        with pytest.raises(ValueError, match="action must be"):
            player.play(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="policy must be one of"):
        player.step_policy("oracle")
    with pytest.raises(TypeError, match="QuestPlayer plays"):
        QuestPlayer(3.5)


def test_artifact_browser_previews_and_draws_lineage() -> None:
    from symphony_widgets import ArtifactBrowser

    pit = Pit()
    raw = pit.artifacts.put(b"id,score\n1,0.5\n", tags=["raw"])
    features = pit.artifacts.put({"scores": [0.5], "big": "x" * 10_000}, inputs=[raw])
    browser = ArtifactBrowser(pit)
    assert [r["id"] for r in browser.rows] == [features, raw]  # newest first
    assert browser.rows[1]["tags"] == ["raw"]
    browser.selected = features
    assert browser.preview["type"] == "dict"
    assert len(browser.preview["text"]) < 1_000  # a long value is cut for the preview
    assert browser.preview["lineage"] == {"nodes": [features, raw], "edges": [[raw, features]]}
    browser.selected = "0" * 64
    assert "NotFound" in browser.preview["error"]
    later = pit.artifacts.put(b"stored later")
    eventually(lambda: browser.rows[0]["id"] == later)
    assert "<img" not in ArtifactBrowser(Pit())._repr_mimebundle_()[0]["text/html"]
    # Showing value scores sends no event: the user's stream holds only what they did.
    assert {e.kind for e in pit.poll_events()} <= {"pit.opened", "artifact.stored"}
    browser.close()


def test_a_feed_stops_when_its_pit_closes_or_goes() -> None:
    import gc
    import weakref

    pit = Pit()
    feed = feed_for(pit)
    pit.close()
    eventually(lambda: feed._thread is not None and not feed._thread.is_alive())
    other = Pit()
    gone = feed_for(other)
    ref = weakref.ref(other)
    del other
    gc.collect()
    assert ref() is None  # the feed did not keep it alive
    eventually(lambda: gone._thread is not None and not gone._thread.is_alive())
