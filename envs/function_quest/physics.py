"""Infrastructure as physics: an episode mirrored, live, into a real Pit.

The engine decides every call (it is exact and fast); with a Pit attached, as each call happens
it becomes a node of the episode's DAG Tracker run (appended live, depending on the calls that
made its required facts true; the run's ``episode`` node stays running until the episode ends,
succeeding when the goal was reached). A call that fails in the game (its preconditions did not
hold, or its pool was full) is a move, not a broken run: its node is *skipped*, with the level's
message as its error, so a won episode's run completes and a lost one's fails. An episode that
ends before any call (reset again, closed, or the environment dropped) cancels its run. A successful call allocates its cost in the Pit's Pool
Manager (released after its steps), stores what it ``produces`` in the Artifact Store with
lineage, and the Stale Manager releases models left idle longer than ``idle_ttl`` seconds. If the
Pit ever disagrees with the engine (refuses capacity the engine granted), that is a bug and
raises `InternalError` rather than silently diverging.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from symphony_pit import InternalError, ModelHandle, ModelSpec, Pit, QuestLevel, ResourceExhausted, ValidationError


@dataclass
class PitPhysics:
    """Mirror of one environment's episodes into ``pit`` (pool names are prefixed by ``prefix``)."""

    pit: Pit
    prefix: str
    level: QuestLevel | None = None
    episode: int = 0
    step: int = 0
    run_id: str | None = None
    #: Seconds a released model may stay warm before the Stale Manager cools it.
    idle_ttl: float = 0.0
    _open: bool = False
    _holds: list[tuple[ModelHandle, int]] = field(default_factory=list)
    _made_by: dict[str, str] = field(default_factory=dict)
    _artifacts: dict[str, str] = field(default_factory=dict)
    _pools: list[str] = field(default_factory=list)

    def pool_name(self, pool: str) -> str:
        return f"{self.prefix}/{pool}"

    def begin(self, level: QuestLevel) -> None:
        """Close the previous episode, create this level's pools and start the episode's run."""
        self.close()
        self.level, self.step, self.episode = level, 0, self.episode + 1
        self._made_by, self._artifacts = {}, {}
        for name, dims in level.pools.items():
            self.pit.pools.add_pool(self.pool_name(name), **dims)
            self._pools.append(self.pool_name(name))
        dags = self.pit.dags
        self.run_id = dags.start({"name": f"quest:{level.id}", "nodes": [{"name": "episode", "deps": []}]})
        dags.set_state(self.run_id, "episode", "running")
        self._open = True

    def call(self, action: int, outcome: str, message: str) -> None:
        """Mirror one call the engine has decided (``outcome``: succeeded / failed / exhausted)."""
        if self.level is None or self.run_id is None:
            raise ValidationError("PitPhysics.call before begin()")
        self._release_expired()
        self.step += 1
        dags = self.pit.dags
        if action >= len(self.level):  # an empty slot of the action space: time passes
            node = f"{self.step:03d} (empty slot {action})"
            dags.append(self.run_id, node)
            dags.set_state(self.run_id, node, "skipped", message)
            return
        call = self.level.calls[action]
        node = f"{self.step:03d} {call['label']}"
        deps = sorted({self._made_by[f] for f in call["requires"] if f in self._made_by})
        dags.append(self.run_id, node, deps, kind=call["function"])
        if outcome != "succeeded":
            dags.set_state(self.run_id, node, "skipped", message)  # a move that did nothing
            return
        dags.set_state(self.run_id, node, "running")
        cost = call["cost"]
        if cost["pool"] is not None:
            spec = ModelSpec(
                call["function"],
                cpu=cost["cpu"],
                memory_mb=cost["memory_mb"],
                gpu_memory_mb=cost["gpu_memory_mb"],
                slots=0.0,
            )
            try:
                handle = self.pit.pools.allocate(self.pool_name(cost["pool"]), spec)
            except ResourceExhausted as err:
                raise InternalError(f"the Pit refused {call['label']} that the engine granted: {err}") from err
            self._holds.append((handle, self.step - 1 + cost["steps"]))
        for fact in call["adds"]:
            self._made_by[fact] = node
        if call["produces"]:
            inputs = [self._artifacts[d] for d in deps if d in self._artifacts]
            self._artifacts[node] = self.pit.artifacts.put(
                {"artifact": call["produces"], "call": call["label"], "message": message},
                created_by=call["label"],
                tags=["function-quest", self.level.id, call["produces"]],
                inputs=inputs,
            )
        dags.set_state(self.run_id, node, "succeeded")

    def end(self, won: bool = False) -> str | None:
        """Finish the episode's run: its ``episode`` node succeeds when the goal was reached.
        Returns the run id (None when no episode is open)."""
        if not self._open or self.run_id is None:
            return None
        self._open = False
        if self.pit.closed:
            return self.run_id
        if self.step == 0 and not won:
            self.pit.dags.cancel(self.run_id)  # nothing was played: not a lost episode
        else:
            self.pit.dags.set_state(
                self.run_id, "episode", "succeeded" if won else "failed", None if won else "the goal was not reached"
            )
        return self.run_id

    def _release_expired(self) -> None:
        keep = []
        for handle, until in self._holds:
            if until <= self.step:
                handle.release()  # the model stays warm, holding capacity, until it is idle too long
            else:
                keep.append((handle, until))
        self._holds = keep
        self.pit.stale.release_idle(self.idle_ttl, self._pools)

    def close(self) -> None:
        """End an open episode, release every allocation and remove this environment's pools
        (safe to call twice, and after the Pit closed)."""
        self.end()
        if self.pit.closed:
            self._holds, self._pools = [], []
            return
        for handle, _ in self._holds:
            handle.release(unload=True)
        self._holds = []
        for name in self._pools:
            self.pit.pools.remove_pool(name)
        self._pools = []

    def pools(self) -> list[dict[str, Any]]:
        """This environment's pools as the Pit sees them (capacity, used, models)."""
        return [self.pit.pools.pool(name) for name in self._pools]
