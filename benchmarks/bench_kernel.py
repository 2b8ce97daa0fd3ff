"""Kernel benchmark: what ``%load_ext symphony_kernel`` costs, measured through a real kernel.

A plain IPython kernel (``python3``) is started through jupyter_client; the imports the extension
needs are warmed first (``import symphony_kernel.extension, symphony_kernel.magics``), as they are
once a kernel has run a cell or two. Then, each round in a fresh kernel, the wall time of one
``%load_ext symphony_kernel`` is taken inside the kernel (``time.perf_counter`` around the call),
for an in-memory store and for the persistent default store. Design target: ≤ 100 ms.

Run::

    python benchmarks/bench_kernel.py [--rounds N] [--record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.manager import start_new_kernel

RESULTS = Path(__file__).with_name("RESULTS.md")
TARGET_MS = 100.0

WARM = "import symphony_kernel.extension, symphony_kernel.magics, symphony_kernel.tables"
MEASURE = (
    "import time as _t\n"
    "_s = _t.perf_counter()\n"
    "get_ipython().run_line_magic('load_ext', 'symphony_kernel')\n"
    "print((_t.perf_counter() - _s) * 1e3)"
)


def load_ms(store: str) -> float:
    """One fresh kernel: the ms ``%load_ext`` took there with ``SYMPHONY_STORE=store``."""
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=120, env=_env(store))
    try:
        printed: list[str] = []

        def keep(message: dict[str, Any]) -> None:
            if message["msg_type"] == "stream":
                printed.append(message["content"]["text"])
            elif message["msg_type"] == "error":
                raise RuntimeError("\n".join(message["content"]["traceback"]))

        for code in (WARM, MEASURE):
            reply = client.execute_interactive(code, timeout=120, output_hook=keep)
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"the kernel failed: {reply['content']}")
        return float(printed[-1])
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _env(store: str) -> dict[str, str]:
    import os

    return {**os.environ, "SYMPHONY_STORE": store}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--record", action="store_true", help="append the figures to RESULTS.md")
    args = parser.parse_args()
    figures: dict[str, list[float]] = {"in memory": [], "persistent store": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.rounds):
            figures["in memory"].append(load_ms(":memory:"))
            # A store with some history, as a kernel restarted on its session store finds it.
            figures["persistent store"].append(load_ms(str(Path(tmp) / "store")))
            print(f"round {k + 1}/{args.rounds}: " + json.dumps({n: round(v[-1], 1) for n, v in figures.items()}))
    rows = [(name, statistics.median(v), min(v), max(v)) for name, v in figures.items()]
    print(f"\n%load_ext symphony_kernel in a fresh kernel, imports warm, {args.rounds} kernels each:")
    for name, median, low, high in rows:
        verdict = "meets" if median <= TARGET_MS else "MISSES"
        print(
            f"  {name:18} median {median:6.1f} ms (fastest {low:.1f}, slowest {high:.1f}) — {verdict} ≤ {TARGET_MS:.0f} ms"
        )
    if args.record:
        lines = [
            f"\n## bench_kernel — {dt.date.today().isoformat()}\n",
            f"`python benchmarks/bench_kernel.py --rounds {args.rounds}`: one `%load_ext symphony_kernel` per fresh",
            "`python3` kernel (jupyter_client), its imports warmed first, timed inside the kernel. Target ≤ 100 ms.\n",
            "| store | median | fastest | slowest |",
            "|---|---|---|---|",
            *[f"| {n} | {m:.1f} ms | {lo:.1f} ms | {hi:.1f} ms |" for n, m, lo, hi in rows],
        ]
        with RESULTS.open("a") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
