"""Type stubs of the compiled module ``symphony_pit._native`` (checked by ``mypy.stubtest``)."""

import builtins
from collections.abc import Callable
from os import PathLike
from typing import Any, Final, Literal, final

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "BUILD_INFO",
    "BUILTIN_KINDS",
    "HISTORY_NODES",
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
    "RESOURCE_DIMENSIONS",
    "VERSION",
    "Arbiter",
    "ArtifactMeta",
    "ArtifactStore",
    "CancelToken",
    "CompiledWorkflow",
    "DagTracker",
    "Event",
    "Lease",
    "ModelHandle",
    "ModelSpec",
    "Pit",
    "PoolManager",
    "QuestBatch",
    "QuestGame",
    "QuestLevel",
    "RunReport",
    "WorkflowGraph",
    "_debug_panic",
    "_roundtrip",
    "quest_layout",
    "quest_tier",
    "thread_workers",
]

VERSION: Final[str]
BUILD_INFO: Final[dict[str, str]]
#: The workflow manifest's format name and version (what `to_manifest` writes).
MANIFEST_FORMAT: Final[str]
MANIFEST_VERSION: Final[int]
#: Built-in node kinds and the settings each takes.
BUILTIN_KINDS: Final[dict[str, tuple[str, ...]]]
#: Resource dimensions of pools and node requirements.
RESOURCE_DIMENSIONS: Final[tuple[str, ...]]
#: Nodes of finished runs whose detail the DAG Tracker keeps (a summary of older runs stays).
HISTORY_NODES: Final[int]

_NodeStateName = Literal["pending", "ready", "running", "succeeded", "failed", "skipped", "cancelled"]

@final
class Event:
    """One entry of the event stream."""
    @property
    def seq(self) -> int:
        """Position in the stream (strictly increasing across components)."""
    @property
    def time(self) -> float:
        """Seconds since the Unix epoch."""
    @property
    def component(self) -> str:
        """One of "pit", "pool", "artifact" or "dag"."""
    @property
    def kind(self) -> str:
        """Dotted kind, e.g. "model.transition"."""
    @property
    def subject(self) -> str:
        """What the event is about: a pool/model, an artifact id, a run or run/node."""
    @property
    def data(self) -> dict[str, Any]:
        """Details of the event."""
    def to_dict(self) -> dict[str, Any]:
        """Everything as one flat dict (handy for `pandas.DataFrame`)."""

@final
class ModelSpec:
    """What to run and what it needs. Equal specs share warm instances (cache hits).

    >>> ModelSpec("summariser", "2", cpu=2, memory_mb=4096, config={"temperature": 0.2})
    """
    def __new__(
        cls,
        name: str,
        version: str = "1",
        model_type: str = "echo",
        *,
        cpu: float = 1.0,
        memory_mb: float = 0.0,
        gpu_memory_mb: float = 0.0,
        slots: float = 1.0,
        config: Any = None,
    ) -> ModelSpec: ...
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def model_type(self) -> str: ...
    @property
    def requirements(self) -> dict[str, float]:
        """Resource requirements as `{dimension: amount}`."""
    @property
    def config(self) -> Any: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class ModelHandle:
    """An allocated model. Use it as a context manager to release it automatically."""
    @property
    def id(self) -> int: ...
    @property
    def model_id(self) -> int: ...
    @property
    def pool(self) -> str: ...
    @property
    def spec(self) -> ModelSpec: ...
    @property
    def cache_hit(self) -> bool:
        """Whether this allocation reused a Hot model."""
    @property
    def status(self) -> str:
        """The model's lifecycle state, or "released"."""
    def invoke(self, input: Any = None) -> Any:
        """Run the model on `input`. An exception raised by a Python runtime is re-raised as is."""
    def release(self, *, unload: bool = False) -> None:
        """Release the allocation; the model stays Hot for reuse unless `unload=True`."""
    def __enter__(self) -> ModelHandle: ...
    def __exit__(self, *_exc: object) -> bool: ...
    def _repr_html_(self) -> str: ...

@final
class Lease:
    """Capacity granted by the Arbiter; released by `release()`, by leaving a `with` block, or when
    garbage-collected.
    """
    @property
    def ticket(self) -> int: ...
    @property
    def needs(self) -> dict[str, dict[str, float]]:
        """What was granted: `{pool: {dimension: amount}}`."""
    @property
    def released(self) -> bool: ...
    def release(self) -> None:
        """Give the capacity back (again is a no-op)."""
    def __enter__(self) -> Lease: ...
    def __exit__(self, *_exc: object) -> bool: ...

