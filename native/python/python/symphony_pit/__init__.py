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
"""

from __future__ import annotations

from symphony_pit._native import (
    BUILD_INFO,
    VERSION,
    ArtifactMeta,
    ArtifactStore,
    DagTracker,
    Event,
    ModelHandle,
    ModelSpec,
    Pit,
    PoolManager,
    QuestBatch,
    QuestGame,
    QuestLevel,
    WorkflowGraph,
    quest_layout,
    quest_tier,
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

__version__ = VERSION

__all__ = [
    "BUILD_INFO",
    "VERSION",
    "ArtifactMeta",
    "ArtifactStore",
    "Cancelled",
    "DagTracker",
    "Event",
    "IntegrityError",
    "InternalError",
    "ModelHandle",
    "ModelSpec",
    "NotFound",
    "Pit",
    "PitError",
    "PoolManager",
    "QuestBatch",
    "QuestGame",
    "QuestLevel",
    "ResourceExhausted",
    "StorageError",
    "ValidationError",
    "WorkflowGraph",
    "quest_layout",
    "quest_tier",
    "system_info",
]
