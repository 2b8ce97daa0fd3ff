"""symphony_pit: the Pit, Symphony Lab's in-process Rust engine.

>>> from symphony_pit import Pit, ModelSpec
>>> pit = Pit()                                     # in memory; Pit("~/.symphony") persists
>>> pit.pools.add_pool("cpu", cpu=4, memory_mb=8192)
>>> with pit.pools.allocate("cpu", ModelSpec("echo-model")) as model:
...     model.invoke({"x": 1})
{'x': 1}
>>> artifact = pit.artifacts.put(b"hello")
>>> pit.artifacts.get(artifact)
b'hello'

Workflows (`Workflow`, `Pipeline`) are built in Python and run by `Pit.run` / `Pit.run_async`.
"""

from __future__ import annotations

from symphony_pit._native import (
    BUILD_INFO,
    VERSION,
    Arbiter,
    ArtifactMeta,
    ArtifactStore,
    CancelToken,
    CompiledWorkflow,
    DagTracker,
    Event,
    Lease,
    ModelHandle,
    ModelSpec,
    PoolManager,
    QuestBatch,
    QuestGame,
    QuestLevel,
    WorkflowGraph,
    quest_layout,
    quest_tier,
    thread_workers,
)
from symphony_pit._system import system_info
from symphony_pit.errors import (
    Cancelled,
    IntegrityError,
    InternalError,
    NotFound,
    PitError,
    ResourceExhausted,
    StorageError,
    ValidationError,
)
from symphony_pit.pipeline import Pipeline
from symphony_pit.pit import HasWorkflow, Pit, default_pit, set_default_pit, watch_runs
from symphony_pit.runs import WorkflowRun
from symphony_pit.stale import (
    CleanupReport,
    KeepTagged,
    MaxAge,
    MaxTotalSize,
    MinAccessCount,
    PreserveTrainingData,
    StaleManager,
    StalePolicy,
)
from symphony_pit.workflow import Backoff, Workflow, manifest_schema

__version__ = VERSION

__all__ = [
    "BUILD_INFO",
    "VERSION",
    "Arbiter",
    "ArtifactMeta",
    "ArtifactStore",
    "Backoff",
    "CancelToken",
    "Cancelled",
    "CleanupReport",
    "CompiledWorkflow",
    "DagTracker",
    "Event",
    "HasWorkflow",
    "IntegrityError",
    "InternalError",
    "KeepTagged",
    "Lease",
    "MaxAge",
    "MaxTotalSize",
    "MinAccessCount",
    "ModelHandle",
    "ModelSpec",
    "NotFound",
    "Pipeline",
    "Pit",
    "PitError",
    "PoolManager",
    "PreserveTrainingData",
    "QuestBatch",
    "QuestGame",
    "QuestLevel",
    "ResourceExhausted",
    "StaleManager",
    "StalePolicy",
    "StorageError",
    "ValidationError",
    "Workflow",
    "WorkflowGraph",
    "WorkflowRun",
    "default_pit",
    "manifest_schema",
    "quest_layout",
    "quest_tier",
    "set_default_pit",
    "system_info",
    "thread_workers",
    "watch_runs",
]
