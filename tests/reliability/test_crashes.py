"""Crashes and damage, from outside: kill -9 of a writing process, and damaged store files.

What a returned `put` promises with ``durability="sync"``, and a returned `flush` with the
default background durability: after any crash the artifact reads back equal. What damage
promises: it is detected (never served as a wrong value), and what can be rebuilt is.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from symphony_pit import IntegrityError, Pit

WRITER = r"""
import sys
from symphony_pit import Pit

store, durability, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
pit = Pit(store, durability=durability)
i = 0
pending = []
while True:
    i += 1
    # Small values (kept in the database) and large bytes (kept as files), mixed.
    value = {"seed": seed, "i": i, "pad": "x" * (i % 50)} if i % 3 else bytes([i % 256]) * (70_000 + i)
    artifact = pit.artifacts.put(value)
    pending.append(f"{i} {artifact}")
    if durability == "sync" or i % 7 == 0:
        if durability != "sync":
            pit.flush()
        print("\n".join(pending), flush=True)
        pending = []
"""


def expected(seed: int, i: int) -> object:
    return {"seed": seed, "i": i, "pad": "x" * (i % 50)} if i % 3 else bytes([i % 256]) * (70_000 + i)


def crash_while_writing(store: Path, durability: str, seed: int, run_for: float) -> list[tuple[int, str]]:
    """Start a writer, kill -9 it after `run_for` seconds; return what it acknowledged."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store), durability, str(seed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(run_for)
    writer.send_signal(signal.SIGKILL)
    out, _ = writer.communicate()
    acknowledged = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:  # a line cut short by the kill was never acknowledged whole
            acknowledged.append((int(parts[0]), parts[1]))
    return acknowledged


@pytest.mark.parametrize("durability", ["sync", "background"])
def test_kill_9_never_loses_an_acknowledged_write(tmp_path: Path, durability: str) -> None:
    rng = random.Random(durability)
    store = tmp_path / "store"
    seen = 0
    for seed in range(12):  # 12 rounds each, 24 in all; every round appends to the same store
        acknowledged = crash_while_writing(store, durability, seed, rng.uniform(0.4, 0.9))
        with Pit(store) as pit:
            assert not pit.artifacts.quarantined()
            for i, artifact in acknowledged:
                assert pit.artifacts.get(artifact) == expected(seed, i), (seed, i)
        seen += len(acknowledged)
        # Nothing is left in tmp/ by the dead writer once the store has been opened again.
        assert not list((store / "tmp").iterdir())
    assert seen > 100, "the writers acknowledged too little for the rounds to mean anything"


def test_a_damaged_wal_is_detected_not_silently_dropped(tmp_path: Path) -> None:
    store = tmp_path / "store"
    acknowledged = crash_while_writing(store, "sync", seed=1, run_for=0.8)
    wal = store / "pit.sqlite-wal"
    assert wal.exists()
    assert wal.stat().st_size > 32 + 4096, "the writer left no log to damage"
    data = bytearray(wal.read_bytes())
    data[32 + 24 + 200] ^= 0x01  # inside the first frame's page: every later commit would be dropped
    wal.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="write-ahead log.*committed transaction"):
        Pit(store)
    # recover=True opens it anyway: the log is set aside (the writes it alone held are lost, and
    # that is now visible, not silent); whatever is there reads back equal.
    with Pit(store, recover=True) as pit:
        for i, artifact in acknowledged:
            if artifact in pit.artifacts:
                assert pit.artifacts.get(artifact) == expected(1, i)
    assert any(p.name.endswith("-wal") and "damaged" in p.name for p in store.iterdir())


def test_damaged_blobs_rows_and_database_are_found_and_rebuilt(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with Pit(store) as pit:
        small = pit.artifacts.put({"kept": "in the database"}, tags=["t"])
        large = pit.artifacts.put(b"L" * 100_000)
        gone = pit.artifacts.put(b"G" * 100_000)
    blob = store / "blobs" / gone[:2] / gone
    # A bit flip in a large blob's file, and a flipped content type in a row.
    data = bytearray(blob.read_bytes())
    data[10] ^= 4
    blob.write_bytes(bytes(data))
    with sqlite3.connect(store / "pit.sqlite") as db:
        db.execute("UPDATE artifacts SET content_type = 'text/plain' WHERE id = ?", (small,))
    with Pit(store) as pit:
        with pytest.raises(IntegrityError, match=f"artifact {small} is quarantined"):
            pit.artifacts.get(small)
        with pytest.raises(IntegrityError, match=f"artifact {gone} is corrupted"):
            pit.artifacts.get(gone)
        assert pit.artifacts.get(large) == b"L" * 100_000
        pit.artifacts.put(b"G" * 100_000)  # a put of the same bytes repairs the blob
        assert pit.artifacts.recover()["recovered"] == [small]  # the row, from its verified blob
    with Pit(store) as pit:
        assert pit.artifacts.get(small) == {"kept": "in the database"}
        assert pit.artifacts.get(gone) == b"G" * 100_000
    # The database file itself deleted: the file blobs are orphans, and come back.
    for name in os.listdir(store):
        if name.startswith("pit.sqlite"):
            (store / name).unlink()
    with Pit(store) as pit:
        assert sorted(pit.artifacts.orphans()) == sorted([large, gone])
        report = pit.artifacts.recover()
        assert sorted(report["recovered"]) == sorted([large, gone])
        assert not report["failed"]
        assert pit.artifacts.get(large) == b"L" * 100_000
