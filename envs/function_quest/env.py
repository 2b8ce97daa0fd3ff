"""`FunctionQuest-v0`: one Function Quest episode at a time, through the Gymnasium API."""

from __future__ import annotations

import operator
import os
import textwrap
import weakref
from collections.abc import Iterable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from symphony_pit import Pit, QuestGame, QuestLevel, ValidationError

from function_quest.generator import generate
from function_quest.observation import MAX_CALLS, Observation, observation_space
from function_quest.packs import LevelSource, load_level, load_pack
from function_quest.physics import PitPhysics

#: How many generated levels ``band=`` plays (seeds 0…N-1 of that band).
GENERATED_PER_BAND = 16


def resolve_levels(
    level: LevelSource | None = None,
    band: int | None = None,
    levels: str | os.PathLike[str] | Iterable[LevelSource] | None = None,
    generated: int = GENERATED_PER_BAND,
) -> list[QuestLevel]:
    """The levels an environment plays: exactly one of ``level`` (one level), ``band`` (generated
    levels of that difficulty) or ``levels`` (a pack: a shipped pack name, a folder or a list)."""
    given = [name for name, v in (("level", level), ("band", band), ("levels", levels)) if v is not None]
    if len(given) != 1:
        raise ValidationError(f"give exactly one of level=, band= or levels= (got {', '.join(given) or 'none'})")
    if level is not None:
        return [load_level(level)]
    if band is not None:
        if isinstance(band, bool) or not isinstance(band, int) or not 1 <= band <= 20:
            raise ValidationError(f"band must be an integer from 1 to 20, got {band!r}")
        return [generate(seed, band) for seed in range(generated)]
    assert levels is not None
    return load_pack(levels)


def action_index(action: object) -> int:
    """An action as a plain int in ``0..MAX_CALLS``, or a clear error for anything else (a huge or
    negative int, a float, an unsigned numpy int past the range)."""
    if type(action) is int and 0 <= action < MAX_CALLS:  # the common case: this runs every step
        return action
    if not isinstance(action, bool):
        try:
            index = operator.index(action)  # type: ignore[arg-type]
        except TypeError:
            pass
        else:
            if 0 <= index < MAX_CALLS:
                return index
            raise ValidationError(f"action {index} is out of range: actions are call slots 0..{MAX_CALLS}")
    raise ValidationError(f"action must be an integer call index, got {action!r} ({type(action).__name__})")


