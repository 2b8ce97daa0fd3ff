"""Artifact Store through Python: content addressing, persistence, lineage, integrity."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from symphony_pit import IntegrityError, NotFound, Pit, ValidationError


def blob_file(store: Path, artifact: str) -> Path:
    return store / "blobs" / artifact[:2] / artifact


def test_ids_are_blake3_content_hashes_and_dedup(pit: Pit) -> None:
    a = pit.artifacts.put(b"hello")
    assert a == "ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f"  # blake3("hello")
    assert pit.artifacts.put(b"hello", tags=["again"]) == a
    stats = pit.artifacts.stats()
    assert (stats["artifacts"], stats["total_bytes"], stats["dedup_hits"]) == (1, 5, 1)
    assert pit.artifacts.metadata(a).tags == ["again"]


def test_values_round_trip_with_their_type(pit: Pit) -> None:
    value = {"weights": np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4), "labels": ("a", "b"), "n": 2**70}
    artifact = pit.artifacts.put(value, tags=["model"])
    back = pit.artifacts.get(artifact)
    assert back["labels"] == ("a", "b")
    assert back["n"] == 2**70
    np.testing.assert_array_equal(back["weights"], value["weights"])
    assert back["weights"].dtype == np.float32
    assert pit.artifacts.metadata(artifact).content_type == "application/vnd.symphony.value+msgpack"
    with pytest.raises(ValidationError, match="content_type applies to bytes only"):
        pit.artifacts.put([1], content_type="text/plain")


def test_metadata_lineage_and_listing(pit: Pit) -> None:
    raw = pit.artifacts.put(b"raw", created_by="loader", tags=["raw"], custom={"rows": 3})
    clean = pit.artifacts.put(b"clean", inputs=[raw], producer=("etl-1", "clean"), content_type="text/csv")
    final = pit.artifacts.put(b"final", inputs=[clean])
    meta = pit.artifacts.metadata(clean)
    assert meta.inputs == [raw]
    assert meta.producer == ("etl-1", "clean")
    assert meta.content_type == "text/csv"
    assert pit.artifacts.metadata(raw).custom == {"rows": 3}
    assert pit.artifacts.ancestors(final) == [clean, raw]
    assert [m.id for m in pit.artifacts.list(tag="raw")] == [raw]
    assert [m.id for m in pit.artifacts.list(run="etl-1")] == [clean]
    assert [m.id for m in pit.artifacts.list(created_by="loader")] == [raw]
    assert len(pit.artifacts.list(limit=2)) == 2
    with pytest.raises(NotFound, match="lineage input artifact"):
        pit.artifacts.put(b"orphan", inputs=["0" * 64])


def test_store_survives_the_process(store: Path) -> None:
    with Pit(store) as first:
        artifact = first.artifacts.put(b"durable bytes", tags=["keep"])
        first.artifacts.pin(artifact)
        value = first.artifacts.put({"x": [1, 2, 3]})
        run = first.dags.start({"name": "wf", "nodes": [{"name": "a"}]})
    second = Pit(store)
    assert second.artifacts.get(artifact) == b"durable bytes"
    assert second.artifacts.get(value) == {"x": [1, 2, 3]}
    assert second.artifacts.metadata(artifact).pinned
    assert [r["run_id"] for r in second.dags.history()] == [run]
    second.close()


def test_dropping_the_pit_flushes(store: Path) -> None:
    pit = Pit(store)
    artifacts = [pit.artifacts.put(os.urandom(1000)) for _ in range(200)]
    del pit
    reopened = Pit(store)
    assert all(reopened.artifacts.exists(a) for a in artifacts)
    reopened.close()


#: Blobs above this size are files under blobs/; smaller ones are rows of the database.
LARGE = b"the original bytes" * 5000


def test_corrupted_blob_on_disk_raises_integrity_error(store: Path) -> None:
    with Pit(store) as pit:
        artifact = pit.artifacts.put(LARGE)
    blob_file(store, artifact).write_bytes(b"the tampered bytes")
    with Pit(store) as pit:
        with pytest.raises(IntegrityError, match=f"artifact {artifact} is corrupted.*does not match its hash"):
            pit.artifacts.get(artifact)
        assert any(e.kind == "artifact.corrupted" for e in pit.poll_events(100))


def test_sync_durability_writes_before_returning(store: Path) -> None:
    with Pit(store, durability="sync") as pit:
        large = pit.artifacts.put(LARGE)
        assert blob_file(store, large).read_bytes() == LARGE
        small = pit.artifacts.put(b"now")
        with sqlite3.connect(store / "pit.sqlite") as db:
            rows = db.execute("SELECT data FROM small_blobs WHERE id = ?", (small,)).fetchall()
            assert rows == [(b"now",)]
            assert db.execute("SELECT COUNT(*) FROM artifacts").fetchone() == (2,)


def test_delete_and_pin(pit: Pit) -> None:
    artifact = pit.artifacts.put(b"x")
    pit.artifacts.pin(artifact)
    with pytest.raises(ValidationError, match="is pinned"):
        pit.artifacts.delete(artifact)
    pit.artifacts.pin(artifact, False)
    pit.artifacts.delete(artifact)
    assert artifact not in pit.artifacts
    with pytest.raises(NotFound):
        pit.artifacts.get(artifact)


def test_a_1_mib_blob_round_trips_exactly(store: Path) -> None:
    data = os.urandom(1 << 20)
    with Pit(store, hot_cache_mb=0.5) as pit:
        artifact = pit.artifacts.put(data)
        pit.flush()
        assert pit.artifacts.get(artifact) == data
    with Pit(store) as pit:
        assert pit.artifacts.get_bytes(artifact) == data
        assert pit.artifacts.stats()["disk_reads"] == 1


def test_html_repr_lists_artifacts(pit: Pit) -> None:
    artifact = pit.artifacts.put(b"shown", tags=["visible"])
    assert "visible" in pit.artifacts._repr_html_()
    assert artifact[:12] in pit.artifacts._repr_html_()
    assert "Artifact" in pit.artifacts.metadata(artifact)._repr_html_()


def test_bytes_cross_without_a_copy(pit: Pit) -> None:
    data = os.urandom(1 << 20)
    artifact = pit.artifacts.put(data)
    assert pit.artifacts.get(artifact) is data  # the very same object, not a copy
    assert pit.artifacts.get_bytes(artifact) is data
    assert pit.artifacts.put(bytes(data)) == artifact  # equal content, deduplicated


def test_thousands_of_small_blobs_in_one_batch_are_durable(store: Path) -> None:
    """A writer batch larger than the open-file limit (1024 here) is written, synced and renamed."""
    with Pit(store) as pit:
        ids = [pit.artifacts.put(i.to_bytes(4, "little")) for i in range(3000)]
    with Pit(store) as reopened:
        assert all(reopened.artifacts.get(a) == i.to_bytes(4, "little") for i, a in enumerate(ids))
    assert not any((store / "tmp").iterdir())  # no temp file left behind


def test_metadata_is_a_snapshot(pit: Pit) -> None:
    artifact = pit.artifacts.put(b"snap", tags=["a"])
    before = pit.artifacts.metadata(artifact)
    pit.artifacts.pin(artifact)
    pit.artifacts.put(b"snap", tags=["b"])
    pit.artifacts.get(artifact)
    after = pit.artifacts.metadata(artifact)
    assert (before.pinned, before.tags, before.access_count) == (False, ["a"], 0)
    assert (after.pinned, after.tags, after.access_count) == (True, ["a", "b"], 1)


def test_a_clean_exit_without_close_loses_nothing(store: Path) -> None:
    script = (
        "import sys\n"
        "from symphony_pit import Pit\n"
        "pit = Pit(sys.argv[1])\n"  # never closed, never deleted: the interpreter's exit drops it
        "print('\\n'.join(pit.artifacts.put(i.to_bytes(4, 'little') * 500) for i in range(300)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(store)], capture_output=True, text=True, timeout=120, check=True
    )
    ids = done.stdout.split()
    with Pit(store) as pit:
        assert len(ids) == 300
        assert all(pit.artifacts.get(a) == i.to_bytes(4, "little") * 500 for i, a in enumerate(ids))
