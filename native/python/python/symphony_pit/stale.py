"""The Stale Manager from Python: policies, cleanup reports, and a periodic sweeper.

>>> from symphony_pit import Pit, StalePolicy, MaxAge, KeepTagged
>>> pit = Pit()
>>> policy = StalePolicy([KeepTagged("keep"), MaxAge(days=30, action="archive")])
>>> report = pit.cleanup(policy=policy, dry_run=True)
>>> report.examined, report.deleted
(0, 0)

Scoring and decisions run in Rust (`symphony_pit._native.Pit._cleanup`); this module builds the
policy JSON and presents the result.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from symphony_pit import _html
from symphony_pit.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from symphony_pit.pit import Pit

log = logging.getLogger("symphony_pit.stale")

Action = Literal["keep", "archive", "delete"]
_ACTIONS = ("keep", "archive", "delete")


def _action(value: str) -> Action:
    if value not in _ACTIONS:
        raise ValidationError(f"a stale rule's action must be one of {', '.join(_ACTIONS)}, got {value!r}")
    return value  # type: ignore[return-value]


def _seconds(seconds: float, minutes: float, hours: float, days: float) -> float:
    total = float(seconds) + 60.0 * minutes + 3600.0 * hours + 86_400.0 * days
    if not total >= 0:
        raise ValidationError(f"a duration must be >= 0 seconds, got {total}")
    return total


@dataclass(frozen=True, init=False)
class MaxAge:
    """Artifacts created longer ago than the given duration get ``action``."""

    seconds: float
    action: Action

    def __init__(
        self, seconds: float = 0.0, *, minutes: float = 0, hours: float = 0, days: float = 0, action: Action = "archive"
    ) -> None:
        object.__setattr__(self, "seconds", _seconds(seconds, minutes, hours, days))
        object.__setattr__(self, "action", _action(action))

    def to_dict(self) -> dict[str, Any]:
        return {"rule": "max_age", "seconds": self.seconds, "action": self.action}


@dataclass(frozen=True, init=False)
class MinAccessCount:
    """Artifacts read fewer than ``count`` times once they are older than the duration given
    (``after``, ``hours``, ``days``) get ``action``."""

    count: int
    after: float
    action: Action

    def __init__(
        self, count: int, *, after: float = 0.0, hours: float = 0, days: float = 0, action: Action = "archive"
    ) -> None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValidationError(f"MinAccessCount.count must be an int >= 0, got {count!r}")
        object.__setattr__(self, "count", count)
        object.__setattr__(self, "after", _seconds(after, 0, hours, days))
        object.__setattr__(self, "action", _action(action))

    def to_dict(self) -> dict[str, Any]:
        return {"rule": "min_access_count", "count": self.count, "after": self.after, "action": self.action}


@dataclass(frozen=True, init=False)
class MaxTotalSize:
    """While live (unarchived) artifacts exceed the size, the lowest-value ones get ``action``."""

    bytes: int
    action: Action

    def __init__(self, bytes: int = 0, *, mb: float = 0, gb: float = 0, action: Action = "archive") -> None:
        total = int(bytes + mb * (1 << 20) + gb * (1 << 30))
        if total < 0:
            raise ValidationError(f"MaxTotalSize must be >= 0 bytes, got {total}")
        object.__setattr__(self, "bytes", total)
        object.__setattr__(self, "action", _action(action))

    def to_dict(self) -> dict[str, Any]:
        return {"rule": "max_total_size", "bytes": self.bytes, "action": self.action}


@dataclass(frozen=True, init=False)
class KeepTagged:
    """Artifacts carrying any of these tags are always kept."""

    tags: tuple[str, ...]

    def __init__(self, *tags: str) -> None:
        if not tags or not all(isinstance(t, str) and t for t in tags):
            raise ValidationError(f"KeepTagged needs one or more non-empty str tags, got {tags!r}")
        object.__setattr__(self, "tags", tuple(tags))

    def to_dict(self) -> dict[str, Any]:
        return {"rule": "keep_tagged", "tags": list(self.tags)}


@dataclass(frozen=True)
class PreserveTrainingData:
    """Training data (tagged ``training``, or created by a ``training…`` producer) is never
    deleted — archived at most."""

    def to_dict(self) -> dict[str, Any]:
        return {"rule": "preserve_training_data"}


Rule = MaxAge | MinAccessCount | MaxTotalSize | KeepTagged | PreserveTrainingData


@dataclass
class StalePolicy:
    """What the Stale Manager keeps, archives or deletes, and when idle models are released.

    An artifact's value (0–1) weighs recency of use, access frequency, whether a successful run
    produced it, tags, size and how many artifacts derive from it (``weights``). Rules propose
    decisions; pins and KeepTagged override them; a Delete of an artifact valued at least
    ``high_value`` (or of training data under PreserveTrainingData) becomes an Archive. Warm
    models idle ``idle_model_ttl`` seconds are cooled (None keeps them).
    """

    rules: list[Rule] = field(default_factory=list)
    high_value: float = 0.7
    recency_half_life: float = 86_400.0
    size_scale: float = float(1 << 20)
    weights: dict[str, float] | None = None
    idle_model_ttl: float | None = 300.0

    @classmethod
    def default(cls) -> StalePolicy:
        """The Pit's default: keep ``keep``-tagged, preserve training data, archive after 30
        days, delete what nobody read in 90 days, cool models idle for 5 minutes."""
        from symphony_pit import _native

        return cls.from_dict(json.loads(_native.Pit._default_stale_policy()))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StalePolicy:
        rules: list[Rule] = []
        for entry in data.get("rules", []):
            kind = entry.get("rule")
            if kind == "max_age":
                rules.append(MaxAge(entry["seconds"], action=entry.get("action", "archive")))
            elif kind == "min_access_count":
                rules.append(
                    MinAccessCount(entry["count"], after=entry.get("after", 0.0), action=entry.get("action", "archive"))
                )
            elif kind == "max_total_size":
                rules.append(MaxTotalSize(entry["bytes"], action=entry.get("action", "archive")))
            elif kind == "keep_tagged":
                rules.append(KeepTagged(*entry["tags"]))
            elif kind == "preserve_training_data":
                rules.append(PreserveTrainingData())
            else:
                raise ValidationError(f"unknown stale rule {kind!r}")
        options = {k: data[k] for k in ("high_value", "recency_half_life", "size_scale", "idle_model_ttl") if k in data}
        return cls(rules, weights=data.get("weights"), **options)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rules": [rule.to_dict() for rule in self.rules],
            "high_value": self.high_value,
            "recency_half_life": self.recency_half_life,
            "size_scale": self.size_scale,
            "idle_model_ttl": self.idle_model_ttl,
        }
        if self.weights is not None:
            out["weights"] = dict(self.weights)
        return out

    def to_json(self) -> str:
        for rule in self.rules:
            if not isinstance(rule, Rule):
                raise ValidationError(f"not a stale rule: {rule!r}")
        return json.dumps(self.to_dict())


class CleanupReport:
    """What a cleanup did (or, in a dry run, would do): counts, bytes, and one row per artifact
    with its value, decision and reason (`to_pandas`)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw
        self.dry_run: bool = raw["dry_run"]
        self.examined: int = raw["examined"]
        self.kept: int = raw["kept"]
        self.archived: int = raw["archived"]
        self.deleted: int = raw["deleted"]
        self.bytes_archived: int = raw["bytes_archived"]
        self.bytes_archive_stored: int = raw["bytes_archive_stored"]
        self.bytes_deleted: int = raw["bytes_deleted"]
        self.models_released: int = raw["models_released"]
        self.memo_forgotten: int = raw["memo_forgotten"]
        self.duration: float = raw["duration"]

    @property
    def decisions(self) -> list[dict[str, Any]]:
        """One dict per artifact examined."""
        return list(self._raw["verdicts"])

    def ids(self, action: Action) -> list[str]:
        """Ids of the artifacts given ``action``."""
        return [row["id"] for row in self._raw["verdicts"] if row["action"] == action]

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self._raw.items() if k != "verdicts"}

    def to_pandas(self) -> pd.DataFrame:
        """One row per artifact: id, action, reason, value and its parts, size, age, reads."""
        import pandas as pd

        columns = [
            "id",
            "action",
            "reason",
            "value",
            "size",
            "age",
            "idle",
            "access_count",
            "tags",
            "pinned",
            "archived",
            "recency",
            "frequency",
            "success",
            "tagged",
            "size_score",
            "lineage",
        ]
        frame = pd.DataFrame(self._raw["verdicts"], columns=columns)
        order = {"delete": 0, "archive": 1, "keep": 2}
        return frame.sort_values(
            ["action", "value"], key=lambda s: s.map(order) if s.name == "action" else s
        ).reset_index(drop=True)

    def __repr__(self) -> str:
        mode = "dry run" if self.dry_run else "cleanup"
        return (
            f"CleanupReport({mode}: {self.examined} examined, {self.kept} kept, {self.archived} archived, "
            f"{self.deleted} deleted, {self.bytes_deleted:,} bytes freed, {self.models_released} models released)"
        )

    def _repr_html_(self) -> str:
        return _html.cleanup_html(self)


