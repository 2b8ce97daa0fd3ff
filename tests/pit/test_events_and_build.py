"""The event stream, Rust logs in Python logging, and the build information."""

from __future__ import annotations

import pandas as pd
import pytest
import symphony_pit
from symphony_pit import ModelSpec, Pit


def test_one_ordered_stream_for_all_components(pit: Pit) -> None:
    pit.pools.add_pool("cpu")
    pit.pools.allocate("cpu", ModelSpec("m")).release()
    artifact = pit.artifacts.put(b"x")
    run = pit.dags.start({"name": "w", "nodes": [{"name": "a"}]})
    events = pit.poll_events(3)
    assert [e.kind for e in events] == ["pit.opened", "pool.created", "model.transition"]
    rest = pit.poll_events()
    assert events[-1].seq < rest[0].seq
    assert {e.component for e in rest} == {"pool", "artifact", "dag"}
    stored = next(e for e in rest if e.kind == "artifact.stored")
    assert stored.subject == artifact
    assert stored.data == {"size": 1, "dedup": False}
    assert any(e.subject == f"{run}/a" and e.data["to"] == "ready" for e in rest)
    assert pit.poll_events() == []
    assert pit.events_pending == 0
    frame = pd.DataFrame([e.to_dict() for e in rest])
    assert list(frame.columns) == ["seq", "time", "component", "kind", "subject", "data"]
    assert "model.allocated" in repr(next(e for e in rest if e.kind == "model.allocated"))


def test_a_full_log_drops_the_oldest_and_counts() -> None:
    with Pit(event_capacity=5) as pit:
        for i in range(10):
            pit.artifacts.put(bytes([i]))
        assert pit.events_pending == 5
        assert pit.events_dropped == 6  # pit.opened + the first five stores
        assert len(pit.poll_events()) == 5


def test_rust_logs_reach_python_logging(caplog: pytest.LogCaptureFixture, tmp_path: object) -> None:
    caplog.set_level("INFO")
    with Pit(str(tmp_path)):
        pass
    assert any("opened" in r.getMessage() and r.name.startswith("symphony_pit") for r in caplog.records)


def test_version_build_info_and_system_info() -> None:
    assert symphony_pit.__version__ == symphony_pit.VERSION
    assert set(symphony_pit.BUILD_INFO) >= {"version", "git_commit", "rustc", "target", "profile"}
    info = symphony_pit.system_info()
    assert info["symphony_pit"] == symphony_pit.VERSION
    assert info["cpu_count"]
    assert info["python"].startswith("3.")


def test_pit_reprs(pit: Pit) -> None:
    pit.pools.add_pool("cpu", cpu=2)
    pit.artifacts.put(b"x")
    assert repr(pit) == "Pit(store=None, pools=1, models=0, artifacts=1, runs=0)"
    html = pit._repr_html_()
    assert "in memory" in html
    assert "1 artifacts" in html
    assert "<table>" in html


def test_tables_as_dataframes(pit: Pit) -> None:
    pit.pools.add_pool("cpu")
    pit.pools.allocate("cpu", ModelSpec("m")).release()
    raw = pit.artifacts.put(b"raw", tags=["t"])
    pit.artifacts.put(b"derived", inputs=[raw])
    run = pit.dags.start({"name": "w", "nodes": [{"name": "a"}, {"name": "b", "deps": ["a"]}]})
    pit.dags.set_state(run, "a", "running")

    models = pit.pools.to_pandas()
    assert list(models[["name", "pool", "state"]].itertuples(index=False, name=None)) == [("m", "cpu", "hot")]
    assert str(models["last_used"].dtype).startswith("datetime64")

    artifacts = pit.artifacts.to_pandas()
    assert list(artifacts["id"]) == [raw, pit.artifacts.list()[1].id]
    assert list(artifacts["inputs"]) == [[], [raw]]
    assert list(pit.artifacts.to_pandas(tag="t")["id"]) == [raw]

    assert list(pit.dags.to_pandas()[["run_id", "status"]].itertuples(index=False, name=None)) == [(run, "running")]
    nodes = pit.dags.to_pandas(run)
    assert list(nodes["state"]) == ["running", "pending"]
    assert list(pd.DataFrame(columns=nodes.columns).columns) == ["node", "state", "attempts", "error", "duration"]
