"""FFI benchmark: small Pit calls from Python, side by side with plain-Python bookkeeping.

For each operation we time batches of calls and report the median per-call time over the batches,
for the Pit and for a pure-Python peer doing the same bookkeeping with dicts (same checks, same
state), and their ratio. Run it with ``make bench`` or::

    python benchmarks/bench_ffi.py [--quick] [--record]

``--record`` appends the table to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symphony_pit import ModelSpec, Pit, WorkflowGraph, system_info

RESULTS = Path(__file__).with_name("RESULTS.md")


def per_call(batch: Callable[[int], object], calls: int, repeats: int) -> float:
    """Median over ``repeats`` batches of the mean time of one call, in seconds."""
    batch(min(calls, 100))  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        batch(calls)
        samples.append((time.perf_counter_ns() - start) / calls / 1e9)
    return statistics.median(samples)


# --- Plain-Python peers: the same bookkeeping with dicts -------------------------------------


@dataclass
class PyModel:
    model_id: int
    key: tuple[Any, ...]
    state: str = "hot"
    handle: int | None = None


@dataclass
class PyPools:
    """Capacity accounting and hot-model reuse in plain Python (what the Pool Manager does)."""

    capacity: dict[str, float]
    used: dict[str, float] = field(default_factory=lambda: {"cpu": 0.0, "memory_mb": 0.0})
    idle: dict[tuple[Any, ...], list[int]] = field(default_factory=dict)
    models: dict[int, PyModel] = field(default_factory=dict)
    handles: dict[int, int] = field(default_factory=dict)
    next_id: int = 0

    def allocate(self, key: tuple[Any, ...], need: dict[str, float]) -> int:
        self.next_id += 1
        handle = self.next_id
        ids = self.idle.get(key)
        if ids:
            model_id = ids.pop()
        else:
            for dim, amount in need.items():
                if self.used[dim] + amount > self.capacity[dim]:
                    raise RuntimeError(f"cannot fit {dim}")
            for dim, amount in need.items():
                self.used[dim] += amount
            model_id = handle
            self.models[model_id] = PyModel(model_id, key)
        self.models[model_id].handle = handle
        self.handles[handle] = model_id
        return handle

    def release(self, handle: int) -> None:
        model = self.models[self.handles.pop(handle)]
        model.handle = None
        self.idle.setdefault(model.key, []).append(model.model_id)


LEGAL = {("ready", "running"), ("running", "succeeded"), ("running", "failed"), ("pending", "ready")}


def py_set_state(states: dict[str, dict[str, str]], run: str, node: str, to: str) -> None:
    nodes = states[run]
    if (nodes[node], to) not in LEGAL:
        raise ValueError("illegal transition")
    nodes[node] = to


@dataclass
class Row:
    operation: str
    pit_s: float
    peer_s: float
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.pit_s / self.peer_s


def fmt_time(seconds: float) -> str:
    return f"{seconds * 1e9:,.0f} ns" if seconds < 1e-5 else f"{seconds * 1e6:,.1f} µs"


def run(quick: bool) -> list[Row]:
    calls, repeats = (2_000, 7) if quick else (20_000, 15)
    rows: list[Row] = []
    pit = Pit(event_capacity=1_000)  # the log keeps the newest events; nobody drains it here
    pools, artifacts, dags = pit.pools, pit.artifacts, pit.dags

    # FFI floor: the cheapest call that crosses into Rust and takes a lock.
    some_id = artifacts.put(b"x")
    present = {some_id: b"x"}
    rows.append(
        Row(
            "FFI call (artifact exists)",
            per_call(lambda n: [artifacts.exists(some_id) for _ in range(n)] and None, calls, repeats),
            per_call(lambda n: [some_id in present for _ in range(n)] and None, calls, repeats),
            "dict membership",
        )
    )

    # Pool allocate + release of a hot model (a cache hit every time).
    pools.add_pool("cpu", cpu=64, memory_mb=65_536)
    spec = ModelSpec("bench", cpu=1, memory_mb=512)
    pools.allocate("cpu", spec).release()

    def pit_alloc(n: int) -> None:
        allocate = pools.allocate
        for _ in range(n):
            allocate("cpu", spec).release()

    peer_pools = PyPools({"cpu": 64, "memory_mb": 65_536})
    key, need = ("bench", "1", "echo"), {"cpu": 1.0, "memory_mb": 512.0}

    def peer_alloc(n: int) -> None:
        for _ in range(n):
            peer_pools.release(peer_pools.allocate(key, need))

    rows.append(
        Row(
            "pool allocate+release (hot model)",
            per_call(pit_alloc, calls, repeats),
            per_call(peer_alloc, calls, repeats),
            "dataclass + dicts",
        )
    )

    # Artifact metadata lookup.
    ids = [artifacts.put(os.urandom(64), tags=["bench"], custom={"i": i}) for i in range(1_000)]
    meta = {i: {"size": 64, "tags": ["bench"], "custom": {"i": n}, "pinned": False} for n, i in enumerate(ids)}

    def pit_meta(n: int) -> None:
        lookup = artifacts.metadata
        for k in range(n):
            lookup(ids[k % 1000])

    def peer_meta(n: int) -> None:
        for k in range(n):
            meta[ids[k % 1000]]

    rows.append(
        Row(
            "artifact metadata lookup",
            per_call(pit_meta, calls, repeats),
            per_call(peer_meta, calls, repeats),
            "dict lookup",
        )
    )

    # DAG node state update: walk wide graphs' nodes ready → running → succeeded. Runs are
    # started before the clock starts, so only the updates are timed.
    width = calls
    graph = WorkflowGraph({"name": "wide", "nodes": [{"name": f"n{i}"} for i in range(width)]})
    names = [f"n{i}" for i in range(width)]
    pit_runs = [dags.start(graph) for _ in range(repeats + 1)]
    peer_runs = {f"wide-{r}": dict.fromkeys(names, "ready") for r in range(repeats + 1)}
    peer_ids = list(peer_runs)

    def pit_states(n: int) -> None:
        run_id = pit_runs.pop()
        set_state = dags.set_state
        for k in range(n // 2):
            set_state(run_id, names[k], "running")
            set_state(run_id, names[k], "succeeded")

    def peer_states(n: int) -> None:
        run_id = peer_ids.pop()
        for k in range(n // 2):
            py_set_state(peer_runs, run_id, names[k], "running")
            py_set_state(peer_runs, run_id, names[k], "succeeded")

    rows.append(
        Row(
            "DAG node state update",
            per_call(pit_states, calls, repeats),
            per_call(peer_states, calls, repeats),
            "dict + legal-transition set",
        )
    )

    # Artifact put + get: distinct blobs, content hash computed on both sides.
    for size, label, n_blobs in ((1 << 10, "1 KiB", calls), (1 << 20, "1 MiB", 40 if quick else 200)):
        blobs = [i.to_bytes(8, "little") + os.urandom(size - 8) for i in range(n_blobs * (repeats + 2))]
        cursor = iter(blobs)
        peer_cursor = iter(blobs)
        peer_store: dict[str, bytes] = {}

        def pit_put_get(n: int, cursor: Any = cursor) -> None:
            put, get = artifacts.put, artifacts.get
            for _ in range(n):
                get(put(next(cursor)))

        def peer_put_get(n: int, cursor: Any = peer_cursor, store: dict[str, bytes] = peer_store) -> None:
            for _ in range(n):
                data = next(cursor)
                key = hashlib.blake2b(data, digest_size=32).hexdigest()
                store[key] = data
                store[key]

        pit_s = per_call(pit_put_get, n_blobs, repeats)
        peer_s = per_call(peer_put_get, n_blobs, repeats)
        rows.append(
            Row(
                f"artifact put+get {label} (in memory)",
                pit_s,
                peer_s,
                f"blake2b + dict; Pit {size / pit_s / 1e9:.2f} GB/s",
            )
        )

        with tempfile.TemporaryDirectory() as folder:
            disk = Pit(folder, event_capacity=1_000)
            disk_cursor = iter(blobs)

            def disk_put_get(n: int, cursor: Any = disk_cursor, store: Any = disk.artifacts) -> None:
                for _ in range(n):
                    store.get(store.put(next(cursor)))

            disk_s = per_call(disk_put_get, n_blobs // 2 if size > 4096 else n_blobs, repeats)
            flush_start = time.perf_counter()
            disk.close()
            flush_s = time.perf_counter() - flush_start
            rows.append(
                Row(
                    f"artifact put+get {label} (store on disk)",
                    disk_s,
                    peer_s,
                    f"durable writes behind the call; Pit {size / disk_s / 1e9:.2f} GB/s; final flush {flush_s * 1e3:.0f} ms",
                )
            )
    pit.close()
    rows.append(durable_vs_memory_row(2_000 if quick else 10_000, 7 if quick else 15))
    rows.append(flush_row(10_000 if quick else 100_000))
    return rows


def durable_vs_memory_row(calls: int, repeats: int) -> Row:
    """1 KiB put+get on a store on disk against the same calls on an in-memory Pit, in
    alternating batches (the machine's noise falls on both alike); median per call of each."""
    blobs = [i.to_bytes(8, "little") + os.urandom(1016) for i in range(2 * calls * (repeats + 1))]
    cursor = iter(blobs)
    memory = Pit(event_capacity=1_000)
    with tempfile.TemporaryDirectory() as folder:
        disk = Pit(folder, event_capacity=1_000)
        samples: dict[str, list[float]] = {"disk": [], "memory": []}
        for round_ in range(repeats + 1):
            for name, pit in (("disk", disk), ("memory", memory)):
                put, get = pit.artifacts.put, pit.artifacts.get
                start = time.perf_counter()
                for _ in range(calls):
                    get(put(next(cursor)))
                if round_:  # the first round warms up
                    samples[name].append((time.perf_counter() - start) / calls)
        disk.close()
    memory.close()
    disk_s, memory_s = statistics.median(samples["disk"]), statistics.median(samples["memory"])
    return Row(
        "artifact put+get 1 KiB: store on disk vs in memory",
        disk_s,
        memory_s,
        f"peer: the same calls on an in-memory Pit, alternating batches of {calls:,} (goal: ≤ 1.2×)",
    )


def flush_row(count: int) -> Row:
    """Put ``count`` distinct 1 KiB artifacts into a store on disk and flush: the Pit (small blobs
    in SQLite, one transaction per batch) against one file per blob written atomically (temp file,
    rename, one sync for all), the layout small blobs had before. Per artifact, end to end."""
    blobs = [i.to_bytes(8, "little") + os.urandom(1016) for i in range(count)]
    with tempfile.TemporaryDirectory() as folder:
        pit = Pit(folder, event_capacity=1_000)
        start = time.perf_counter()
        put = pit.artifacts.put
        for blob in blobs:
            put(blob)
        flush_start = time.perf_counter()
        pit.flush()
        pit_s = time.perf_counter() - start
        flush_s = time.perf_counter() - flush_start
        pit.close()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "tmp").mkdir()
        start = time.perf_counter()
        made: set[str] = set()
        for n, blob in enumerate(blobs):
            key = hashlib.blake2b(blob, digest_size=32).hexdigest()
            tmp = root / "tmp" / f"{n}.tmp"
            tmp.write_bytes(blob)
            fan = root / key[:2]
            if key[:2] not in made:
                fan.mkdir(exist_ok=True)
                made.add(key[:2])
            tmp.rename(fan / key)
        os.sync()
        peer_s = time.perf_counter() - start
    return Row(
        f"put + flush {count:,} × 1 KiB (store on disk)",
        pit_s / count,
        peer_s / count,
        f"one file per blob (temp, rename, one sync); Pit {pit_s:.2f} s in all, of which the flush "
        f"after the last put {flush_s:.2f} s (goal: ≤ 1 s for 100,000); peer {peer_s:.2f} s",
    )


