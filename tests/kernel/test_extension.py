"""The IPython extension and %symphony, in a real InteractiveShell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.testing.globalipapp import start_ipython
from symphony_pit import Pit

import symphony_kernel


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


def test_load_ext_creates_the_session_pit(loaded: Any, tmp_path: Path) -> None:
    pit = loaded.user_ns["pit"]
    assert isinstance(pit, Pit)
    assert pit is symphony_kernel.get_pit()
    assert pit.store == str(tmp_path / "session-store")
    loaded.run_line_magic("reload_ext", "symphony_kernel")
    assert loaded.user_ns["pit"].store == pit.store


def test_symphony_magic_subcommands(loaded: Any) -> None:
    pit = loaded.user_ns["pit"]
    pit.artifacts.put(b"seen")
    assert loaded.run_line_magic("symphony", "status") is pit
    frame = loaded.run_line_magic("symphony", "events -n 5")
    assert isinstance(frame, pd.DataFrame)
    assert "artifact.stored" in set(frame["kind"])
    assert loaded.run_line_magic("symphony", "info")["symphony_pit"]


def test_unload_closes_the_pit(shell: Any) -> None:
    shell.run_line_magic("load_ext", "symphony_kernel")
    pit = shell.user_ns["pit"]
    shell.run_line_magic("unload_ext", "symphony_kernel")
    assert pit.closed
    assert "pit" not in shell.user_ns
    with pytest.raises(RuntimeError, match="load_ext symphony_kernel"):
        symphony_kernel.get_pit()