@final
class Arbiter:
    """Arbitration: decides which request gets a pool's capacity when requests collide."""
    @property
    def strategy(self) -> Literal["priority", "round_robin", "weighted_fair", "queue"]:
        """The strategy's name: priority, round_robin, weighted_fair or queue."""
    @property
    def aging(self) -> float | None:
        """Points of priority a waiting request gains per second (priority strategy; else None)."""
    def set_strategy(
        self, strategy: Literal["priority", "round_robin", "weighted_fair", "queue"], *, aging: float = 100.0
    ) -> None:
        """Choose how waiting requests are ordered."""
    def set_weight(self, tenant: str, weight: float) -> None:
        """Set a tenant's weight (default 1) for weighted-fair ordering and the fairness report."""
    def acquire(
        self,
        needs: dict[str, dict[str, float]],
        *,
        tenant: str = "default",
        priority: int = 0,
        timeout: float | None = None,
        label: str | None = None,
    ) -> Lease:
        """Block until `needs` (`{pool: {dimension: amount}}`) is granted, all or nothing.
        `ResourceExhausted` when it can never fit or `timeout` passes; Ctrl-C withdraws it.
        """
    @property
    def waiting(self) -> int:
        """Requests waiting now."""
    def stats(self) -> dict[str, Any]:
        """Counters: waiting, grants, deferrals, denials, resolutions, mean_resolve_seconds."""
    def fairness(self) -> dict[str, Any]:
        """Granted share per tenant against its weight: `{"strategy", "gini", "max_deviation",
        "tenants": [{tenant, weight, requested, granted, denied, share, fair_share, mean_wait,
        max_wait}, ...]}`.
        """
    def to_pandas(self) -> pd.DataFrame:
        """Fairness per tenant as a pandas DataFrame."""
    def _repr_html_(self) -> str: ...

@final
class PoolManager:
    """Pools with capacity, and models allocated against them. Reach it as `pit.pools`."""
    def add_pool(
        self,
        name: str,
        *,
        cpu: float | None = None,
        memory_mb: float | None = None,
        gpu_memory_mb: float | None = None,
        slots: float | None = None,
    ) -> None:
        """Create a pool. A dimension left as None is unlimited."""
    def remove_pool(self, name: str) -> None:
        """Remove a pool (its idle models are cooled). Fails while a model in it is allocated."""
    def allocate(self, pool: str, spec: ModelSpec) -> ModelHandle:
        """Allocate a model of `spec` in `pool`. Reuses an idle Hot model of the same spec when there
        is one (a cache hit, no new capacity); raises `ResourceExhausted` when it cannot fit.
        """
    def release(self, handle: ModelHandle | int, *, unload: bool = False) -> None:
        """Release an allocation (a `ModelHandle` or its id). The model stays Hot for reuse unless
        `unload=True`.
        """
    def prewarm(self, pool: str, spec: ModelSpec, count: int = 1) -> list[int]:
        """Warm `count` idle models of `spec` ahead of demand; returns their model ids."""
    def cool_idle(self, idle_seconds: float = 0.0, pools: builtins.list[str] | None = None) -> int:
        """Cool idle models unused for `idle_seconds` or more (in `pools`, default all); returns
        how many were cooled.
        """
    def register_runtime(
        self,
        model_type: str,
        handler: Callable[[ModelSpec, Any], Any],
        *,
        load: Callable[[ModelSpec], object] | None = None,
    ) -> None:
        """Run models of `model_type` with `handler(spec, input) -> output`; `load(spec)`, if
        given, runs while a new model warms. An exception in either sends the model to Failed.
        """
    def runtimes(self) -> list[str]:
        """Model types that have a runtime."""
    def pools(self) -> list[dict[str, Any]]:
        """Every pool with its capacity and use."""
    def pool(self, name: str) -> dict[str, Any]:
        """One pool with its capacity and use."""
    def models(self) -> list[dict[str, Any]]:
        """Every live model instance with its state and transition history."""
    def stats(self) -> dict[str, Any]:
        """Allocation counters and the cache hit rate."""
    def check_invariants(self) -> None:
        """Raise `InternalError` if the capacity accounting is inconsistent (it never should be)."""
    def to_pandas(self) -> pd.DataFrame:
        """The live models as a pandas DataFrame."""
    def __len__(self) -> int: ...
    def __contains__(self, key: str, /) -> bool: ...
    def _repr_html_(self) -> str: ...

