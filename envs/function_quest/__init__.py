"""Function Quest: a logic puzzle of named function calls, as a Gymnasium environment.

>>> import gymnasium as gym
>>> import function_quest  # registers FunctionQuest-v0
>>> env = gym.make("FunctionQuest-v0", level="locked-study")
>>> envs = gym.make_vec("FunctionQuest-v0", num_envs=64, vectorization_mode="vector_entry_point", band=4)

Levels are `function-quest/1` files (``levels/campaign/`` ships twenty), or come from
`generate(seed, band)`. The engine, scoring and solver are native (``symphony_pit``).
"""

from __future__ import annotations

import gymnasium as gym
from symphony_pit import QuestLevel, quest_tier

from function_quest.baselines import GreedyPolicy, Policy, RandomPolicy, SolverPolicy, evaluate
from function_quest.env import FunctionQuestEnv
from function_quest.generator import generate, generate_document
from function_quest.observation import observation_space
from function_quest.packs import campaign, load_level, load_pack
from function_quest.vector import FunctionQuestVectorEnv

ENV_ID = "FunctionQuest-v0"


def register_envs() -> None:
    """Register ``FunctionQuest-v0`` (single and vector entry points); safe to call twice."""
    if ENV_ID in gym.registry:
        return
    gym.register(
        id=ENV_ID,
        entry_point="function_quest.env:FunctionQuestEnv",
        vector_entry_point="function_quest.vector:FunctionQuestVectorEnv",
        # Episodes end by the level's own max_steps (truncation inside the env).
        max_episode_steps=None,
    )


register_envs()

__all__ = [
    "ENV_ID",
    "FunctionQuestEnv",
    "FunctionQuestVectorEnv",
    "GreedyPolicy",
    "Policy",
    "QuestLevel",
    "RandomPolicy",
    "SolverPolicy",
    "campaign",
    "evaluate",
    "generate",
    "generate_document",
    "load_level",
    "load_pack",
    "observation_space",
    "quest_tier",
    "register_envs",
]