LOAD_EXT_PROBE = """
import time
from IPython.testing.globalipapp import start_ipython
shell = start_ipython()
started = time.perf_counter()
shell.run_line_magic("load_ext", "{extension}")
print(time.perf_counter() - started)
"""


def load_ext_seconds(extension: str, repeats: int) -> float:
    """Median wall time of ``%load_ext extension`` in a fresh interpreter (imports included)."""
    samples = []
    for _ in range(repeats):
        probe = subprocess.run(
            [sys.executable, "-c", LOAD_EXT_PROBE.format(extension=extension)],
            check=True,
            capture_output=True,
            text=True,
        )
        samples.append(float(probe.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def load_ext_row(quick: bool) -> Row:
    """The kernel extension's start-up (design target < 100 ms) beside IPython's own autoreload."""
    repeats = 3 if quick else 7
    return Row(
        "`%load_ext symphony_kernel` (fresh kernel)",
        load_ext_seconds("symphony_kernel", repeats),
        load_ext_seconds("autoreload", repeats),
        "`%load_ext autoreload`; imports + session Pit + magics",
    )


def render(rows: list[Row], command: str) -> str:
    info = system_info()
    lines = [
        f"### bench_ffi — {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}",
        "",
        f"`{command}` · symphony-pit {info['symphony_pit']} ({info['build']['profile']}, {info['build']['git_commit']}) · "
        f"Python {info['python']} · {info['cpu_count']} cores · {info['platform']}",
        "",
        "| operation | Pit (median per call) | plain Python peer | Pit / peer | peer, notes |",
        "|---|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r.operation} | {fmt_time(r.pit_s)} | {fmt_time(r.peer_s)} | {r.ratio:.2f}× | {r.note} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    parser.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    command = "python benchmarks/bench_ffi.py" + (" --quick" if args.quick else "")
    table = render([*run(args.quick), load_ext_row(args.quick)], command)
    print(table)
    if args.record:
        with RESULTS.open("a") as out:
            out.write("\n" + table)
        print(f"appended to {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