class StaleManager:
    """The Pit's Stale Manager: a policy, on-demand `cleanup`, and an optional sweeper thread
    (`start(every=...)`) that cleans up periodically (the Rust work runs without the GIL)."""

    def __init__(self, pit: Pit, policy: StalePolicy | None = None) -> None:
        self._pit = pit
        self.policy = policy or StalePolicy.default()
        self.history: deque[CleanupReport] = deque(maxlen=100)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def cleanup(self, *, dry_run: bool = False, policy: StalePolicy | None = None) -> CleanupReport:
        """Apply ``policy`` (default `self.policy`); ``dry_run=True`` only reports."""
        chosen = policy or self.policy
        if not isinstance(chosen, StalePolicy):
            raise ValidationError(f"policy must be a StalePolicy, got {type(chosen).__name__}")
        report = CleanupReport(self._pit._native._cleanup(chosen.to_json(), dry_run))
        self.history.append(report)
        return report

    def verdicts(self, policy: StalePolicy | None = None) -> list[dict[str, Any]]:
        """What ``policy`` (default `self.policy`) would decide for each artifact now — action,
        reason, value score and its parts — with nothing done and no event sent: for views and
        tables that show value scores. ``cleanup(dry_run=True)`` is the same decision reported
        as a cleanup (with its ``stale.cleanup`` event).

        >>> from symphony_pit import Pit
        >>> pit = Pit()
        >>> _ = pit.artifacts.put(b"x")
        >>> [v["action"] for v in pit.stale.verdicts()]
        ['keep']
        """
        chosen = policy or self.policy
        if not isinstance(chosen, StalePolicy):
            raise ValidationError(f"policy must be a StalePolicy, got {type(chosen).__name__}")
        return self._pit._native._verdicts(chosen.to_json())

    def release_idle(self, ttl: float | None = None, pools: list[str] | None = None) -> int:
        """Cool warm models idle for ``ttl`` seconds or more (default the policy's
        ``idle_model_ttl``) in ``pools`` (default all) without examining artifacts: the cheap
        part of a cleanup, for hot loops. Returns how many were released."""
        chosen = self.policy.idle_model_ttl if ttl is None else ttl
        if chosen is None:
            return 0
        return self._pit.pools.cool_idle(chosen, pools)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, every: float = 60.0) -> None:
        """Clean up every ``every`` seconds on a daemon thread until `stop` (or the Pit closes)."""
        if not (isinstance(every, int | float) and every > 0):
            raise ValidationError(f"every must be seconds > 0, got {every!r}")
        if self.running:
            raise ValidationError("the Stale Manager is already running; stop() it first")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(float(every),), name="symphony-stale", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None

    def _loop(self, every: float) -> None:
        while not self._stop.wait(every):
            if self._pit.closed:
                return
            try:
                self.cleanup()
            except Exception:
                log.exception("periodic cleanup failed")

    def __repr__(self) -> str:
        state = "running" if self.running else "idle"
        return f"StaleManager({state}, {len(self.policy.rules)} rules, {len(self.history)} reports)"


__all__ = [
    "CleanupReport",
    "KeepTagged",
    "MaxAge",
    "MaxTotalSize",
    "MinAccessCount",
    "PreserveTrainingData",
    "Rule",
    "StaleManager",
    "StalePolicy",
]
