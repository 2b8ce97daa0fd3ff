"""Function Quest benchmark: the environment beside gymnasium's CartPole-v1, in one run.

Measures per-step time through the Gymnasium API (``gym.make``, wrappers included, resets on
episode end), env-steps per second of the vector env (1024 environments, one native call per
step) against CartPole through ``SyncVectorEnv`` ×64, the exact solver on every campaign level, and
the cost of mirroring episodes into a real Pit. Run::

    python benchmarks/bench_quest.py [--quick] [--record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import function_quest as fq
import gymnasium as gym
import numpy as np
from function_quest.packs import LEVELS_DIR
from symphony_pit import Pit, QuestLevel, system_info

RESULTS = Path(__file__).with_name("RESULTS.md")


def median_rate(run: Callable[[], int], repeats: int) -> float:
    """Median seconds per unit of work over ``repeats`` runs (``run`` returns its unit count)."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        units = run()
        samples.append((time.perf_counter() - start) / units)
    return statistics.median(samples)


def single_steps(env: gym.Env[Any, Any], actions: np.ndarray) -> Callable[[], int]:
    def run() -> int:
        env.reset(seed=0)
        for a in actions:
            _, _, terminated, truncated, _ = env.step(int(a))
            if terminated or truncated:
                env.reset()
        return len(actions)

    return run


def vector_steps(envs: gym.vector.VectorEnv[Any, Any, Any], actions: np.ndarray) -> Callable[[], int]:
    def run() -> int:
        envs.reset(seed=0)
        for batch in actions:
            envs.step(batch)
        return actions.size

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    steps, repeats, batches = (5_000, 3, 50) if args.quick else (50_000, 7, 300)
    rng = np.random.default_rng(0)
    rows: list[tuple[str, str, str, str]] = []

    cart = gym.make("CartPole-v1")
    quest = gym.make("FunctionQuest-v0", levels="campaign")
    cart_s = median_rate(single_steps(cart, rng.integers(0, 2, steps)), repeats)
    quest_s = median_rate(single_steps(quest, rng.integers(0, 6, steps)), repeats)
    rows.append(
        (
            "single-env step, `gym.make` (campaign, resets included)",
            f"{quest_s * 1e6:.2f} µs",
            f"{cart_s * 1e6:.2f} µs",
            f"{quest_s / cart_s:.2f}×",
        )
    )

    cart_vec = gym.make_vec("CartPole-v1", num_envs=64, vectorization_mode="sync")
    cart_vec_s = median_rate(vector_steps(cart_vec, rng.integers(0, 2, (batches // 4, 64))), repeats)
    for copy in (False, True):
        envs = gym.make_vec(
            "FunctionQuest-v0", num_envs=1024, vectorization_mode="vector_entry_point", levels="campaign", copy=copy
        )
        vec_s = median_rate(vector_steps(envs, rng.integers(0, 10, (batches, 1024))), repeats)
        rows.append(
            (
                f"vector env ×1024, copy={copy} (env-steps/s)",
                f"{1 / vec_s:,.0f}",
                f"{1 / cart_vec_s:,.0f} (SyncVectorEnv ×64)",
                f"{cart_vec_s / vec_s:.1f}× faster",
            )
        )

    # SB3's VecEnv over the native batch (same-step resets, infos per env) beside SB3's own
    # DummyVecEnv over single environments, both with random actions.
    from function_quest.sb3 import FunctionQuestSB3VecEnv
    from stable_baselines3.common.vec_env import DummyVecEnv

    def sb3_steps(vec: Any, actions: np.ndarray) -> Callable[[], int]:
        def run() -> int:
            vec.reset()
            for batch in actions:
                vec.step_async(batch)
                vec.step_wait()
            return actions.size

        return run

    sb3_vec = FunctionQuestSB3VecEnv(num_envs=1024, levels="campaign")
    sb3_s = median_rate(sb3_steps(sb3_vec, rng.integers(0, 10, (batches, 1024))), repeats)
    dummy = DummyVecEnv([lambda: fq.FunctionQuestEnv(levels="campaign") for _ in range(64)])
    dummy_s = median_rate(sb3_steps(dummy, rng.integers(0, 6, (batches // 4, 64))), repeats)
    rows.append(
        (
            "SB3 VecEnv ×1024 over the native batch (env-steps/s)",
            f"{1 / sb3_s:,.0f}",
            f"{1 / dummy_s:,.0f} (DummyVecEnv ×64); goal ≥ 100,000",
            f"{dummy_s / sb3_s:.1f}× faster",
        )
    )

    def load_once(path: Path) -> Callable[[], int]:
        def run() -> int:
            QuestLevel.load(path)
            return 1

        return run

    solve_ms = [median_rate(load_once(p), repeats) * 1e3 for p in sorted((LEVELS_DIR / "campaign").glob("*.yaml"))]
    rows.append(
        (
            "load + validate + solve, each campaign level",
            f"max {max(solve_ms):.2f} ms, median {statistics.median(solve_ms):.2f} ms",
            "goal < 10 ms",
            "—",
        )
    )

    pit = Pit(event_capacity=10_000)
    physics = fq.FunctionQuestEnv(levels="campaign", pit=pit)
    plain = fq.FunctionQuestEnv(levels="campaign")
    acts = rng.integers(0, 6, steps // 5)
    physics_s = median_rate(single_steps(physics, acts), repeats)
    plain_s = median_rate(single_steps(plain, acts), repeats)
    rows.append(
        (
            "step with the Pit as physics (pool, artifacts, DAG run per episode)",
            f"{physics_s * 1e6:.1f} µs",
            f"{plain_s * 1e6:.2f} µs (engine only)",
            f"{physics_s / plain_s:.1f}×",
        )
    )

    info = system_info()
    command = "python benchmarks/bench_quest.py" + (" --quick" if args.quick else "")
    table = "\n".join(
        [
            f"### bench_quest — {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}",
            "",
            f"`{command}` · symphony-pit {info['symphony_pit']} ({info['build']['profile']}) · gymnasium {gym.__version__} · "
            f"{info['cpu_count']} cores",
            "",
            "| measure | Function Quest | reference | ratio |",
            "|---|---:|---:|---:|",
            *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
        ]
    )
    print(table)
    if args.record:
        with RESULTS.open("a") as out:
            out.write("\n" + table + "\n")
        print(f"appended to {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
