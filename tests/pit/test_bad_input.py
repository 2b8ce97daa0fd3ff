"""Bad input never crashes the interpreter: each case gets the right, clear exception."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import symphony_pit
from symphony_pit import (
    IntegrityError,
    InternalError,
    ModelSpec,
    NotFound,
    Pit,
    PitError,
    StorageError,
    ValidationError,
    Workflow,
)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": ""}, ValidationError, "model name must not be empty"),
        ({"name": "m", "cpu": -1}, ValidationError, "cpu must not be negative, got -1"),
        ({"name": "m", "memory_mb": float("nan")}, ValidationError, "memory_mb must be a finite number"),
        ({"name": "m", "gpu_memory_mb": 1e300}, ValidationError, "larger than the supported maximum"),
        ({"name": "m", "slots": float("inf")}, ValidationError, "slots must be a finite number"),
        ({"name": "m", "cpu": "two"}, TypeError, "cpu"),
        ({"name": 42}, TypeError, "name"),
        ({"name": "m", "version": "bad\x00version"}, ValidationError, "control characters"),
        ({"name": "m", "config": {"f": print}}, TypeError, "builtin_function_or_method"),
    ],
)
def test_malformed_model_specs(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        ModelSpec(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"cpu": -4}, ValidationError, "cpu must not be negative"),
        ({"memory_mb": 1e400}, ValidationError, "memory_mb must be a finite number"),
        ({"slots": 10**30}, ValidationError, "larger than the supported maximum"),
        ({"gpu_memory_mb": "lots"}, TypeError, "gpu_memory_mb"),
    ],
)
def test_huge_negative_and_wrong_capacities(
    pit: Pit, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        pit.pools.add_pool("p", **kwargs)
    assert "p" not in pit.pools


def test_duplicate_and_unknown_pools(pit: Pit) -> None:
    pit.pools.add_pool("p")
    with pytest.raises(ValidationError, match="pool 'p' already exists"):
        pit.pools.add_pool("p")
    with pytest.raises(NotFound, match="pool 'q' does not exist"):
        pit.pools.allocate("q", ModelSpec("m"))
    with pytest.raises(TypeError, match="expected a ModelHandle or its integer id, got str"):
        pit.pools.release("not-a-handle")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pit.pools.allocate("p", "not-a-spec")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="handler must be callable"):
        pit.pools.register_runtime("t", 42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("artifact", "error", "message"),
    [
        ("xyz", ValidationError, "artifact id must be 64 hexadecimal digits"),
        ("g" * 64, ValidationError, "64 hexadecimal digits"),
        ("0" * 64, NotFound, f"artifact {'0' * 64} does not exist"),
    ],
)
def test_unknown_and_malformed_artifact_ids(pit: Pit, artifact: str, error: type[Exception], message: str) -> None:
    for call in (
        pit.artifacts.get,
        pit.artifacts.metadata,
        pit.artifacts.delete,
        pit.artifacts.pin,
        pit.artifacts.ancestors,
    ):
        with pytest.raises(error, match=message):
            call(artifact)


def test_bad_artifact_options(pit: Pit) -> None:
    with pytest.raises(ValidationError, match="tag name must not be empty"):
        pit.artifacts.put(b"x", tags=[""])
    with pytest.raises(TypeError):
        pit.artifacts.put(b"x", tags="not-a-list")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="producer"):
        pit.artifacts.put(b"x", producer=("run",))  # type: ignore[arg-type]


def test_bad_pit_options(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="durability must be 'background' or 'sync'"):
        Pit(durability="eventually")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="hot_cache_mb"):
        Pit(hot_cache_mb=-1)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="cannot create store directory"):
        Pit(blocker / "store")
    assert issubclass(StorageError, OSError)


def test_a_corrupt_database_is_an_integrity_error_that_says_how_to_open_it(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "pit.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(IntegrityError, match=r"metadata database is damaged .*recover=True"):
        Pit(store)
    with Pit(store, recover=True) as pit:  # the damaged file is set aside, a new one starts
        assert len(pit.artifacts) == 0
    assert any(p.name.startswith("pit.sqlite.damaged-") for p in store.iterdir())


def test_closed_pit_refuses_writes_clearly(pit: Pit) -> None:
    pit.close()
    pit.close()  # idempotent
    with pytest.raises(ValidationError, match="the Pit is closed"):
        pit.artifacts.put(b"late")
    wf = Workflow("late")
    wf.add_node("a", "constant", value=1)
    wf.add_node("b", "calculator", operation="add", operand=1, inputs=["a"])
    for cache in (True, False):  # single nodes and waves alike: a clear failure, no hang
        run = pit.run(wf, cache=cache, raise_on_failure=False)
        assert run.status == "failed"
        assert run.rows()[0]["exception"] == "StorageError"
        assert "the Pit is closed" in run.rows()[0]["error"]


def test_rust_panic_becomes_internal_error_and_the_interpreter_lives() -> None:
    with pytest.raises(InternalError, match="the Pit panicked.*kaboom"):
        symphony_pit._native._debug_panic("kaboom")
    # The process is still healthy: the Pit keeps working after the panic.
    with Pit() as pit:
        assert pit.artifacts.get(pit.artifacts.put(b"after")) == b"after"


def test_a_panic_is_reported_to_logging_with_its_backtrace_not_to_stderr(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(InternalError):
        symphony_pit._native._debug_panic("logged, not printed")
    assert "Rust panic" in caplog.text
    assert "logged, not printed" in caplog.text
    assert "debug_panic" in caplog.text  # the backtrace names where it happened
    assert "logged, not printed" not in capfd.readouterr().err


def test_panic_in_a_subprocess_exits_cleanly() -> None:
    script = textwrap.dedent(
        """
        import symphony_pit
        try:
            symphony_pit._native._debug_panic("in child")
        except symphony_pit.InternalError:
            print("survived")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "survived"


def test_the_hierarchy_matches_the_builtins() -> None:
    assert issubclass(ValidationError, ValueError)
    assert issubclass(ValidationError, PitError)
    assert issubclass(NotFound, KeyError)
    assert issubclass(symphony_pit.ResourceExhausted, RuntimeError)
    assert str(NotFound("pool 'x' does not exist")) == "pool 'x' does not exist"
