"""A/B of two or more builds of the Pit, in alternating processes on one machine.

A noisy machine drifts by tens of per cent over minutes, so two builds are compared by running
them in turn, round after round, each round a fresh process, and comparing medians. Each build
is a folder holding a copy of the ``symphony_pit`` package (with its ``_native`` module), e.g.
made by ``maturin develop --release`` then ``cp -r native/python/python/symphony_pit DIR/``.

Measured per round: per-node time of the layered DAG (100 layers x 10) with built-in nodes and
with Python-callable nodes, and one ``QuestGame.step`` (band-3 level).

Run::

    python benchmarks/ab_builds.py --rounds 6 /tmp/buildA /tmp/buildB
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def sample() -> dict[str, float]:
    """One round in this process: medians in nanoseconds."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_dag import layered_edges, pit_workflow
    from function_quest import FunctionQuestEnv
    from symphony_pit import Pit

    deps = layered_edges()
    pit = Pit()
    flows = {"builtin": pit_workflow(deps, builtin=True), "python": pit_workflow(deps, builtin=False)}
    for wf in flows.values():
        for _ in range(30):  # warm: run histories fill, caches settle
            pit.run(wf, cache=False)
    out: dict[str, float] = {}
    for name, wf in flows.items():
        times = []
        for _ in range(40):
            start = time.perf_counter()
            pit.run(wf, cache=False)
            times.append((time.perf_counter() - start) / len(deps) * 1e9)
        out[f"{name} node"] = statistics.median(times)
    env = FunctionQuestEnv(band=3)
    env.reset(seed=0)
    game = env.game
    times = []
    for _ in range(20):
        game.reset()
        start = time.perf_counter()
        for _ in range(2000):
            _, _, terminated, truncated, _ = game.step(0)
            if terminated or truncated:
                game.reset()
        times.append((time.perf_counter() - start) / 2000 * 1e9)
    out["quest step"] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builds", nargs="*", type=Path, help="folders holding a symphony_pit package")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--sample", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sample:
        print(json.dumps(sample()))
        return
    if len(args.builds) < 2:
        parser.error("give at least two build folders")
    for build in args.builds:
        if not (build / "symphony_pit").is_dir():
            parser.error(f"{build} holds no symphony_pit package")
    results: dict[Path, list[dict[str, float]]] = {b: [] for b in args.builds}
    for round_ in range(args.rounds):
        for build in args.builds:
            env = {**os.environ, "PYTHONPATH": str(build)}
            line = subprocess.run(
                [sys.executable, __file__, "--sample"], env=env, check=True, capture_output=True, text=True
            ).stdout
            results[build].append(json.loads(line))
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    metrics = list(results[args.builds[0]][0])
    print("| build | " + " | ".join(f"{m} (median, fastest) ns" for m in metrics) + " |")
    print("|---|" + "---|" * len(metrics))
    for build, rounds in results.items():
        cells = [f"{statistics.median(r[m] for r in rounds):.0f}, {min(r[m] for r in rounds):.0f}" for m in metrics]
        print(f"| {build} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
