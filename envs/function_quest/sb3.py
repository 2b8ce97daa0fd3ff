"""Function Quest's native batch as a stable-baselines3 ``VecEnv``, with SB3's own semantics.

Gymnasium's vector environment auto-resets on the *next* step (that step's action is ignored);
SB3 expects the reset on the *same* step, the last observation of the ended episode in
``infos[i]["terminal_observation"]``. This adapter steps the native batch, then starts the next
episode at once in every environment that ended (one native call, ``QuestBatch.reset(only_done=True)``), so
no transition is wasted and none is faked. ``action_masks()`` is what sb3-contrib's
``MaskablePPO`` asks for.

>>> from sb3_contrib import MaskablePPO                             # doctest: +SKIP
>>> vec_env = FunctionQuestSB3VecEnv(num_envs=64, band=3)           # doctest: +SKIP
>>> MaskablePPO("MultiInputPolicy", vec_env).learn(10_000)          # doctest: +SKIP

stable-baselines3 is a research dependency: importing this module needs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv
from symphony_pit import ValidationError

from function_quest.observation import MAX_CALLS, Observation, observation_space
from function_quest.packs import LevelSource
from function_quest.vector import FunctionQuestVectorEnv


class FunctionQuestSB3VecEnv(VecEnv):
    """``num_envs`` Function Quest episodes for stable-baselines3, stepped by the native engine.

    Levels come as for ``FunctionQuestEnv`` (``level=``, ``band=`` or ``levels=``); ``masks``
    chooses what ``action_masks()`` allows: every real call, or the calls worth making now
    (``"valid"``: see ``FunctionQuestEnv.valid_action_masks``). ``infos[i]``
    carries ``score``, ``outcome`` and ``level`` of the step, and on an episode's last step
    ``terminal_observation`` and ``TimeLimit.truncated`` (as SB3's own wrappers write them).
    """

    def __init__(
        self,
        num_envs: int = 1,
        level: LevelSource | None = None,
        band: int | None = None,
        levels: str | os.PathLike[str] | Iterable[LevelSource] | None = None,
        masks: str = "calls",
    ) -> None:
        if masks not in ("calls", "valid"):
            raise ValidationError(
                f"masks must be 'calls' (every real call) or 'valid' (calls worth making), got {masks!r}"
            )
        self.masks = masks
        self.venv = FunctionQuestVectorEnv(num_envs, level=level, band=band, levels=levels, copy=False)
        super().__init__(num_envs, observation_space(), spaces.Discrete(MAX_CALLS))
        self._actions = np.zeros(num_envs, np.int64)
        self._seed: int | None = None

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seed the next ``reset`` (environment ``i`` draws its levels from ``seed + i``)."""
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValidationError(f"seed must be a non-negative integer, got {seed!r}")
        self._seed = seed
        return [None if seed is None else seed + i for i in range(self.num_envs)]

    def reset(self) -> dict[str, np.ndarray]:
        obs, _ = self.venv.reset(seed=self._seed)
        self._seed = None
        return _copy(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions[:] = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        dones = terminated | truncated
        scores, outcomes, levels = info["score"], info["outcome"], info["level"]
        infos: list[dict[str, Any]] = [
            {"score": float(scores[i]), "outcome": int(outcomes[i]), "level": int(levels[i])}
            for i in range(self.num_envs)
        ]
        if dones.any():
            for i in np.flatnonzero(dones):
                infos[i]["terminal_observation"] = {k: v[i].copy() for k, v in obs.items()}
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            self.venv.reset_done()
        return _copy(obs), rewards.copy(), dones.copy(), infos

    def action_masks(self) -> np.ndarray:
        """``num_envs × 64`` bools for sb3-contrib: each environment's real calls
        (``masks="calls"``), or only those worth making now (``masks="valid"``)."""
        return self.venv.valid_action_masks() if self.masks == "valid" else self.venv.action_masks()

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.venv, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        if method_name == "action_masks":  # per environment, as sb3-contrib's helper asks
            masks = self.action_masks()
            return [masks[i] for i in self._indices(indices)]
        result = getattr(self.venv, method_name)(*args, **kwargs)
        return [result] * len(self._indices(indices))

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return list(indices)


def _copy(obs: Observation) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in obs.items()}
