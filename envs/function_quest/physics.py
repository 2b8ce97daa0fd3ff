"""Infrastructure as physics: an episode mirrored into a real Pit.

The engine decides every call (it is exact and fast); with a Pit attached, each successful call
also allocates its cost in the Pit's Pool Manager (released after its steps), stores what it
``produces`` in the Artifact Store with lineage, and the episode is recorded as a DAG Tracker run
whose nodes are the calls, linked by the facts one call made true for the next. If the Pit ever
disagrees with the engine (refuses capacity the engine granted), that is a bug and raises
`InternalError` rather than silently diverging.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from symphony_pit import InternalError, ModelHandle, ModelSpec, Pit, QuestLevel, ResourceExhausted


@dataclass
class _Call:
    node: str
    succeeded: bool
    message: str
    deps: list[str]


@dataclass
class PitPhysics:
    """Mirror of one environment's episodes into ``pit`` (pool names are prefixed by ``prefix``)."""

    pit: Pit
    prefix: str
    level: QuestLevel | None = None
    episode: int = 0
    step: int = 0
    run_id: str | None = None
    _holds: list[tuple[ModelHandle, int]] = field(default_factory=list)
    _calls: list[_Call] = field(default_factory=list)
    _made_by: dict[str, str] = field(default_factory=dict)
    _artifacts: dict[str, str] = field(default_factory=dict)
    _pools: list[str] = field(default_factory=list)

    def pool_name(self, pool: str) -> str:
        return f"{self.prefix}/{pool}"

    def begin(self, level: QuestLevel) -> None:
        """Close the previous episode and create this level's pools."""
        self.close()
        self.level, self.step, self.episode = level, 0, self.episode + 1
        self._calls, self._made_by, self._artifacts = [], {}, {}
        for name, dims in level.pools.items():
            self.pit.pools.add_pool(self.pool_name(name), **dims)
            self._pools.append(self.pool_name(name))

    def call(self, action: int, outcome: str, message: str) -> None:
        """Mirror one call the engine has decided (``outcome``: succeeded / failed / exhausted)."""
        assert self.level is not None, "begin() first"
        self._release_expired()
        self.step += 1
        if action >= len(self.level):  # an empty slot of the action space: time passes
            self._calls.append(_Call(f"{self.step:03d} (empty slot {action})", False, message, []))
            return
        call = self.level.calls[action]
        node = f"{self.step:03d} {call['label']}"
        deps = sorted({self._made_by[f] for f in call["requires"] if f in self._made_by})
        succeeded = outcome == "succeeded"
        if succeeded:
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
        self._calls.append(_Call(node, succeeded, message, deps))

    def end(self) -> str | None:
        """Record the finished episode as a DAG run (calls as nodes); returns its run id."""
        if self.level is None or not self._calls:
            return None
        graph = {
            "name": f"quest:{self.level.id}",
            "nodes": [{"name": c.node, "deps": c.deps} for c in self._calls],
        }
        dags = self.pit.dags
        run = dags.start(graph)
        for c in self._calls:  # declaration order is a topological order (deps point back)
            if dags.state(run, c.node) in ("skipped", "cancelled"):
                continue
            dags.set_state(run, c.node, "running")
            dags.set_state(run, c.node, "succeeded" if c.succeeded else "failed", None if c.succeeded else c.message)
        self.run_id = run
        return run

    def _release_expired(self) -> None:
        keep = []
        for handle, until in self._holds:
            if until <= self.step:
                handle.release()
            else:
                keep.append((handle, until))
        self._holds = keep

    def close(self) -> None:
        """Release every allocation and remove this environment's pools."""
        for handle, _ in self._holds:
            handle.release(unload=True)
        self._holds = []
        for name in self._pools:
            self.pit.pools.remove_pool(name)
        self._pools = []

    def pools(self) -> list[dict[str, Any]]:
        """This environment's pools as the Pit sees them (capacity, used, models)."""
        return [self.pit.pools.pool(name) for name in self._pools]
