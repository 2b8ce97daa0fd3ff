"""The Stale Manager from Python: dry runs, rules, protections, archives that stay readable,
memo entries forgotten, idle models released by the sweeper, reports, bad policies."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from symphony_pit import (
    KeepTagged,
    MaxAge,
    MaxTotalSize,
    MinAccessCount,
    ModelSpec,
    Pit,
    PreserveTrainingData,
    StalePolicy,
    ValidationError,
    Workflow,
)


def aged() -> None:
    time.sleep(0.005)  # every artifact is now older than MaxAge(0)


def test_a_dry_run_reports_and_touches_nothing() -> None:
    pit = Pit()
    doomed = pit.artifacts.put(b"scratch")
    kept = pit.artifacts.put(b"precious", tags=["keep"])
    aged()
    policy = StalePolicy([KeepTagged("keep"), MaxAge(0, action="delete")], idle_model_ttl=None)
    report = pit.cleanup(dry_run=True, policy=policy)
    assert (report.examined, report.deleted, report.kept) == (2, 1, 1)
    assert report.ids("delete") == [doomed]
    assert pit.artifacts.exists(doomed)
    frame = report.to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["action"]) == ["delete", "keep"]
    assert frame.loc[1, "reason"] == "KeepTagged: tagged 'keep'"
    assert "Stale Manager" in report._repr_html_()
    assert "dry run" in repr(report)

    done = pit.cleanup(policy=policy)
    assert (done.deleted, done.bytes_deleted) == (1, len(b"scratch"))
    assert not pit.artifacts.exists(doomed)
    assert pit.artifacts.exists(kept)
    assert pit.stale.history[-1] is done


def test_high_value_and_training_data_are_archived_not_deleted(tmp_path: Path) -> None:
    with Pit(tmp_path / "store") as pit:
        episodes = pit.artifacts.put(b"obs,action,reward\n" * 500, tags=["training"])
        popular = pit.artifacts.put(b"the report everyone reads", tags=["report"])
        for _ in range(30):
            pit.artifacts.get(popular)
        pinned = pit.artifacts.put(b"pinned")
        pit.artifacts.pin(pinned)
        aged()
        policy = StalePolicy([PreserveTrainingData(), MinAccessCount(1000, action="delete")], high_value=0.7)
        report = pit.cleanup(policy=policy)
        rows = {row["id"]: row for row in report.decisions}
        assert rows[episodes]["action"] == "archive"
        assert "PreserveTrainingData" in rows[episodes]["reason"]
        assert rows[popular]["action"] == "archive"
        assert "never deleted" in rows[popular]["reason"]
        assert rows[pinned]["action"] == "keep"
        assert report.bytes_archive_stored < report.bytes_archived
    with Pit(tmp_path / "store") as pit:  # archived artifacts survive a restart and stay readable
        assert pit.artifacts.metadata(episodes).archived is not None
        assert pit.artifacts.get(episodes) == b"obs,action,reward\n" * 500
        assert pit.artifacts.stats()["archived_artifacts"] == 2


def test_max_total_size_trims_the_least_valuable_first() -> None:
    pit = Pit()
    cold = pit.artifacts.put(bytes(30_000))
    hot = pit.artifacts.put(bytes([1]) * 30_000)
    for _ in range(10):
        pit.artifacts.get(hot)
    report = pit.cleanup(policy=StalePolicy([MaxTotalSize(40_000, action="archive")], idle_model_ttl=None))
    assert report.ids("archive") == [cold]
    assert pit.artifacts.get(cold) == bytes(30_000)


def test_deleted_results_are_recomputed_not_served_from_the_memo() -> None:
    pit = Pit()
    calls: list[int] = []
    wf = Workflow("memo")

    @wf.node
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    pit.run(wf, {"x": 4})
    assert pit.run(wf, {"x": 4}).to_pandas()["cached"].all()
    aged()
    report = pit.cleanup(policy=StalePolicy([MaxAge(0, action="delete")], high_value=2.0))
    assert report.memo_forgotten == 1
    assert pit.run(wf, {"x": 4}).outputs == {"double": 8}
    assert calls == [4, 4]


def test_the_sweeper_releases_idle_models() -> None:
    pit = Pit()
    pit.pools.add_pool("gpu", memory_mb=1000)
    with pit.pools.allocate("gpu", ModelSpec("m", memory_mb=600)):
        pass  # released, but kept warm: it still holds 600 MB
    assert pit.pools.pool("gpu")["used"]["memory_mb"] == 600
    pit.stale.policy = StalePolicy(idle_model_ttl=0.0)
    pit.stale.start(every=0.01)
    try:
        deadline = time.monotonic() + 5
        while pit.pools.pool("gpu")["used"]["memory_mb"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pit.stale.running
    finally:
        pit.stale.stop()
    assert pit.pools.pool("gpu")["used"]["memory_mb"] == 0
    assert not pit.stale.running
    assert any(r.models_released == 1 for r in pit.stale.history)
    kinds = {e.kind for e in pit.poll_events(100_000)}
    assert "stale.cleanup" in kinds


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: MaxAge(1, action="shred"), "action must be one of"),  # type: ignore[arg-type]
        (lambda: MaxAge(-5), "duration must be >= 0"),
        (lambda: MinAccessCount(-1), "int >= 0"),
        (lambda: KeepTagged(), "one or more"),
        (lambda: Pit().cleanup(policy=StalePolicy(high_value=float("nan"))), "high_value"),
        (lambda: Pit().cleanup(policy=StalePolicy(weights={"recency": -1})), "weights.recency"),
        (lambda: Pit().cleanup(policy=StalePolicy(weights={"luck": 1})), "unknown field `luck`"),
        (lambda: Pit().cleanup(policy={"rules": []}), "must be a StalePolicy"),  # type: ignore[arg-type]
        (lambda: Pit().stale.start(every=0), "every must be seconds > 0"),
        (lambda: StalePolicy.from_dict({"rules": [{"rule": "forever"}]}), "unknown stale rule"),
    ],
)
def test_bad_policies_name_the_problem(make: object, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        make()  # type: ignore[operator]


def test_the_default_policy_round_trips() -> None:
    policy = StalePolicy.default()
    assert any(isinstance(rule, PreserveTrainingData) for rule in policy.rules)
    assert StalePolicy.from_dict(policy.to_dict()) == policy
    assert Pit().stale.policy == policy
