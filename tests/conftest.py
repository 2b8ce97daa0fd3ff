"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from symphony_pit import Pit


@pytest.fixture
def pit() -> Iterator[Pit]:
    """An in-memory Pit, closed after the test."""
    p = Pit()
    yield p
    p.close()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A fresh store directory."""
    return tmp_path / "store"
