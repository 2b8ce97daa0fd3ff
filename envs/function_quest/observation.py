"""The observation encoding shared by the single and the vector environment.

One policy plays levels it has never seen: every observation describes the level itself, padded
to 64 facts and 64 grounded calls (``F`` and ``C`` below).

| key | shape | dtype | meaning |
|---|---|---|---|
| ``facts`` | F | int8 | 1 where the fact holds now |
| ``goal`` | F | int8 | 1 where the fact is part of the goal |
| ``preconditions`` | C×F | int8 | +1 the call requires the fact, −1 it forbids it |
| ``effects`` | C×F | int8 | +1 the call adds the fact, −1 it removes it |
| ``costs`` | C×4 | float32 | cost as a share of its pool (cpu, memory, gpu; 0 if unlimited), steps/16 |
| ``resources`` | C×4 | float32 | share of the call's pool in use (cpu, memory, gpu), 1 if the cost fits now |
| ``progress`` | 1 | float32 | steps taken / max_steps |

Visibility follows the level's band: 1–5 zero ``costs`` and ``resources``; 6–10 show ``costs`` and
the fits-now flag; 11–20 show everything. Padding slots are zero and masked by ``action_masks()``.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from symphony_pit import quest_layout

MAX_FACTS, MAX_CALLS, CALL_FEATURES = quest_layout()

Observation = dict[str, np.ndarray]


def observation_space() -> spaces.Dict:
    """The Dict space of one environment's observation."""
    return spaces.Dict(
        {
            "facts": spaces.Box(0, 1, (MAX_FACTS,), np.int8),
            "goal": spaces.Box(0, 1, (MAX_FACTS,), np.int8),
            "preconditions": spaces.Box(-1, 1, (MAX_CALLS, MAX_FACTS), np.int8),
            "effects": spaces.Box(-1, 1, (MAX_CALLS, MAX_FACTS), np.int8),
            "costs": spaces.Box(0.0, 1.0, (MAX_CALLS, CALL_FEATURES), np.float32),
            "resources": spaces.Box(0.0, 1.0, (MAX_CALLS, CALL_FEATURES), np.float32),
            "progress": spaces.Box(0.0, 1.0, (1,), np.float32),
        }
    )


#: (shape, dtype) of each key of one environment's observation.
LAYOUT: dict[str, tuple[tuple[int, ...], np.dtype[np.generic]]] = {
    key: (space.shape, space.dtype)  # type: ignore[misc]
    for key, space in observation_space().spaces.items()
}


def empty_observation(num_envs: int | None = None) -> Observation:
    """Zeroed buffers for one environment (``num_envs=None``) or a batch."""
    lead = () if num_envs is None else (num_envs,)
    return {key: np.zeros(lead + shape, dtype=dtype) for key, (shape, dtype) in LAYOUT.items()}


#: What a call did, by the engine's outcome code.
OUTCOMES = ("reset", "succeeded", "failed", "exhausted")
