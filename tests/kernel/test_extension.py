"""The IPython extension and %symphony, in a real InteractiveShell."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.testing.globalipapp import start_ipython
from symphony_pit import Pit, Workflow, WorkflowRun
from symphony_widgets import DagView
from symphony_widgets.feed import EventFeed
from symphony_widgets.layout import CODE

import symphony_kernel
from symphony_kernel import extension, session, tables, workspace
from symphony_kernel.magics import help_text, workflow_from_yaml


@pytest.fixture(scope="module")
def shell() -> Iterator[Any]:
    ip = start_ipython()
    assert ip is not None
    return ip


@pytest.fixture
def loaded(shell: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    monkeypatch.setenv("SYMPHONY_STORE", str(tmp_path / "session-store"))
    shell.run_line_magic("load_ext", "symphony_kernel")
    yield shell
    shell.run_line_magic("unload_ext", "symphony_kernel")


def magic(shell: Any, line: str) -> Any:
    return shell.run_line_magic("symphony", line)


def test_load_ext_creates_the_session_pit(loaded: Any, tmp_path: Path) -> None:
    pit = loaded.user_ns["pit"]
    assert isinstance(pit, Pit)
    assert pit is symphony_kernel.get_pit()
    assert pit.store == str(tmp_path / "session-store")


def test_loading_twice_is_silent_and_reload_keeps_the_pit(loaded: Any, capsys: pytest.CaptureFixture[str]) -> None:
    pit = loaded.user_ns["pit"]
    loaded.run_line_magic("load_ext", "symphony_kernel")
    assert capsys.readouterr().out == ""  # IPython's "already loaded" hint is not printed
    kept = pit.artifacts.put(b"before the reload")
    loaded.run_line_magic("reload_ext", "symphony_kernel")
    assert loaded.user_ns["pit"] is pit
    assert not pit.closed
    assert pit.artifacts.get(kept) == b"before the reload"
    assert magic(loaded, "status") is pit  # the reloaded magics work


def test_unload_closes_the_pit_and_the_store_survives(
    shell: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SYMPHONY_STORE", str(tmp_path / "kept"))
    shell.run_line_magic("load_ext", "symphony_kernel")
    pit = shell.user_ns["pit"]
    kept = pit.artifacts.put(b"across a restart")
    shell.run_line_magic("unload_ext", "symphony_kernel")
    assert pit.closed
    assert "pit" not in shell.user_ns
    with pytest.raises(RuntimeError, match="load_ext symphony_kernel"):
        symphony_kernel.get_pit()
    shell.run_line_magic("load_ext", "symphony_kernel")  # as a restarted kernel would
    try:
        assert shell.user_ns["pit"].artifacts.get(kept) == b"across a restart"
    finally:
        shell.run_line_magic("unload_ext", "symphony_kernel")


def test_memory_store_and_the_default_store_outside_the_repository(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert session.open_store(session.MEMORY) == (None, None)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    first, first_lock = session.open_store(None)
    second, second_lock = session.open_store(None)  # another kernel in the same folder
    try:
        assert first is not None
        assert second is not None
        assert Path(first).is_relative_to(tmp_path / "data" / "symphony-lab" / "sessions")
        assert second == first + "-2"
        with pytest.raises(session.StoreInUse, match="in use by another kernel"):
            session.lock_store(Path(first))  # a store named outright is not swapped for another
    finally:
        for lock in (first_lock, second_lock):
            assert lock is not None
            lock.close()
    again, lock = session.open_store(None)  # released: the first is free again
    assert again == first
    assert lock is not None
    lock.close()


def test_the_event_history_leaves_poll_events_to_the_user(loaded: Any) -> None:
    pit = loaded.user_ns["pit"]
    pit.poll_events()
    pit.artifacts.put(b"seen twice")
    first = magic(loaded, "events -n 5")
    second = magic(loaded, "events -n 5")
    assert isinstance(first, tables.Table)
    assert list(first.frame["seq"]) == list(second.frame["seq"])  # reading takes nothing
    assert "artifact.stored" in set(first.frame["kind"])
    assert [e.kind for e in pit.poll_events()].count("artifact.stored") == 1  # still the user's
    assert pd.api.types.is_datetime64_any_dtype(first.frame["time"])


def test_the_pump_tells_listeners_without_being_asked(loaded: Any) -> None:
    pit = loaded.user_ns["pit"]
    batches: list[list[str]] = []
    stop = extension.get_session().history.subscribe(lambda events: batches.append([e.kind for e in events]))
    try:
        pit.artifacts.put(b"pumped")
        deadline = time.monotonic() + 5
        while not any("artifact.stored" in b for b in batches) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any("artifact.stored" in b for b in batches)
    finally:
        stop()


def test_help_lists_every_subcommand_and_each_has_its_own(loaded: Any, capsys: pytest.CaptureFixture[str]) -> None:
    magic(loaded, "--help")
    listing = capsys.readouterr().out
    for name in ("status", "pools", "pool", "runs", "artifacts", "dag", "events", "info", "workflow", "run", "quest"):
        assert f"  {name} " in listing
        magic(loaded, f"{name} --help")
        assert f"%symphony {name}" in capsys.readouterr().out
    assert help_text().count("\n") >= 12


def test_pools_runs_dag_and_artifacts_as_tables(loaded: Any) -> None:
    pools = magic(loaded, "pool add gpu --cpu 2 --memory-mb 512")
    assert set(pools.frame["dimension"]) == {"cpu", "memory_mb"}
    assert magic(loaded, "pools").frame["capacity"].tolist() == ["2", "512"]
    loaded.user_ns["load"] = lambda n: list(range(n))
    loaded.run_cell_magic(
        "symphony",
        "workflow totals",
        "inputs: [n]\nnodes:\n  numbers: {call: load, inputs: [n]}\n"
        "  total: {kind: calculator, operation: sum, inputs: [numbers]}\noutputs: [total]\n",
    )
    assert isinstance(loaded.user_ns["totals"], Workflow)
    run = magic(loaded, "run totals n=5")
    assert isinstance(run, WorkflowRun)
    assert run.outputs == {"total": 10}
    runs = magic(loaded, "runs")
    assert runs.frame["run_id"].iloc[-1] == run.run_id
    assert pd.api.types.is_datetime64_any_dtype(runs.frame["created_at"])
    loaded.user_ns["finished"] = run
    for target in (run.run_id, "finished"):
        view = magic(loaded, f"dag {target}")
        assert isinstance(view, DagView)
        assert view.run_id == run.run_id
        assert view.states == bytes([CODE["succeeded"]] * 2)
        nodes = magic(loaded, f"dag {target} --table").frame
        assert nodes.set_index("node")["state"].to_dict() == {"numbers": "succeeded", "total": "succeeded"}
    assert magic(loaded, "dag totals").status == "not started"  # a workflow: its next run
    shown = magic(loaded, "artifacts --tag input:n")
    assert len(shown) == 1
    full = shown.frame["id"].iloc[0]
    assert len(full) == 64
    assert f'title="{full}"' in shown._repr_html_()
    assert full not in repr(shown)
    assert len(magic(loaded, "artifacts --stale")) == 0  # the default policy keeps fresh results
    assert "stale.cleanup" not in {e.kind for e in loaded.user_ns["pit"].poll_events()}  # scores send no event


def test_run_async_returns_a_task(loaded: Any) -> None:
    import asyncio

    loaded.user_ns["one"] = workflow_from_yaml("one", "nodes:\n  a: {kind: constant, value: 1}", {})

    async def go() -> WorkflowRun:
        task = magic(loaded, "run one --async")
        assert isinstance(task, asyncio.Task)
        result: WorkflowRun = await task
        return result

    assert asyncio.run(go()).outputs == {"a": 1}


def test_info_and_quest(loaded: Any) -> None:
    info = magic(loaded, "info").frame.set_index("what")["value"]
    assert info["symphony_pit"]
    assert info["store"] == loaded.user_ns["pit"].store
    assert magic(loaded, "quest --band 2 --seed 3").level["band"] == 2
    assert magic(loaded, "quest locked-study").level["id"] == "locked-study"


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("nope", "unknown subcommand 'nope'"),
        ("pools extra", "unrecognized arguments"),
        ("run missing", "no workflow named 'missing'"),
        ("events -n 0", "--limit must be at least 1"),
        ("dag no-such-run", "run 'no-such-run' does not exist"),
        ("run totals n=__import__('os')", "is not a Python literal"),
        ("run totals n", "an input is NAME=VALUE"),
        ('run totals "n=3', "cannot read the line"),
        ("quest", "name a level"),
        ("quest --band 99", "band must be an integer from 1 to 20"),
        ("quest no-such-level", "no shipped level has that id"),
        ("pool add gpu2 --cpu -1", "cpu must not be negative"),
        ("pool add gpu2 --cpu nan", "cpu must be a finite number"),
        ("pool remove no-such-pool", "no-such-pool"),
    ],
)
def test_mistakes_are_one_line_and_a_hint(loaded: Any, line: str, says: str) -> None:
    loaded.user_ns["totals"] = workflow_from_yaml(
        "totals", "inputs: [n]\nnodes:\n  a: {kind: passthrough, inputs: [n]}", {}
    )
    with pytest.raises(UsageError, match=None) as caught:
        magic(loaded, line)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("cell", "says"),
    [
        ("nodes: [1", "not YAML"),
        ("- just a list", "YAML mapping with `nodes:`"),
        ("nodes: {a: {kind: nope}}", "unknown node kind 'nope'"),
        ("nodes: {a: {call: nothere}}", "not a function of the notebook"),
        ("nodes: {a: {kind: constant, call: x}}", "exactly one of"),
        ("x: 1\nnodes: {a: {kind: constant, value: 1}}", "unknown key(s) ['x']"),
        ("nodes: {a: {kind: passthrough, inputs: [b]}, b: {kind: passthrough, inputs: [a]}}", "cycle"),
        ("!!python/object/apply:os.system ['echo owned']", "not YAML"),  # no code from the cell
    ],
)
def test_bad_workflow_cells(loaded: Any, cell: str, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        loaded.run_cell_magic("symphony", "workflow broken", cell)
    assert says in str(caught.value)
    assert "broken" not in loaded.user_ns


def test_tables_show_text_from_the_store_as_text() -> None:
    pit = Pit()
    pit.artifacts.put(b"x", tags=["<img src=x onerror=alert(1)>"])
    page = tables.artifacts_table(pit)._repr_html_()
    assert "<img" not in page
    assert "&lt;img" in page
    events = tables.events_table(pit.read_events())
    assert events.frame["subject"].str.fullmatch("[0-9a-f]{64}").any()  # ids whole in the frame
    assert "memory" in events._repr_html_()  # a plain subject is not cut


def test_card_names_the_store() -> None:
    pit = Pit()
    sess = session.Session(pit, None, EventFeed(pit), opened_ms=3.0)
    card = extension.card_html(sess)
    assert "in memory" in card
    assert "%symphony --help" in card


def test_lab_copies_leave_edits_alone(tmp_path: Path) -> None:
    source, target = tmp_path / "notebooks", tmp_path / "lab"
    source.mkdir()
    (source / "01.ipynb").write_text(json.dumps({"v": 1}))
    assert workspace.prepare(source, target) == ["copied 01.ipynb"]
    (source / "01.ipynb").write_text(json.dumps({"v": 2}))  # the tutorial changed upstream
    assert workspace.prepare(source, target) == ["copied 01.ipynb"]
    assert json.loads((target / "01.ipynb").read_text()) == {"v": 2}
    (target / "01.ipynb").write_text(json.dumps({"v": "mine"}))  # the user played
    (source / "01.ipynb").write_text(json.dumps({"v": 3}))
    assert workspace.prepare(source, target) == ["kept your 01.ipynb; the new original is 01.ipynb.new"]
    assert json.loads((target / "01.ipynb").read_text()) == {"v": "mine"}
    assert json.loads((target / "01.ipynb.new").read_text()) == {"v": 3}
