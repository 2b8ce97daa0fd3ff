"""A `gymnasium.vector.VectorEnv` over the batched engine: N episodes, one native call per step."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from symphony_pit import QuestBatch, ValidationError, quest_tier

from function_quest.env import resolve_levels
from function_quest.observation import MAX_CALLS, OUTCOMES, Observation, empty_observation, observation_space
from function_quest.packs import LevelSource

#: The most memory a vector environment's buffers may take; past it, ``num_envs`` is refused
#: with what it would need (before anything is allocated).
MAX_BUFFER_BYTES = 8 << 30


def bytes_per_env() -> int:
    """Memory one environment of the batch takes: its observation twice (the engine's buffers and
    the copy a step returns), its action mask, and the engine's episode state (a bound)."""
    observation = sum(a.nbytes for a in empty_observation(1).values())
    return 2 * observation + MAX_CALLS + 4096


class FunctionQuestVectorEnv(VectorEnv[Observation, np.ndarray, np.ndarray]):
    """``num_envs`` Function Quest episodes stepped together by the native engine.

    >>> import gymnasium as gym, function_quest
    >>> envs = gym.make_vec("FunctionQuest-v0", num_envs=1024, vectorization_mode="vector_entry_point", band=3)
    >>> obs, info = envs.reset(seed=0)
    >>> obs, rewards, terminated, truncated, info = envs.step(envs.action_space.sample())

    Auto-reset is Gymnasium's next-step mode: the step after an episode ends starts the next one
    (its action is ignored, reward 0). Environment ``i`` draws levels from ``seed + i``.
    ``copy=False`` returns the engine's own buffers (overwritten by the next step) — the fast path
    for training loops that copy observations anyway; the default returns fresh arrays.
    ``info`` holds per-environment arrays: ``score`` (the episode's score so far; the final score
    on its last step; `tiers` names their tiers), ``outcome`` (0 reset, 1 succeeded, 2 failed,
    3 exhausted) and ``level`` (index into ``levels``).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}  # noqa: RUF012 (gymnasium declares it so)

    def __init__(
        self,
        num_envs: int = 1,
        level: LevelSource | None = None,
        band: int | None = None,
        levels: str | os.PathLike[str] | Iterable[LevelSource] | None = None,
        copy: bool = True,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise ValidationError(
                "the vector environment does not render; use FunctionQuest-v0 with render_mode='ansi'"
            )
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValidationError(f"num_envs must be a positive integer, got {num_envs!r}")
        needed = num_envs * bytes_per_env()
        if needed > MAX_BUFFER_BYTES:
            raise ValidationError(
                f"num_envs={num_envs:,} needs {needed / 2**30:,.1f} GiB for its buffers; the limit is "
                f"{MAX_BUFFER_BYTES / 2**30:g} GiB ({MAX_BUFFER_BYTES // bytes_per_env():,} environments)"
            )
        self.levels = resolve_levels(level, band, levels)
        self.num_envs = num_envs
        self.copy = copy
        self.single_observation_space = observation_space()
        self.single_action_space = spaces.Discrete(MAX_CALLS)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._batch = QuestBatch(self.levels, num_envs)
        self._obs = empty_observation(num_envs)
        self._rewards = np.zeros(num_envs, np.float32)
        self._terminated = np.zeros(num_envs, bool)
        self._truncated = np.zeros(num_envs, bool)
        self._scores = np.zeros(num_envs, np.float32)
        self._levels = np.zeros(num_envs, np.uint32)
        self._outcomes = np.zeros(num_envs, np.uint8)
        self._masks = np.zeros((num_envs, MAX_CALLS), bool)
        self._actions = np.zeros(num_envs, np.int64)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValidationError(f"seed must be a non-negative integer, got {seed!r}")
        self._batch.reset(seed, *self._obs_buffers(), self._levels)
        self._outcomes[:] = 0
        self._scores[:] = 0.0
        return self._out(self._obs), self._info()

    def step(self, actions: np.ndarray) -> tuple[Observation, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValidationError(
                f"actions must be {self.num_envs} integers (shape ({self.num_envs},)), got dtype {actions.dtype} shape {actions.shape}"
            )
        if actions.size and (actions.min() < 0 or actions.max() >= MAX_CALLS):
            bad = int(np.flatnonzero((actions < 0) | (actions >= MAX_CALLS))[0])
            raise ValidationError(
                f"actions[{bad}] = {actions[bad]} is out of range: actions are call slots 0..{MAX_CALLS}"
            )
        self._actions[:] = actions
        self._batch.step(
            self._actions,
            *self._obs_buffers(),
            self._rewards,
            self._terminated,
            self._truncated,
            self._scores,
            self._levels,
            self._outcomes,
        )
        return (
            self._out(self._obs),
            self._out(self._rewards),
            self._out(self._terminated),
            self._out(self._truncated),
            self._info(),
        )

    def _obs_buffers(
        self,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The engine's observation buffers, in the order its calls take them (facts, goal,
        preconditions, effects, costs, resources, progress)."""
        o = self._obs
        return (o["facts"], o["goal"], o["preconditions"], o["effects"], o["costs"], o["resources"], o["progress"])

    def _out(self, value: Any) -> Any:
        if not self.copy:
            return value
        if isinstance(value, dict):
            return {k: v.copy() for k, v in value.items()}
        return value.copy()

    def _info(self) -> dict[str, Any]:
        return {
            "score": self._out(self._scores),
            "outcome": self._out(self._outcomes),
            "level": self._out(self._levels),
        }

    def reset_done(self) -> int:
        """Start the next episode now in every environment whose episode ended (SB3's reset
        semantics: `function_quest.sb3`); the next ``step`` then steps them with their actions.
        Returns how many were reset."""
        return self._batch.reset(None, *self._obs_buffers(), self._levels, only_done=True)

    def action_masks(self) -> np.ndarray:
        """``num_envs × 64`` bools: True for each environment's real calls."""
        self._batch.action_masks(self._masks)
        return self._masks.copy()

    def valid_action_masks(self) -> np.ndarray:
        """``num_envs × 64`` bools: each environment's calls worth making now (see
        `FunctionQuestEnv.valid_action_masks`)."""
        self._batch.valid_masks(self._masks)
        return self._masks.copy()

    def tiers(self, scores: np.ndarray) -> list[str]:
        """Tier names of the given scores."""
        return [quest_tier(float(s)) for s in scores]

    @staticmethod
    def outcome_name(code: int) -> str:
        return OUTCOMES[code]
