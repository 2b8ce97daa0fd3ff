"""Baseline players and `evaluate`: random, greedy (one-step look-ahead) and the exact solver.

A policy is any object with ``reset(env)`` (a new episode began) and ``act(obs, env) -> int``;
it may read the level and the game through the environment, or only the observation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from symphony_pit import QuestLevel

from function_quest.env import FunctionQuestEnv
from function_quest.observation import Observation
from function_quest.packs import LevelSource, load_level


class Policy(Protocol):
    """What `evaluate` plays."""

    name: str

    def reset(self, env: FunctionQuestEnv) -> None: ...

    def act(self, obs: Observation, env: FunctionQuestEnv) -> int: ...


class RandomPolicy:
    """Uniform over the level's calls (never a padding slot)."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def reset(self, env: FunctionQuestEnv) -> None:
        pass

    def act(self, obs: Observation, env: FunctionQuestEnv) -> int:
        return int(self.rng.integers(len(env.level)))


class SolverPolicy:
    """Replays the exact solver's optimal plan (the environment is deterministic)."""

    name = "solver"

    def __init__(self) -> None:
        self._plan: list[int] = []

    def reset(self, env: FunctionQuestEnv) -> None:
        self._plan = list(env.level.plan_actions)

    def act(self, obs: Observation, env: FunctionQuestEnv) -> int:
        if not self._plan:
            raise RuntimeError("the solver's plan is used up: the environment diverged from the engine")
        return self._plan.pop(0)


class GreedyPolicy:
    """Goal-directed, one step of look-ahead: among calls whose preconditions hold, take the one
    whose result is worth most — goal facts first, then facts that lead toward the goal (needed by
    a call that makes a goal or leading fact), never undoing either. Ties go to the cheaper call;
    with nothing worth doing it waits (a call that fails harmlessly) or tries a random call."""

    name = "greedy"

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self._level: QuestLevel | None = None
        self._calls: list[dict[str, Any]] = []
        self._leading: set[str] = set()
        self._goal: set[str] = set()

    def reset(self, env: FunctionQuestEnv) -> None:
        if env.level is not self._level:
            self._level = env.level
            self._calls = env.level.calls
            self._goal = set(env.level.goal)
            self._leading = _leading_facts(self._calls, self._goal)

    def _worth(self, facts: set[str]) -> float:
        return 10.0 * len(facts & self._goal) + len(facts & self._leading)

    def act(self, obs: Observation, env: FunctionQuestEnv) -> int:
        facts = set(env.game.facts)
        now = self._worth(facts)
        best: tuple[float, float, int] | None = None
        for i, call in enumerate(self._calls):
            if not set(call["requires"]) <= facts or set(call["forbids"]) & facts:
                continue
            after = (facts - set(call["removes"])) | set(call["adds"])
            gain = self._worth(after) - now
            cost = call["cost"]
            price = cost["cpu"] * cost["steps"] + cost["memory_mb"] / 1024 * cost["steps"]
            candidate = (gain, -price, -i)
            if gain > 0 and (best is None or candidate > best):
                best = candidate
        if best is not None:
            return -best[2]
        return int(self.rng.integers(len(self._calls)))


def _leading_facts(calls: Sequence[dict[str, Any]], goal: set[str]) -> set[str]:
    """Facts required by a call that adds a goal fact or (transitively) another leading fact."""
    wanted = set(goal)
    leading: set[str] = set()
    changed = True
    while changed:
        changed = False
        for call in calls:
            if set(call["adds"]) & wanted:
                new = set(call["requires"]) - leading
                if new:
                    leading |= new
                    wanted |= new
                    changed = True
    return leading


@dataclass
class Evaluation:
    """Per-episode rows (`episodes`), one row per level (`levels`) and a `summary`."""

    policy: str
    episodes: pd.DataFrame
    levels: pd.DataFrame
    summary: pd.Series

    def _repr_html_(self) -> str:
        head = f"<b>{self.policy}</b>: " + ", ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in self.summary.items()
        )
        return f"<div>{head}</div>" + str(self.levels._repr_html_())  # type: ignore[operator]


def evaluate(
    policy: Policy,
    levels: Iterable[LevelSource],
    episodes: int = 1,
    seed: int = 0,
) -> Evaluation:
    """Play ``episodes`` episodes of every level and tabulate success, steps, optimal steps,
    score and tier per level, with a summary (success rate, mean score, tiers).

    >>> evaluate(SolverPolicy(), campaign()).summary["success_rate"]
    1.0
    """
    rows: list[dict[str, Any]] = []
    for level in (load_level(lvl) for lvl in levels):
        env = FunctionQuestEnv(level=level)
        for episode in range(episodes):
            obs, info = env.reset(seed=seed + episode)
            policy.reset(env)
            done = False
            while not done:
                obs, _reward, terminated, truncated, info = env.step(policy.act(obs, env))
                done = terminated or truncated
            rows.append(
                {
                    "level": level.id,
                    "band": level.band,
                    "episode": episode,
                    "success": bool(info["won"]),
                    "steps": info["steps"],
                    "optimal_steps": level.optimal_steps,
                    "score": info["score"],
                    "tier": info["tier"],
                    **{f"score_{k}": v for k, v in env.game.score.items() if k not in ("total", "tier")},
                }
            )
        env.close()
    frame = pd.DataFrame(rows)
    per_level = (
        frame.groupby(["level", "band"], sort=False)
        .agg(
            success=("success", "mean"),
            steps=("steps", "mean"),
            optimal_steps=("optimal_steps", "first"),
            score=("score", "mean"),
            tier=("tier", lambda t: t.mode().iloc[0]),
        )
        .reset_index()
    )
    summary = pd.Series(
        {
            "levels": len(per_level),
            "episodes": len(frame),
            "success_rate": float(frame["success"].mean()),
            "mean_score": float(frame["score"].mean()),
            "mean_steps_over_optimal": float((frame["steps"] / frame["optimal_steps"]).mean()),
            **{f"tier_{t}": int(n) for t, n in frame["tier"].value_counts().items()},
        },
        name=policy.name,
    )
    return Evaluation(policy.name, frame, per_level, summary)
