"""One Pit hammered from 8 Python threads: the GIL is released and every invariant holds."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from symphony_pit import ModelSpec, Pit, ResourceExhausted

THREADS = 8
ROUNDS = 400


def worker(pit: Pit, index: int) -> tuple[int, list[str]]:
    allocations = 0
    stored = []
    spec = ModelSpec(f"model-{index % 3}", cpu=1, memory_mb=100)
    for round_ in range(ROUNDS):
        try:
            with pit.pools.allocate("shared", spec) as handle:
                assert handle.invoke(round_) == round_
                allocations += 1
        except ResourceExhausted:
            pass
        stored.append(pit.artifacts.put(f"{index}:{round_}".encode(), tags=[f"t{index}"]))
        run = pit.dags.start({"name": f"w{index}", "nodes": [{"name": "a"}, {"name": "b", "deps": ["a"]}]})
        for node in ("a", "b"):
            pit.dags.set_state(run, node, "running")
            pit.dags.set_state(run, node, "succeeded")
        assert pit.dags.status(run) == "completed"
        if round_ % 50 == 0:
            pit.pools.check_invariants()
    return allocations, stored


def test_eight_threads_keep_every_invariant() -> None:
    with Pit(event_capacity=1_000_000) as pit:
        pit.pools.add_pool("shared", cpu=4, memory_mb=350)
        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(lambda i: worker(pit, i), range(THREADS)))
        pit.pools.check_invariants()
        stats = pit.pools.stats()
        assert stats["allocations"] == sum(a for a, _ in results)
        assert stats["allocations"] == stats["releases"]
        assert all(m["handle"] is None for m in pit.pools.models())
        ids = [i for _, stored in results for i in stored]
        assert len(set(ids)) == THREADS * ROUNDS == len(pit.artifacts)
        assert len(pit.dags.runs()) == THREADS * ROUNDS
        events = pit.poll_events(10_000_000)
        seqs = [e.seq for e in events]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)


def test_the_gil_is_released_during_rust_work() -> None:
    """While one thread does heavy Rust work (hashing 64 MiB blobs), Python threads keep running."""
    ticks = 0
    stop = threading.Event()

    def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0)

    blob = bytes(64 << 20)
    with Pit() as pit:
        thread = threading.Thread(target=ticker)
        thread.start()
        before = ticks
        for i in range(5):
            pit.artifacts.put(blob[i:])
        during = ticks - before
        stop.set()
        thread.join()
    assert during > 100
