"""``QuestPlayer``: play a Function Quest level with buttons, or watch a policy play it."""

from __future__ import annotations

import html
import threading
import time
from pathlib import Path
from typing import Any

import traitlets

from symphony_widgets.snapshot import SnapshotWidget

#: Policies the player's buttons can watch, by name (``function_quest.baselines``).
POLICIES = ("greedy", "solver", "random")


class QuestPlayer(SnapshotWidget):
    """A level's story, its calls as buttons, the facts that hold, the resources in use and the
    score. A person plays by clicking calls; ``Step greedy`` / ``Step solver`` (or
    :meth:`watch`) let a policy make the next move, so you can follow what it does.

    Takes a ``FunctionQuestEnv``, a ``QuestLevel`` or a level id (``"locked-study"``).

    >>> player = QuestPlayer("locked-study")
    >>> _ = player.play(0)
    >>> player.state["steps"]
    1
    """

    _esm = Path(__file__).with_name("quest.js")
    level = traitlets.Dict().tag(sync=True)
    state = traitlets.Dict().tag(sync=True)
    moves: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)

    def __init__(self, target: Any, **kwargs: Any) -> None:
        import function_quest as fq

        if isinstance(target, fq.FunctionQuestEnv):
            env = target
        elif isinstance(target, fq.QuestLevel | str):
            env = fq.FunctionQuestEnv(level=target)
        else:
            raise TypeError(
                f"QuestPlayer plays a FunctionQuestEnv, a QuestLevel or a level id, not {type(target).__name__}"
            )
        super().__init__(**kwargs)
        self.env = env
        self._lock = threading.Lock()
        self._policies: dict[str, Any] = {}
        lv = env.level
        self.level = {
            "id": lv.id,
            "title": lv.title,
            "story": lv.story,
            "goal": list(lv.goal),
            "band": lv.band,
            "optimal_steps": lv.optimal_steps,
            "calls": [{"label": c["label"], "description": c.get("description", "")} for c in lv.calls],
        }
        self.on_msg(self._on_msg)
        self.reset()

    def reset(self) -> None:
        """Start the level again."""
        with self._lock:
            self.env.reset()
            self._policies.clear()  # plans start from the start
            self.moves = []
            self._movers: set[str] = set()
            self._show(None)

    def play(self, action: int, by: str = "you") -> dict[str, Any]:
        """Make call ``action`` (its index in the level's calls); returns the new state."""
        if not isinstance(action, int) or isinstance(action, bool) or not 0 <= action < len(self.level["calls"]):
            raise ValueError(f"action must be a call's index, 0 to {len(self.level['calls']) - 1}, got {action!r}")
        with self._lock:
            if self.state.get("done"):
                return self.state
            _, reward, _, _, info = self.env.step(action)
            self._movers.add(by)
            self.moves = [
                *self.moves,
                {"call": self.level["calls"][action]["label"], "outcome": info["outcome"], "message": info["message"],
                 "reward": round(float(reward), 3)},
            ]  # fmt: skip
            self._show(action)
            return self.state

    def step_policy(self, name: str) -> dict[str, Any]:
        """Let policy ``name`` (greedy, solver or random) make the next move."""
        if name not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {name!r}")
        if name == "solver" and self._movers - {"solver"}:
            raise ValueError("the solver follows its plan from the start: press Start again to watch it")
        policy = self._policies.get(name)
        if policy is None:
            import function_quest as fq

            policy = {"greedy": fq.GreedyPolicy, "solver": fq.SolverPolicy, "random": fq.RandomPolicy}[name]()
            policy.reset(self.env)
            self._policies[name] = policy
        return self.play(int(policy.act(self.env.game.observation(), self.env)), by=name)

    def watch(self, name: str = "solver", delay: float = 0.4) -> threading.Thread:
        """Let policy ``name`` play from the start, a move every ``delay`` seconds, in the
        background (the cell returns at once; the player moves on its own)."""
        if name not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {name!r}")
        self.reset()

        def go() -> None:
            while not self.state.get("done"):
                self.step_policy(name)
                time.sleep(delay)

        thread = threading.Thread(target=go, name=f"quest-{name}", daemon=True)
        thread.start()
        return thread

    def _on_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        try:
            if "act" in content:
                self.play(int(content["act"]))
            elif content.get("policy"):
                self.step_policy(str(content["policy"]))
            elif content.get("reset"):
                self.reset()
        except (ValueError, RuntimeError) as e:
            self.state = {**self.state, "message": f"{e}"}

    def _show(self, action: int | None) -> None:
        game = self.env.game
        self.state = {
            "facts": list(game.facts),
            "steps": game.steps,
            "score": round(float(game.score_total), 2),
            "outcome": game.outcome,
            "message": game.message,
            "won": bool(game.won),
            "done": bool(game.done),
            "resources": round(float(game.resource_use), 3),
            "last": action if action is not None else -1,
        }

    def __repr__(self) -> str:
        s = self.state
        return f"QuestPlayer({self.level['id']!r}, steps={s.get('steps')}, score={s.get('score')}, won={s.get('won')})"

    def snapshot_html(self) -> str:
        """The level and where the game stands, as static HTML."""
        lv, s = self.level, self.state
        calls = "".join(
            f"<li><code>{html.escape(c['label'])}</code> {html.escape(c['description'])}</li>" for c in lv["calls"]
        )
        return (
            f"<div style='font:13px sans-serif;max-width:720px'><b>{html.escape(lv['title'])}</b> "
            f"(band {lv['band']}) — {html.escape(lv['story'])}<br>goal: {', '.join(map(html.escape, lv['goal']))} · "
            f"facts: {', '.join(map(html.escape, s.get('facts', []))) or 'none'} · steps {s.get('steps')} · "
            f"score {s.get('score')}<ul>{calls}</ul></div>"
        )