class FunctionQuestEnv(gym.Env[Observation, np.int64]):
    """Function Quest as a Gymnasium environment.

    >>> import gymnasium as gym, function_quest
    >>> env = gym.make("FunctionQuest-v0", level="locked-study", render_mode="ansi")
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(0)
    >>> info["message"]
    'A brass key lies under some papers.'

    Actions are indices of grounded calls (``Discrete(64)``); slots past the level's calls are
    masked by `action_masks` (the sb3-contrib convention) — a call whose preconditions fail is a
    legal move that fails in the game. ``pit=`` mirrors every episode into a real Pit (see
    `function_quest.physics`). Rewards sum to the episode's score / 100 (see `score` in the README).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 (gymnasium declares it so)

    def __init__(
        self,
        level: LevelSource | None = None,
        band: int | None = None,
        levels: str | os.PathLike[str] | Iterable[LevelSource] | None = None,
        render_mode: str | None = None,
        pit: Pit | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValidationError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.levels = resolve_levels(level, band, levels)
        self.render_mode = render_mode
        self.observation_space = observation_space()  # type: ignore[assignment]
        self.action_space = spaces.Discrete(MAX_CALLS)
        self.level = self.levels[0]
        self._game = QuestGame(self.level)
        self._started = False
        self._mask = np.zeros(MAX_CALLS, dtype=bool)
        self._last_action: int | None = None  # for render()
        self._needs_reset = True
        self.physics = PitPhysics(pit, prefix=f"quest-{id(self):x}") if pit is not None else None
        if self.physics is not None:
            # An environment dropped without close() still ends its episode's run and frees its
            # pools (the finalizer holds the physics, not the environment).
            weakref.finalize(self, self.physics.close)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start an episode; ``options={"level": i}`` picks level ``i`` of the pack, else the
        environment's seeded generator does."""
        super().reset(seed=seed)
        index = (options or {}).get("level")
        if index is None:
            index = int(self.np_random.integers(len(self.levels)))
        if not isinstance(index, int) or not 0 <= index < len(self.levels):
            raise ValidationError(f"options['level'] must be an index below {len(self.levels)}, got {index!r}")
        if self.physics is not None and not self._needs_reset:
            self.physics.end(won=self._game.won)
        if self.levels[index] is self.level and self._started:
            self._game.reset()  # same level again: the game keeps its fixed observation parts
        else:
            self.level = self.levels[index]
            self._game = QuestGame(self.level)
            self._mask[:] = False
            self._mask[: len(self.level)] = True
            self._started = True
        self._last_action = None
        self._needs_reset = False
        if self.physics is not None:
            self.physics.begin(self.level)
        return self._game.observation(), self._game.info()

    def step(self, action: object) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        if self._needs_reset:
            raise ValidationError("call reset() before step() (the episode has ended or never started)")
        index = action_index(action)
        # One native call steps the game and builds the observation (in arrays no observation
        # the caller still holds shares) and the info dict.
        obs, reward, terminated, truncated, info = self._game.step(index)
        self._last_action = index
        if terminated or truncated:
            self._needs_reset = True
        if self.physics is not None:
            self.physics.call(index, info["outcome"], info["message"])
            if self._needs_reset:
                self.physics.end(won=info["won"])
        return obs, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """True for the level's calls, False for padding slots."""
        return self._mask.copy()

    def valid_action_masks(self) -> np.ndarray:
        """True for the calls worth making now: those that would succeed and change the facts;
        when there is none, those that would change them but wait for a busy pool (calling one
        lets a step pass: how to wait for resources); when there is none either, every call.
        Never all False, so a masked policy always has a move."""
        return np.array(self._game.valid_mask(), dtype=bool)

    @property
    def game(self) -> QuestGame:
        """The engine's episode (facts, score breakdown, holds)."""
        return self._game

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return render_text(self.level, self._game, self._last_action)

    def close(self) -> None:
        if self.physics is not None:
            self.physics.close()
        super().close()

    def __repr__(self) -> str:
        game = self._game
        physics = ", pit physics" if self.physics is not None else ""
        return (
            f"FunctionQuestEnv(level={self.level.id!r}, band={self.level.band}, steps={game.steps}, "
            f"score={game.score_total:.1f}, won={game.won}{physics})"
        )

    def _repr_html_(self) -> str:
        import html

        game, level = self._game, self.level
        facts = ", ".join(f"<code>{html.escape(f)}</code>" for f in game.facts) or "<i>none</i>"
        goal = ", ".join(f"<code>{html.escape(f)}</code>" for f in level.goal)
        return (
            "<div style='font:13px sans-serif;max-width:720px'>"
            f"<b>FunctionQuestEnv</b> · {html.escape(level.title)} (<code>{html.escape(level.id)}</code>, band "
            f"{level.band}, {len(level.calls)} calls, optimal {level.optimal_steps} steps)<br>"
            f"facts {facts} · goal {goal} · steps {game.steps} · score {game.score_total:.1f} · "
            f"{'won' if game.won else 'over' if game.done else 'playing'}</div>"
        )


def render_text(level: QuestLevel, game: QuestGame, last_action: int | None) -> str:
    """The story (before the first call), the state, and the last call with its result."""
    wrap = textwrap.TextWrapper(width=88)
    lines = [f"== {level.title} (band {level.band}) — step {game.steps}/{level.max_steps}"]
    if last_action is None:
        lines += [*wrap.wrap(level.story), ""]
        lines.append("Goal: " + ", ".join(level.goal))
    else:
        label = level.calls[last_action]["label"] if last_action < len(level) else f"(empty slot {last_action})"
        lines.append(f"> {label}  [{game.outcome}]")
        lines += ["  " + line for line in wrap.wrap(game.message)]
    lines.append("Facts: " + (", ".join(game.facts) or "(none)"))
    if level.visibility != "hidden" and game.holds:
        held = "; ".join(
            f"{pool}: {cpu:g} cpu, {mem:g} MB, {left} step(s) left" for pool, cpu, mem, _gpu, left in game.holds
        )
        lines.append("Busy: " + held)
    score = game.score
    lines.append(f"Score so far: {score['total']:.1f} ({score['tier']})")
    if game.done:
        lines.append("Won!" if game.won else "Out of steps.")
    return "\n".join(lines) + "\n"