@final
class ArtifactMeta:
    """Metadata and lineage of one artifact."""
    @property
    def id(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def content_type(self) -> str: ...
    @property
    def created_at(self) -> float:
        """Seconds since the Unix epoch."""
    @property
    def created_by(self) -> str: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def custom(self) -> Any: ...
    @property
    def producer(self) -> tuple[str, str] | None:
        """(run id, node name) that produced the artifact, or None."""
    @property
    def inputs(self) -> list[str]:
        """Ids of the artifacts this one was computed from."""
    @property
    def pinned(self) -> bool: ...
    @property
    def access_count(self) -> int: ...
    @property
    def last_access(self) -> float: ...
    @property
    def archived(self) -> int | None:
        """Compressed size when archived, else None."""
    def to_dict(self) -> dict[str, Any]:
        """Every field as a dict (handy for `pandas.DataFrame`)."""
    def _repr_html_(self) -> str: ...

@final
class ArtifactStore:
    """Content-addressed artifacts with metadata and lineage. Reach it as `pit.artifacts`."""
    def put(
        self,
        data: Any,
        *,
        content_type: str | None = None,
        created_by: str | None = None,
        tags: builtins.list[str] | None = None,
        custom: Any = None,
        producer: tuple[str, str] | None = None,
        inputs: builtins.list[str] | None = None,
    ) -> str:
        """Store `data` and return its id (the BLAKE3 hash of the stored bytes, 64 hex digits).

        `bytes` are stored as they are, without a copy (`get` returns the same object); any other supported
        value (None, bool, int, float, str, list, tuple, dict, datetime, numpy array) is encoded
        losslessly and `get` gives it back. Storing the same content twice costs nothing.
        """
    def get(self, id: str) -> Any:
        """The artifact's content: bytes as stored, or the value that was stored."""
    def get_bytes(self, id: str) -> bytes:
        """The stored bytes, whatever the content type."""
    def exists(self, id: str) -> bool: ...
    def metadata(self, id: str) -> ArtifactMeta:
        """Metadata and lineage of an artifact."""
    def list(
        self,
        *,
        tag: str | None = None,
        content_type: str | None = None,
        created_by: str | None = None,
        run: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[ArtifactMeta]:
        """Artifacts matching every given filter, oldest first."""
    def delete(self, id: str, *, force: bool = False) -> None:
        """Delete an artifact; a pinned one only with `force=True`."""
    def archive(self, ids: builtins.list[str]) -> dict[str, tuple[int, int]]:
        """Move artifacts to the archive tier (gzip-compressed, out of memory and the blob
        directory, still readable by `get`). Returns `{id: (bytes, compressed bytes)}` for those
        archived now; already archived ones are skipped.
        """
    def pin(self, id: str, pinned: bool = True) -> None:
        """Pin an artifact (pinned artifacts are never cleaned up), or unpin with `pinned=False`."""
    def ancestors(self, id: str) -> builtins.list[str]:
        """Every ancestor of an artifact through its lineage, nearest first."""
    def recover(self) -> dict[str, Any]:
        """Rebuild metadata rows from content-addressed blobs (orphans and quarantined rows).

        Each blob is verified against its id; one holding an encoded value comes back as that
        value, any other as bytes. Tags, lineage and producer are not recoverable.

        >>> pit.artifacts.recover()["recovered"]  # doctest: +SKIP
        """
    def quarantined(self) -> dict[str, str]:
        """Rows that failed their integrity checks when the store was opened: ``{id: why}``."""
    def orphans(self) -> builtins.list[str]:
        """Ids of blobs on disk that no metadata row names (see `recover`)."""
    def stats(self) -> dict[str, int]:
        """Sizes and counters of the store."""
    def to_pandas(self, **filters: Any) -> pd.DataFrame:
        """Artifacts (filtered like `list`) as a pandas DataFrame."""
    def __len__(self) -> int: ...
    def __contains__(self, key: str, /) -> bool: ...
    def _repr_html_(self) -> str: ...

@final
class WorkflowGraph:
    """A validated workflow graph: nodes, edges, topological order, critical path.

    >>> WorkflowGraph({"name": "etl", "nodes": [{"name": "load"}, {"name": "clean", "deps": ["load"]}]})
    """
    def __new__(cls, spec: dict[str, Any]) -> WorkflowGraph: ...
    @property
    def name(self) -> str: ...
    @property
    def nodes(self) -> list[str]:
        """Node names in declaration order."""
    @property
    def edges(self) -> list[tuple[str, str]]:
        """(from, to) pairs."""
    def topological_order(self) -> list[str]: ...
    def critical_path(self) -> tuple[list[str], float]:
        """Heaviest path by node weights: (node names, total weight)."""
    def to_dict(self) -> dict[str, Any]:
        """The spec as a plain dict (round-trips through the constructor)."""
    def __len__(self) -> int: ...
    def _repr_html_(self) -> str: ...

@final
class DagTracker:
    """Tracks workflow runs and their node states. Reach it as `pit.dags`."""
    def start(self, graph: WorkflowGraph | dict[str, Any]) -> str:
        """Start tracking a run of `graph` (a `WorkflowGraph` or a spec dict); returns the run id."""
    def append(
        self, run_id: str, name: str, deps: builtins.list[str] = ..., *, kind: str = "task", weight: float = 1.0
    ) -> str:
        """Add a node (depending on existing nodes) to a run that is still going; returns the
        state it starts in: "ready", "pending" (waiting on unfinished dependencies) or
        "skipped" (a dependency failed).
        """
    def set_state(self, run_id: str, node: str, state: str, error: str | None = None) -> _NodeStateName:
        """Move a node to `state` ("ready", "running", "succeeded", "failed", "skipped",
        "cancelled"). Failing a node with retries left sends it back to "ready"; returns the state
        the node ended in.
        """
    def succeeded_outputs(self, run_id: str) -> dict[str, str]:
        """Result artifact ids of the nodes that succeeded in `run_id` (this process's runs and the
        store's history): what resuming the run reuses.
        """
    def ready(self, run_id: str) -> list[str]:
        """Ready nodes in topological order."""
    def state(self, run_id: str, node: str) -> _NodeStateName:
        """State of one node."""
    def nodes(self, run_id: str) -> list[dict[str, Any]]:
        """Every node of a run: name, state, attempts, error, duration (topological order). The
        duration is that of the node's last finished attempt: None until one is over, and while
        the node runs again.
        """
    def status(self, run_id: str) -> str:
        """One of "pending", "running", "paused", "completed", "failed" or "cancelled"."""
    def graph(self, run_id: str) -> WorkflowGraph:
        """The run's graph."""
    def critical_path(self, run_id: str) -> tuple[list[str], float]:
        """Heaviest path: measured durations for finished nodes, weights for the rest."""
    def pause(self, run_id: str) -> None: ...
    def resume(self, run_id: str) -> None: ...
    def cancel(self, run_id: str) -> None:
        """Cancel every unfinished node of the run."""
    def checkpoint(self, run_id: str) -> None:
        """Record the run's node states in the history tables now."""
    def runs(self) -> list[dict[str, Any]]:
        """Runs tracked by this Pit, oldest first."""
    def history(self) -> list[dict[str, Any]]:
        """Every run in the store's history, including those of earlier processes."""
    def to_pandas(self, run_id: str | None = None) -> pd.DataFrame:
        """This session's runs, or with `run_id` that run's nodes, as a pandas DataFrame."""
    def _repr_html_(self) -> str: ...

@final
class CompiledWorkflow:
    """A validated workflow manifest, ready to run many times."""
    def __new__(cls, manifest: str) -> CompiledWorkflow: ...
    @property
    def name(self) -> str: ...
    @property
    def inputs(self) -> list[str]:
        """Declared workflow inputs, in order."""
    @property
    def nodes(self) -> list[str]:
        """Node names in manifest order."""
    @property
    def outputs(self) -> list[str]:
        """Names of the output nodes."""
    @property
    def host_slots(self) -> int:
        """How many Python callables a run needs (bodies, sub-workflow nodes and fallbacks, depth-first)."""
    def to_json(self, indent: bool = False) -> str:
        """The manifest as JSON (normalised: defaults left out)."""
    def __len__(self) -> int: ...

@final
class CancelToken:
    """Cancels a workflow run from another thread or an asyncio task."""
    def __new__(cls) -> CancelToken: ...
    def cancel(self) -> None:
        """Ask the run to stop: unfinished nodes become Cancelled, running results are discarded."""
    @property
    def cancelled(self) -> bool: ...

@final
class RunReport:
    """The outcome of one workflow run, as the engine reported it."""
    @property
    def run_id(self) -> str: ...
    @property
    def workflow(self) -> str: ...
    @property
    def status(self) -> str:
        """One of "completed", "failed" or "cancelled"."""
    @property
    def started_at(self) -> float: ...
    @property
    def finished_at(self) -> float: ...
    @property
    def failed_node(self) -> str | None:
        """The first node that failed for good, if any."""
    @property
    def interrupted(self) -> bool:
        """Whether a KeyboardInterrupt cancelled the run."""
    @property
    def output_names(self) -> list[str]:
        """Names of the output nodes."""
    @property
    def node_names(self) -> list[str]:
        """Node names in manifest order."""
    def result(self, name: str) -> Any:
        """The result of node `name` (the very object its callable returned when it ran in this
        process); `None` when it has none.
        """
    def artifact(self, name: str) -> str | None:
        """Artifact id of node `name`'s result."""
    def input_artifacts(self) -> list[str]:
        """Artifact ids of the workflow inputs, in declared order."""
    def exception(self, name: str) -> BaseException | None:
        """The original exception raised by node `name` (its last failure), with its traceback."""
    def node_rows(self) -> list[dict[str, Any]]:
        """One dict per node (manifest order): state, attempts, cached, reused, fallback, worker,
        pool, error, exception type, traceback, artifact, times, sub-run.
        """

@final
class Pit:
    """The engine behind `symphony_pit.Pit`, which holds one (composition, not a subclass)."""
    def __new__(
        cls,
        store: str | PathLike[str] | None = None,
        *,
        hot_cache_mb: float = 256.0,
        durability: Literal["background", "sync"] = "background",
        event_capacity: int | None = None,
        recover: bool = False,
    ) -> Pit: ...
    def _execute(
        self,
        workflow: CompiledWorkflow,
        callables: list[Callable[..., Any]],
        inputs: list[Any],
        *,
        cache: bool = True,
        concurrency: dict[str, int] | None = None,
        cancel: CancelToken | None = None,
        reuse: dict[str, str] | None = None,
        tenant: str | None = None,
    ) -> RunReport:
        """Run a compiled workflow (the engine behind `symphony_pit.Pit.run`): `callables` holds one
        Python callable per host slot, `inputs` one value per declared input. Blocks until the run
        ends; the GIL is released while the scheduler waits, and re-taken to call Python nodes.
        """
    def _cleanup(self, policy: str, dry_run: bool) -> dict[str, Any]:
        """Run the Stale Manager with a policy given as JSON (what `symphony_pit.StalePolicy`
        writes): returns the summary and one row per artifact (the engine behind `Pit.cleanup`).
        """
    def _verdicts(self, policy: str) -> list[dict[str, Any]]:
        """What a policy (JSON) would decide for each artifact now, with nothing done and no
        event."""
    @staticmethod
    def _default_stale_policy() -> str:
        """The default Stale Manager policy, as JSON."""
    @property
    def memo_entries(self) -> int:
        """Memoised node results known to this Pit."""
    @property
    def pools(self) -> PoolManager:
        """The Pool Manager: pools, model allocation, runtimes."""
    @property
    def artifacts(self) -> ArtifactStore:
        """The Artifact Store: content-addressed results with lineage."""
    @property
    def dags(self) -> DagTracker:
        """The DAG Tracker: workflow graphs and runs."""
    @property
    def arbiter(self) -> Arbiter:
        """Arbitration: who gets a pool's capacity when requests collide."""
    @property
    def store(self) -> str | None:
        """The store directory, or None for an in-memory Pit."""
    @property
    def closed(self) -> bool: ...
    @property
    def events_pending(self) -> int:
        """Events waiting to be polled."""
    @property
    def events_dropped(self) -> int:
        """Events discarded because nobody polled them in time."""
    def poll_events(self, max: int | None = None) -> list[Event]:
        """Remove and return up to ``max`` (default 1000) of the oldest events, in order."""
    def read_events(self, after: int | None = None, max: int | None = None) -> list[Event]:
        """Up to ``max`` (default 1000) of the events numbered after ``after``, oldest first,
        left in the stream for ``poll_events``."""
    def flush(self) -> None:
        """Wait until every queued write is on disk."""
    def close(self) -> None:
        """Flush and stop the writer; later writes raise `ValidationError`."""
    def __enter__(self) -> Pit: ...
    def __exit__(self, *_exc: object) -> bool: ...
    def _repr_html_(self) -> str: ...

@final
class QuestLevel:
    """A validated, solved `function-quest/1` level.

    >>> level = QuestLevel.load("levels/campaign/01-locked-study.json")
    >>> level.optimal_steps, level.plan
    """
    @staticmethod
    def load(path: str | PathLike[str]) -> QuestLevel:
        """Load a level file (`.json`, `.yaml`, `.yml`), validate it and solve it."""
    @staticmethod
    def from_json(text: str, source: str | None = None) -> QuestLevel:
        """A level from JSON text; `source` names it in errors (default `<json>`)."""
    @staticmethod
    def from_yaml(text: str, source: str | None = None) -> QuestLevel:
        """A level from YAML text; `source` names it in errors (default `<yaml>`)."""
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def band(self) -> int: ...
    @property
    def story(self) -> str: ...
    @property
    def success(self) -> str: ...
    @property
    def facts(self) -> list[str]: ...
    @property
    def initial(self) -> list[str]: ...
    @property
    def goal(self) -> list[str]: ...
    @property
    def max_steps(self) -> int: ...
    @property
    def optimal_steps(self) -> int:
        """Length of the shortest winning plan (the solver's)."""
    @property
    def plan(self) -> list[str]:
        """An optimal plan as call labels, e.g. `['search_desk()', 'unlock(door=study_door)']`."""
    @property
    def plan_actions(self) -> list[int]:
        """An optimal plan as action indices."""
    @property
    def optimal_resource_use(self) -> float:
        """Resource use of the optimal plan (what the optimisation score compares against)."""
    @property
    def visibility(self) -> Literal["hidden", "indicators", "full"]:
        """`hidden` (bands 1–5), `indicators` (6–10) or `full` (11–20)."""
    @property
    def pools(self) -> dict[str, dict[str, float]]:
        """Pools as `{name: {dimension: capacity}}` (unlimited dimensions left out)."""
    @property
    def calls(self) -> list[dict[str, Any]]:
        """The grounded calls (the action space, in order) as dicts."""
    def __len__(self) -> int: ...
    def _repr_html_(self) -> str: ...

_I8 = npt.NDArray[np.int8]
_F32 = npt.NDArray[np.float32]

@final
class QuestGame:
    """One episode of a level, for a single environment: `step` returns the Gymnasium 5-tuple with a
    fresh observation and the info dict, built in one native call.
    """
    def __new__(cls, level: QuestLevel) -> QuestGame: ...
    def reset(self) -> None:
        """Start a new episode."""
    def step(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Make call `action` and return Gymnasium's `(observation, reward, terminated, truncated,
        info)`: a fresh observation (a kept observation never changes) and the `info` dict.
        """
    def observation(self) -> dict[str, np.ndarray]:
        """The whole observation of the current state as a dict of arrays no observation handed
        out before shares: arrays whose every earlier reference Python has dropped are reused,
        others are left alone and new ones made.
        """
    def info(self) -> dict[str, Any]:
        """Gymnasium's `info` for the state now: `level`, `message`, `outcome` (of the last call:
        `reset`, `succeeded`, `failed` or `exhausted`), `steps`, `optimal_steps`, `score` (the
        episode's total so far), `tier` and `won`.
        """
    @property
    def outcome(self) -> str:
        """What the last call did: `reset` (none yet), `succeeded`, `failed` or `exhausted`."""
    @property
    def score_total(self) -> float:
        """The episode's total score so far."""
    @property
    def message(self) -> str:
        """The message of the last call (`returns`, `fails` or "resource exhausted", then the
        level's `success` on a win).
        """
    @property
    def facts(self) -> list[str]:
        """Facts that hold now."""
    @property
    def steps(self) -> int: ...
    @property
    def done(self) -> bool: ...
    @property
    def won(self) -> bool: ...
    @property
    def failures(self) -> tuple[int, int]:
        """Failed and resource-exhausted calls so far."""
    def solve(self) -> list[int] | None:
        """A shortest plan (call indices) from the state now that wins within the level's
        ``max_steps``; ``[]`` once the goal holds, ``None`` when it can no longer be reached."""
    def valid_mask(self) -> list[bool]:
        """The calls worth making now, one bool per slot of the action space (64): those that
        would succeed and change the facts; else those that would change them but wait for a
        busy pool (how to wait for resources); else every call. Never all false."""
    def optimal_actions(self) -> list[int]:
        """Every call that starts a shortest winning plan from the state now (several when
        plans tie), in call order; ``[]`` when the goal holds or cannot be reached."""
    @property
    def resource_use(self) -> float: ...
    @property
    def score(self) -> dict[str, Any]:
        """The score if the episode ended now: base, efficiency, stability, optimisation, total, tier."""
    @property
    def holds(self) -> list[tuple[str, float, float, float, int]]:
        """Costs held now: `[(pool, cpu, memory_mb, gpu_memory_mb, steps_left)]`."""

@final
class QuestBatch:
    """`num_envs` episodes over a list of levels, stepped by one call with numpy buffers (next-step
    auto-reset: the step after an episode ends starts the next one and ignores its action).
    """
    def __new__(cls, levels: list[QuestLevel], num_envs: int) -> QuestBatch: ...
    def __len__(self) -> int: ...
    def reset(
        self,
        seed: int | None,
        facts: _I8,
        goal: _I8,
        preconditions: _I8,
        effects: _I8,
        costs: _F32,
        resources: _F32,
        progress: _F32,
        levels: npt.NDArray[np.uint32],
        only_done: bool = False,
    ) -> int:
        """Reset every environment (with a seed, environment `i` draws levels from `seed + i`),
        or with ``only_done`` just those whose episode ended (SB3's semantics: the next ``step``
        then steps them with their actions); write their observations and level indices.
        Returns how many were reset.
        """
    def step(
        self,
        actions: npt.NDArray[np.int64],
        facts: _I8,
        goal: _I8,
        preconditions: _I8,
        effects: _I8,
        costs: _F32,
        resources: _F32,
        progress: _F32,
        rewards: _F32,
        terminated: npt.NDArray[np.bool_],
        truncated: npt.NDArray[np.bool_],
        scores: _F32,
        levels: npt.NDArray[np.uint32],
        outcomes: npt.NDArray[np.uint8],
    ) -> None:
        """Step every environment. Outputs: observations, then rewards, terminated, truncated,
        scores (the episode's score so far), levels and outcomes (0 reset, 1 succeeded,
        2 failed, 3 resource exhausted). A bad action refuses the whole batch, changing nothing.
        """
    def valid_masks(self, out: npt.NDArray[np.bool_]) -> None:
        """Write every environment's valid-action mask (``num_envs × 64``; see
        `QuestGame.valid_mask`)."""
    def action_masks(self, out: npt.NDArray[np.bool_]) -> None:
        """Write every environment's action mask (`num_envs × 64` bools)."""

def quest_tier(total: float) -> str:
    """The tier name of a total score (Apprentice ≤ 100, Journeyman ≤ 150, Master ≤ 180,
    Grand Maestro ≤ 200).
    """

def quest_layout() -> tuple[int, int, int]:
    """Observation sizes: `(max_facts, max_calls, call_features)`."""

def thread_workers(*, abandoned_limit: int | None = None) -> dict[str, int]:
    """The process's worker threads: ``threads``, ``idle``, ``abandoned_running`` (nodes given up
    on — timed out or cancelled — whose code still runs: a thread cannot be killed),
    ``abandoned_total`` and ``abandoned_limit``. ``abandoned_limit=`` sets the bound first: past
    it, a node with a timeout is not started (it fails with ``ResourceExhausted``, saying why).

    >>> symphony_pit.thread_workers()["abandoned_running"]
    0
    """

def _debug_panic(message: str) -> None:
    """Panic on purpose inside the guarded engine call path (used by tests to prove that a Rust
    panic becomes `InternalError` and the interpreter lives on).
    """

def _roundtrip(value: Any) -> Any:
    """Convert a value to the engine's representation and back (exercises the conversion layer)."""
